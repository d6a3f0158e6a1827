//! Tests of the compiler: `.cmap` text in, diagnostics (or selected IR) out, compared
//! with expect-test (`UPDATE_EXPECT=1 cargo test --lib compile` regenerates).

use std::fmt::Write as _;
use std::path::PathBuf;

use expect_test::{expect, Expect};
use serde_json::json;

use super::ir::{self, Expr, TemplatePart, Then};
use super::{compile, Compilation, Options};
use crate::syntax::ast::{self, Document, Item, MappingExpr, MappingItem, Name, Spanned};
use crate::syntax::{self, SourceMap};

/// A small stdlib: one shard type, one entity, rates and a lookup table.
const STDLIB: &str = r#"
shardtype c_contact "Contact" {
  email: string
  name?: string
  phone?: string
  score?: number
  closeAt?: number
  active?: boolean
  tags?: [string]
  companyId?: string
}
shardtype c_company "Company" {
  name: string
  domain?: string
}
entity salesforce.Contact {
  Id: string
  Email?: string
  FirstName?: string
  LastName?: string
  Phone?: string
  Amount?: number
  CloseDate?: date
  IsDeleted?: boolean
  AccountId?: string
  Tags?: [string]
  MailingAddress?: { street?: string, city?: string }
  Meta?: object
}
rates USD { EUR: 0.92, GBP: 0.79 }
lookup countries { "US" => "United States", "FR" => "France" }
"#;

/// Parses the stdlib (file 0) and `src` (file 1); `edit` may rewrite the pipeline's AST
/// (for what only seed JSON can say).
fn parse(src: &str, edit: impl FnOnce(&mut Document)) -> (SourceMap, Vec<Document>) {
    let mut map = SourceMap::default();
    let mut docs = Vec::new();
    for (name, text) in [("stdlib.cmap", STDLIB), ("test.cmap", src)] {
        let id = map.add(PathBuf::from(name), text.to_string());
        let (doc, diags) = syntax::parse(id, map.get(id));
        assert!(diags.is_empty(), "{name} does not parse: {diags:#?}");
        docs.push(doc);
    }
    if let Some(doc) = docs.get_mut(1) {
        edit(doc);
    }
    (map, docs)
}

fn compile_src(src: &str, edit: impl FnOnce(&mut Document)) -> (SourceMap, Compilation) {
    let (map, docs) = parse(src, edit);
    (map, compile(&docs, &Options { stdlib_docs: 1 }))
}

/// `CODE line:col message [label] (help) {line:col related}` per diagnostic.
fn render(map: &SourceMap, c: &Compilation) -> String {
    let mut out = String::new();
    let at = |span: ast::Span| {
        let (l, c) = map.line_col(span);
        let file = if span.file == 0 { "stdlib:" } else { "" };
        format!("{file}{l}:{c}")
    };
    for d in &c.diagnostics {
        let _ = write!(out, "{} {} {}", d.code.as_str(), at(d.span), d.message);
        if let Some(l) = &d.label {
            let _ = write!(out, " [{l}]");
        }
        if let Some(h) = &d.help {
            let _ = write!(out, " ({h})");
        }
        for (span, label) in &d.related {
            let _ = write!(out, " {{{} {label}}}", at(*span));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "program: {}", if c.program.is_some() { "yes" } else { "no" });
    out
}

fn check(src: &str, expect: Expect) {
    check_edit(src, |_| {}, expect);
}

fn check_edit(src: &str, edit: impl FnOnce(&mut Document), expect: Expect) {
    let (map, c) = compile_src(src, edit);
    assert_eq!(c.program.is_some(), !c.has_errors());
    expect.assert_eq(&render(&map, &c));
}

/// A valid contact schema around `body` (mappings, tests).
fn contact(body: &str) -> String {
    format!(
        "schema s {{\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  email = Email\n{body}\n}}\n"
    )
}

/// The first field mapping of the first schema.
fn first_mapping(doc: &mut Document) -> Option<&mut ast::FieldMapping> {
    doc.items.iter_mut().find_map(|i| match i {
        Item::Schema(s) => s.body.iter_mut().find_map(|m| match m {
            MappingItem::Field(f) => Some(f),
            MappingItem::Relationship(_) => None,
        }),
        _ => None,
    })
}

#[test]
fn a_valid_pipeline_has_no_diagnostics() {
    check(
        &contact(
            r#"  name = "${FirstName} ${LastName}"
  phone = Phone | replace(" ", "") | trim
  score = Amount | currency_convert("USD", "EUR") | round(2)
  tags = Tags
  companyId -> belongs_to c_company by external_id(AccountId)
  test "maps" { input { Id: "1", Email: "a@b.c" } expect { email: "a@b.c" } }"#,
        ),
        expect![[r#""#]],
    );
}

// --- 01xx: names ------------------------------------------------------------------------

#[test]
fn e0101_unknown_mapping_type() {
    check_edit(
        &contact(""),
        |doc| {
            if let Some(m) = first_mapping(doc) {
                let span = m.target.span;
                m.expr = MappingExpr::Unknown { mapping_type: Name::new("lookups".into(), span) };
            }
        },
        expect![[r#""#]],
    );
}

#[test]
fn e0102_unknown_transformation() {
    check(&contact("  phone = Phone | trimm | upcase"), expect![[r#""#]]);
}

#[test]
fn e0103_unknown_operator() {
    check_edit(
        "schema s {\n  source salesforce.Contact where IsDeleted == false\n  target c_contact\n  dedupe external_id(Id)\n  email = Email\n}\n",
        |doc| {
            if let Some(Item::Schema(s)) = doc.items.first_mut() {
                if let Some(f) = s.source.as_mut().and_then(|src| src.filters.first_mut()) {
                    f.op.node = "equals".into();
                }
            }
        },
        expect![[r#""#]],
    );
}

#[test]
fn e0104_unknown_validation_rule() {
    check(&contact("  phone = Phone validate emial, phone_number"), expect![[r#""#]]);
}

#[test]
fn e0105_unknown_dedupe_strategy() {
    check("schema s {\n  source salesforce.Contact\n  target c_contact\n  dedupe externalid(Id)\n  email = Email\n}\n", expect![[r#""#]]);
}

#[test]
fn e0106_duplicate_ids() {
    check(
        r#"schema s { source salesforce.Contact target c_contact dedupe external_id(Id) email = Email }
schema s { source salesforce.Contact target c_contact dedupe external_id(Id) email = Email }
task t { schema s }
task t { schema s }
lookup countries { "DE" => "Germany" }
lookup l { "a" => 1 "a" => 2 }
"#,
        expect![[r#""#]],
    );
}

#[test]
fn e0107_unknown_schema() {
    check(&(contact("") + "task t { schema contact }\ntask u { schema nothing-like-it }\ntask v { direction pull }\n"), expect![[r#""#]]);
}

#[test]
fn e0108_unknown_lookup_table() {
    check(&contact("  name = lookup FirstName in countrys\n  phone = lookup Phone in nowhere"), expect![[r#""#]]);
}

#[test]
fn e0109_rates_on_an_unrelated_base() {
    check(&(contact("") + "rates XYZ { EUR: 2 }\nrates EUR { CHF: 0.95, JPY: \"lots\" }\n"), expect![[r#""#]]);
}

#[test]
fn e0110_unknown_keyword_values() {
    check(
        &(contact("  companyId -> belong_to c_company by id(AccountId)")
            + r#"task t {
  schema s
  direction pul
  status paused-ish
  schedule every 5 minuts
  notify on sucess, failure -> "a@b.c"
}
"#),
        expect![[r#""#]],
    );
}

#[test]
fn e0111_unknown_target_flag() {
    check(
        "schema s {\n  source salesforce.Contact\n  target c_contact { create_if_mising, delete_if_removed }\n  dedupe external_id(Id)\n  email = Email\n}\n",
        expect![[r#""#]],
    );
}

// --- 02xx: configuration ----------------------------------------------------------------

#[test]
fn transformation_arguments() {
    check(
        &contact(
            r#"  name = FirstName | truncate(3, 4) | trim("x") | truncate(maxLen: 3)
  phone = Phone | replace(" ") | regex_replace("(", "") | split(",", index: "x")
  score = Amount | currency_convert("USD", "XXX") | round(decimals: 2, decimals: 3)"#,
        ),
        expect![[r#""#]],
    );
}

#[test]
fn e0204_custom_expression() {
    check(&contact(r#"  score = Amount | custom("value *")"#), expect![[r#""#]]);
}

#[test]
fn validation_values() {
    check(
        &contact(
            r#"  phone = Phone validate pattern("("), max_length("x"), min(true), one_of(3), email(1), min_length"#,
        ),
        expect![[r#""#]],
    );
}

#[test]
fn e0207_operator_values() {
    check(
        r#"schema s {
  source salesforce.Contact where Email in "a@b.c" and Amount > true and Email starts_with 3 and Email exists
  target c_contact
  dedupe external_id(Id)
  email = Email
  name = when {
    Amount >= 10 => "big"
    FirstName not in "x" => "no"
    _ => "small"
  }
}
"#,
        expect![[r#""#]],
    );
}

#[test]
fn e0207_exists_with_a_value() {
    check_edit(
        "schema s {\n  source salesforce.Contact where Email exists\n  target c_contact\n  dedupe external_id(Id)\n  email = Email\n}\n",
        |doc| {
            if let Some(Item::Schema(s)) = doc.items.first_mut() {
                if let Some(f) = s.source.as_mut().and_then(|src| src.filters.first_mut()) {
                    f.value = Some(Spanned::new(json!(true), f.op.span));
                }
            }
        },
        expect![[r#""#]],
    );
}

#[test]
fn e0208_invalid_paths() {
    check(
        &contact(
            "  name = `a..b`\n  phone = flatten(Meta, \"$.owner.*\")\n  tags = \"${FirstName\"\n  companyId -> belongs_to c_company by id(`x[y]`)",
        ),
        expect![[r#""#]],
    );
}

// --- 03xx: schemas ----------------------------------------------------------------------

#[test]
fn e0301_duplicate_target() {
    check(&contact("  email = Phone\n  companyId = AccountId\n  companyId -> belongs_to c_company by external_id(AccountId)"), expect![[r#""#]]);
}

#[test]
fn w0302_unreachable_rules() {
    check(
        &contact(
            r#"  name = match FirstName {
    "Ada" => "a"
    "Bob" => "b"
    "Ada" => "c"
    _ => "z"
    "Eve" => "e"
  }"#,
        ),
        expect![[r#""#]],
    );
}

#[test]
fn e0303_missing_clauses() {
    check("schema s {\n  email = Email\n}\n", expect![[r#""#]]);
}

#[test]
fn w0304_empty_schema() {
    check("schema s {\n  source salesforce.Contact\n  target c_company\n  dedupe external_id(Id)\n}\n", expect![[r#""#]]);
}

#[test]
fn w0305_template_without_placeholder() {
    check_edit(
        &contact("  name = \"${FirstName}\""),
        |doc| {
            if let Some(Item::Schema(s)) = doc.items.first_mut() {
                for m in &mut s.body {
                    if let MappingItem::Field(ast::FieldMapping { expr: MappingExpr::Composite(c), .. }) = m {
                        if let Some(t) = c.template.as_mut() {
                            t.node = "no fields".into();
                        }
                    }
                }
            }
        },
        expect![[r#""#]],
    );
}

#[test]
fn e0306_malformed_task_placeholder() {
    check(&contact("  name = \"{{tasks.industry}}\"\n  phone = \"x {{task.}}\"\n  tags = \"{{task.a\""), expect![[r#""#]]);
}

// --- 04xx: tasks ------------------------------------------------------------------------

#[test]
fn task_schedules() {
    check(
        &(contact("")
            + r#"task a { schema s schedule cron "0 2 * *" }
task b { schema s schedule cron "0 0 2 * * *" }
task c { schema s schedule cron "0 2 * * *" in "America/New_Yrok" }
task d { schema s schedule cron "61 2 * * *" in "Mars/Olympus" }
task e { schema s schedule every 0 hours }
task f { schema s schedule every 1.5 hours }
task g { schema s retry -1 times every -5s }
task h { schema s config ["x"] }
"#),
        expect![[r#""#]],
    );
}

#[test]
fn w0404_task_key_never_set() {
    check(
        &(contact(
            r#"  name = task.industry
  phone = "+{{task.prefix}}"
  score = Amount | custom("value * task.factor + task[\"bonus\"]")"#,
        ) + r#"task a { schema s config { industry: "banking", factor: 2, bonus: 1 } }
task b { schema s }
"#),
        expect![[r#""#]],
    );
}

#[test]
fn w0404_is_quiet_without_tasks_or_when_set() {
    check(
        &(contact("  name = task.industry") + "schema u { source salesforce.Contact target c_contact dedupe external_id(Id) email = Email phone = task.x }\ntask a { schema u config { x: 1 } }\n"),
        expect![[r#""#]],
    );
}

// --- 05xx: schema-aware -----------------------------------------------------------------

#[test]
fn w0501_w0502_unknown_fields() {
    check(
        &contact(
            "  emial = Email\n  name = FirstNam\n  phone = MailingAddress.stret\n  tags = lookup AccountId in shard c_company.nam\n  companyId = Meta.anything.goes",
        ),
        expect![[r#""#]],
    );
}

#[test]
fn w0503_type_mismatch() {
    check(
        &contact(
            r#"  closeAt = CloseDate
  score = FirstName | trim
  active = Amount
  name = Amount | round(0)
  phone = CloseDate | to_date
  tags = "one"
  companyId = match Amount { > 10 => 1 _ => 2 }"#,
        ),
        expect![[r#""#]],
    );
}

#[test]
fn w0504_w0505_w0506_unknown_types() {
    check(
        "schema s {\n  source salesforce.Contakt\n  target c_contactt\n  dedupe external_id(Id)\n  name = Name\n  companyId -> belongs_to c_compan by external_id(AccountId)\n}\nschema u {\n  source Contact\n  target c_company\n  dedupe external_id(Id)\n  domain = Email\n}\n",
        expect![[r#""#]],
    );
}

// --- 06xx: tests ------------------------------------------------------------------------

#[test]
fn e0601_malformed_tests() {
    check(
        &contact(
            r#"  test "no input" { expect skipped }
  test "nothing expected" { input { Id: "1" } }
  test "bad shapes" { input [1] task 3 expect [1] expect relationships {} }
  test "unknown failure" { input { Id: "1" } expect failed emial }"#,
        ),
        expect![[r#""#]],
    );
}

#[test]
fn every_error_in_a_file_is_reported() {
    check(
        r#"schema s {
  source salesforce.Contact where Amount in 3
  target c_contact { create }
  dedupe external_id(Id)
  email = Email | trimm
  email = Phone validate maxlength(3)
  name = lookup Id in nowhere
}
task t { schema ss schedule cron "bad" in "Nowhere/City" retry -1 times every 5s }
"#,
        expect![[r#""#]],
    );
}

// --- lowering ---------------------------------------------------------------------------

/// Renders a schema's IR without the opaque transforms.
fn show_schema(s: &ir::Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "schema {} ({:?}.{}) -> {:?}\ndedupe {} {:?}\nreads {:?}",
        s.id,
        s.integration,
        s.entity,
        s.target,
        s.dedupe.strategy.as_str(),
        s.dedupe.fields.iter().map(|p| p.raw.as_str()).collect::<Vec<_>>(),
        s.reads
    );
    for f in &s.filters {
        let _ = writeln!(out, "where {} {} {}", f.field.raw, f.op.as_str(), f.value);
    }
    for f in &s.fields {
        let _ = writeln!(
            out,
            "{}{} <- {} :: {}{}",
            f.target,
            if f.required { "!" } else { "" },
            f.describe,
            show_expr(&f.expr),
            f.validations.iter().map(|v| format!(" validate {:?}", v.rule)).collect::<String>()
        );
    }
    for r in &s.relationships {
        let _ = writeln!(out, "{} -> {} {} by {} {}", r.target, r.kind, r.shard_type, if r.by_external_id { "external_id" } else { "id" }, r.field.raw);
    }
    for t in &s.tests {
        let _ = writeln!(out, "test {:?} input {} task {:?} expect {:?}", t.name, t.input, t.task, t.expect);
    }
    out
}

fn show_expr(e: &Expr) -> String {
    let steps = |s: &[ir::Step]| s.iter().map(|s| s.name).collect::<Vec<_>>().join("|");
    let parts = |p: &[TemplatePart]| {
        p.iter()
            .map(|p| match p {
                TemplatePart::Lit(s) => format!("{s:?}"),
                TemplatePart::Field(f) => format!("field({})", f.raw),
                TemplatePart::TaskKey(k) => format!("task({k})"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    match e {
        Expr::Direct(p) => format!("Direct({})", p.raw),
        Expr::Transform(p, s) => format!("Transform({}, {})", p.raw, steps(s)),
        Expr::Conditional { rules, default } => format!(
            "Conditional[{}] default {:?}",
            rules
                .iter()
                .map(|r| format!(
                    "{} {} {} => {}",
                    r.condition.field.raw,
                    r.condition.op.as_str(),
                    r.condition.value,
                    match &r.then {
                        Then::Value(v) => v.to_string(),
                        Then::Field(p) => format!("field({})", p.raw),
                        Then::Transform(p, s) => format!("transform({}, {})", p.raw, steps(s)),
                    }
                ))
                .collect::<Vec<_>>()
                .join("; "),
            default
        ),
        Expr::Value(v) => format!("Value({v})"),
        Expr::TaskTemplate(p) => format!("TaskTemplate({})", parts(p)),
        Expr::Template(p) => format!("Template({})", parts(p)),
        Expr::Join { fields, separator } => {
            format!("Join({:?}, {separator:?})", fields.iter().map(|f| f.raw.as_str()).collect::<Vec<_>>())
        }
        Expr::LookupTable { field, table, default } => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            format!("LookupTable({}, {keys:?}, else {default})", field.raw)
        }
        Expr::LookupShard { field, shard_type, return_field, default } => {
            format!("LookupShard({}, {shard_type}.{return_field:?}, else {default})", field.raw)
        }
        Expr::Flatten { field, path } => format!("Flatten({}, {:?})", field.raw, path.segments),
    }
}

fn lower(src: &str, expect: Expect) {
    let (map, c) = compile_src(src, |_| {});
    let Some(program) = &c.program else { panic!("does not compile:\n{}", render(&map, &c)) };
    let mut out = String::new();
    for s in &program.schemas {
        out.push_str(&show_schema(s));
    }
    for t in &program.tasks {
        let _ = writeln!(
            out,
            "task {} schema {} {:?} {:?} {:?} config {:?} {:?} {:?} integration {:?}",
            t.id, t.schema.id, t.direction, t.schedule, t.status, t.config, t.retry, t.notifications, t.integration
        );
    }
    expect.assert_eq(&out);
}

#[test]
fn lowers_mappings() {
    lower(
        r#"lookup local-less { "x" => 1 }
schema s "Contacts" {
  source salesforce.Contact where IsDeleted == false and Email exists and FirstName in ["a", "b"]
  target c_contact { create_if_missing }
  dedupe composite(FirstName, LastName)
  inactive
  email! = Email validate email, max_length(254), pattern("@"), one_of(["a"], message: "no")
  name = "${FirstName} ${MailingAddress.city}!"
  phone = join(Phone, Email, sep: ", ")
  tags = join(FirstName, LastName)
  score = when {
    Amount >= 100 => 3
    FirstName == "x" => Amount | round(1)
    Email exists => Amount
    _ => 0
  }
  companyId = lookup FirstName in countries else "?"
  active = lookup AccountId in shard c_company.name
  closeAt = MailingAddress.city
  `x-industry` = task.industry
  `x-label` = "tier {{task.tier}}!"
  `x-plain` = { a: [1, 2] }
  `x-flat` = flatten(Meta, "$['a.b'][0]")
  companyRef -> belongs_to c_company by id(AccountId)
  test "t" { input { Id: "1" } task { industry: "x", tier: "y" } expect { email: "e" } expect external_id "1" expect failed email }
}
task t { schema s config { industry: "banking", tier: "gold" } }
"#,
        expect![[r#""#]],
    );
}

#[test]
fn lowers_tasks() {
    lower(
        &(contact("")
            + r#"task a "A" {
  description "d"
  schema s
  integration sf-prod
  direction bidirectional
  schedule cron "0 2 * * 1-5" in "America/New_York"
  status paused
  retry 3 times every 300s exponential
  notify on success, partial -> "a@b.c", "u1"
}
task b { schema s schedule every 15 minutes }
task c { schema s schedule realtime "https://x" token "tok" }
task d { schema s }
"#),
        expect![[r#""#]],
    );
}

#[test]
fn a_custom_script_reading_record_needs_whole_records() {
    let src = contact(r#"  score = Amount | custom("value + record.Other")"#);
    let (_, c) = compile_src(&src, |_| {});
    let reads = c.program.as_ref().and_then(|p| p.schemas.first()).map(|s| s.reads.clone());
    assert_eq!(reads, Some(None));
    let src = contact(r#"  score = Amount | custom("value * 2")"#);
    let (_, c) = compile_src(&src, |_| {});
    let reads = c.program.as_ref().and_then(|p| p.schemas.first()).map(|s| s.reads.clone());
    assert_eq!(reads, Some(Some(vec!["Amount".to_string(), "Email".to_string(), "Id".to_string()])));
}

#[test]
fn pipeline_rates_override_stdlib_entry_by_entry() {
    let (map, docs) = parse("rates USD { EUR: 0.5 }\nrates EUR { CHF: 2 }\n", |_| {});
    // The pipeline comes first here: `stdlib_docs` still puts the stdlib's table first.
    let docs = vec![docs[1].clone(), docs[0].clone()];
    let c = compile(&docs, &Options { stdlib_docs: 0 });
    let _ = map;
    assert_eq!(c.rates.base, "USD");
    assert_eq!(c.rates.rates.get("EUR"), Some(&0.92));
    let c = compile(&[docs[1].clone(), docs[0].clone()], &Options { stdlib_docs: 1 });
    assert_eq!(c.rates.rates.get("EUR"), Some(&0.5));
    assert_eq!(c.rates.rates.get("GBP"), Some(&0.79));
    assert_eq!(c.rates.rates.get("CHF"), Some(&1.0));
}

#[test]
fn the_repository_stdlib_and_pipelines_compile() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut map = SourceMap::default();
    let mut docs = Vec::new();
    let mut stdlib = 0;
    for dir in ["stdlib", "pipelines"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let id = map.add(p.clone(), text);
            let (doc, diags) = syntax::parse(id, map.get(id));
            assert!(diags.is_empty(), "{}: {diags:#?}", p.display());
            docs.push(doc);
        }
        if dir == "stdlib" {
            stdlib = docs.len();
        }
    }
    let c = compile(&docs, &Options { stdlib_docs: stdlib });
    let rendered: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| {
            let (l, col) = map.line_col(d.span);
            format!("{}:{l}:{col} {} {}", map.get(d.span.file).path.display(), d.code.as_str(), d.message)
        })
        .collect();
    assert!(rendered.is_empty(), "{rendered:#?}");
    assert!(c.program.is_some_and(|p| !p.schemas.is_empty()));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Every `.cmap` file of the repository, as mutation seeds.
    fn seeds() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = vec![STDLIB.to_string()];
        for dir in ["stdlib", "pipelines"] {
            if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
                out.extend(rd.filter_map(|e| e.ok()).filter_map(|e| std::fs::read_to_string(e.path()).ok()));
            }
        }
        out
    }

    /// Tokens whose insertion makes interesting (often still parseable) files.
    const TOKENS: &[&str] = &[
        "0", "-1", "\"\"", "\"{{task.\"", "\"${\"", "_ => 1", "`a..b`", "[", "]", "{", "}", "exists", "in",
        "| custom(\"record\")", "| truncate(1, 2)", "schema", "task", "\"* * *\"", "x", "!", ".", "=",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn compile_never_panics(seed in 0usize..16, edits in proptest::collection::vec((0usize..100_000, 0usize..TOKENS.len(), any::<bool>()), 1..6)) {
            let seeds = seeds();
            let mut text = seeds[seed % seeds.len()].clone();
            for (at, token, delete) in edits {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if delete {
                    let end = text[at..].char_indices().nth(8).map_or(text.len(), |(i, _)| at + i);
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, TOKENS[token]);
                }
            }
            let mut map = SourceMap::default();
            let std_id = map.add(PathBuf::from("stdlib.cmap"), STDLIB.to_string());
            let id = map.add(PathBuf::from("mutated.cmap"), text);
            let docs = vec![syntax::parse(std_id, map.get(std_id)).0, syntax::parse(id, map.get(id)).0];
            let c = compile(&docs, &Options { stdlib_docs: 1 });
            prop_assert_eq!(c.program.is_some(), !c.has_errors());
        }
    }
}
