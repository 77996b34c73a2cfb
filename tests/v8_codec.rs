//! The `advanced` codec against Node itself: Node serializes random values (as child_process
//! does, Buffers and typed arrays as host objects); childproc's codec turns each frame into its
//! JSON form and that line back into a frame; Node deserializes the result and checks it is
//! `deepStrictEqual` to what it sent. A second pass sends the JSON line through once more, so
//! the printed form is stable too.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use childproc::ipc::v8;

mod common;

const ORACLE: &str = r#"
const v8 = require('v8');
const assert = require('assert');
const readline = require('readline');
class Ser extends v8.DefaultSerializer {
  _writeHostObject(o) {
    if (ArrayBuffer.isView(o)) { this.writeUint32(0); return super._writeHostObject(o); }
    this.writeUint32(1); this.writeValue(o);
  }
}
class De extends v8.DefaultDeserializer {
  _readHostObject() { return this.readUint32() === 0 ? super._readHostObject() : this.readValue(); }
}
const ser = (v) => { const s = new Ser(); s.writeHeader(); s.writeValue(v); return s.releaseBuffer(); };
const de = (b) => { const d = new De(b); d.readHeader(); return d.readValue(); };
let seed = Number(process.argv[1]);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const str = () => {
  const parts = ['', 'a', 'héllo', '€', '😀', '\ud800', '\udfff', '"\\\n\t', '$v8', 'x'.repeat(300), '\u0000'];
  return pick(parts) + pick(parts);
};
function gen(d) {
  const leaf = [
    () => undefined, () => null, () => true, () => false,
    () => Math.floor(rnd() * 2000) - 1000, () => rnd() * 1e6, () => pick([NaN, Infinity, -Infinity, -0, 2 ** 53, -(2 ** 31), 1e21, 5e-324]),
    () => pick([0n, -1n, 123n, -(2n ** 64n), 2n ** 200n + 7n]),
    str, () => new Date(Math.floor(rnd() * 1e12)), () => new Date(NaN),
    () => pick([/a+b/g, /x/imsuy, /[\u0100]/v, new RegExp('', 'd')]),
    () => Buffer.from(str()), () => new Uint16Array([1, 65535, 7]), () => new Float64Array([1.5, NaN]),
    () => new BigInt64Array([-5n]), () => new ArrayBuffer(3), () => new DataView(new ArrayBuffer(4)),
    () => Object(pick([true, 3, 4n, 's'])),
  ];
  if (d > 3 || rnd() < 0.4) return pick(leaf)();
  const kids = () => Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
  return pick([
    () => kids(),
    () => { const o = {}; kids().forEach((v, i) => { o[pick(['a', 'b', '$v8', '1', 'é', '0'])] = v; }); return o; },
    () => new Map(kids().map((v) => [gen(d + 1), v])),
    () => new Set(kids()),
    () => { const a = []; a[Math.floor(rnd() * 20)] = gen(d + 1); return a; },
    () => { const a = kids(); a.extra = 1; return a; },
    () => { const e = new (pick([Error, TypeError, RangeError]))(str()); if (rnd() < 0.5) e.cause = gen(d + 1); return e; },
    () => { const shared = { s: 1 }; return [shared, shared, kids()]; },
    () => { const self = { name: 'cycle' }; self.me = self; return self; },
    () => { const m = new Map(); m.set('m', m); return m; },
  ])();
}
const values = Array.from({ length: Number(process.argv[2]) }, () => gen(0));
for (const v of values) process.stdout.write(ser(v).toString('hex') + '\n');
const rl = readline.createInterface({ input: process.stdin });
let i = 0, bad = 0;
// The oracle is Node itself: a value counts when Node -> Node gives something deepStrictEqual
// (an invalid Date is not deepStrictEqual even to itself; an assigned `cause` comes back
// non-enumerable); then Node -> childproc -> Node must give what Node -> Node gives: the same
// value, so Node serializes both to the same bytes.
const same = (a, b) => { try { assert.deepStrictEqual(a, b); return true; } catch { return false; } };
let skipped = 0;
rl.on('line', (line) => {
  const back = de(Buffer.from(line, 'hex'));
  const direct = de(ser(values[i]));
  const show = (v) => require('util').inspect(v, { depth: null });
  if (!same(direct, values[i])) { skipped++; if (!ser(back).equals(ser(direct))) { bad++; console.error('mismatch (vs Node->Node) at', i, line, show(direct).slice(0, 400), 'VS', show(back).slice(0, 400)); } }
  else if (!same(back, values[i])) { bad++; console.error('mismatch at', i, line, require('util').inspect(values[i], { depth: 6 }), 'vs', require('util').inspect(back, { depth: 6 })); }
  i++;
});
rl.on('close', () => { console.log(`checked ${i} bad ${bad}`); console.error(`(${skipped} compared with Node -> Node)`); process.exit(bad ? 1 : 0); });
"#;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One oracle run: `n` random values from `seed`; returns Node's verdict line.
fn differential(seed: u32, n: usize) -> String {
    let mut node = Command::new("node")
        .args(["-e", ORACLE, &seed.to_string(), &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stdin = node.stdin.take().unwrap();
    for _ in 0..n {
        let payload = unhex(&lines.next().unwrap().unwrap());
        let json = v8::payload_to_json(&payload)
            .unwrap_or_else(|e| panic!("decoding {}: {e}", hex(&payload)));
        let frame = v8::json_to_frame(&json)
            .unwrap_or_else(|e| panic!("re-encoding {}: {e}", String::from_utf8_lossy(&json)));
        // The printed form is stable: decoding our own frame prints the same line.
        let again = v8::payload_to_json(&frame[4..]).unwrap();
        assert_eq!(again, json, "unstable JSON form");
        writeln!(stdin, "{}", hex(&frame[4..])).unwrap();
    }
    drop(stdin);
    let verdict = lines.next().unwrap().unwrap();
    assert!(node.wait().unwrap().success(), "{verdict}");
    verdict
}

#[test]
fn random_values_survive_node_to_json_to_node() {
    for seed in [1, 7, 42, 1234] {
        let verdict = differential(seed, 300);
        assert_eq!(verdict, "checked 300 bad 0");
    }
}
