//! Read plans: which parts of each input record a schema reads, down to nested keys, so
//! the reader builds only those (`MailingAddress.street` keeps `street` and skips the
//! rest of the address).
//!
//! A plan is a tree of object keys. A key is needed *whole* when some path ends at it or
//! indexes into it (`items[0]`: the array is kept whole); otherwise only its listed
//! sub-keys are built. Below a partly-read key, a value that is not an object is read as
//! null: every path through it would find nothing there either way.
//!
//! The objects built have the plan's keys in the plan's order (not the line's): each is
//! made from the plan's [`ObjectShape`], which hashes no key. Nothing reads a planned
//! record's key order (paths look keys up; a script, which could, needs whole records).

use crate::compile::ir::{Expr, Path, Schema, Segment, TemplatePart, Then};
use crate::object_shape::ObjectShape;

/// The parts of a record to build; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadPlan {
    /// Few keys: a linear scan beats hashing.
    pub(crate) keys: Vec<(String, Need)>,
    /// The objects of `keys`, in the same order.
    pub(crate) shape: ObjectShape,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Whole,
    Part(ReadPlan),
}

impl ReadPlan {
    /// These top-level keys, whole (the IR's [`Schema::reads`]).
    pub fn top_level(keys: &[String]) -> ReadPlan {
        let mut plan = ReadPlan {
            keys: keys.iter().map(|k| (k.clone(), Need::Whole)).collect(),
            shape: ObjectShape::default(),
        };
        plan.seal();
        plan
    }

    /// The plan of everything `schema` reads, or `None` when it needs whole records
    /// (its `reads` is `None`: a `custom` script reads `record`).
    pub fn for_schema(schema: &Schema) -> Option<ReadPlan> {
        let reads = schema.reads.as_ref()?;
        let mut plan = ReadPlan::default();
        let mut add = |path: &Path| plan.add(&path.segments);
        for c in &schema.filters {
            add(&c.field);
        }
        for p in &schema.dedupe.fields {
            add(p);
        }
        for f in &schema.fields {
            match &f.expr {
                Expr::Direct(p) | Expr::Transform(p, _) => add(p),
                Expr::Conditional { rules, .. } => {
                    for rule in rules {
                        add(&rule.condition.field);
                        match &rule.then {
                            Then::Value(_) => {}
                            Then::Field(p) | Then::Transform(p, _) => add(p),
                        }
                    }
                }
                Expr::Value(_) => {}
                Expr::TaskTemplate(parts) | Expr::Template(parts) => {
                    for part in parts {
                        if let TemplatePart::Field(p) = part {
                            add(p);
                        }
                    }
                }
                Expr::Join { fields, .. } => fields.iter().for_each(&mut add),
                Expr::LookupTable { field, .. } | Expr::LookupShard { field, .. } => add(field),
                Expr::Flatten { field, path } => add(&field.join(path)),
            }
        }
        for r in &schema.relationships {
            add(&r.field);
        }
        // A key the compiler lists that no path reaches: keep it whole rather than guess.
        for key in reads {
            if !plan.keys.iter().any(|(k, _)| k == key) {
                plan.keys.push((key.clone(), Need::Whole));
            }
        }
        plan.seal();
        Some(plan)
    }

    /// Builds the shapes of this plan and the plans under it, once every key is added.
    fn seal(&mut self) {
        self.shape = ObjectShape::new(self.keys.iter().map(|(k, _)| k.as_str()));
        for (_, need) in &mut self.keys {
            if let Need::Part(plan) = need {
                plan.seal();
            }
        }
    }

    fn add(&mut self, segments: &[Segment]) {
        // A leading index never matches an object: nothing to keep.
        let Some((Segment::Key(key), rest)) = segments.split_first() else {
            return;
        };
        let index = match self.keys.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                self.keys
                    .push((key.clone(), Need::Part(ReadPlan::default())));
                self.keys.len() - 1
            }
        };
        let Some((_, need)) = self.keys.get_mut(index) else {
            return;
        };
        match (need, rest.first()) {
            (Need::Whole, _) => {}
            (need, None | Some(Segment::Index(_))) => *need = Need::Whole,
            (Need::Part(plan), Some(Segment::Key(_))) => plan.add(rest),
        }
    }

    /// The index in `keys` of `key` and what of it is needed. Called for every key of
    /// every record: the length and first byte rule out most keys before a full
    /// comparison.
    pub(crate) fn get(&self, key: &str) -> Option<(usize, &Need)> {
        let (len, first) = (key.len(), key.as_bytes().first());
        self.keys
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.len() == len && k.as_bytes().first() == first && k == key)
            .map(|(i, (_, need))| (i, need))
    }
}
