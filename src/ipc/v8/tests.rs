//! Byte-exact cases as Node 20 writes them (`v8.serialize` with child_process's host-object
//! rule), in both directions, and round trips through the JSON form.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn json(payload_hex: &str) -> String {
    String::from_utf8(payload_to_json(&hex(payload_hex)).unwrap()).unwrap()
}

/// JSON → frame payload, as hex.
fn wire(json: &str) -> String {
    let frame = json_to_frame(json.as_bytes()).unwrap();
    assert_eq!(
        u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
        frame.len() - 4
    );
    frame[4..].iter().map(|b| format!("{b:02x}")).collect()
}

/// Node's bytes decode to `want`, and `want` encodes back to exactly Node's bytes.
fn both_ways(node_hex: &str, want: &str) {
    assert_eq!(json(node_hex), want, "decoding {node_hex}");
    let flat: String = node_hex.split_whitespace().collect();
    assert_eq!(wire(want), flat, "encoding {want}");
}

#[test]
fn plain_values_match_node_byte_for_byte() {
    both_ways(
        "ff0f 6f 2201 61 4902 2201 62 2201 78 7b02",
        r#"{"a":1,"b":"x"}"#,
    );
    both_ways("ff0f 41 02 4902 4904 24 00 02", "[1,2]");
    both_ways("ff0f 63 02 ac20", r#""€""#);
    both_ways("ff0f 2201 e9", r#""é""#);
    both_ways("ff0f 30", "null");
    both_ways("ff0f 54", "true");
    both_ways("ff0f 6f 7b00", "{}");
}

#[test]
fn values_json_cannot_carry_match_node_byte_for_byte() {
    both_ways("ff0f 5f", r#"{"$v8":"undefined"}"#);
    both_ways(
        "ff0f 5a 10 0100000000000000",
        r#"{"$v8":"bigint","value":"1"}"#,
    );
    both_ways(
        "ff0f 5a 11 0500000000000000",
        r#"{"$v8":"bigint","value":"-5"}"#,
    );
    both_ways(
        "ff0f 5a 20 0000000000000000 0100000000000000",
        r#"{"$v8":"bigint","value":"18446744073709551616"}"#,
    );
    both_ways(
        "ff0f 4e 0000000000000080",
        r#"{"$v8":"number","value":"-0"}"#,
    );
    both_ways(
        "ff0f 4e 000000000000f87f",
        r#"{"$v8":"number","value":"NaN"}"#,
    );
    both_ways(
        "ff0f 3b 2201 6b 4902 3a02",
        r#"{"$v8":"map","entries":[["k",1]]}"#,
    );
    both_ways("ff0f 27 4902 2c01", r#"{"$v8":"set","values":[1]}"#);
    both_ways("ff0f 44 0000000000001440", r#"{"$v8":"date","value":5}"#);
    both_ways(
        "ff0f 52 2202 6162 03",
        r#"{"$v8":"regexp","source":"ab","flags":"gi"}"#,
    );
    both_ways(
        "ff0f 5c 00 0a 03 010203",
        r#"{"$v8":"Buffer","base64":"AQID"}"#,
    );
    both_ways(
        "ff0f 5c 00 04 04 01000200",
        r#"{"$v8":"Uint16Array","base64":"AQACAA=="}"#,
    );
    both_ways(
        "ff0f 42 02 0000",
        r#"{"$v8":"ArrayBuffer","base64":"AAA="}"#,
    );
    both_ways("ff0f 6e 0000000000001440", r#"{"$v8":"boxed","value":5}"#);
    both_ways("ff0f 73 2201 73", r#"{"$v8":"boxed","value":"s"}"#);
}

#[test]
fn arrays_with_holes_and_numeric_keys_match_node() {
    // [1,,3] is written sparse by V8; a[5] = 1 likewise; {1: "a", b: 2} has a number key.
    both_ways(
        "ff0f 61 03 4900 4902 4904 4906 40 02 03",
        r#"{"$v8":"array","length":3,"entries":[["0",1],["2",3]]}"#,
    );
    both_ways(
        "ff0f 61 06 490a 4902 40 01 06",
        r#"{"$v8":"array","length":6,"entries":[["5",1]]}"#,
    );
    assert_eq!(
        json("ff0f 6f 4902 2201 61 2201 62 4904 7b02"),
        r#"{"1":"a","b":2}"#
    );
}

#[test]
fn shared_and_cyclic_objects_keep_their_identity() {
    // [b, b] with one Buffer; [o, o] with one object; a Map that contains itself.
    both_ways(
        "ff0f 41 02 5c000a03010203 5e01 24 00 02",
        r#"[{"$v8":"def","id":1,"value":{"$v8":"Buffer","base64":"AQID"}},{"$v8":"ref","id":1}]"#,
    );
    both_ways(
        "ff0f 41 02 6f 2201 78 4902 7b01 5e01 24 00 02",
        r#"[{"$v8":"def","id":1,"value":{"x":1}},{"$v8":"ref","id":1}]"#,
    );
    both_ways(
        "ff0f 3b 2204 73656c66 5e00 3a02",
        r#"{"$v8":"def","id":0,"value":{"$v8":"map","entries":[["self",{"$v8":"ref","id":0}]]}}"#,
    );
    // Labels in the JSON form are names, not positions: any number works.
    assert_eq!(
        wire(r#"[{"$v8":"def","id":77,"value":{}},{"$v8":"ref","id":77}]"#),
        "ff0f41026f7b005e01240002"
    );
}

#[test]
fn errors_keep_name_message_cause_and_stack() {
    let node = "ff0f 72 54 6d 2201 6d 63 490a 73 2203 61 74 20 2e";
    both_ways(
        node,
        r#"{"$v8":"error","name":"TypeError","message":"m","stack":"at ","cause":5}"#,
    );
}

#[test]
fn two_byte_strings_are_aligned_as_v8_aligns_them() {
    // After the key "ab" the string's data would start at an odd offset: V8 pads with 00.
    both_ways("ff0f 6f 2202 6162 00 6302 ac20 7b01", r#"{"ab":"€"}"#);
    both_ways("ff0f 6f 2201 61 6302 ac20 7b01", r#"{"a":"€"}"#);
}

#[test]
fn lone_surrogates_and_odd_keys_round_trip() {
    for line in [
        r#""\ud800x""#,
        r#"{"$v8":"object","entries":[["$v8",1],["b",{"$v8":"undefined"}]]}"#,
        r#"{"$v8":"array","length":2,"items":[1,{"$v8":"hole"}],"entries":[]}"#,
        r#"{"$v8":"array","length":1,"items":[1],"entries":[["x",2]]}"#,
        "[1.5,-2,1e+21,1e-7,123456789012]",
        r#"{"$v8":"boxed","value":{"$v8":"bigint","value":"7"}}"#,
        r#"{"$v8":"date","value":{"$v8":"number","value":"NaN"}}"#,
    ] {
        let once = payload_to_json(&json_to_frame(line.as_bytes()).unwrap()[4..]).unwrap();
        let twice = payload_to_json(&json_to_frame(&once).unwrap()[4..]).unwrap();
        assert_eq!(once, twice, "{line}");
    }
    assert_eq!(json(&wire(r#""\ud800x""#)), r#""\ud800x""#);
    // Numbers print as JSON.stringify prints them.
    assert_eq!(
        json(&wire("[1.5,-2,1e21,1e-7,0.1,123456789012]")),
        "[1.5,-2,1e+21,1e-7,0.1,123456789012]"
    );
}

#[test]
fn bad_frames_are_errors_not_crashes() {
    let cases: [(&str, V8Error); 8] = [
        ("", V8Error::Truncated),
        ("0f", V8Error::NoHeader),
        ("ff11 30", V8Error::Version(17)),
        ("ff0f 77", V8Error::Unexpected(b'w', 2)),
        ("ff0f 49 ffffffffff01", V8Error::Varint),
        ("ff0f 5e05", V8Error::Reference(5)),
        ("ff0f 22 05 61", V8Error::Truncated),
        ("ff0f 30 30", V8Error::Trailing(1)),
    ];
    for (h, want) in cases {
        assert_eq!(decode(&hex(h)).unwrap_err(), want, "{h}");
    }
    // A dense array claiming 2^32-1 elements with nothing behind it: refused at once.
    assert_eq!(
        decode(&hex("ff0f 41 ffffffff0f")).unwrap_err(),
        V8Error::Truncated
    );
    // Nesting deeper than the limit.
    let deep = format!("ff0f{}", "4101".repeat(5000));
    assert_eq!(decode(&hex(&deep)).unwrap_err(), V8Error::TooDeep);
    let deep_json = "[".repeat(5000) + &"]".repeat(5000);
    assert_eq!(
        parse_json(deep_json.as_bytes()).unwrap_err(),
        V8Error::TooDeep
    );
}

#[test]
fn bad_json_lines_are_errors() {
    for line in [
        r#"{"$v8":"nope"}"#,
        r#"{"$v8":"ref","id":3}"#,
        r#"{"$v8":"bigint","value":"1.5"}"#,
        r#"{"$v8":"Uint16Array","base64":"AQ=="}"#,
        r#"{"$v8":"regexp","source":"a","flags":"q"}"#,
        r#"{"$v8":"error","name":"MyError"}"#,
        "[1,]",
        r#"{"a":1"#,
    ] {
        assert!(json_to_frame(line.as_bytes()).is_err(), "{line}");
    }
}

#[test]
fn frames_split_across_reads() {
    let frame = json_to_frame(br#"{"a":[1,2,3]}"#).unwrap();
    let mut d = FrameDecoder::new();
    for b in frame.iter().chain(frame.iter()) {
        d.push(std::slice::from_ref(b));
    }
    let mut n = 0;
    while let Some(p) = d.next_frame() {
        assert_eq!(payload_to_json(p.unwrap()).unwrap(), br#"{"a":[1,2,3]}"#);
        n += 1;
    }
    assert_eq!(n, 2);
    assert!(!d.has_partial());
    let mut d = FrameDecoder::new();
    d.push(&[0x80, 0, 0, 0]);
    assert_eq!(d.next_frame(), Some(Err(V8Error::TooLarge)));
}
