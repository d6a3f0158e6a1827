//! Object shapes: the keys of JSON objects that are built over and over with the same
//! keys (a schema's output, the part of each record a read plan keeps), so each object is
//! made without hashing a key.
//!
//! serde_json's map (with `preserve_order`, an `IndexMap`) hashes every key it inserts,
//! with SipHash: building records and outputs key by key was about a quarter of
//! `cmap map`'s time (docs/performance.md). The map also stores each key's hash beside
//! the key, so a *clone* copies the hash table and hashes nothing. An [`ObjectShape`] keeps one object of its keys (every value null) as a
//! template; [`ObjectShape::builder`] clones it, [`ObjectBuilder::set`] puts values in by
//! position and [`ObjectBuilder::finish`] drops the keys left unset.

use serde_json::{Map, Value};

/// The keys of a family of JSON objects, in order; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectShape {
    /// Every distinct key once, in the order first given, each value null.
    template: Map<String, Value>,
    /// For the i-th key given to [`ObjectShape::new`], the position of its value in
    /// `template` (a repeated key shares the position of its first occurrence).
    positions: Vec<usize>,
}

impl ObjectShape {
    /// The shape of objects with these keys, in this order. A key given twice appears
    /// once, where it was first given.
    pub fn new<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> ObjectShape {
        let mut template = Map::new();
        let mut positions = Vec::new();
        for key in keys {
            let key = key.into();
            // Built once per schema or plan, so a linear search is fine here (and keeps
            // the template's insertion order the positions' order).
            let position = match template.keys().position(|k| *k == key) {
                Some(p) => p,
                None => {
                    template.insert(key, Value::Null);
                    template.len() - 1
                }
            };
            positions.push(position);
        }
        ObjectShape {
            template,
            positions,
        }
    }

    /// How many keys were given to [`ObjectShape::new`], repeats included.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// An object of this shape with no value yet: a clone of the template.
    #[inline]
    pub fn builder(&self) -> ObjectBuilder<'_> {
        self.start(self.template.clone())
    }

    /// [`ObjectShape::builder`] reusing the allocations of `object`, typically the last
    /// object built from this shape (as `BufRead::read_line` reuses its `String`). When
    /// `object` has exactly the shape's keys in order (every key was set last time),
    /// nothing is copied: its values are replaced as new ones are set, and those not set
    /// again are dropped by [`ObjectBuilder::finish`]. Any other object is overwritten
    /// with the template, in place.
    #[inline]
    pub fn rebuild(&self, mut object: Map<String, Value>) -> ObjectBuilder<'_> {
        if !object.keys().eq(self.template.keys()) {
            object.clone_from(&self.template);
        }
        self.start(object)
    }

    /// A builder over `object`, which has the template's keys in order.
    #[inline]
    fn start(&self, object: Map<String, Value>) -> ObjectBuilder<'_> {
        let keys = self.template.len();
        ObjectBuilder {
            shape: self,
            object,
            set: 0,
            set_beyond: if keys > 64 {
                vec![false; keys - 64]
            } else {
                Vec::new()
            },
        }
    }
}

/// An object of an [`ObjectShape`] being filled, in any order.
pub struct ObjectBuilder<'s> {
    shape: &'s ObjectShape,
    /// Every key of the shape, in order; a value not set yet is null or, when rebuilt,
    /// the reused object's.
    object: Map<String, Value>,
    /// Which of the first 64 positions were set (a bit each).
    set: u64,
    /// Which of the positions after the first 64 were set (empty unless the shape has
    /// more keys).
    set_beyond: Vec<bool>,
}

impl ObjectBuilder<'_> {
    /// Sets the value of the `nth` key given to [`ObjectShape::new`]; a value set again
    /// for the same key (or for a repeat of it) replaces the earlier one, as a map
    /// insert would. An `nth` past the keys is ignored.
    #[inline]
    pub fn set(&mut self, nth: usize, value: Value) {
        let Some(&position) = self.shape.positions.get(nth) else {
            return;
        };
        // `nth` on the map's values is a step over a slice: O(1) once optimized.
        if let Some(slot) = self.object.values_mut().nth(position) {
            *slot = value;
        }
        match position.checked_sub(64) {
            None => self.set |= 1 << position,
            Some(beyond) => {
                if let Some(flag) = self.set_beyond.get_mut(beyond) {
                    *flag = true;
                }
            }
        }
    }

    /// The object of the keys set, in the shape's order (where each key was first
    /// given), whatever order they were set in. It equals the map inserting each value
    /// in the order set would build.
    #[inline]
    pub fn finish(self) -> Map<String, Value> {
        let ObjectBuilder {
            mut object,
            set,
            set_beyond,
            ..
        } = self;
        let count = set.count_ones() as usize + set_beyond.iter().filter(|s| **s).count();
        if count < object.len() {
            // The map keeps its keys' hashes, so dropping keys hashes nothing either.
            let mut position = 0;
            object.retain(|_, _| {
                let keep = match position {
                    p @ 0..64 => set & (1 << p) != 0,
                    p => set_beyond.get(p - 64).copied().unwrap_or(false),
                };
                position += 1;
                keep
            });
        }
        object
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds an object of `keys` by setting `sets` (key index, value) in turn, and
    /// checks it against the map inserting the same pairs in the same order builds: the
    /// same entries, in the shape's order.
    fn check(keys: &[&str], sets: &[(usize, Value)]) {
        let shape = ObjectShape::new(keys.iter().copied());
        assert_eq!(shape.len(), keys.len());
        let mut builder = shape.builder();
        let mut want = Map::new();
        for (nth, value) in sets {
            builder.set(*nth, value.clone());
            if let Some(key) = keys.get(*nth) {
                want.insert(key.to_string(), value.clone());
            }
        }
        let got = builder.finish();
        assert_eq!(got, want, "{keys:?} {sets:?}");
        // Map equality ignores the order: the keys are where each was first given.
        let mut order: Vec<&str> = Vec::new();
        for k in keys {
            if want.contains_key(*k) && !order.contains(k) {
                order.push(k);
            }
        }
        let got_order: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(got_order, order, "{keys:?} {sets:?}");
        // The template is untouched: the next object starts empty.
        assert!(shape.builder().finish().is_empty());
    }

    #[test]
    fn objects_equal_inserted_maps() {
        let contact = ["email", "name", "phone", "street", "source"];
        // Every key, in order and out of order, null values included.
        check(
            &contact,
            &[
                (0, json!("a@b.co")),
                (1, json!("A B")),
                (2, Value::Null),
                (3, json!("1 Main")),
                (4, json!("salesforce")),
            ],
        );
        check(
            &contact,
            &[
                (4, json!(1)),
                (0, json!(2)),
                (3, json!(3)),
                (1, json!(4)),
                (2, json!(5)),
            ],
        );
        // Some keys unset, none set, set twice (the last value wins).
        check(&contact, &[(1, json!("x")), (3, json!({"k": [1, null]}))]);
        check(&contact, &[]);
        check(&contact, &[(2, json!(1)), (2, json!(2))]);
        // No keys; an index past the keys is ignored.
        check(&[], &[]);
        check(&["a"], &[(1, json!(1)), (0, json!(0))]);
        // A key given twice: one entry, where it was first given, with the last value
        // set through either index.
        check(
            &["a", "b", "a"],
            &[(0, json!(1)), (1, json!(2)), (2, json!(3))],
        );
        check(
            &["a", "b", "a"],
            &[(2, json!(3)), (1, json!(2)), (0, json!(1))],
        );
        check(&["a", "b", "a"], &[(1, json!(2)), (2, json!(3))]);
        check(&["a", "a"], &[]);
    }

    /// Shapes of more than 64 keys (the first 64 are tracked by bits, the rest by flags),
    /// with keys unset on both sides of the boundary.
    #[test]
    fn wide_objects_equal_inserted_maps() {
        let names: Vec<String> = (0..150).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        let every: Vec<(usize, Value)> = (0..150).rev().map(|i| (i, json!(i))).collect();
        check(&keys, &every);
        let some: Vec<(usize, Value)> = every
            .iter()
            .filter(|(i, _)| !matches!(i, 0 | 63 | 64 | 65 | 100 | 149))
            .cloned()
            .collect();
        check(&keys, &some);
        check(&keys, &[(64, json!("only"))]);
        check(&keys, &[(63, json!("only"))]);
    }

    /// The objects built are ordinary maps: lookups by key and inserts of new keys work
    /// (the hashes copied from the template are the map's own).
    #[test]
    fn objects_are_ordinary_maps() {
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let shape = ObjectShape::new(keys);
        let mut builder = shape.builder();
        for i in (0..10).filter(|i| *i != 3) {
            builder.set(i, json!(i));
        }
        let mut m = builder.finish();
        for (i, k) in keys.iter().enumerate() {
            let want = (i != 3).then(|| json!(i));
            assert_eq!(m.get(*k), want.as_ref(), "{k}");
        }
        m.insert("d".into(), json!("new"));
        m.insert("a".into(), json!("again"));
        assert_eq!(m.get("d"), Some(&json!("new")));
        assert_eq!(m.get("a"), Some(&json!("again")));
        assert_eq!(m.len(), 10);
        assert_eq!(m.keys().next_back().map(String::as_str), Some("d"));
    }
}
