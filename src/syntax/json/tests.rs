//! Tests of seed JSON <-> AST: the spec's examples round-trip exactly, every span points
//! at its JSON value, diagnostics read well, and no input makes the decoder panic.

use expect_test::{expect, Expect as Golden};
use proptest::prelude::*;
use serde_json::Value;

use super::{decode, encode};
use crate::functions::param_names as params;
use crate::syntax::ast::*;
use crate::syntax::{SourceFile, SourceKind};

/// The spec's examples (integrations-spec.md), transcribed to JSON.
const FIXTURES: &[(&str, &str)] = &[
    (
        "sf-contact-to-contact.json",
        include_str!("../../../tests/data/seed/sf-contact-to-contact.json"),
    ),
    (
        "sf-opportunity.json",
        include_str!("../../../tests/data/seed/sf-opportunity.json"),
    ),
    (
        "google-news-to-news.json",
        include_str!("../../../tests/data/seed/google-news-to-news.json"),
    ),
    (
        "sf-opp-hourly.json",
        include_str!("../../../tests/data/seed/sf-opp-hourly.json"),
    ),
    (
        "sf-contact-daily.json",
        include_str!("../../../tests/data/seed/sf-contact-daily.json"),
    ),
    (
        "news-banking-daily.json",
        include_str!("../../../tests/data/seed/news-banking-daily.json"),
    ),
    (
        "news-automation-daily.json",
        include_str!("../../../tests/data/seed/news-automation-daily.json"),
    ),
    (
        "news-company-weekly.json",
        include_str!("../../../tests/data/seed/news-company-weekly.json"),
    ),
    (
        "sf-bidirectional.json",
        include_str!("../../../tests/data/seed/sf-bidirectional.json"),
    ),
    (
        "connection-sf.json",
        include_str!("../../../tests/data/seed/connection-sf.json"),
    ),
    (
        "integration-sf-premium.json",
        include_str!("../../../tests/data/seed/integration-sf-premium.json"),
    ),
];

/// Every extension beyond the spec, in one document that round-trips exactly.
const EXTENSIONS: &str = r#"[
  {
    "id": "hs-deal",
    "tenantIntegrationId": "hubspot",
    "name": "HubSpot deals",
    "description": "Deals into opportunities",
    "source": {
      "entity": "deal",
      "filters": [
        { "field": "archived", "operator": "neq", "value": true },
        { "field": "amount", "operator": "exists" }
      ]
    },
    "target": { "shardTypeId": "c_opportunity", "createIfMissing": true, "updateIfExists": false, "deleteIfRemoved": true },
    "fieldMappings": [
      {
        "id": "m1",
        "targetField": "title",
        "mappingType": "transform",
        "config": {
          "type": "transform",
          "sourceField": "dealname",
          "transformations": [
            { "type": "trim" },
            { "type": "truncate", "config": { "maxLength": 100 } }
          ]
        },
        "required": true,
        "validation": [
          { "type": "max_length", "value": 100, "message": "too long" },
          { "type": "required" }
        ]
      },
      {
        "targetField": "country",
        "mappingType": "lookup",
        "config": { "type": "lookup", "sourceField": "country_code", "table": "countries", "default": "?" }
      },
      {
        "targetField": "ownerName",
        "mappingType": "lookup",
        "config": { "type": "lookup", "sourceField": "owner_id", "shardTypeId": "c_user", "returnField": "name", "byExternalId": true }
      },
      {
        "targetField": "tier",
        "mappingType": "conditional",
        "config": {
          "type": "conditional",
          "conditions": [
            { "condition": { "field": "amount", "operator": "gte", "value": 100000 }, "then": { "type": "value", "value": "enterprise" } },
            { "condition": { "field": "email", "operator": "exists" }, "then": { "type": "field", "sourceField": "email" } },
            { "condition": { "field": "stage", "operator": "starts_with", "value": "closed" },
              "then": { "type": "transform", "sourceField": "stage", "transformations": [ { "type": "uppercase" } ] } }
          ]
        }
      },
      {
        "targetField": "address",
        "mappingType": "composite",
        "config": { "type": "composite", "sourceFields": ["street", "city"], "separator": ", " }
      },
      {
        "targetField": "tags",
        "mappingType": "default",
        "config": { "type": "default", "value": ["crm", { "origin": "hubspot" }] }
      },
      {
        "targetField": "owner",
        "mappingType": "flatten",
        "config": { "type": "flatten", "sourceField": "meta", "path": "$.owner.name" }
      }
    ],
    "relationshipMappings": [
      { "relationshipType": "belongs_to", "targetField": "ownerId", "sourceField": "owner_id", "lookupShardType": "c_user", "lookupByExternalId": false }
    ],
    "deduplication": { "strategy": "composite", "matchFields": ["dealname", "closedate"] },
    "isActive": false,
    "createdAt": "2026-01-01T00:00:00.000Z",
    "lookupTables": {
      "countries": { "US": "United States", "FR": "France" }
    },
    "tests": [
      {
        "name": "a big deal",
        "input": { "dealname": " Big ", "amount": 200000 },
        "task": { "industry": "banking" },
        "expect": { "title": "Big", "tier": "enterprise" },
        "expectExternalId": "Big|"
      },
      { "name": "archived deals are skipped", "input": { "archived": true }, "expectSkipped": true },
      { "name": "a title is required", "input": {}, "expectFailed": "title" },
      { "name": "anything fails", "input": { "x": 1 }, "expectFailed": true, "expectRelationships": [] }
    ]
  },
  {
    "id": "hs-deal-live",
    "tenantIntegrationId": "hubspot",
    "name": "HubSpot deals, live",
    "conversionSchemaId": "hs-deal",
    "connectionId": "hs",
    "direction": "push",
    "schedule": { "type": "realtime", "config": { "type": "realtime", "webhookUrl": "https://hooks.example.com/x", "verificationToken": { "env": "HS_DEAL_TOKEN" } } },
    "config": { "industry": "banking" },
    "status": "paused",
    "retryConfig": { "maxRetries": 5, "retryDelaySeconds": 60, "exponentialBackoff": false },
    "notifications": { "onSuccess": true, "onFailure": false, "onPartial": false, "recipients": [] },
    "stats": { "totalRuns": 3 },
    "createdBy": "user-1"
  },
  {
    "id": "hs",
    "integrationId": "hubspot",
    "scope": "tenant",
    "authType": "api_key",
    "credentials": { "apiKey": { "env": "HUBSPOT_KEY" }, "header": "Authorization", "prefix": "Bearer " },
    "lastValidatedAt": "2024-01-15T10:00:00Z"
  },
  {
    "id": "basic-rest",
    "integrationId": "rest",
    "scope": "system",
    "authType": "basic",
    "credentials": { "username": "svc", "password": { "stored": true } },
    "settings": { "baseUrl": "https://api.example.com", "pageSize": 100 }
  },
  {
    "id": "custom-rest",
    "integrationId": "rest",
    "scope": "tenant",
    "tenantId": "default",
    "authType": "custom",
    "credentials": { "X-Api-Token": { "env": "TOKEN" } }
  },
  { "$kind": "lookup", "id": "unused", "entries": { "a": 1 } },
  { "$kind": "rates", "base": "USD", "rates": { "EUR": 0.92, "JPY": 151.2 } },
  {
    "$kind": "shardtype",
    "id": "c_contact",
    "name": "Contact",
    "fields": {
      "email": { "type": "string" },
      "tags": { "type": ["string"], "optional": true },
      "sentiment": { "type": { "enum": ["positive", "negative"] }, "optional": true }
    }
  },
  {
    "$kind": "entity",
    "id": "salesforce.Contact",
    "fields": {
      "MailingAddress": { "type": { "fields": { "street": { "type": "string", "optional": true } } }, "optional": true }
    }
  }
]"#;

fn file(text: &str) -> SourceFile {
    SourceFile::new("seed.json".into(), text.to_string(), SourceKind::Json)
}

/// One line per diagnostic: code, line:col, message, label, related spans and help.
fn render(text: &str, diags: &[crate::diagnostics::Diagnostic]) -> String {
    let f = file(text);
    let mut out = String::new();
    for d in diags {
        let (line, col) = f.line_col(d.span.start as usize);
        out.push_str(&format!("{} {line}:{col} {}", d.code.as_str(), d.message));
        if let Some(l) = &d.label {
            out.push_str(&format!(" [{l}]"));
        }
        for (span, label) in &d.related {
            let (line, col) = f.line_col(span.start as usize);
            out.push_str(&format!(" (at {line}:{col}: {label})"));
        }
        if let Some(h) = &d.help {
            out.push_str(&format!("\n  help: {h}"));
        }
        out.push('\n');
    }
    out
}

/// Decodes `input` and compares the rendered diagnostics.
fn check(input: &str, expect: Golden) {
    let (_, diags) = decode(0, input);
    expect.assert_eq(&render(input, &diags));
}

/// Decode -> encode gives back exactly `text`: the same value, keys in the same order.
fn check_round_trip(name: &str, text: &str) {
    let (doc, diags) = decode(0, text);
    assert_eq!(render(text, &diags), "", "{name}: diagnostics");
    let original: Value = serde_json::from_str(text).expect("fixtures are valid JSON");
    let encoded = encode(&doc, &params);
    assert_eq!(encoded, original, "{name}: value");
    let (a, b) = (
        serde_json::to_string_pretty(&encoded),
        serde_json::to_string_pretty(&original),
    );
    assert_eq!(a.ok(), b.ok(), "{name}: key order");
}

#[test]
fn spec_examples_round_trip() {
    for (name, text) in FIXTURES {
        check_round_trip(name, text);
    }
}

#[test]
fn extensions_round_trip() {
    check_round_trip("extensions", EXTENSIONS);
}

/// JSON -> AST -> `.cmap` (printer) -> AST (parser) -> JSON gives back exactly `text`,
/// printing positional arguments where the printer can.
fn check_cmap_round_trip(name: &str, text: &str) {
    let (doc, diags) = decode(0, text);
    assert_eq!(render(text, &diags), "", "{name}: diagnostics");
    for positional in [false, true] {
        let params_opt: Option<crate::syntax::ParamNames<'_>> = positional.then_some(&params);
        let cmap = crate::syntax::printer::print(&doc, params_opt);
        let (parsed, diags) = crate::syntax::parser::parse(0, &cmap);
        assert!(
            diags.is_empty(),
            "{name}: the printed .cmap does not parse: {diags:?}\n{cmap}"
        );
        let original: Value = serde_json::from_str(text).unwrap_or_default();
        let encoded = encode(&parsed, &params);
        assert_eq!(encoded, original, "{name}: through .cmap\n{cmap}");
        let (a, b) = (
            serde_json::to_string_pretty(&encoded),
            serde_json::to_string_pretty(&original),
        );
        assert_eq!(a.ok(), b.ok(), "{name}: key order through .cmap");
    }
}

#[test]
fn spec_examples_round_trip_through_cmap() {
    for (name, text) in FIXTURES {
        check_cmap_round_trip(name, text);
    }
}

#[test]
fn extensions_round_trip_through_cmap() {
    check_cmap_round_trip("extensions", EXTENSIONS);
}

/// The other direction, on every `.cmap` file of pipelines/ and stdlib/: parse, encode,
/// decode; the JSON decodes cleanly, re-encodes identically, and prints the same `.cmap`
/// (comments aside: JSON has none).
#[test]
fn cmap_files_round_trip_through_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for dir in ["pipelines", "stdlib"] {
        let entries = std::fs::read_dir(root.join(dir))
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default();
        for entry in entries {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("cmap") {
                continue;
            }
            seen += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let (mut doc, diags) = crate::syntax::parser::parse(0, &text);
            assert!(diags.is_empty(), "{}: {diags:?}", path.display());
            let json = encode(&doc, &params);
            let json_text = serde_json::to_string_pretty(&json).unwrap_or_default();
            let (back, diags) = decode(0, &json_text);
            assert_eq!(render(&json_text, &diags), "", "{}", path.display());
            assert_eq!(encode(&back, &params), json, "{}", path.display());
            doc.comments.clear();
            let printed = crate::syntax::printer::print(&doc, Some(&params));
            assert_eq!(
                crate::syntax::printer::print(&back, Some(&params)),
                printed,
                "{}",
                path.display()
            );
        }
    }
    assert!(seen >= 2, "found only {seen} .cmap files");
}

#[test]
fn spec_examples_decode_to_their_items() {
    let kinds: Vec<String> = FIXTURES
        .iter()
        .map(|(name, text)| {
            let (doc, _) = decode(0, text);
            let items: Vec<String> = doc
                .items
                .iter()
                .map(|i| match i {
                    Item::Schema(s) => format!("schema {} ({} mappings)", s.id.node, s.body.len()),
                    Item::Task(t) => format!(
                        "task {} -> {}",
                        t.id.node,
                        t.schema.as_ref().map_or("?", |s| &s.node)
                    ),
                    _ => "other".to_string(),
                })
                .collect();
            format!("{name}: {}", items.join(", "))
        })
        .collect();
    expect![[r#"
        sf-contact-to-contact.json: schema sf-contact-to-contact (5 mappings)
        sf-opportunity.json: schema sf-opportunity (5 mappings)
        google-news-to-news.json: schema google-news-to-news (7 mappings)
        sf-opp-hourly.json: task sf-opp-hourly -> sf-opportunity
        sf-contact-daily.json: task sf-contact-daily -> sf-contact-to-contact
        news-banking-daily.json: task news-banking-daily -> google-news-to-news
        news-automation-daily.json: task news-automation-daily -> google-news-to-news
        news-company-weekly.json: task news-company-weekly -> google-news-to-news
        sf-bidirectional.json: task sf-bidirectional -> sf-contact-to-contact
        connection-sf.json: other, other, task sf-contact-daily-acme -> sf-contact-to-contact
        integration-sf-premium.json: other"#]]
    .assert_eq(&kinds.join("\n"));
}

// ---- spans ---------------------------------------------------------------------------

/// Every Name and Literal of a document with the JSON value its span must cover:
/// the string itself, or `true` for the target flags and notification events (which
/// are spanned on their boolean).
#[derive(Default)]
struct Spans(Vec<(Span, Value)>);

impl Spans {
    fn name(&mut self, n: &Name) {
        self.0.push((n.span, Value::String(n.node.clone())));
    }
    fn lit(&mut self, l: &Literal) {
        self.0.push((l.span, l.node.clone()));
    }
    fn flag(&mut self, n: &Name) {
        self.0.push((n.span, Value::Bool(true)));
    }
    fn opt(&mut self, n: &Option<Name>) {
        if let Some(n) = n {
            self.name(n);
        }
    }
    fn entries(&mut self, entries: &[(Name, Literal)]) {
        for (k, v) in entries {
            self.name(k);
            self.lit(v);
        }
    }
    /// A tree, its keys and every nested value.
    fn tree(&mut self, t: &Tree) {
        self.0.push((t.span, t.to_value()));
        match &t.node {
            TreeNode::Scalar(_) => {}
            TreeNode::Array(items) => items.iter().for_each(|i| self.tree(i)),
            TreeNode::Object(entries) => {
                for (k, v) in entries {
                    self.name(k);
                    self.tree(v);
                }
            }
        }
    }
    fn credential(&mut self, c: &Credential) {
        match c {
            Credential::Plain(l) => self.lit(l),
            Credential::Env { span, var } => {
                self.name(var);
                self.0.push((*span, serde_json::json!({ "env": var.node })));
            }
            Credential::Stored(span) => self.0.push((*span, serde_json::json!({ "stored": true }))),
        }
    }
    fn condition(&mut self, c: &Condition) {
        self.name(&c.field);
        self.name(&c.op);
        if let Some(v) = &c.value {
            self.lit(v);
        }
    }
    fn steps(&mut self, steps: &[Transformation]) {
        for t in steps {
            self.name(&t.name);
            for a in &t.args {
                self.opt(&a.name);
                self.lit(&a.value);
            }
        }
    }
    fn fields(&mut self, defs: &[FieldDef]) {
        for f in defs {
            self.name(&f.name);
            self.ty(&f.ty);
        }
    }
    fn ty(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Named(n) => self.name(n),
            TypeExpr::Array(inner) => self.ty(inner),
            TypeExpr::Object(fields) => self.fields(fields),
            TypeExpr::Enum(values) => values.iter().for_each(|v| self.name(v)),
        }
    }
    fn schema(&mut self, s: &Schema) {
        self.name(&s.id);
        self.opt(&s.name);
        self.opt(&s.description);
        if let Some(src) = &s.source {
            self.opt(&src.integration);
            self.name(&src.entity);
            src.filters.iter().for_each(|c| self.condition(c));
        }
        if let Some(t) = &s.target {
            self.name(&t.shard_type);
            t.flags.iter().flatten().for_each(|f| self.flag(f));
        }
        if let Some(d) = &s.dedupe {
            self.name(&d.strategy);
            d.fields.iter().for_each(|f| self.name(f));
        }
        for item in &s.body {
            match item {
                MappingItem::Field(f) => self.mapping(f),
                MappingItem::Relationship(r) => {
                    for n in [&r.target, &r.kind, &r.shard_type, &r.field] {
                        self.name(n);
                    }
                }
            }
        }
        for t in &s.lookups {
            self.name(&t.id);
            self.entries(&t.entries);
        }
        for t in &s.tests {
            self.name(&t.name);
            t.input.iter().chain(&t.task).for_each(|l| self.lit(l));
            for e in &t.expect {
                match e {
                    Expect::Data(l) | Expect::ExternalId(l) | Expect::Relationships(l) => {
                        self.lit(l)
                    }
                    Expect::Failed { field: Some(f), .. } => self.name(f),
                    Expect::Skipped(_) | Expect::Failed { field: None, .. } => {}
                }
            }
        }
        self.entries(&s.meta);
    }
    fn mapping(&mut self, f: &FieldMapping) {
        self.opt(&f.id);
        self.name(&f.target);
        match &f.expr {
            MappingExpr::Direct { field } => self.name(field),
            MappingExpr::Transform { field, steps } => {
                self.name(field);
                self.steps(steps);
            }
            MappingExpr::Conditional(c) => {
                if let CondStyle::Match { field } = &c.style {
                    self.name(field);
                }
                for arm in &c.arms {
                    match arm {
                        Arm::Rule {
                            condition, then, ..
                        } => {
                            self.condition(condition);
                            match then {
                                Then::Value(v) => self.lit(v),
                                Then::Field(f) => self.name(f),
                                Then::Transform { field, steps } => {
                                    self.name(field);
                                    self.steps(steps);
                                }
                            }
                        }
                        Arm::Default { value, .. } => self.lit(value),
                    }
                }
            }
            MappingExpr::Default { value } => self.lit(value),
            MappingExpr::Composite(c) => {
                c.fields.iter().for_each(|f| self.name(f));
                self.opt(&c.separator);
                self.opt(&c.template);
            }
            MappingExpr::Lookup(l) => {
                self.name(&l.field);
                match &l.from {
                    LookupFrom::Table(t) => self.name(t),
                    LookupFrom::Shard {
                        shard_type,
                        return_field,
                    } => {
                        self.name(shard_type);
                        self.opt(return_field);
                    }
                }
                if let Some(d) = &l.default {
                    self.lit(d);
                }
            }
            MappingExpr::Flatten { field, path } => {
                self.name(field);
                self.name(path);
            }
            MappingExpr::Unknown { mapping_type } => self.name(mapping_type),
        }
        for v in &f.validation {
            self.name(&v.rule);
            if let Some(l) = &v.value {
                self.lit(l);
            }
            self.opt(&v.message);
        }
    }
    fn task(&mut self, t: &Task) {
        self.name(&t.id);
        for n in [
            &t.name,
            &t.description,
            &t.integration,
            &t.schema,
            &t.connection,
            &t.direction,
            &t.status,
        ] {
            self.opt(n);
        }
        match &t.schedule {
            Some(Schedule::Interval { interval, unit, .. }) => {
                self.lit(interval);
                self.name(unit);
            }
            Some(Schedule::Cron {
                expression,
                timezone,
                ..
            }) => {
                self.name(expression);
                self.opt(timezone);
            }
            Some(Schedule::Realtime {
                webhook_url, token, ..
            }) => {
                self.opt(webhook_url);
                if let Some(t) = token {
                    self.credential(t);
                }
            }
            Some(Schedule::Unknown { kind, .. }) => self.name(kind),
            Some(Schedule::Manual { .. }) | None => {}
        }
        if let Some(c) = &t.config {
            self.tree(c);
        }
        if let Some(r) = &t.retry {
            self.lit(&r.max_retries);
            self.lit(&r.delay_seconds);
        }
        if let Some(n) = &t.notify {
            n.events.iter().for_each(|e| self.flag(e));
            n.recipients.iter().for_each(|r| self.name(r));
        }
        self.entries(&t.meta);
    }
    fn connection(&mut self, c: &Connection) {
        self.name(&c.id);
        for n in [&c.name, &c.integration, &c.scope, &c.tenant] {
            self.opt(n);
        }
        if let Some(a) = &c.auth {
            self.name(&a.kind);
            for (k, v) in &a.fields {
                self.name(k);
                self.credential(v);
            }
        }
        if let Some(l) = &c.settings {
            self.tree(l);
        }
        self.entries(&c.meta);
    }
    fn integration(&mut self, k: &Integration) {
        self.name(&k.id);
        for n in [
            &k.display_name,
            &k.name,
            &k.description,
            &k.category,
            &k.icon,
            &k.color,
            &k.visibility,
            &k.plan,
            &k.scope,
            &k.status,
            &k.version,
        ] {
            self.opt(n);
        }
        for l in [&k.premium, &k.realtime, &k.webhooks].into_iter().flatten() {
            self.lit(l);
        }
        for l in [&k.capabilities, &k.directions, &k.entities]
            .into_iter()
            .flatten()
        {
            let items: Vec<Value> = l
                .items
                .iter()
                .map(|n| Value::String(n.node.clone()))
                .collect();
            self.0.push((l.span, Value::Array(items)));
            l.items.iter().for_each(|n| self.name(n));
        }
        if let Some(a) = &k.auth {
            self.name(&a.kind);
            for (key, v) in a.oauth.iter().flat_map(|b| &b.fields) {
                self.name(key);
                self.credential(v);
            }
        }
    }
    fn document(doc: &Document) -> Spans {
        let mut s = Spans::default();
        for item in &doc.items {
            match item {
                Item::Schema(sc) => s.schema(sc),
                Item::Task(t) => s.task(t),
                Item::Connection(c) => s.connection(c),
                Item::Integration(k) => s.integration(k),
                Item::Lookup(t) => {
                    s.name(&t.id);
                    s.entries(&t.entries);
                }
                Item::Rates(r) => {
                    s.name(&r.base);
                    s.entries(&r.rates);
                }
                Item::Type(t) => {
                    s.name(&t.id);
                    s.opt(&t.name);
                    s.fields(&t.fields);
                }
            }
        }
        s
    }
}

/// The text under every span parses back to the value it was read into.
fn check_spans(name: &str, text: &str) -> usize {
    let (doc, _) = decode(0, text);
    let spans = Spans::document(&doc);
    for (span, want) in &spans.0 {
        let slice = text.get(span.range()).unwrap_or("");
        let got: Option<Value> = serde_json::from_str(slice).ok();
        assert_eq!(
            got.as_ref(),
            Some(want),
            "{name}: span {span:?} covers `{slice}`"
        );
    }
    spans.0.len()
}

#[test]
fn every_name_and_literal_is_spanned_on_its_json_value() {
    let mut total = 0;
    for (name, text) in FIXTURES {
        total += check_spans(name, text);
    }
    total += check_spans("extensions", EXTENSIONS);
    assert!(total > 250, "the walk saw only {total} spans");
}

#[test]
fn spans_give_line_and_column() {
    let text = FIXTURES[0].1;
    let (doc, _) = decode(0, text);
    let f = file(text);
    let Some(Item::Schema(s)) = doc.items.first() else {
        panic!("a schema")
    };
    let lines: Vec<String> = s
        .body
        .iter()
        .filter_map(|i| match i {
            MappingItem::Field(m) => {
                let (l, c) = f.line_col(m.target.span.start as usize);
                let (el, ec) = f.line_col(m.span.start as usize);
                Some(format!(
                    "{} at {l}:{c}, mapping at {el}:{ec}",
                    m.target.node
                ))
            }
            MappingItem::Relationship(_) => None,
        })
        .collect();
    expect![[r#"
        email at 18:22, mapping at 17:5
        name at 24:22, mapping at 23:5
        phone at 33:22, mapping at 32:5
        street at 44:22, mapping at 43:5
        source at 53:22, mapping at 52:5"#]]
    .assert_eq(&lines.join("\n"));
}

// ---- what decode builds --------------------------------------------------------------

/// A compact rendering of the decoded AST, for checking how shapes are read.
fn summary(text: &str) -> String {
    let (doc, diags) = decode(0, text);
    let mut out = render(text, &diags);
    for item in &doc.items {
        match item {
            Item::Schema(s) => {
                out.push_str(&format!("schema {}\n", s.id.node));
                if let Some(t) = &s.target {
                    let flags = t
                        .flags
                        .as_ref()
                        .map(|f| f.iter().map(|n| n.node.as_str()).collect::<Vec<_>>());
                    out.push_str(&format!("  target {} flags {flags:?}\n", t.shard_type.node));
                }
                if let Some(src) = &s.source {
                    let i = src.integration.as_ref().map(|i| i.node.as_str());
                    out.push_str(&format!("  source {i:?} {}\n", src.entity.node));
                }
                for b in &s.body {
                    if let MappingItem::Field(f) = b {
                        let expr = match &f.expr {
                            MappingExpr::Conditional(c) => {
                                let style = match &c.style {
                                    CondStyle::Match { field } => format!("match {}", field.node),
                                    CondStyle::When => "when".to_string(),
                                };
                                format!("{style}, {} arms", c.arms.len())
                            }
                            MappingExpr::Transform { field, steps } => {
                                let steps: Vec<String> = steps
                                    .iter()
                                    .map(|t| {
                                        let args: Vec<String> = t
                                            .args
                                            .iter()
                                            .map(|a| {
                                                format!(
                                                    "{}={}",
                                                    a.name.as_ref().map_or("_", |n| &n.node),
                                                    a.value.node
                                                )
                                            })
                                            .collect();
                                        format!("{}({})", t.name.node, args.join(", "))
                                    })
                                    .collect();
                                format!("{} | {}", field.node, steps.join(" | "))
                            }
                            MappingExpr::Unknown { mapping_type } => {
                                format!("unknown {}", mapping_type.node)
                            }
                            other => format!("{other:?}").chars().take(30).collect(),
                        };
                        out.push_str(&format!("  {} = {expr}\n", f.target.node));
                    }
                }
                for (k, v) in &s.meta {
                    out.push_str(&format!("  meta {} = {}\n", k.node, v.node));
                }
            }
            Item::Task(t) => {
                let sched = match &t.schedule {
                    Some(Schedule::Unknown { kind, .. }) => format!("unknown {}", kind.node),
                    Some(other) => format!("{other:?}").chars().take(12).collect(),
                    None => "none".to_string(),
                };
                out.push_str(&format!("task {} schedule {sched}\n", t.id.node));
                for (k, v) in &t.meta {
                    out.push_str(&format!("  meta {} = {}\n", k.node, v.node));
                }
            }
            Item::Connection(c) => {
                let opt = |n: &Option<Name>| n.as_ref().map(|n| n.node.clone());
                out.push_str(&format!(
                    "connection {} integration {:?} scope {:?} tenant {:?}\n",
                    c.id.node,
                    opt(&c.integration),
                    opt(&c.scope),
                    opt(&c.tenant)
                ));
                if let Some(a) = &c.auth {
                    out.push_str(&format!("  auth {}\n", a.kind.node));
                    for (k, v) in &a.fields {
                        let v = match v {
                            Credential::Plain(l) => format!("plain {}", l.node),
                            Credential::Env { var, .. } => format!("env {}", var.node),
                            Credential::Stored(_) => "stored".to_string(),
                        };
                        out.push_str(&format!("    {} = {v}\n", k.node));
                    }
                }
                if let Some(l) = &c.settings {
                    out.push_str(&format!("  settings {}\n", l.to_value()));
                }
                for (k, v) in &c.meta {
                    out.push_str(&format!("  meta {} = {}\n", k.node, v.node));
                }
            }
            Item::Integration(k) => {
                out.push_str(&format!("integration {}\n", k.id.node));
                if let Some(a) = &k.auth {
                    let block = a.oauth.as_ref().map(|b| b.fields.len());
                    out.push_str(&format!("  auth {} oauth {block:?}\n", a.kind.node));
                }
            }
            Item::Lookup(t) => out.push_str(&format!("lookup {}\n", t.id.node)),
            Item::Rates(r) => out.push_str(&format!("rates {}\n", r.base.node)),
            Item::Type(t) => out.push_str(&format!("type {:?} {}\n", t.kind, t.id.node)),
        }
    }
    out
}

fn check_summary(input: &str, expect: Golden) {
    expect.assert_eq(&summary(input));
}

#[test]
fn reads_shapes_into_the_ast() {
    check_summary(
        r#"{"id": "s", "tenantIntegrationId": "sf", "source": {"entity": "Lead"},
            "target": {"shardTypeId": "c_x", "createIfMissing": false, "updateIfExists": true},
            "fieldMappings": [
              {"targetField": "a", "mappingType": "transform",
               "config": {"type": "transform", "sourceField": "A",
                          "transformations": [{"type": "replace", "config": {"search": " ", "replace": ""}}, {"type": "trim"}]}},
              {"targetField": "b", "mappingType": "conditional",
               "config": {"type": "conditional", "conditions": [
                 {"condition": {"field": "X", "operator": "eq", "value": 1}, "then": {"type": "value", "value": "one"}},
                 {"condition": {"field": "Y", "operator": "eq", "value": 2}, "then": {"type": "value", "value": "two"}}],
                 "default": null}},
              {"targetField": "c", "mappingType": "lookups", "config": {"type": "lookups"}}
            ],
            "updatedAt": "2026-01-02", "deduplication": {"strategy": "external_id", "externalIdField": "Id"}}"#,
        expect![[r#"
            schema s
              target c_x flags Some(["update_if_exists"])
              source Some("sf") Lead
              a = A | replace(search=" ", replace="") | trim()
              b = when, 3 arms
              c = unknown lookups
              meta updatedAt = "2026-01-02"
        "#]],
    );
}

#[test]
fn target_flags_are_none_only_for_the_defaults() {
    let flags = |create: &str, update: &str, delete: &str| {
        let text = format!(
            r#"{{"id": "s", "target": {{"shardTypeId": "t", "createIfMissing": {create}, "updateIfExists": {update}, "deleteIfRemoved": {delete}}}}}"#
        );
        let (doc, _) = decode(0, &text);
        match doc.items.first() {
            Some(Item::Schema(Schema {
                target: Some(t), ..
            })) => {
                format!(
                    "{:?}",
                    t.flags
                        .as_ref()
                        .map(|f| f.iter().map(|n| n.node.clone()).collect::<Vec<_>>())
                )
            }
            _ => "no target".to_string(),
        }
    };
    let got = [
        flags("true", "true", "false"),
        flags("true", "false", "false"),
        flags("false", "false", "false"),
        flags("true", "true", "true"),
    ];
    expect![[r#"
        None
        Some(["create_if_missing"])
        Some([])
        Some(["create_if_missing", "update_if_exists", "delete_if_removed"])"#]]
    .assert_eq(&got.join("\n"));
}

#[test]
fn unknown_schedule_types_and_meta_are_kept() {
    check_summary(
        r#"{"id": "t", "conversionSchemaId": "s", "schedule": {"type": "hourly", "config": {"type": "hourly"}},
            "lastRunAt": "2026-01-01", "stats": {"totalRuns": 1}, "lastRunStatuss": "ok"}"#,
        expect![[r#"
            W0005 2:67 unknown key `lastRunStatuss` in the task [did you mean `lastRunStatus`?]
              help: it is kept as `meta` and not interpreted; rename it to "lastRunStatus" if that is what you meant
            task t schedule unknown hourly
              meta lastRunAt = "2026-01-01"
              meta stats = {"totalRuns":1}
              meta lastRunStatuss = "ok"
        "#]],
    );
}

#[test]
fn kinds_recognise_items() {
    check_summary(
        r#"[{"$kind": "lookup", "id": "l", "entries": {}}, {"$kind": "rates", "base": "EUR", "rates": {}},
            {"$kind": "entity", "id": "sf.Lead", "fields": {}}, {"$kind": "task", "id": "t"},
            {"$kind": "schema", "id": "s"}, {"$kind": "lookups", "id": "x"}, {"id": "what"}, 3]"#,
        expect![[r#"
            E0003 3:55 unknown $kind `lookups` [did you mean `lookup`?]
              help: `$kind` is one of `schema`, `task`, `connection`, `integration`, `lookup`, `rates`, `shardtype`, `entity`
            E0003 3:78 cannot tell what [6] is [neither a schema, a task, a connection nor an integration]
              help: a ConversionSchema has `fieldMappings`, `source` and `target`; a SyncTask has `conversionSchemaId` and `schedule`; an IntegrationConnection has `integrationId` and `authType`; an IntegrationDefinition has `category` or `connectionScope`; other items carry "$kind": "lookup", "rates", "shardtype" or "entity"
            E0003 3:94 [7] must be an object, found number
              help: replace it with an object
            lookup l
            rates EUR
            type Entity sf.Lead
            task t schedule none
            schema s
        "#]],
    );
}

#[test]
fn ambiguous_objects_need_a_kind() {
    check(
        r#"{"id": "x", "source": {"entity": "E"}, "schedule": {"type": "manual"}}"#,
        expect![[r#"
            E0003 1:1 the top-level object has keys of both a schema and a task [`source` belongs to a schema, `schedule` to a task]
              help: say which it is: "$kind": "schema" or "$kind": "task"
        "#]],
    );
    // A task keeping a schema key in meta is written with its $kind, and reads back.
    let (doc, _) = decode(0, r#"{"$kind": "task", "id": "t", "source": "crm"}"#);
    let json = encode(&doc, &params).to_string();
    expect![[r#"{"$kind":"task","id":"t","direction":"pull","schedule":{"type":"manual","config":{"type":"manual"}},"config":{},"status":"active","source":"crm"}"#]].assert_eq(&json);
    check_summary(
        &json,
        expect![[r#"
            W0005 1:131 unknown key `source` in the task
              help: it is kept as `meta` and not interpreted; the known keys are `id`, `tenantIntegrationId`, `name`, `description`, `conversionSchemaId`, `connectionId`, `direction`, `schedule`, `config`, `status`, `retryConfig`, `notifications`, `lastRunAt`, `lastRunStatus`, `nextRunAt`, `stats`, `lastError`, `createdBy`, `createdAt`, `updatedAt`
            task t schedule Manual { spa
              meta source = "crm"
        "#]],
    );
}

// ---- diagnostics ---------------------------------------------------------------------

#[test]
fn invalid_json_is_reported_where_it_is() {
    check(
        "{\n  \"id\": \"a\"\n  \"name\": \"b\"\n}",
        expect![[r#"
            E0002 3:3 expected `,` or `}` after an object entry, found `"`
        "#]],
    );
    check(
        r#"{"fieldMappings": [1, 2, ]}"#,
        expect![[r#"
            E0002 1:26 expected a value after `,`, found `]`
              help: JSON allows no trailing comma: remove the last `,`
        "#]],
    );
    check(
        r#"{"id": "a",}"#,
        expect![[r#"
            E0002 1:12 expected a key after `,`, found `}`
              help: JSON allows no trailing comma: remove the last `,`
        "#]],
    );
    check(
        r#"{id: "a"}"#,
        expect![[r#"
            E0002 1:2 object keys must be strings, found `id`
              help: quote the key: "id"
        "#]],
    );
    check(
        r#"{"id": 'a'}"#,
        expect![[r#"
            E0002 1:8 expected a JSON value, found `'`
              help: JSON strings use double quotes: "text"
        "#]],
    );
    check(
        "{\n  // the id\n  \"id\": \"a\"\n}",
        expect![[r#"
            E0002 2:3 expected a string key, found `/`
              help: JSON has no comments; remove it (a `.cmap` file may have `//` comments)
        "#]],
    );
    check(
        r#"{"id": "a", "isActive": True}"#,
        expect![[r#"
            E0002 1:25 expected a JSON value, found `True`
              help: JSON literals are lower case: true
        "#]],
    );
    check(
        r#"{"id": "a",, "name": "b"}"#,
        expect![[r#"
        E0002 1:12 expected a string key, found `,`
          help: something is missing before this `,`, or the `,` is one too many
    "#]],
    );
    check(
        r#"{"tags": [1,, 2]}"#,
        expect![[r#"
        E0002 1:13 expected a JSON value, found `,`
          help: something is missing before this `,`, or the `,` is one too many
    "#]],
    );
    check(
        r#"{"value": 007}"#,
        expect![[r#"
            E0002 1:11 numbers cannot have leading zeros
              help: remove the leading zeros, or quote the value if it is a code: "007"
        "#]],
    );
    check(
        r#"{"value": 1e999}"#,
        expect![[r#"
            E0002 1:11 the number 1e999 is out of range
              help: numbers must fit a 64-bit float; quote it to keep it as text
        "#]],
    );
}

#[test]
fn invalid_strings_are_reported_where_they_are() {
    check(
        "{\"id\": \"abc",
        expect![[r#"
            E0002 1:8 unterminated string [this string is never closed]
              help: end the string with `"`
        "#]],
    );
    check(
        "{\"id\": \"ab\ncd\"}",
        expect![[r#"
            E0002 1:11 a line break inside a string (at 1:8: the string starts here)
              help: escape it (\n, \t, \u00XX) or close the string with `"`
        "#]],
    );
    check(
        r#"{"pattern": "\d+"}"#,
        expect![[r#"
            E0002 1:14 invalid escape in a string
              help: the escapes are \" \\ \/ \b \f \n \r \t and \uXXXX; write a backslash as \\
        "#]],
    );
    check(
        r#"{"s": "\ud83d"}"#,
        expect![[r#"
            E0002 1:8 unpaired surrogate in a unicode escape
              help: a character above U+FFFF is written as a pair: \ud83d\ude00
        "#]],
    );
    check(
        r#"{"s": "\u00g9"}"#,
        expect![[r#"
            E0002 1:8 invalid unicode escape
              help: \u takes exactly 4 hex digits: \u00e9
        "#]],
    );
}

#[test]
fn invalid_documents_are_reported() {
    check(
        "",
        expect![[r#"
            E0002 1:1 expected a JSON value, found the end of the file
        "#]],
    );
    check(
        "{\"id\": \"a\",\n \"fieldMappings\": [",
        expect![[r#"
            E0002 2:20 expected a JSON value, found the end of the file
        "#]],
    );
    check(
        "{\"id\": \"a\", \"source\": {\"entity\": \"X\"}",
        expect![[r#"
            E0002 1:38 expected `,` or `}` after an object entry, found the end of the file (at 1:1: this object is never closed)
        "#]],
    );
    check(
        r#"{"id": "a", "source": {}} {"id": "b"}"#,
        expect![[r#"
            E0002 1:27 unexpected text after the JSON value [the document should end before this]
              help: a seed-JSON file holds one value: wrap several objects in an array `[ {..}, {..} ]`
        "#]],
    );
    check(
        r#""a schema""#,
        expect![[r#"
            E0003 1:1 a seed-JSON document must be an object or an array of objects, found string
              help: write a ConversionSchema or SyncTask object, or an array of them
        "#]],
    );
    check(
        &format!("{}1{}", "[".repeat(200), "]".repeat(200)),
        expect![[r#"
            E0002 1:129 values are nested more than 128 levels deep
              help: flatten the data; seed JSON never needs this depth
        "#]],
    );
}

#[test]
fn wrong_types_name_the_key_path() {
    check(
        r#"{"id": "s", "fieldMappings": [
  {"targetField": "a", "mappingType": "direct", "config": {"type": "direct", "sourceField": "A"}},
  {"targetField": "b", "mappingType": "direct", "config": {"type": "direct", "sourceField": "B"}},
  {"targetField": "c", "mappingType": "direct", "config": {"type": "direct", "sourceField": 42}}
]}"#,
        expect![[r#"
            E0003 4:93 fieldMappings[2].config.sourceField must be a string, found number
              help: write it as a string: "42"
        "#]],
    );
    check(
        r#"{"id": 7, "isActive": "false", "source": "Contact", "fieldMappings": {"targetField": "a"}}"#,
        expect![[r#"
            E0003 1:8 id must be a string, found number
              help: write it as a string: "7"
            E0003 1:23 isActive must be a boolean, found string
              help: remove the quotes: false
            E0003 1:42 source must be an object, found string
              help: replace it with an object
            E0003 1:70 fieldMappings must be an array, found object
              help: replace it with an array
        "#]],
    );
    check(
        r#"{"id": "s", "deduplication": {"strategy": "field_match", "matchFields": "Email"},
            "fieldMappings": [{"targetField": "x", "mappingType": "default", "config": {"type": "default"}, "required": "yes"}]}"#,
        expect![[r#"
            E0003 1:73 deduplication.matchFields must be an array of strings, found string
              help: wrap it in an array: ["Email"]
            E0003 2:88 fieldMappings[0].config is missing `value` [in this object]
              help: add "value": <a JSON value>
            E0003 2:121 fieldMappings[0].required must be a boolean, found string
              help: replace it with a boolean
        "#]],
    );
}

#[test]
fn missing_keys_and_contradictions() {
    check(
        r#"{"id": "s", "fieldMappings": [
  {"targetField": "a", "mappingType": "direct", "config": {"type": "transform", "sourceField": "A"}},
  {"mappingType": "flatten", "config": {"type": "flatten", "sourceField": "A"}},
  {"targetField": "c", "mappingType": "lookup", "config": {"type": "lookup", "sourceField": "C", "table": "t", "shardTypeId": "s"}}
]}"#,
        expect![[r#"
            E0003 2:68 fieldMappings[0].config.type is `transform` but mappingType is `direct` [does not match mappingType] (at 2:39: mappingType given here)
              help: make them agree: "type": "direct"
            E0003 3:3 fieldMappings[1] is missing `targetField` [in this object]
              help: add "targetField": "..."
            E0003 3:40 fieldMappings[1].config is missing `path` [in this object]
              help: add "path": "..."
            E0003 4:107 fieldMappings[2].config has both `table` and `shardTypeId`
              help: a lookup reads either a lookup table (`table`) or another shard (`shardTypeId`): remove one
        "#]],
    );
    check(
        r#"{"id": "t", "schedule": {"type": "cron", "config": {"type": "interval", "expression": "* * * * *"}}}"#,
        expect![[r#"
            E0003 1:61 schedule.config.type is `interval` but the schedule type is `cron` [does not match the schedule type] (at 1:34: schedule type given here)
              help: make them agree: "type": "cron"
        "#]],
    );
}

#[test]
fn unknown_keys_suggest_the_nearest() {
    check(
        r#"{"id": "s", "fieldMapings": [], "createdAt": "2026-01-01",
            "target": {"shardTypeID": "c_x"},
            "deduplication": {"strategy": "external_id", "externalIdField": "Id", "matchFields": ["Id"]}}"#,
        expect![[r#"
            W0005 1:13 unknown key `fieldMapings` in the schema [did you mean `fieldMappings`?]
              help: it is kept as `meta` and not interpreted; rename it to "fieldMappings" if that is what you meant
            E0003 2:23 target is missing `shardTypeId` [in this object]
              help: add "shardTypeId": "..."
            W0005 2:24 unknown key `shardTypeID` in target [did you mean `shardTypeId`?]
              help: it is ignored; rename it to "shardTypeId" if that is what you meant
            W0005 3:83 unknown key `matchFields` in deduplication
              help: it is ignored; the known keys are `strategy`, `externalIdField`
        "#]],
    );
    check(
        r#"{"conversionSchemaId": "s", "id": "t", "schedule": {"type": "interval", "config": {"type": "interval", "intervall": 5, "unit": "hours"}}}"#,
        expect![[r#"
            E0003 1:83 schedule.config is missing `interval` [in this object]
              help: add "interval": <a JSON value>
            W0005 1:104 unknown key `intervall` in schedule.config [did you mean `interval`?]
              help: it is ignored; rename it to "interval" if that is what you meant
        "#]],
    );
}

#[test]
fn duplicate_keys_are_reported() {
    check(
        r#"{"id": "a", "name": "x", "id": "b", "source": {"entity": "E"}}"#,
        expect![[r#"
            E0004 1:26 the key "id" is given twice [given again here] (at 1:2: first given here)
              help: remove one of them; the last one is used
        "#]],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"[
  {
    "id": "s",
    "source": {"entity": 1, "filters": [{"field": "F", "operator": "eq", "value": 1, "op": "x"}]},
    "target": {"shardTypeId": "c", "createIfMissing": "yes"},
    "fieldMappings": [
      {"targetField": "a", "mappingType": "transform",
       "config": {"type": "transform", "sourceField": "A", "transformations": [{"type": "trim", "cfg": {}}, {"config": {}}]}},
      {"targetField": "b", "mappingType": "conditional",
       "config": {"type": "conditional", "conditions": [{"condition": {"field": "X", "operator": "eq"}, "then": {"type": "values", "value": 1}}]}}
    ],
    "relationshipMappings": [{"relationshipType": "belongs_to", "targetField": "c", "sourceField": "C", "lookupShardType": "c_c"}],
    "deduplication": {"strategy": "composite"}
  },
  {"id": "t", "conversionSchemaId": "s", "retryConfig": {"maxRetries": 3}, "notifications": {"onFailure": 1, "recipients": ["a", 2]}, "config": []}
]"#;
    check(
        text,
        expect![[r#"
            E0003 4:26 [0].source.entity must be a string, found number
              help: write it as a string: "1"
            W0005 4:86 unknown key `op` in [0].source.filters[0] [did you mean `operator`?]
              help: it is ignored; rename it to "operator" if that is what you meant
            E0003 5:55 [0].target.createIfMissing must be a boolean, found string
              help: replace it with a boolean
            W0005 8:97 unknown key `cfg` in [0].fieldMappings[0].config.transformations[0]
              help: it is ignored; the known keys are `type`, `config`
            E0003 8:109 [0].fieldMappings[0].config.transformations[1] is missing `type` [in this object]
              help: add "type": "..."
            E0003 10:122 [0].fieldMappings[1].config.conditions[0].then.type must be `value`, `field` or `transform`, found `values` [did you mean `value`?]
              help: `value` gives a literal, `field` copies a source field, `transform` transforms one
            E0003 12:30 [0].relationshipMappings[0] is missing `lookupByExternalId` [in this object]
              help: add "lookupByExternalId": true
            E0003 13:22 [0].deduplication is missing `matchFields` [in this object]
              help: add "matchFields": ["Email"]
            E0003 15:57 [1].retryConfig is missing `retryDelaySeconds` [in this object]
              help: add "retryDelaySeconds": <a JSON value>
            E0003 15:107 [1].notifications.onFailure must be a boolean, found number
              help: replace it with a boolean
            E0003 15:130 [1].notifications.recipients[1] must be a string, found number
              help: write it as a string: "2"
            E0003 15:145 [1].config must be an object, found array
              help: replace it with an object
        "#]],
    );
}

// ---- encode --------------------------------------------------------------------------

/// Decodes `text` (which must be clean), lets `edit` change the AST as the `.cmap`
/// parser could have built it, and compares the encoded JSON.
fn check_encode(text: &str, edit: impl FnOnce(&mut Document), expect: Golden) {
    let (mut doc, diags) = decode(0, text);
    assert_eq!(render(text, &diags), "");
    edit(&mut doc);
    let json = encode(&doc, &params);
    expect.assert_eq(&serde_json::to_string(&json).unwrap_or_default());
}

fn first_mapping(doc: &mut Document) -> Option<&mut FieldMapping> {
    match doc.items.first_mut() {
        Some(Item::Schema(s)) => s.body.iter_mut().find_map(|b| match b {
            MappingItem::Field(f) => Some(f),
            MappingItem::Relationship(_) => None,
        }),
        _ => None,
    }
}

#[test]
fn positional_arguments_are_named() {
    let text = r#"{"id": "s", "fieldMappings": [{"targetField": "a", "mappingType": "transform", "config": {"type": "transform", "sourceField": "A",
        "transformations": [{"type": "replace", "config": {"search": " ", "replace": ""}}, {"type": "mystery", "config": {"a": 1, "b": 2}}]}}]}"#;
    check_encode(
        text,
        |doc| {
            if let Some(FieldMapping {
                expr: MappingExpr::Transform { steps, .. },
                ..
            }) = first_mapping(doc)
            {
                for step in steps {
                    for arg in &mut step.args {
                        arg.name = None;
                    }
                }
            }
        },
        expect![[
            r#"{"id":"s","fieldMappings":[{"targetField":"a","mappingType":"transform","config":{"type":"transform","sourceField":"A","transformations":[{"type":"replace","config":{"search":" ","replace":""}},{"type":"mystery","config":{"arg1":1,"arg2":2}}]}}],"isActive":true}"#
        ]],
    );
}

#[test]
fn composite_templates_list_their_placeholders() {
    let text = r#"{"id": "s", "fieldMappings": [{"targetField": "a", "mappingType": "composite",
        "config": {"type": "composite", "template": "${First} ${ Last } (${First}) ${} $x"}}]}"#;
    check_encode(
        text,
        |_| {},
        expect![[
            r#"{"id":"s","fieldMappings":[{"targetField":"a","mappingType":"composite","config":{"type":"composite","sourceFields":["First"," Last "],"template":"${First} ${ Last } (${First}) ${} $x"}}],"isActive":true}"#
        ]],
    );
}

#[test]
fn rules_after_a_catch_all_are_left_out() {
    let text = r#"{"id": "s", "fieldMappings": [{"targetField": "a", "mappingType": "conditional",
        "config": {"type": "conditional", "conditions": [
          {"condition": {"field": "X", "operator": "eq", "value": 1}, "then": {"type": "value", "value": "one"}},
          {"condition": {"field": "X", "operator": "eq", "value": 2}, "then": {"type": "value", "value": "two"}}],
          "default": "other"}}]}"#;
    check_encode(
        text,
        |doc| {
            // `match X { 1 => "one"  _ => "other"  2 => "two"  _ => "never" }`
            if let Some(FieldMapping {
                expr: MappingExpr::Conditional(c),
                ..
            }) = first_mapping(doc)
            {
                let default = c.arms.pop();
                let second = c.arms.pop();
                c.arms.extend(default.clone());
                c.arms.extend(second);
                if let Some(Arm::Default { span, .. }) = default {
                    c.arms.push(Arm::Default {
                        span,
                        value: Literal::new("never".into(), span),
                    });
                }
            }
        },
        expect![[
            r#"{"id":"s","fieldMappings":[{"targetField":"a","mappingType":"conditional","config":{"type":"conditional","conditions":[{"condition":{"field":"X","operator":"eq","value":1},"then":{"type":"value","value":"one"}}],"default":"other"}}],"isActive":true}"#
        ]],
    );
}

#[test]
fn top_level_lookups_are_inlined_into_the_schemas_using_them() {
    let text = r#"[
      {"$kind": "lookup", "id": "countries", "entries": {"US": "United States"}},
      {"$kind": "lookup", "id": "unused", "entries": {}},
      {"id": "s", "fieldMappings": [{"targetField": "c", "mappingType": "lookup", "config": {"type": "lookup", "sourceField": "C", "table": "countries"}}],
       "lookupTables": {"local": {"a": 1}}}
    ]"#;
    check_encode(
        text,
        |_| {},
        expect![[
            r#"[{"$kind":"lookup","id":"unused","entries":{}},{"id":"s","fieldMappings":[{"targetField":"c","mappingType":"lookup","config":{"type":"lookup","sourceField":"C","table":"countries"}}],"isActive":true,"lookupTables":{"local":{"a":1},"countries":{"US":"United States"}}}]"#
        ]],
    );
    // With the unused table gone, the one schema is the whole document.
    let text = r#"[
      {"$kind": "lookup", "id": "countries", "entries": {"US": "United States"}},
      {"id": "s", "fieldMappings": [{"targetField": "c", "mappingType": "lookup", "config": {"type": "lookup", "sourceField": "C", "table": "countries"}}]}
    ]"#;
    check_encode(
        text,
        |_| {},
        expect![[
            r#"{"id":"s","fieldMappings":[{"targetField":"c","mappingType":"lookup","config":{"type":"lookup","sourceField":"C","table":"countries"}}],"isActive":true,"lookupTables":{"countries":{"US":"United States"}}}"#
        ]],
    );
}

#[test]
fn spec_required_values_are_written_with_their_defaults() {
    check_encode(
        r#"{"id": "t", "conversionSchemaId": "s", "retryConfig": {"maxRetries": 1, "retryDelaySeconds": 5},
            "notifications": {"onFailure": true}}"#,
        |_| {},
        expect![[
            r#"{"id":"t","conversionSchemaId":"s","direction":"pull","schedule":{"type":"manual","config":{"type":"manual"}},"config":{},"status":"active","retryConfig":{"maxRetries":1,"retryDelaySeconds":5,"exponentialBackoff":false},"notifications":{"onSuccess":false,"onFailure":true,"onPartial":false,"recipients":[]}}"#
        ]],
    );
    check_encode(
        r#"{"id": "s", "source": {"entity": "E"}, "target": {"shardTypeId": "c"},
            "fieldMappings": [{"targetField": "x", "mappingType": "lookup", "config": {"type": "lookup", "sourceField": "X", "shardTypeId": "c_y"}}]}"#,
        |doc| {
            if let Some(Item::Schema(s)) = doc.items.first_mut() {
                s.target.iter_mut().for_each(|t| t.flags = None);
            }
        },
        expect![[
            r#"{"id":"s","source":{"entity":"E"},"target":{"shardTypeId":"c","createIfMissing":true,"updateIfExists":true,"deleteIfRemoved":false},"fieldMappings":[{"targetField":"x","mappingType":"lookup","config":{"type":"lookup","sourceField":"X","shardTypeId":"c_y","byExternalId":true}}],"isActive":true}"#
        ]],
    );
}

#[test]
fn a_cron_schedule_without_zone_is_utc() {
    check_encode(
        r#"{"id": "t", "schedule": {"type": "cron", "config": {"type": "cron", "expression": "0 * * * *"}}}"#,
        |_| {},
        expect![[
            r#"{"id":"t","direction":"pull","schedule":{"type":"cron","config":{"type":"cron","expression":"0 * * * *","timezone":"UTC"}},"config":{},"status":"active"}"#
        ]],
    );
}

#[test]
fn several_items_encode_to_an_array() {
    let (doc, _) = decode(0, &format!("[{}, {}]", FIXTURES[0].1, FIXTURES[3].1));
    let json = encode(&doc, &params);
    assert_eq!(json.as_array().map(Vec::len), Some(2));
}

// ---- robustness ----------------------------------------------------------------------

/// Decoding never panics; diagnostics point inside the text on character boundaries;
/// a document without errors encodes, and its encoding decodes cleanly to the same
/// encoding (encode is a fixpoint).
fn survive(text: &str) {
    let (doc, diags) = decode(0, text);
    for d in &diags {
        let range = d.span.range();
        assert!(
            text.get(range.clone()).is_some(),
            "span {range:?} of `{}` is not in the text",
            d.message
        );
    }
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    let json = encode(&doc, &params);
    let again = json.to_string();
    let (doc2, diags2) = decode(0, &again);
    assert!(
        !diags2.iter().any(|d| d.is_error()),
        "re-decoding {again}: {}",
        render(&again, &diags2)
    );
    assert_eq!(encode(&doc2, &params), json, "encoding {text}");
}

/// A fixture with one character deleted, duplicated, or swapped with its neighbour.
fn mutate(text: &str, edits: &[(usize, u8)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, op) in edits {
        if chars.is_empty() {
            break;
        }
        let i = at % chars.len();
        match op % 3 {
            0 => {
                chars.remove(i);
            }
            1 => {
                let c = chars[i];
                chars.insert(i, c);
            }
            _ => {
                let j = (i + 1) % chars.len();
                chars.swap(i, j);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #[test]
    fn decode_never_panics_on_random_text(text in "\\PC{0,200}") {
        survive(&text);
    }

    #[test]
    fn decode_never_panics_on_json_like_text(text in "[\\[\\]{}\":,0-9a-z\\\\ .eE+-]{0,120}") {
        survive(&text);
    }

    #[test]
    fn decode_never_panics_on_mutated_fixtures(
        which in 0..FIXTURES.len() + 1,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let text = FIXTURES.get(which).map_or(EXTENSIONS, |f| f.1);
        survive(&mutate(text, &edits));
    }
}

// ---- connections ---------------------------------------------------------------------

#[test]
fn connections_decode_their_credentials() {
    check_summary(
        r#"[
  { "id": "a", "integrationId": "salesforce", "authType": "oauth2", "tenantId": "acme",
    "credentials": { "clientId": "x", "clientSecret": { "env": "S" }, "refreshToken": { "stored": true },
                     "scopes": ["api"], "port": 1 },
    "settings": { "instanceUrl": "https://x" }, "status": "active" },
  { "$kind": "connection", "id": "b", "integrationId": "rss", "authType": "none" }
]"#,
        expect![[r#"
            connection a integration Some("salesforce") scope None tenant Some("acme")
              auth oauth2
                clientId = plain "x"
                clientSecret = env S
                refreshToken = stored
                scopes = plain ["api"]
                port = plain 1
              settings {"instanceUrl":"https://x"}
              meta status = "active"
            connection b integration Some("rss") scope None tenant None
              auth none
        "#]],
    );
}

#[test]
fn connection_shapes_are_reported() {
    check(
        r#"[
  { "id": "a", "integrationId": "rest", "authType": "custom",
    "credentials": { "k1": { "env": 1 }, "k2": { "stored": false }, "k3": { "vault": "x" }, "k4": {} },
    "settings": [], "oauth": {} },
  { "id": "b", "integrationId": "rest", "credentials": { "apiKey": { "env": "K" } } },
  { "id": "c", "integrationId": "rest", "authType": "none", "schedule": {} }
]"#,
        expect![[r#"
            E0003 3:37 [0].credentials.k1.env must be a string, found number
              help: write it as a string: "1"
            E0003 3:60 [0].credentials.k2.stored must be true
              help: write { "stored": true }, or give the value another way
            E0003 3:75 [0].credentials.k3 must be a string, { "env": "VAR" } or { "stored": true }
              help: name where the secret comes from: { "env": "VAR" } reads an environment variable, { "stored": true } a value set with `cmap connections set` (a task's token: `cmap tokens set`)
            E0003 3:99 [0].credentials.k4 must be a string, { "env": "VAR" } or { "stored": true }
              help: name where the secret comes from: { "env": "VAR" } reads an environment variable, { "stored": true } a value set with `cmap connections set` (a task's token: `cmap tokens set`)
            E0003 4:17 [0].settings must be an object, found array
              help: replace it with an object
            W0005 4:21 unknown key `oauth` in [0]
              help: it is kept as `meta` and not interpreted; the known keys are `id`, `integrationId`, `displayName`, `scope`, `tenantId`, `authType`, `credentials`, `settings`, `status`, `lastValidatedAt`, `createdBy`, `createdAt`, `updatedAt`
            E0003 5:3 cannot tell what [1] is [neither a schema, a task, a connection nor an integration]
              help: a ConversionSchema has `fieldMappings`, `source` and `target`; a SyncTask has `conversionSchemaId` and `schedule`; an IntegrationConnection has `integrationId` and `authType`; an IntegrationDefinition has `category` or `connectionScope`; other items carry "$kind": "lookup", "rates", "shardtype" or "entity"
            E0003 6:3 [2] has keys of both a task and a connection [`schedule` belongs to a task, `integrationId` to a connection]
              help: say which it is: "$kind": "task" or "$kind": "connection"
        "#]],
    );
}
