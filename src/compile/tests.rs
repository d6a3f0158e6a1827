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
pub(super) const STDLIB: &str = r#"
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

pub(super) fn compile_src(src: &str, edit: impl FnOnce(&mut Document)) -> (SourceMap, Compilation) {
    let (map, docs) = parse(src, edit);
    (
        map,
        compile(
            &docs,
            &Options {
                stdlib_docs: 1,
                ..Default::default()
            },
        ),
    )
}

/// `CODE line:col message [label] (help) {line:col related}` per diagnostic.
pub(super) fn render(map: &SourceMap, c: &Compilation) -> String {
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
    let _ = writeln!(
        out,
        "program: {}",
        if c.program.is_some() { "yes" } else { "no" }
    );
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
        expect![[r#"
            program: yes
        "#]],
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
                m.expr = MappingExpr::Unknown {
                    mapping_type: Name::new("lookups".into(), span),
                };
            }
        },
        expect![[r#"
            E0101 5:3 unknown mapping type `lookups` [did you mean `lookup`?] (write `lookup`)
            program: no
        "#]],
    );
}

#[test]
fn e0102_unknown_transformation() {
    check(
        &contact("  phone = Phone | trimm | upcase"),
        expect![[r#"
        E0102 6:19 unknown transformation `trimm` [did you mean `trim`?] (write `| trim`)
        E0102 6:27 unknown transformation `upcase` [did you mean `uppercase`?] (write `| uppercase`)
        program: no
    "#]],
    );
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
        expect![[r#"
            E0103 2:45 unknown operator `equals` [did you mean `eq`?] (write `eq`)
            program: no
        "#]],
    );
}

#[test]
fn e0104_unknown_validation_rule() {
    check(
        &contact("  phone = Phone validate emial, phone_number"),
        expect![[r#"
        E0104 6:26 unknown validation rule `emial` [did you mean `email`?] (write `email`)
        E0104 6:33 unknown validation rule `phone_number` [not a known validation rule] (use one of `required`, `pattern`, `min`, `max`, `min_length`, `max_length`, `one_of`, `email`, `url`)
        program: no
    "#]],
    );
}

#[test]
fn e0105_unknown_dedupe_strategy() {
    check("schema s {\n  source salesforce.Contact\n  target c_contact\n  dedupe externalid(Id)\n  email = Email\n}\n", expect![[r#"
        E0105 4:10 unknown deduplication strategy `externalid` [did you mean `external_id`?] (write `external_id`)
        program: no
    "#]]);
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
connection `task:t` { integration rest auth none settings { baseUrl: "https://x" } }
"#,
        expect![[r#"
            E0106 2:8 schema `s` is defined twice [defined again here] (rename one of the two schemas or remove the duplicate) {1:8 first defined here}
            E0106 4:6 task `t` is defined twice [defined again here] (rename one of the two tasks or remove the duplicate) {3:6 first defined here}
            E0106 5:8 lookup table `countries` is defined twice [defined again here] (rename one of the two lookup tables or remove the duplicate) {stdlib:31:8 first defined here}
            E0106 6:21 key `a` appears twice in lookup `l` [listed again here] (remove one of the two entries: the first one wins) {6:12 first listed here}
            E0106 7:12 connection ids starting with `task:` are reserved [the data directory keeps realtime tasks' tokens under these ids] (rename the connection, e.g. `t`)
            program: no
        "#]],
    );
}

#[test]
fn e0107_unknown_schema() {
    check(&(contact("") + "task t { schema contact }\ntask u { schema nothing-like-it }\ntask v { direction pull }\n"), expect![[r#"
        E0107 8:17 unknown schema `contact` [no schema has this id] (name a schema declared in the pipeline or the stdlib)
        E0107 9:17 unknown schema `nothing-like-it` [no schema has this id] (name a schema declared in the pipeline or the stdlib)
        E0303 10:6 task `v` names no schema [`schema` is required] (add `schema s` (or another schema id))
        program: no
    "#]]);
}

#[test]
fn e0108_unknown_lookup_table() {
    check(
        &contact("  name = lookup FirstName in countrys\n  phone = lookup Phone in nowhere"),
        expect![[r#"
        E0108 6:30 unknown lookup table `countrys` [did you mean `countries`?] (write `in countries`)
        E0108 7:27 unknown lookup table `nowhere` [no such table] (declare it: `lookup nowhere { "key" => "value" }`)
        program: no
    "#]],
    );
}

#[test]
fn e0109_rates_on_an_unrelated_base() {
    check(
        &(contact("") + "rates XYZ { EUR: 2 }\nrates CHF { GBP: 0.95, JPY: \"lots\" }\n"),
        expect![[r#"
            W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `XYZ` used instead] (currencies only the standard library lists are unknown now: GBP, USD; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
            E0109 9:7 rates on `CHF` cannot be related to the base currency `XYZ` [no `XYZ` -> `CHF` rate is known] (add `CHF: RATE` to the `rates XYZ` table, or `XYZ: RATE` to this one, or write this table on `XYZ`) {8:7 the base currency is set here}
            E0202 9:29 the rate of `JPY` must be a positive number [this is a string] (write how much JPY one CHF buys, e.g. `JPY: 0.92`)
            program: no
        "#]],
    );
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
        expect![[r#"
            E0110 6:16 unknown relationship type `belong_to` [did you mean `belongs_to`?] (write `belongs_to`)
            E0110 10:13 unknown direction `pul` [did you mean `pull`?] (write `pull`)
            E0110 11:10 unknown status `paused-ish` [did you mean `paused`?] (write `paused`)
            E0110 12:20 unknown interval unit `minuts` [did you mean `minutes`?] (write `minutes`)
            E0110 13:13 unknown notify event `sucess` [did you mean `success`?] (write `success`)
            program: no
        "#]],
    );
}

#[test]
fn e0111_unknown_target_flag() {
    check(
        "schema s {\n  source salesforce.Contact\n  target c_contact { create_if_mising, delete_if_removed }\n  dedupe external_id(Id)\n  email = Email\n}\n",
        expect![[r#"
            E0111 3:22 unknown target flag `create_if_mising` [did you mean `create_if_missing`?] (write `create_if_missing`)
            program: no
        "#]],
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
        expect![[r#"
            E0202 6:34 `truncate` takes 1 argument but 2 were given [unexpected argument] (remove it: `truncate` takes `maxLength`)
            E0202 6:44 `trim` takes no argument but 1 was given [unexpected argument] (remove the arguments: `| trim`)
            E0201 6:51 `truncate` needs `maxLength` [`maxLength` is missing] (write `truncate(maxLength: 5)`)
            W0206 6:60 unknown config key `maxLen` for `truncate` [did you mean `maxLength`?] (write `maxLength: ...`)
            E0201 7:19 `replace` needs `replace` [`replace` is missing] (write `replace(search: " ", replace: "")`)
            E0203 7:48 invalid regular expression: unclosed group [this `pattern`] (the syntax is that of the Rust `regex` crate; escape special characters with `\\`)
            E0202 7:70 `index` must be an integer, found string "x" [this `index`] (for example `index: 0`)
            E0109 8:44 unknown currency `XXX` [this `to`] (known currencies: EUR, GBP, USD; add `XXX` to the `rates` table)
            E0202 8:72 `decimals` is given twice [given again here] (remove one of the two) {8:59 first given here}
            program: no
        "#]],
    );
}

#[test]
fn e0204_custom_expression() {
    check(
        &contact(r#"  score = Amount | custom("value *")"#),
        expect![[r#"
        E0204 6:27 invalid custom expression: Script is incomplete (line 1, column 8) [this `expression`] (`value`, `record` and `task` are in scope; declare other variables with `let`)
        program: no
    "#]],
    );
}

#[test]
fn validation_values() {
    check(
        &contact(
            r#"  phone = Phone validate pattern("("), max_length("x"), min(true), one_of(3), email(1), min_length"#,
        ),
        expect![[r#"
            E0203 6:34 invalid regular expression in `pattern` [unclosed group] (fix the regex (regex crate syntax); escape special characters with `\\`)
            E0202 6:51 `max_length` needs a non-negative integer [this is a string] (write `max_length(254)`)
            E0202 6:61 `min` needs a number [this is a boolean] (write `min(0)`)
            E0202 6:75 `one_of` needs an array of allowed values [this is an integer] (write `one_of(["a", "b"])`)
            E0202 6:85 `email` takes no value [unexpected value] (write `validate email`)
            E0201 6:89 `min_length` needs a non-negative integer [no value given] (write `min_length(254)`)
            program: no
        "#]],
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
        expect![[r#"
            E0207 2:44 `in` needs an array of values [this is a string] (wrap it in brackets: `["a@b.c"]`)
            E0207 2:65 `gt` compares with a number, a string or a date [this is a boolean] (compare with a number (`100`), a string or a date (`"2026-01-01"`))
            E0207 2:92 `starts_with` needs a string [this is an integer] (quote it: `"3"`)
            E0207 8:22 `not_in` needs an array of values [this is a string] (wrap it in brackets: `["x"]`)
            program: no
        "#]],
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
        expect![[r#"
            E0207 2:41 `exists` takes no value [this is a boolean] (remove the value: `Email exists`)
            program: no
        "#]],
    );
}

#[test]
fn e0208_invalid_paths() {
    check(
        &contact(
            "  name = `a..b`\n  phone = flatten(Meta, \"$.owner.*\")\n  tags = \"${FirstName\"\n  companyId -> belongs_to c_company by id(`x[y]`)",
        ),
        expect![[r#"
            E0208 6:10 invalid field path: empty segment in `a..b` [this path] (write a dot path (`Address.street`, `items[0].name`) or a JSONPath (`$.owner.name`))
            E0208 7:25 invalid field path: `*` in `$.owner.*`: wildcards and filters select many values; a mapping reads one [this path] (write a dot path (`Address.street`, `items[0].name`) or a JSONPath (`$.owner.name`))
            E0208 8:10 invalid template: `${` without a closing `}` in `${FirstName` [this template] (close each placeholder: `${Field}`)
            W0503 8:10 `tags` is a [string] field but this mapping yields a string [this yields a string] (map a value of type `[string]`, or change the type of `tags` in `shardtype c_contact`) {stdlib:9:3 declared as `[string]` here}
            E0208 9:43 invalid field path: `[y]` in `x[y]` is not an index (write `[0]` or `['key']`) [this path] (write a dot path (`Address.street`, `items[0].name`) or a JSONPath (`$.owner.name`))
            program: no
        "#]],
    );
}

// --- 03xx: schemas ----------------------------------------------------------------------

#[test]
fn e0301_duplicate_target() {
    check(&contact("  email = Phone\n  companyId = AccountId\n  companyId -> belongs_to c_company by external_id(AccountId)"), expect![[r#"
        E0301 6:3 `email` is mapped twice [mapped again here] (remove one of the two mappings, or write this one to another field) {5:3 first mapped here}
        E0301 8:3 `companyId` is mapped twice [mapped again here] (remove one of the two mappings, or write this one to another field) {7:3 first mapped here}
        program: no
    "#]]);
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
        expect![[r#"
            W0302 9:5 this rule repeats rule 1 [unreachable] (remove it: the earlier rule always wins) {7:5 this identical rule always matches first}
            W0302 11:5 this arm can never be chosen [unreachable] (move it before `_ =>`, or remove it) {10:5 `_` matches every record first}
            program: yes
        "#]],
    );
}

#[test]
fn e0303_missing_clauses() {
    check(
        "schema s {\n  email = Email\n}\n",
        expect![[r#"
        E0303 1:8 schema `s` has no `source` [`source` is required] (add a source clause: `source INTEGRATION.Entity`, e.g. `source salesforce.Contact`)
        E0303 1:8 schema `s` has no `target` [`target` is required] (add a target clause: `target SHARD_TYPE`, e.g. `target c_contact`)
        E0303 1:8 schema `s` has no `dedupe` [`dedupe` is required] (add a dedupe clause naming the source id, e.g. `dedupe external_id(Id)`)
        program: no
    "#]],
    );
}

#[test]
fn w0304_empty_schema() {
    check("schema s {\n  source salesforce.Contact\n  target c_company\n  dedupe external_id(Id)\n}\n", expect![[r#"
        W0304 1:8 schema `s` maps no field [every output would be empty] (add a field mapping, e.g. `email = Email`)
        W0506 3:10 required field `name` of `c_company` is never mapped [`c_company` requires `name`] (map it: `name = SourceField`) {stdlib:13:3 declared here}
        program: yes
    "#]]);
}

#[test]
fn w0305_template_without_placeholder() {
    check_edit(
        &contact("  name = \"${FirstName}\""),
        |doc| {
            if let Some(Item::Schema(s)) = doc.items.first_mut() {
                for m in &mut s.body {
                    if let MappingItem::Field(ast::FieldMapping {
                        expr: MappingExpr::Composite(c),
                        ..
                    }) = m
                    {
                        if let Some(t) = c.template.as_mut() {
                            t.node = "no fields".into();
                        }
                    }
                }
            }
        },
        expect![[r#"
            W0305 6:10 this template names no field [the output is always this text] (name a field with `${Field}`, or make it a default mapping: `= "no fields"`)
            program: yes
        "#]],
    );
}

#[test]
fn e0306_malformed_task_placeholder() {
    check(
        &contact(
            "  name = \"{{tasks.industry}}\"\n  phone = \"x {{task.}}\"\n  tags = \"{{task.a\"",
        ),
        expect![[r#"
        E0306 6:10 malformed task placeholder `{{tasks.industry}}` [expected `task.KEY`] (write `{{task.industry}}`)
        E0306 7:11 malformed task placeholder `{{task.}}` [the key must be an identifier] (write `{{task.KEY}}`, e.g. `{{task.industry}}`)
        E0306 8:10 malformed task placeholder `{{task.a` [`{{` without a closing `}}`] (write `{{task.a}}`)
        W0503 8:10 `tags` is a [string] field but this mapping yields a string [this yields a string] (map a value of type `[string]`, or change the type of `tags` in `shardtype c_contact`) {stdlib:9:3 declared as `[string]` here}
        program: no
    "#]],
    );
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
        expect![[r#"
            E0401 8:33 invalid cron expression: Invalid pattern: Pattern must have 5 fields when seconds are disallowed [5 fields: minute hour day-of-month month day-of-week] (write a standard 5-field expression, e.g. `"0 2 * * *"` (every day at 02:00))
            E0401 9:33 invalid cron expression: Invalid pattern: Pattern must have 5 fields when seconds are disallowed [5 fields: minute hour day-of-month month day-of-week] (write a standard 5-field expression, e.g. `"0 2 * * *"` (every day at 02:00))
            E0402 10:48 unknown timezone `America/New_Yrok` [did you mean `America/New_York`?] (write `in "America/New_York"`)
            E0401 11:33 invalid cron expression: Component error: Number out of bounds [5 fields: minute hour day-of-month month day-of-week] (write a standard 5-field expression, e.g. `"0 2 * * *"` (every day at 02:00))
            E0402 11:49 unknown timezone `Mars/Olympus` [not an IANA zone] (write an IANA zone name, e.g. `in "America/New_York"` or `in "UTC"`)
            E0403 12:34 the interval must be a whole number greater than 0 [this is `0`] (write e.g. `schedule every 15 hours`)
            E0403 13:34 the interval must be a whole number greater than 0 [this is `1.5`] (write e.g. `schedule every 2 hours`)
            E0405 14:25 the number of retries must be a whole number of at least 0 [this is `-1`] (write e.g. `retry 3 times every 300s`)
            E0405 14:40 the retry delay must be a whole number of at least 0 [this is `-5`] (write e.g. `retry 3 times every 300s`)
            E0202 15:26 the config of task `h` must be an object [this is an array of string] (write `config { key: value }`)
            program: no
        "#]],
    );
}

/// A realtime task names where its token comes from: `env("VAR")` or `stored`. Without
/// one it would accept anyone (E0408); a literal token is a secret in the file (E0701,
/// never repeating the value).
#[test]
fn realtime_tokens() {
    let (_, c) = compile_src(
        &(contact("") + r#"task literal { schema s schedule realtime token "hunter2-webhook" }"#),
        |_| {},
    );
    assert!(
        c.diagnostics
            .iter()
            .all(|d| !format!("{d:?}").contains("hunter2")),
        "a diagnostic repeats the token"
    );
    check(
        &(contact("")
            + r#"task ok-env { schema s schedule realtime token env("OK_TOKEN") }
task ok-stored { schema s schedule realtime "https://hooks.example.com/x" token stored }
task none { schema s schedule realtime }
task none-with-url { schema s schedule realtime "https://hooks.example.com/x" }
task literal { schema s schedule realtime token "hunter2-webhook" }
task not-a-string { schema s schedule realtime token 42 }
task empty-var { schema s schedule realtime token env("") }
"#),
        expect![[r#"
            E0408 10:22 realtime task `none` has no token: anyone could post records to it [deliveries to this task are not authenticated] (add `token env("NONE_WEBHOOK_TOKEN")` and set the variable for `cmap serve`, or `token stored` and set it with `cmap tokens generate none`)
            E0408 11:31 realtime task `none-with-url` has no token: anyone could post records to it [deliveries to this task are not authenticated] (add `token env("NONE_WITH_URL_WEBHOOK_TOKEN")` and set the variable for `cmap serve`, or `token stored` and set it with `cmap tokens generate none-with-url`)
            E0701 12:49 the webhook token of task `literal` is written in plain text [a secret value is written here] (write `token env("LITERAL_WEBHOOK_TOKEN")` and set the variable for `cmap serve`, or `token stored` and set it with `cmap tokens set literal` (or `generate`); then remove the value from the file's history)
            E0701 13:54 the webhook token of task `not-a-string` is written in plain text [a secret value is written here] (write `token env("NOT_A_STRING_WEBHOOK_TOKEN")` and set the variable for `cmap serve`, or `token stored` and set it with `cmap tokens set not-a-string` (or `generate`); then remove the value from the file's history)
            E0804 14:55 `env` needs the name of an environment variable for the token of task `empty-var` [empty] (write `token env("EMPTY_VAR_WEBHOOK_TOKEN")`)
            program: no
        "#]],
    );
}

/// Recipients are email addresses (parsed by the mailer's own parser) or user ids; a
/// realtime task's webhook URL is a URL.
#[test]
fn e0409_notification_recipients_and_webhook_urls() {
    check(
        &(contact("")
            + r#"task ok { schema s notify on failure -> "admin@tenant.com", "Ada <ada@tenant.com>", "user-42" }
task bad { schema s notify on failure -> "admin@", "two words", "", "a@b@c" }
task hook { schema s schedule realtime "hooks.example.com/x" token env("HOOK_TOKEN") }
"#),
        expect![[r#"
            E0409 9:42 `admin@` cannot receive the notifications of task `bad` [not an email address: Invalid input] (write an address such as `"admin@tenant.com"` (or `"Ada <ada@tenant.com>"`))
            E0409 9:52 `two words` cannot receive the notifications of task `bad` [a user id has no spaces or control characters] (write the user's id (`"user-42"`) or an email address)
            E0409 9:65 an empty recipient of the notifications of task `bad` [empty] (write an email address or a user id, or remove the entry)
            E0409 9:69 `a@b@c` cannot receive the notifications of task `bad` [not an email address: Invalid input] (write an address such as `"admin@tenant.com"` (or `"Ada <ada@tenant.com>"`))
            E0804 10:40 the webhook URL of task `hook` is not a URL [not a URL: relative URL without a base] (write where senders post, e.g. `schedule realtime "https://cmap.example.com/webhooks/hook" token ...`)
            program: no
        "#]],
    );
}

#[test]
fn e0406_crons_that_never_run_and_their_siblings_that_do() {
    // Each line: an expression croner accepts. Only the ones that match no date of a
    // 400-year cycle are reported; a rare one (Feb 29, a fifth Monday in February) runs.
    let crons = [
        "0 0 30 2 *",
        "0 0 29 2 *",
        "0 0 31 4,6,9,11 *",
        "0 0 31 2,4 *",
        "0 0 31 * *",
        "0 0 L 2 *",
        "0 0 LW 2 *",
        "0 0 30W 2 *",
        "0 0 * 2 1#5",
        "0 0 * 2 1L",
        "0 0 ? 2 *",
        "0 0 1 * +1#2",
        "0 0 31 2 +1",
        "0 0 13 * +5",
        "0 0 29 2 +1",
        "0 0 30 2 1",
        "@yearly",
    ];
    let tasks: String = crons
        .iter()
        .enumerate()
        .map(|(i, c)| format!("task t{i} {{ schema s schedule cron \"{c}\" }}\n"))
        .collect();
    check(
        &(contact("") + tasks.as_str()),
        expect![[r#"
            E0406 8:34 cron `0 0 30 2 *` never runs: no date matches it [day-of-month `30` never happens in February] (February has 28 days, 29 in leap years; pick days that exist, or `L` for the last day of the month)
            E0406 10:34 cron `0 0 31 4,6,9,11 *` never runs: no date matches it [day-of-month `31` never happens in April, June, September, November] (those months have at most 30 days; pick days that exist, or `L` for the last day of the month)
            E0406 11:34 cron `0 0 31 2,4 *` never runs: no date matches it [day-of-month `31` never happens in February, April] (those months have at most 30 days; pick days that exist, or `L` for the last day of the month)
            E0406 15:34 cron `0 0 30W 2 *` never runs: no date matches it [day-of-month `30W` never happens in February] (February has 28 days, 29 in leap years; pick days that exist, or `L` for the last day of the month)
            E0406 19:35 cron `0 0 1 * +1#2` never runs: no date matches it [no date is both day-of-month `1` and day-of-week `1#2`] (the `+` before the day of week asks for both days at once; drop it to run on either (Vixie cron's rule))
            E0406 20:35 cron `0 0 31 2 +1` never runs: no date matches it [no date is both day-of-month `31` and day-of-week `1` in February] (the `+` before the day of week asks for both days at once; drop it to run on either (Vixie cron's rule))
            program: no
        "#]],
    );
}

#[test]
fn e0407_intervals_too_long_to_schedule() {
    check(
        &(contact("")
            + "task a { schema s schedule every 3650 days }
task b { schema s schedule every 3651 days }
task c { schema s schedule every 521 weeks }
task d { schema s schedule every 522 weeks }
task e { schema s schedule every 87600 hours }
task f { schema s schedule every 5256001 minutes }
task g { schema s schedule every 18446744073709551615 weeks }
task h { schema s schedule every 18446744073709551615 minutes }
"),
        expect![[r#"
            E0407 9:34 an interval of 3651 days is longer than cmap schedules [at most 3650 days] (write at most `schedule every 3650 days`, or a cron expression for yearly runs, e.g. `schedule cron "0 0 1 1 *"`)
            E0407 11:34 an interval of 522 weeks is longer than cmap schedules [at most 521 weeks (3650 days)] (write at most `schedule every 521 weeks`, or a cron expression for yearly runs, e.g. `schedule cron "0 0 1 1 *"`)
            E0407 13:34 an interval of 5256001 minutes is longer than cmap schedules [at most 5256000 minutes (3650 days)] (write at most `schedule every 5256000 minutes`, or a cron expression for yearly runs, e.g. `schedule cron "0 0 1 1 *"`)
            E0407 14:34 an interval of 18446744073709551615 weeks is longer than cmap schedules [at most 521 weeks (3650 days)] (write at most `schedule every 521 weeks`, or a cron expression for yearly runs, e.g. `schedule cron "0 0 1 1 *"`)
            E0407 15:34 an interval of 18446744073709551615 minutes is longer than cmap schedules [at most 5256000 minutes (3650 days)] (write at most `schedule every 5256000 minutes`, or a cron expression for yearly runs, e.g. `schedule cron "0 0 1 1 *"`)
            program: no
        "#]],
    );
}

#[test]
fn w0404_task_key_never_set() {
    check(
        &(contact(
            r#"  name = task.industry
  phone = "+{{task.prefix}}"
  score = Amount | custom("value * task.factor + task[\"bonus\"]")"#,
        ) + r#"task a { schema s config { industry: "banking", factor: 2 } }
task b { schema s }
"#),
        expect![[r#"
            W0404 7:11 no task running `s` sets `prefix` [`task.prefix` is always null here: `a`, `b` never set it] (add `config { prefix: ... }` to task `a`) {10:26 task `a` runs this schema} {11:6 task `b` runs this schema}
            W0404 8:27 no task running `s` sets `bonus` [`task.bonus` is always null here: `a`, `b` never set it] (add `config { bonus: ... }` to task `a`) {10:26 task `a` runs this schema} {11:6 task `b` runs this schema}
            program: yes
        "#]],
    );
}

#[test]
fn w0404_is_quiet_without_tasks_or_when_set() {
    check(
        &(contact("  name = task.industry") + "schema u { source salesforce.Contact target c_contact dedupe external_id(Id) email = Email phone = task.x }\ntask a { schema u config { x: 1 } }\n"),
        expect![[r#"
            program: yes
        "#]],
    );
}

// --- 05xx: schema-aware -----------------------------------------------------------------

#[test]
fn w0501_w0502_unknown_fields() {
    check(
        &contact(
            "  emial = Email\n  name = FirstNam\n  phone = MailingAddress.stret\n  tags = lookup AccountId in shard c_company.nam\n  companyId = Meta.anything.goes",
        ),
        expect![[r#"
            W0501 6:3 `c_contact` has no field `emial` [did you mean `email`?] (write `email = ...`)
            W0502 7:10 unknown source field `FirstNam` on `salesforce.Contact` [did you mean `FirstName`?] (write `FirstName`)
            W0502 8:26 unknown field `stret` in `MailingAddress` of `salesforce.Contact` [did you mean `street`?] (write `street`)
            W0501 9:46 `c_company` has no field `nam` [did you mean `name`?] (write `c_company.name`)
            program: yes
        "#]],
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
        expect![[r#"
            W0503 6:13 `closeAt` is a number field but this mapping yields a date [this yields a date] (convert it: append `| to_timestamp` to the mapping) {stdlib:7:3 declared as `number` here}
            W0503 7:11 `score` is a number field but this mapping yields a string [this yields a string] (convert it: append `| to_number` to the mapping) {stdlib:6:3 declared as `number` here}
            W0503 8:12 `active` is a boolean field but this mapping yields a number [this yields a number] (convert it: append `| to_boolean` to the mapping) {stdlib:8:3 declared as `boolean` here}
            W0503 9:10 `name` is a string field but this mapping yields a number [this yields a number] (convert it: append `| to_string` to the mapping) {stdlib:4:3 declared as `string` here}
            W0503 11:10 `tags` is a [string] field but this mapping yields a string [this yields a string] (map a value of type `[string]`, or change the type of `tags` in `shardtype c_contact`) {stdlib:9:3 declared as `[string]` here}
            W0503 12:15 `companyId` is a string field but this mapping yields an integer [this yields an integer] (map a value of type `string`, or change the type of `companyId` in `shardtype c_contact`) {stdlib:10:3 declared as `string` here}
            program: yes
        "#]],
    );
}

#[test]
fn w0504_w0505_w0506_unknown_types() {
    check(
        "schema s {\n  source salesforce.Contakt\n  target c_contactt\n  dedupe external_id(Id)\n  name = Name\n  companyId -> belongs_to c_compan by external_id(AccountId)\n}\nschema u {\n  source Contact\n  target c_company\n  dedupe external_id(Id)\n  domain = Email\n}\n",
        expect![[r#"
            W0505 2:10 unknown source entity `salesforce.Contakt` [did you mean `salesforce.Contact`?] (write `source salesforce.Contact`)
            W0504 3:10 unknown shard type `c_contactt` [did you mean `c_contact`?] (write `target c_contact`)
            W0504 6:27 unknown shard type `c_compan` [did you mean `c_company`?] (write `c_company`)
            W0506 10:10 required field `name` of `c_company` is never mapped [`c_company` requires `name`] (map it: `name = SourceField`) {stdlib:13:3 declared here}
            program: yes
        "#]],
    );
}

// --- 06xx: tests ------------------------------------------------------------------------

#[test]
fn e0601_malformed_tests() {
    check(
        &contact(
            r#"  test "no input" { expect skipped }
  test "nothing expected" { input { Id: "1" } }
  test "bad shapes" { input [1] task 3 expect relationships {} }
  test "unknown failure" { input { Id: "1" } expect failed emial }"#,
        ),
        expect![[r#"
            E0601 6:8 test `no input` has no input [no `input`] (add `input { Field: value }`)
            E0601 7:8 test `nothing expected` expects nothing [checks nothing] (add `expect { field: value }`, `expect skipped` or `expect failed`)
            E0601 8:29 a test input must be an object [not an object] (write `input { Field: value }`)
            E0601 8:38 a test's task config must be an object [not an object] (write `task { key: value }`)
            E0601 8:61 `expect relationships` must be an array [not an array] (write `expect relationships [ { .. } ]`)
            E0601 9:60 no mapping writes `emial` [not a target field] (write `expect failed email`)
            program: no
        "#]],
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
        expect![[r#"
            E0207 2:45 `in` needs an array of values [this is an integer] (wrap it in brackets: `[3]`)
            E0111 3:22 unknown target flag `create` [did you mean `create_if_missing`?] (write `create_if_missing`)
            E0102 5:19 unknown transformation `trimm` [did you mean `trim`?] (write `| trim`)
            E0301 6:3 `email` is mapped twice [mapped again here] (remove one of the two mappings, or write this one to another field) {5:3 first mapped here}
            E0104 6:26 unknown validation rule `maxlength` [did you mean `max_length`?] (write `max_length`)
            E0108 7:23 unknown lookup table `nowhere` [no such table] (declare it: `lookup nowhere { "key" => "value" }`)
            E0107 9:17 unknown schema `ss` [did you mean `s`?] (write `schema s`)
            E0401 9:34 invalid cron expression: Invalid pattern: Pattern must have 5 fields when seconds are disallowed [5 fields: minute hour day-of-month month day-of-week] (write a standard 5-field expression, e.g. `"0 2 * * *"` (every day at 02:00))
            E0402 9:43 unknown timezone `Nowhere/City` [not an IANA zone] (write an IANA zone name, e.g. `in "America/New_York"` or `in "UTC"`)
            E0405 9:64 the number of retries must be a whole number of at least 0 [this is `-1`] (write e.g. `retry 3 times every 300s`)
            program: no
        "#]],
    );
}

// --- lowering ---------------------------------------------------------------------------

/// Renders a schema's IR without the opaque transforms.
fn show_schema(s: &ir::Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "schema {}{} ({:?}.{}) -> {:?}\ndedupe {} {:?}\nreads {:?}",
        s.id,
        if s.active { "" } else { " inactive" },
        s.integration,
        s.entity,
        s.target,
        s.dedupe.strategy.as_str(),
        s.dedupe
            .fields
            .iter()
            .map(|p| p.raw.as_str())
            .collect::<Vec<_>>(),
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
            f.validations
                .iter()
                .map(|v| format!(
                    " validate {:?}{}",
                    v.rule,
                    v.message
                        .as_ref()
                        .map(|m| format!(" {m:?}"))
                        .unwrap_or_default()
                ))
                .collect::<String>()
        );
    }
    for r in &s.relationships {
        let _ = writeln!(
            out,
            "{} -> {} {} by {} {}",
            r.target,
            r.kind,
            r.shard_type,
            if r.by_external_id {
                "external_id"
            } else {
                "id"
            },
            r.field.raw
        );
    }
    for t in &s.tests {
        let _ = writeln!(
            out,
            "test {:?} input {} task {:?} expect {:?}",
            t.name, t.input, t.task, t.expect
        );
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
            format!(
                "Join({:?}, {separator:?})",
                fields.iter().map(|f| f.raw.as_str()).collect::<Vec<_>>()
            )
        }
        Expr::LookupTable {
            field,
            table,
            default,
        } => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            format!("LookupTable({}, {keys:?}, else {default})", field.raw)
        }
        Expr::LookupShard {
            field,
            shard_type,
            return_field,
            default,
        } => {
            format!(
                "LookupShard({}, {shard_type}.{return_field:?}, else {default})",
                field.raw
            )
        }
        Expr::Flatten { field, path } => format!("Flatten({}, {:?})", field.raw, path.segments),
    }
}

fn lower(src: &str, expect: Expect) {
    let (map, c) = compile_src(src, |_| {});
    let Some(program) = &c.program else {
        panic!("does not compile:\n{}", render(&map, &c))
    };
    let mut out = String::new();
    for s in &program.schemas {
        out.push_str(&show_schema(s));
    }
    for t in &program.tasks {
        let _ = writeln!(
            out,
            "task {} schema {} {:?} {:?} {:?} config {:?} {:?} {:?} integration {:?}",
            t.id,
            t.schema.id,
            t.direction,
            t.schedule,
            t.status,
            t.config,
            t.retry,
            t.notifications,
            t.integration
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
        expect![[r#"
            schema s inactive (Some("salesforce").Contact) -> Target { shard_type: "c_contact", create_if_missing: true, update_if_exists: false, delete_if_removed: false }
            dedupe composite ["FirstName", "LastName"]
            reads Some(["AccountId", "Amount", "Email", "FirstName", "IsDeleted", "LastName", "MailingAddress", "Meta", "Phone"])
            where IsDeleted eq false
            where Email exists null
            where FirstName in ["a","b"]
            email! <- direct Email :: Direct(Email) validate Email validate MaxLength(254) validate Pattern(Regex("@")) validate OneOf([String("a")]) "no"
            name <- template "${FirstName} ${MailingAddress.city}!" :: Template(field(FirstName) " " field(MailingAddress.city) "!")
            phone <- join Phone, Email with ", " :: Join(["Phone", "Email"], ", ")
            tags <- join FirstName, LastName with " " :: Join(["FirstName", "LastName"], " ")
            score <- conditional on Amount, FirstName, Email: 3 rules, default 0 :: Conditional[Amount gte 100 => 3; FirstName eq "x" => transform(Amount, round); Email exists null => field(Amount)] default Some(Number(0))
            companyId <- lookup FirstName in countries :: LookupTable(FirstName, ["FR", "US"], else "?")
            active <- lookup AccountId in shard c_company.name :: LookupShard(AccountId, c_company.Some("name"), else null)
            closeAt <- flatten MailingAddress at city :: Flatten(MailingAddress, [Key("city")])
            x-industry <- default "{{task.industry}}" :: TaskTemplate(task(industry))
            x-label <- default "tier {{task.tier}}!" :: TaskTemplate("tier " task(tier) "!")
            x-plain <- default {"a":[1,2]} :: Value({"a":[1,2]})
            x-flat <- flatten Meta at $['a.b'][0] :: Flatten(Meta, [Key("a.b"), Index(0)])
            companyRef -> belongs_to c_company by id AccountId
            test "t" input {"Id":"1"} task {"industry": String("x"), "tier": String("y")} expect [Data(Object {"email": String("e")}), ExternalId(String("1")), Failed { field: Some("email") }]
            task t schema s Pull Manual Active config TaskConfig { engine: EngineConfig { delete_guard: None, missed_runs: RunOnce, signature_secret_env: None, conflict_resolution: None, push_changes_from: None, pull_changes_from: None }, source: Salesforce(Query { incremental: false, modified_since_field: "SystemModstamp", fields: None, lookback_seconds: 300, include_deleted: false }), values: {"industry": String("banking"), "tier": String("gold")} } RetryConfig { max_retries: 0, retry_delay_seconds: 0, exponential_backoff: false } Notifications { on_success: false, on_failure: false, on_partial: false, recipients: [] } integration Some("salesforce")
        "#]],
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
task c { schema s schedule realtime "https://x" token env("C_TOKEN") }
task d { schema s }
"#),
        expect![[r#"
            schema s (Some("salesforce").Contact) -> Target { shard_type: "c_contact", create_if_missing: true, update_if_exists: true, delete_if_removed: false }
            dedupe external_id ["Id"]
            reads Some(["Email", "Id"])
            email <- direct Email :: Direct(Email)
            task a schema s Bidirectional Cron { cron: CronExpr("0 2 * * 1-5"), timezone: America/New_York } Paused config TaskConfig { engine: EngineConfig { delete_guard: None, missed_runs: RunOnce, signature_secret_env: None, conflict_resolution: None, push_changes_from: None, pull_changes_from: None }, source: Salesforce(Query { incremental: false, modified_since_field: "SystemModstamp", fields: None, lookback_seconds: 300, include_deleted: false }), values: {} } RetryConfig { max_retries: 3, retry_delay_seconds: 300, exponential_backoff: true } Notifications { on_success: true, on_failure: false, on_partial: true, recipients: [Recipient { written: "a@b.c", email: Some(Mailbox { name: None, email: Address { serialized: "a@b.c", at_start: 1 } }) }, Recipient { written: "u1", email: None }] } integration Some("sf-prod")
            task b schema s Pull Interval { interval: 15, unit: Minutes } Active config TaskConfig { engine: EngineConfig { delete_guard: None, missed_runs: RunOnce, signature_secret_env: None, conflict_resolution: None, push_changes_from: None, pull_changes_from: None }, source: Salesforce(Query { incremental: false, modified_since_field: "SystemModstamp", fields: None, lookback_seconds: 300, include_deleted: false }), values: {} } RetryConfig { max_retries: 0, retry_delay_seconds: 0, exponential_backoff: false } Notifications { on_success: false, on_failure: false, on_partial: false, recipients: [] } integration Some("salesforce")
            task c schema s Pull Realtime { webhook_url: Some(Url { scheme: "https", cannot_be_a_base: false, username: "", password: None, host: Some(Domain("x")), port: None, path: "/", query: None, fragment: None }), token: Env("C_TOKEN") } Active config TaskConfig { engine: EngineConfig { delete_guard: None, missed_runs: RunOnce, signature_secret_env: None, conflict_resolution: None, push_changes_from: None, pull_changes_from: None }, source: Salesforce(Query { incremental: false, modified_since_field: "SystemModstamp", fields: None, lookback_seconds: 300, include_deleted: false }), values: {} } RetryConfig { max_retries: 0, retry_delay_seconds: 0, exponential_backoff: false } Notifications { on_success: false, on_failure: false, on_partial: false, recipients: [] } integration Some("salesforce")
            task d schema s Pull Manual Active config TaskConfig { engine: EngineConfig { delete_guard: None, missed_runs: RunOnce, signature_secret_env: None, conflict_resolution: None, push_changes_from: None, pull_changes_from: None }, source: Salesforce(Query { incremental: false, modified_since_field: "SystemModstamp", fields: None, lookback_seconds: 300, include_deleted: false }), values: {} } RetryConfig { max_retries: 0, retry_delay_seconds: 0, exponential_backoff: false } Notifications { on_success: false, on_failure: false, on_partial: false, recipients: [] } integration Some("salesforce")
        "#]],
    );
}

#[test]
fn a_custom_script_reading_record_needs_whole_records() {
    let src = contact(r#"  score = Amount | custom("value + record.Other")"#);
    let (_, c) = compile_src(&src, |_| {});
    let reads = c
        .program
        .as_ref()
        .and_then(|p| p.schemas.first())
        .map(|s| s.reads.clone());
    assert_eq!(reads, Some(None));
    let src = contact(r#"  score = Amount | custom("value * 2")"#);
    let (_, c) = compile_src(&src, |_| {});
    let reads = c
        .program
        .as_ref()
        .and_then(|p| p.schemas.first())
        .map(|s| s.reads.clone());
    assert_eq!(
        reads,
        Some(Some(vec![
            "Amount".to_string(),
            "Email".to_string(),
            "Id".to_string()
        ]))
    );
}

/// Each case: the pipeline's rate tables, then the table `currency_convert` uses (rates
/// rounded to 9 decimals) and every diagnostic.
#[test]
fn pipeline_rate_tables_win_whole_and_merge_exactly() {
    let cases = [
        // No pipeline table: the standard library's.
        "",
        // The issue's case: on another base than the stdlib's, its own USD rate was
        // dropped and GBP went through the stdlib's EUR rate (USD -> EUR 150 gave 138).
        "rates EUR { USD: 1.5, GBP: 0.8 }",
        // Same base: still whole (GBP is not the stdlib's 0.79; it is unknown).
        "rates USD { EUR: 0.5 }",
        // Two pipeline tables, related exactly: through a rate the first gives the
        // second's base, or through the second's rate for the first base.
        "rates EUR { USD: 1.5 }\nrates USD { JPY: 150 }",
        "rates EUR { GBP: 0.8 }\nrates USD { EUR: 0.5, CHF: 0.9 }",
        // Agreeing twice is fine; disagreeing is E0113; a table's own base is 1.
        "rates EUR { USD: 1.5 }\nrates USD { EUR: 0.6666666666666666 }",
        "rates EUR { USD: 1.5 }\nrates USD { EUR: 0.5 }",
        "rates EUR { GBP: 0.8 }\nrates EUR { GBP: 0.85 }",
        "rates EUR { EUR: 2, USD: 1.5 }",
        // A currency twice in one table, codes in any case.
        "rates eur { usd: 1.5, USD: 1.6 }",
        // Unrelated.
        "rates EUR { USD: 1.5 }\nrates XYZ { ABC: 2 }",
    ];
    let mut out = String::new();
    for rates in cases {
        let (map, c) = compile_src(&(contact("") + rates), |_| {});
        let table: Vec<String> = c
            .rates
            .rates
            .iter()
            .map(|(k, v)| format!("{k} {}", (v * 1e9).round() / 1e9))
            .collect();
        out.push_str(&format!(
            "--- {rates:?}\nbase {}: {}\n{}",
            c.rates.base,
            table.join(", "),
            render(&map, &c)
        ));
    }
    expect![[r#"
        --- ""
        base USD: EUR 0.92, GBP 0.79
        program: yes
        --- "rates EUR { USD: 1.5, GBP: 0.8 }"
        base EUR: GBP 0.8, USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [3 currencies on `EUR` used instead] (its rates are used as written; the standard library's 3 rates are not) {stdlib:30:7 the standard library's table}
        program: yes
        --- "rates USD { EUR: 0.5 }"
        base USD: EUR 0.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `USD` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        program: yes
        --- "rates EUR { USD: 1.5 }\nrates USD { JPY: 150 }"
        base EUR: JPY 225, USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [3 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        program: yes
        --- "rates EUR { GBP: 0.8 }\nrates USD { EUR: 0.5, CHF: 0.9 }"
        base EUR: CHF 1.8, GBP 0.8, USD 2
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [4 currencies on `EUR` used instead] (its rates are used as written; the standard library's 3 rates are not) {stdlib:30:7 the standard library's table}
        program: yes
        --- "rates EUR { USD: 1.5 }\nrates USD { EUR: 0.6666666666666666 }"
        base EUR: USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        program: yes
        --- "rates EUR { USD: 1.5 }\nrates USD { EUR: 0.5 }"
        base EUR: USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        E0113 9:18 conflicting rates for `EUR` [here 1 USD = 0.5 EUR] (the tables before say 1 USD = 0.666667 EUR; give each currency one rate: make them agree or remove one) {8:7 the other rate comes from here}
        program: no
        --- "rates EUR { GBP: 0.8 }\nrates EUR { GBP: 0.85 }"
        base EUR: GBP 0.8
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: USD; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        E0113 9:18 conflicting rates for `GBP` [here 1 EUR = 0.85 GBP] (the tables before say 1 EUR = 0.8 GBP; give each currency one rate: make them agree or remove one) {8:18 the other rate comes from here}
        program: no
        --- "rates EUR { EUR: 2, USD: 1.5 }"
        base EUR: USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        E0113 8:18 `rates EUR` gives its own base the rate 2 [1 EUR is 1 EUR] (write `EUR: 1`, or remove the entry)
        program: no
        --- "rates eur { usd: 1.5, USD: 1.6 }"
        base EUR: USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        E0106 8:23 `USD` appears twice in `rates EUR` [listed again here] (give each currency one rate: remove one of the two entries) {8:13 first listed here}
        program: no
        --- "rates EUR { USD: 1.5 }\nrates XYZ { ABC: 2 }"
        base EUR: USD 1.5
        W0112 8:7 the pipeline's rates replace the standard library's `rates USD` (3 currencies) [2 currencies on `EUR` used instead] (currencies only the standard library lists are unknown now: GBP; add the ones you convert to this table) {stdlib:30:7 the standard library's table}
        E0109 9:7 rates on `XYZ` cannot be related to the base currency `EUR` [no `EUR` -> `XYZ` rate is known] (add `XYZ: RATE` to the `rates EUR` table, or `EUR: RATE` to this one, or write this table on `EUR`) {8:7 the base currency is set here}
        program: no
    "#]].assert_eq(&out);
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
    let c = compile(
        &docs,
        &Options {
            stdlib_docs: stdlib,
            ..Default::default()
        },
    );
    let rendered: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| {
            let (l, col) = map.line_col(d.span);
            format!(
                "{}:{l}:{col} {} {}",
                map.get(d.span.file).path.display(),
                d.code.as_str(),
                d.message
            )
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
                out.extend(
                    rd.filter_map(|e| e.ok())
                        .filter_map(|e| std::fs::read_to_string(e.path()).ok()),
                );
            }
        }
        out
    }

    /// Tokens whose insertion makes interesting (often still parseable) files.
    const TOKENS: &[&str] = &[
        "0",
        "-1",
        "\"\"",
        "\"{{task.\"",
        "\"${\"",
        "_ => 1",
        "`a..b`",
        "[",
        "]",
        "{",
        "}",
        "exists",
        "in",
        "| custom(\"record\")",
        "| truncate(1, 2)",
        "schema",
        "task",
        "\"* * *\"",
        "x",
        "!",
        ".",
        "=",
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
            let c = compile(&docs, &Options { stdlib_docs: 1, ..Default::default() });
            prop_assert_eq!(c.program.is_some(), !c.has_errors());
        }
    }
}

// ---- connections -----------------------------------------------------------------------

/// A valid contact schema and `src` (connections, tasks).
fn with_contact(src: &str) -> String {
    contact("") + src
}

#[test]
fn connections_check_clean() {
    check(
        &with_contact(
            r#"
connection sf-prod "Salesforce (production)" {
  integration salesforce
  tenant "acme"
  auth oauth2 {
    clientId: env("SF_CLIENT_ID")
    clientSecret: env("SF_CLIENT_SECRET")
    refreshToken: stored
    tokenUrl: "https://login.salesforce.com/services/oauth2/token"
    scopes: "api refresh_token"
  }
  settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: "59.0" }
}
connection hs { integration hubspot auth api_key { apiKey: stored, header: "Authorization", prefix: "Bearer " } }
connection files { integration files scope system auth none settings { path: "contacts.jsonl" } }
connection intranet { integration rest auth basic { username: "svc", password: env("PW") } settings { baseUrl: "https://api.example.com" } }
connection custom { integration rest auth custom { "X-Api-Token": env("T"), "X-Tenant": stored } settings { baseUrl: "https://api.example.com" } }
task t { schema s connection sf-prod }
task u { schema s }
"#,
        ),
        expect![[r#"
            program: yes
        "#]],
    );
}

#[test]
fn e0701_a_secret_in_plain_text_is_never_echoed() {
    let secrets = [
        "hunter2-very-secret",
        "k3y-value",
        "pa55word",
        "tok-abc",
        "hdr-val",
        "zz-token",
    ];
    let src = with_contact(&format!(
        r#"
connection a {{ integration salesforce auth oauth2 {{
  clientId: "id" clientSecret: "{}" refreshToken: stored tokenUrl: "https://x" }} }}
connection b {{ integration hubspot auth api_key {{ apiKey: "{}" }} }}
connection c {{ integration rest auth basic {{ username: "u", password: "{}" }} settings {{ baseUrl: "https://api.example.com" }} }}
connection d {{ integration rest auth none {{ token: "{}" }} settings {{ baseUrl: "https://api.example.com" }} }}
connection e {{ integration rest auth custom {{ "X-Key": "{}" }} settings {{ baseUrl: "https://api.example.com" }} }}
connection f {{ integration rest auth none settings {{ baseUrl: "https://api.example.com", apiToken: "{}", token: null }} }}
"#,
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5]
    ));
    let (map, c) = compile_src(&src, |_| {});
    let text = render(&map, &c);
    for s in secrets {
        assert!(!text.contains(s), "the diagnostics repeat `{s}`:\n{text}");
    }
    expect![[r#"
        E0701 10:32 `clientSecret` is a secret and is written in plain text [a secret value is written here] (write `clientSecret: env("A_CLIENT_SECRET")` and set the variable, or `clientSecret: stored` and set it with `cmap connections set`; then remove the value from the file's history)
        E0701 11:59 `apiKey` is a secret and is written in plain text [a secret value is written here] (write `apiKey: env("B_API_KEY")` and set the variable, or `apiKey: stored` and set it with `cmap connections set`; then remove the value from the file's history)
        E0701 12:71 `password` is a secret and is written in plain text [a secret value is written here] (write `password: env("C_PASSWORD")` and set the variable, or `password: stored` and set it with `cmap connections set`; then remove the value from the file's history)
        W0704 13:45 `token` is not a credential of `auth none` (connection `d`) [ignored] (`auth none` takes no credentials: remove the block, or choose an auth type that uses them)
        E0701 13:52 `token` is a secret and is written in plain text [a secret value is written here] (write `token: env("D_TOKEN")` and set the variable, or `token: stored` and set it with `cmap connections set`; then remove the value from the file's history)
        E0701 14:56 `X-Key` is a secret and is written in plain text [every `custom` value is a secret: it is written here] (write `X-Key: env("E_X_KEY")` and set the variable, or `X-Key: stored` and set it with `cmap connections set`; then remove the value from the file's history)
        E0701 15:100 `apiToken` looks like a secret and is written in plain text in `settings` [a secret value is written here] (move it into the `auth` block as `apiToken: env("F_API_TOKEN")` or `apiToken: stored` (set with `cmap connections set`), and keep the value out of the file)
        E0801 15:112 `token` is not a setting of the `rest` connector (the settings of connection `f`) [nothing reads it] (the `rest` connector's settings are `baseUrl`, `path`, `recordsPath`, `pagination`, `idField`, `updatedField`, `incrementalParam`)
        program: no
    "#]]
    .assert_eq(&text);
}

#[test]
fn e0702_unknown_auth_type() {
    check(
        &with_contact(
            r#"
connection a { integration rest auth oath2 settings { baseUrl: "https://api.example.com" } }
connection b { integration rest auth apikey settings { baseUrl: "https://api.example.com" } }
connection c { integration rest auth kerberos settings { baseUrl: "https://api.example.com" } }
"#,
        ),
        expect![[r#"
            E0702 9:38 unknown auth type `oath2` [did you mean `oauth2`?] (write `auth oauth2`)
            E0702 10:38 unknown auth type `apikey` [did you mean `api_key`?] (write `auth api_key`)
            E0702 11:38 unknown auth type `kerberos` [not an auth type] (use one of `none`, `api_key`, `basic`, `oauth2`, `custom` (`none` for public sources))
            program: no
        "#]],
    );
}

#[test]
fn e0703_missing_credentials() {
    check(
        &with_contact(
            r#"
connection a { integration salesforce auth oauth2 { clientId: "x" } }
connection b { integration hubspot auth api_key { header: "X-Key" } }
connection c { integration rest auth basic {} settings { baseUrl: "https://api.example.com" } }
connection d { integration rest auth custom settings { baseUrl: "https://api.example.com" } }
connection e { integration rest auth oauth2 { clientId: "x" clientSecret: stored tokenUrl: "https://login.example.com/token" accessToken: stored } settings { baseUrl: "https://api.example.com" } }
"#,
        ),
        expect![[r#"
            E0703 9:44 `auth oauth2` of connection `a` needs `clientSecret` [`clientSecret` missing] (add `clientSecret: env("A_CLIENT_SECRET")` (or `clientSecret: stored`) to its `auth oauth2` block)
            E0703 9:44 `auth oauth2` of connection `a` needs `tokenUrl` [`tokenUrl` missing] (add `tokenUrl: "..."` to its `auth oauth2` block)
            E0703 9:44 `auth oauth2` of connection `a` needs `refreshToken` or `accessToken` [`refreshToken` or `accessToken` missing] (add `refreshToken: env("A_REFRESH_TOKEN")` (or `refreshToken: stored`) to its `auth oauth2` block)
            E0703 10:41 `auth api_key` of connection `b` needs `apiKey` [`apiKey` missing] (add `apiKey: env("B_API_KEY")` (or `apiKey: stored`) to its `auth api_key` block)
            E0703 11:38 `auth basic` of connection `c` needs `username` [`username` missing] (add `username: "..."` to its `auth basic` block)
            E0703 11:38 `auth basic` of connection `c` needs `password` [`password` missing] (add `password: env("C_PASSWORD")` (or `password: stored`) to its `auth basic` block)
            E0703 12:38 custom connection `d` has no credential [`custom` sends each credential as a header] (add e.g. `auth custom { "X-Api-Token": env("D_TOKEN") }`, or write `auth none`)
            program: no
        "#]],
    );
}

#[test]
fn w0704_unknown_credential_keys() {
    check(
        &with_contact(
            r#"
connection a { integration rest auth api_key { apiKey: stored, apikey: stored, region: "eu" } settings { baseUrl: "https://api.example.com" } }
connection b { integration rest auth none { path: "x" } settings { baseUrl: "https://api.example.com" } }
"#,
        ),
        expect![[r#"
            W0704 9:64 `apikey` is not a credential of `auth api_key` (connection `a`) [did you mean `apiKey`?] (write `apiKey`; as it is, this key is ignored)
            W0704 9:80 `region` is not a credential of `auth api_key` (connection `a`) [ignored] (`auth api_key` reads `apiKey`, `header`, `prefix`)
            W0704 10:45 `path` is not a credential of `auth none` (connection `b`) [ignored] (`auth none` takes no credentials: remove the block, or choose an auth type that uses them)
            program: yes
        "#]],
    );
}

/// Credentials are checked as the client that reads them does: the OAuth2 client reads
/// `clientAuth` and `expiresAt` (check called them unknown and dropped them, so `auth
/// oauth2 { clientAuth: "basic" }` silently sent the secret in the body); URLs, header
/// names, a basic user name and variable names are refused here rather than at the first
/// request.
#[test]
fn credentials_are_checked_as_their_client_reads_them() {
    let base = r#"settings { baseUrl: "https://api.example.com" }"#;
    check(
        &with_contact(&format!(
            r#"
connection ok {{ integration rest auth oauth2 {{ clientId: "c", clientSecret: env("S"), refreshToken: stored, tokenUrl: "https://login.example.com/token", clientAuth: "basic", accessToken: stored, expiresAt: "2026-01-01T00:00:00Z" }} {base} }}
connection a {{ integration rest auth oauth2 {{ clientId: "c", clientSecret: env("S"), refreshToken: stored, tokenUrl: "login.example.com/token", clientAuth: "header", expiresAt: "soon", instanceUrl: "https://x.example" }} {base} }}
connection b {{ integration rest auth api_key {{ apiKey: env("K"), header: "X Api Key", prefix: "Bearer\n" }} {base} }}
connection c {{ integration rest auth basic {{ username: "svc:admin", password: env("P-W") }} {base} }}
connection d {{ integration rest auth custom {{ "X-Token:": env("T"), "X-Ok": stored }} {base} }}
"#
        )),
        expect![[r#"
            E0804 10:118 `tokenUrl` of connection `a` cannot be used [not a URL: relative URL without a base] (write an absolute http(s) URL, e.g. `tokenUrl: "https://login.example.com/oauth2/token"`)
            E0110 10:157 unknown `clientAuth` value `header` (connection `a`) [not `body` or `basic`] (`body` sends the client id and secret in the token request's form (the default), `basic` in its Authorization header)
            E0804 10:178 `expiresAt` of connection `a` cannot be used [not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)] (write when the access token expires, e.g. `expiresAt: "2026-01-01T00:00:00Z"`)
            W0704 10:186 `instanceUrl` is not a credential of `auth oauth2` (connection `a`) [ignored] (the token response names the instance; to fix it, write `settings { instanceUrl: "https://..." }`)
            E0804 11:74 `header` of connection `b` cannot be used [holds ` `, which a header name cannot] (name the header as HTTP allows, e.g. `header: "X-Api-Key"`)
            E0804 11:95 `prefix` of connection `b` cannot be used [holds a control character] (write the text sent before the key, e.g. `prefix: "Bearer "`)
            E0804 12:56 `username` of connection `c` cannot be used [holds `:` or a control character, which basic auth cannot send (RFC 7617)] (write the user name alone)
            E0804 12:83 `env` needs the name of an environment variable for `password` [`P-W` holds `-`, which is not a letter, a digit or `_`] (write `password: env("C_PASSWORD")`)
            E0804 13:47 `X-Token:` cannot be a header name (connection `d`) [holds `:`, which a header name cannot] (`auth custom` sends each key as a header: name it as HTTP allows, e.g. `"X-Api-Token": env("TOKEN")`)
            program: no
        "#]],
    );
    let (_, c) = compile_src(
        &with_contact(&format!(
            r#"connection ok {{ integration rest auth oauth2 {{ clientId: "c", clientSecret: env("S"), refreshToken: stored, tokenUrl: "https://login.example.com/token", clientAuth: "basic" }} {base} }}"#
        )),
        |_| {},
    );
    let program = c.program.unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
    let fields = program
        .connection("ok")
        .map(|c| c.auth.fields.clone())
        .unwrap_or_default();
    assert!(
        fields.contains(&(
            "clientAuth".into(),
            ir::CredentialValue::Plain("basic".into())
        )),
        "the OAuth2 client gets `clientAuth`: {fields:?}"
    );
}

#[test]
fn w0705_unknown_integration_and_e0303_missing_clauses() {
    check(
        &with_contact(
            r#"
connection a { integration salesforc auth none }
connection b { integration jira auth none }
connection c { auth none }
connection d { integration rest settings { baseUrl: "https://api.example.com" } }
"#,
        ),
        expect![[r#"
            W0705 9:28 unknown integration `salesforc` [did you mean `salesforce`?] (write `integration salesforce`)
            W0705 10:28 unknown integration `jira` [cmap has no connector for it] (use one of `salesforce`, `hubspot`, `google-news`, `rss`, `rest`, `files`; `rest` reads any JSON API)
            E0303 11:12 connection `c` names no integration [`integration` is required] (add `integration NAME`, one of `salesforce`, `hubspot`, `google-news`, `rss`, `rest`, `files`)
            E0303 12:12 connection `d` says nothing about authentication [`auth` is required] (add `auth none` for a public source, or e.g. `auth api_key { apiKey: env("API_KEY") }`)
            program: no
        "#]],
    );
}

#[test]
fn e0706_unknown_connection() {
    check(
        &with_contact(
            r#"
connection sf-prod { integration salesforce auth none }
task t { schema s connection sf-prd }
task u { schema s connection elsewhere }
"#,
        ),
        expect![[r#"
            E0706 10:30 unknown connection `sf-prd` [did you mean `sf-prod`?] (write `connection sf-prod`)
            E0706 11:30 unknown connection `elsewhere` [no connection has this id] (name a declared connection (e.g. `connection sf-prod`), or declare `connection elsewhere { .. }`)
            program: no
        "#]],
    );
}

#[test]
fn w0707_several_connections_serve_a_task() {
    check(
        &with_contact(
            r#"
connection sf-prod { integration salesforce auth none }
connection sf-sandbox { integration salesforce auth none }
connection hs { integration hubspot auth none }
task named { schema s connection sf-prod }
task unnamed { schema s }
task other { schema s integration hubspot }
"#,
        ),
        expect![[r#"
            W0707 13:6 task `unnamed` names no connection and 2 connections serve `salesforce` [which of `sf-prod`, `sf-sandbox` does it read through?] (add `connection sf-prod` (or another of them) to the task) {9:12 connection `sf-prod` serves `salesforce`} {10:12 connection `sf-sandbox` serves `salesforce`}
            program: yes
        "#]],
    );
}

#[test]
fn w0708_e0110_e0106_e0202_scope_tenant_duplicates_and_types() {
    check(
        &with_contact(
            r#"
connection a { integration rss scope system tenant "acme" auth none }
connection b { integration rss scope global auth none }
connection a { integration rss auth none }
connection c { integration rest auth basic { username: 1, password: env(""), password: stored } settings "x" }
connection d { integration rest auth oauth2 { clientId: "x" clientSecret: stored tokenUrl: "https://login.example.com/token" refreshToken: stored scopes: ["api", "id"] } settings { baseUrl: "https://api.example.com" } }
"#,
        ),
        expect![[r#"
            W0708 9:52 connection `a` is system-wide: its tenant is ignored [ignored: `scope system` serves every tenant] (remove `tenant`, or write `scope tenant` for one tenant's connection)
            E0110 10:38 unknown connection scope `global` [not a connection scope] (use one of `system`, `tenant`)
            E0106 11:12 connection `a` is defined twice [defined again here] (rename one of the two connections or remove the duplicate) {9:12 first defined here}
            E0202 12:56 credential `username` must be a string [this is an integer] (write it as a string: `username: "1"`)
            E0804 12:73 `env` needs the name of an environment variable for `password` [empty] (write `password: env("C_PASSWORD")`)
            E0106 12:78 credential `password` is given twice in connection `c` [given again here] (remove one of the two; a credential has one source) {12:59 first given here}
            E0202 12:106 the settings of connection `c` must be an object [this is a string] (write `settings { key: value }`)
            E0202 13:155 credential `scopes` must be a string [this is an array of string] (write the values in one string, separated by spaces: `scopes: "api id"`)
            program: no
        "#]],
    );
}

/// Connections and the connection each task resolves to.
fn lower_connections(src: &str, expect: Expect) {
    let (map, c) = compile_src(src, |_| {});
    let Some(program) = c.program else {
        panic!("does not compile:\n{}", render(&map, &c));
    };
    let mut out = String::new();
    for k in &program.connections {
        let _ = writeln!(out, "{k:?}");
    }
    for t in &program.tasks {
        let _ = writeln!(
            out,
            "task {} -> {:?}",
            t.id,
            t.connection.as_ref().map(|k| &k.id)
        );
    }
    expect.assert_eq(&out);
}

#[test]
fn lowers_connections() {
    lower_connections(
        &with_contact(
            r#"
connection sf-prod "Salesforce" {
  integration salesforce
  tenant "acme"
  auth oauth2 { clientId: "id" clientSecret: env("S") refreshToken: stored tokenUrl: "https://t" }
  settings { instanceUrl: "https://acme.my.salesforce.com" }
}
connection news { integration google-news scope system auth none }
connection files { integration files auth none }
task t { schema s connection sf-prod }
task u { schema s }
"#,
        ),
        expect![[r#"
            Connection { id: "sf-prod", name: Some("Salesforce"), integration: "salesforce", scope: Tenant, tenant: Some("acme"), auth: AuthConfig { auth_type: OAuth2, fields: [("clientId", Plain("id")), ("clientSecret", Env("S")), ("refreshToken", Stored), ("tokenUrl", Plain("https://t"))] }, settings: Salesforce(Settings { instance_url: Some(Url { scheme: "https", cannot_be_a_base: false, username: "", password: None, host: Some(Domain("acme.my.salesforce.com")), port: None, path: "/", query: None, fragment: None }), api_version: "59.0" }) }
            Connection { id: "news", name: None, integration: "google-news", scope: System, tenant: None, auth: AuthConfig { auth_type: None, fields: [] }, settings: GoogleNews(NewsSettings { base_url: None }) }
            Connection { id: "files", name: None, integration: "files", scope: Tenant, tenant: Some("default"), auth: AuthConfig { auth_type: None, fields: [] }, settings: Files(Read { path: None, format: None, delimiter: None, updated_field: None }) }
            task t -> Some("sf-prod")
            task u -> None
        "#]],
    );
}
