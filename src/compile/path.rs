//! Field paths: `Email`, `MailingAddress.street`, `items[0].name`, and JSONPath
//! (`$.meta.owner`, `$['odd.key'][0]`) for flatten mappings.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed path. `raw` keeps the text for messages and `--explain`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub raw: String,
    pub segments: Vec<Segment>,
}

impl Path {
    /// Reads a dot path (`a.b[0].c`) or a JSONPath (`$.a.b`, `$['a.b'][0]`, `$[0]`).
    pub fn parse(text: &str) -> Result<Path, String> {
        let mut segments = Vec::new();
        let s = text.trim();
        if s.is_empty() {
            return Err("the path is empty".into());
        }
        let (mut rest, jsonpath) = match s.strip_prefix('$') {
            Some(r) => (r, true),
            None => (s, false),
        };
        let mut first = !jsonpath;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let close = r
                    .find(']')
                    .ok_or_else(|| format!("`[` without `]` in `{text}`"))?;
                let inner = r[..close].trim();
                if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|i| i.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
                {
                    segments.push(Segment::Key(q.to_string()));
                } else {
                    let n: usize = inner.parse().map_err(|_| {
                        format!(
                            "`[{inner}]` in `{text}` is not an index (write `[0]` or `['key']`)"
                        )
                    })?;
                    segments.push(Segment::Index(n));
                }
                rest = &r[close + 1..];
                first = false;
                continue;
            }
            let r = if first {
                rest
            } else {
                rest.strip_prefix('.')
                    .ok_or_else(|| format!("expected `.` or `[` in `{text}`"))?
            };
            first = false;
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("empty segment in `{text}`"));
            }
            if key == "*" || key.starts_with('?') {
                return Err(format!("`{key}` in `{text}`: wildcards and filters select many values; a mapping reads one"));
            }
            segments.push(Segment::Key(key.to_string()));
            rest = &r[end..];
        }
        if segments.is_empty() {
            return Err(format!("`{text}` selects the whole record; name a field"));
        }
        Ok(Path {
            raw: text.to_string(),
            segments,
        })
    }

    /// A one-key path.
    pub fn key(name: &str) -> Path {
        Path {
            raw: name.to_string(),
            segments: vec![Segment::Key(name.to_string())],
        }
    }

    /// The first key (what the input reader must keep).
    pub fn root(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The value at this path; `None` when any step is missing.
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut v = value;
        for seg in &self.segments {
            v = match (seg, v) {
                (Segment::Key(k), Value::Object(m)) => key_in(m, k)?,
                (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &Path) -> Path {
        let mut segments = self.segments.clone();
        segments.extend(other.segments.iter().cloned());
        Path {
            raw: format!("{}.{}", self.raw, other.raw.trim_start_matches("$.")),
            segments,
        }
    }
}

/// Objects up to this many keys are searched in order rather than by hash: the records
/// a schema reads hold a few keys each (the selective reader keeps only those), and
/// comparing a few short keys costs less than hashing one (docs/performance.md).
const SCAN_UP_TO: usize = 8;

/// `m[k]`, by a scan of small objects and a hash lookup of larger ones.
fn key_in<'v>(m: &'v serde_json::Map<String, Value>, k: &str) -> Option<&'v Value> {
    if m.len() <= SCAN_UP_TO {
        m.iter().find(|(key, _)| key.as_str() == k).map(|(_, v)| v)
    } else {
        m.get(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The scan of small objects and the hash lookup of large ones answer alike, for
    /// every key present and for absent ones, on both sides of the threshold.
    #[test]
    fn small_and_large_objects_are_read_alike() {
        for n in [0, 1, SCAN_UP_TO - 1, SCAN_UP_TO, SCAN_UP_TO + 1, 40] {
            let mut m = serde_json::Map::new();
            for i in 0..n {
                m.insert(format!("k{i}"), json!(i));
            }
            // A repeated key keeps one entry (the last value), as JSON parsing does.
            m.insert("k0".into(), json!("again"));
            for i in 0..=n {
                let k = format!("k{i}");
                assert_eq!(key_in(&m, &k), m.get(&k), "{n} keys, {k}");
            }
            assert_eq!(key_in(&m, "k0"), Some(&json!("again")));
            assert_eq!(key_in(&m, ""), None);
        }
    }

    fn check(path: &str, expect: Result<Vec<Segment>, &str>) {
        match (Path::parse(path), expect) {
            (Ok(p), Ok(segs)) => assert_eq!(p.segments, segs),
            (Err(e), Err(sub)) => assert!(e.contains(sub), "{e}"),
            (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses() {
        use Segment::*;
        check("Email", Ok(vec![Key("Email".into())]));
        check("a.b", Ok(vec![Key("a".into()), Key("b".into())]));
        check(
            "items[0].name",
            Ok(vec![Key("items".into()), Index(0), Key("name".into())]),
        );
        check(
            "$.meta.owner",
            Ok(vec![Key("meta".into()), Key("owner".into())]),
        );
        check("$['a.b'][2]", Ok(vec![Key("a.b".into()), Index(2)]));
        check("", Err("empty"));
        check("a..b", Err("empty segment"));
        check("a[x]", Err("not an index"));
        check("$.a.*", Err("wildcards"));
        check("$", Err("whole record"));
    }

    #[test]
    fn gets() {
        let v = json!({"a": {"b": [1, {"c": 2}]}});
        assert_eq!(Path::parse("a.b[1].c").unwrap().get(&v), Some(&json!(2)));
        assert_eq!(Path::parse("a.x").unwrap().get(&v), None);
        assert_eq!(Path::parse("a.b[5]").unwrap().get(&v), None);
    }
}
