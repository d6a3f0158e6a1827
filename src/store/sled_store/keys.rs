//! Key encoding of the sled store: segments escaped and terminated by 0x00, so that any
//! id may hold any byte and a prefix of whole segments matches exactly the keys below it.
//!
//! Escaping: 0x00 -> 0x01 0x01, 0x01 -> 0x01 0x02, every other byte as is, then 0x00.
//! It preserves the byte order of segments (so shard ids and big-endian numbers sort as
//! themselves) and no escaped segment contains 0x00, so the terminator is unambiguous.

/// Ends every segment.
const SEP: u8 = 0x00;
const ESC: u8 = 0x01;

/// The key made of `segments`, each escaped and terminated.
pub(super) fn key(segments: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
    for segment in segments {
        for &b in *segment {
            match b {
                SEP => out.extend_from_slice(&[ESC, 0x01]),
                ESC => out.extend_from_slice(&[ESC, 0x02]),
                b => out.push(b),
            }
        }
        out.push(SEP);
    }
    out
}

/// The segments of a key made by [`key`]; `None` if it is not one (bad escape, missing
/// terminator).
pub(super) fn segments(key: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = key.iter();
    while let Some(&b) = bytes.next() {
        match b {
            SEP => out.push(std::mem::take(&mut current)),
            ESC => match bytes.next() {
                Some(0x01) => current.push(SEP),
                Some(0x02) => current.push(ESC),
                _ => return None,
            },
            b => current.push(b),
        }
    }
    current.is_empty().then_some(out)
}

/// The last segment of a key as text (an id), if it is one.
pub(super) fn last_text(key: &[u8]) -> Option<String> {
    segments(key)?.pop().and_then(|s| String::from_utf8(s).ok())
}

/// A key as people read it in an error message: segments joined by `/`, bytes that are
/// not printable ASCII as `\xNN`.
pub(super) fn display(key: &[u8]) -> String {
    let Some(segments) = segments(key) else {
        return escape(key);
    };
    segments
        .iter()
        .map(|s| escape(s))
        .collect::<Vec<_>>()
        .join("/")
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A timestamp (microseconds since the epoch, any sign) as 8 bytes that sort as it does.
pub(super) fn sortable_micros(micros: i64) -> [u8; 8] {
    // Flipping the sign bit maps i64 order onto u64 order.
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

/// The timestamp [`sortable_micros`] wrote; `None` unless `bytes` are 8 bytes.
pub(super) fn micros_from_sortable(bytes: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// A big-endian u64 segment (a sequence number); `None` unless 8 bytes.
pub(super) fn u64_segment(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The first key after every key that starts with `prefix` (a key made by [`key`]):
/// `prefix..prefix_end(prefix)` is exactly the keys below it. A made key ends with the
/// terminator 0x00 and an escaped segment holds none, so the terminator raised to 0x01
/// sorts after every key of the prefix and before every other segment's.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    match end.last_mut() {
        Some(last) if *last == SEP => *last = 0x01,
        // Not a made key (never so in the store): past every key it prefixes.
        _ => end.push(0xff),
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip(segs: &[&[u8]]) {
        let k = key(segs);
        let back = segments(&k).expect("a key made by key() decodes");
        let back: Vec<&[u8]> = back.iter().map(|s| s.as_slice()).collect();
        assert_eq!(back, segs);
    }

    #[test]
    fn segments_round_trip_any_byte() {
        check_round_trip(&[b"acme", b"shard", b"id"]);
        check_round_trip(&[b"", b"conn", b"x"]);
        check_round_trip(&[b"a\0b", b"\x01\x02\x00", b"\xff"]);
    }

    #[test]
    fn a_segment_prefix_matches_only_keys_below_it() {
        // "ac" must not match tenant "acme", and an id holding the separator must not
        // reach into the next segment.
        let prefix = key(&[b"ac", b"shard"]);
        assert!(!key(&[b"acme", b"shard", b"1"]).starts_with(&prefix));
        assert!(key(&[b"ac", b"shard", b"1"]).starts_with(&prefix));
        let tricky = key(&[b"a\0shard", b"x"]);
        assert!(!tricky.starts_with(&key(&[b"a", b"shard"])));
    }

    #[test]
    fn escaping_preserves_order() {
        let mut ids: Vec<&[u8]> = vec![b"b", b"a\x01", b"a", b"a\0", b"\x02", b"a\x02z"];
        let mut keys: Vec<Vec<u8>> = ids.iter().map(|id| key(&[id])).collect();
        ids.sort();
        keys.sort();
        let decoded: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| segments(k).unwrap().remove(0))
            .collect();
        let ids: Vec<Vec<u8>> = ids.iter().map(|i| i.to_vec()).collect();
        assert_eq!(decoded, ids);
    }

    #[test]
    fn time_order() {
        let times = [-5_i64, 0, 3, i64::MIN, i64::MAX, -1];
        let mut sorted = times;
        sorted.sort();
        let mut encoded: Vec<[u8; 8]> = times.iter().map(|t| sortable_micros(*t)).collect();
        encoded.sort();
        let expected: Vec<[u8; 8]> = sorted.iter().map(|t| sortable_micros(*t)).collect();
        assert_eq!(encoded, expected);
    }

    #[test]
    fn times_and_sequence_numbers_read_back() {
        for micros in [i64::MIN, -1, 0, 1, 1_700_000_000_000_000, i64::MAX] {
            assert_eq!(micros_from_sortable(&sortable_micros(micros)), Some(micros));
        }
        assert_eq!(micros_from_sortable(b"1234567"), None);
        assert_eq!(u64_segment(&7u64.to_be_bytes()), Some(7));
        assert_eq!(u64_segment(b"123456789"), None);
    }

    #[test]
    fn a_prefix_end_bounds_exactly_the_keys_below_it() {
        let prefix = key(&[b"t", b"e-1"]);
        let end = prefix_end(&prefix);
        let below = [
            key(&[b"t", b"e-1", b"\0"]),
            key(&[b"t", b"e-1", b"\xff\xff"]),
        ];
        let outside = [
            key(&[b"t", b"e-10", b"x"]),
            key(&[b"t", b"e-1\x01", b"x"]),
            key(&[b"t", b"e-1\0", b"x"]),
            key(&[b"t", b"e-2"]),
            key(&[b"t", b"e-"]),
        ];
        for k in &below {
            assert!(prefix.as_slice() <= k.as_slice() && k.as_slice() < end.as_slice());
        }
        for k in &outside {
            let inside = prefix.as_slice() <= k.as_slice() && k.as_slice() < end.as_slice();
            assert!(!inside, "{}", display(k));
        }
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(
            display(&key(&[b"acme", b"shard", b"s-1"])),
            "acme/shard/s-1"
        );
        assert_eq!(display(&key(&[b"t", b"a\nb"])), "t/a\\x0ab");
        assert_eq!(segments(b"abc"), None);
        assert_eq!(segments(b"a\x01\x07\0"), None);
    }
}
