// Node parent <-> child over Node's IPC channel: sequential round trips, then a pipelined
// burst. usage: node ipc-parent.js CHILD_SCRIPT_OR_BINARY [TRIPS] [BURST] [--exec-path|-] [json|advanced]
const { fork } = require('child_process');
const [target, tripsArg, burstArg, mode, serialization] = process.argv.slice(2);
const trips = Number(tripsArg || 20000);
const burst = Number(burstArg || 200000);
const opts = mode === '--exec-path' ? { execPath: target, execArgv: [] } : {};
opts.serialization = serialization || 'json';
const child = fork(mode === '--exec-path' ? 'echo' : target, [], opts);
const msg = { seq: 12345, payload: 'ping' };
let n = 0;
let t0 = process.hrtime.bigint();
const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
let seqRate = 0;
function onSeq() {
  n += 1;
  if (n < trips) { child.send(msg); return; }
  seqRate = trips / secs();
  child.removeListener('message', onSeq);
  startBurst();
}
function startBurst() {
  let got = 0;
  t0 = process.hrtime.bigint();
  child.on('message', () => {
    got += 1;
    if (got === burst) {
      const burstRate = burst / secs();
      console.log(JSON.stringify({ roundTripsPerSec: Math.round(seqRate), burstMsgsPerSec: Math.round(burstRate) }));
      child.disconnect();
    }
  });
  for (let i = 0; i < burst; i++) child.send({ i, p: 'abcdefgh' });
}
child.on('message', onSeq);
child.send(msg);
