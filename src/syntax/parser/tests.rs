//! Parser tests. `check` renders the AST compactly (spans dropped, `Spanned` shown as
//! its node) followed by every diagnostic; `check_errors` shows the diagnostics with
//! their line and column. Regenerate expectations with `UPDATE_EXPECT=1`.

use expect_test::{expect, Expect};
use regex::Regex;

use super::parse;
use crate::syntax::ast::{Document, Item, MappingExpr, MappingItem, Span};
use crate::syntax::SourceFile;

/// `Debug` output without spans: `Spanned { node: X, span: .. }` becomes `X`.
pub(crate) fn compact(x: &impl std::fmt::Debug) -> String {
    let text = format!("{x:?}");
    let spanned =
        Regex::new(r"Spanned \{ node: (.*?), span: Span \{ file: \d+, start: \d+, end: \d+ \} \}")
            .unwrap();
    let field = Regex::new(r", span: Span \{ file: \d+, start: \d+, end: \d+ \}|span: Span \{ file: \d+, start: \d+, end: \d+ \}, ").unwrap();
    let bare = Regex::new(r"Span \{ file: \d+, start: \d+, end: \d+ \}").unwrap();
    let text = spanned.replace_all(&text, "$1");
    let text = field.replace_all(&text, "");
    bare.replace_all(&text, "_").into_owned()
}

fn render_diags(text: &str, diags: &[crate::diagnostics::Diagnostic]) -> String {
    let file = SourceFile::new(
        "t.cmap".into(),
        text.to_string(),
        crate::syntax::SourceKind::Cmap,
    );
    let mut out = String::new();
    for d in diags {
        let (line, col) = file.line_col(d.span.start as usize);
        out.push_str(&format!("{} {line}:{col} {}\n", d.code.as_str(), d.message));
        if let Some(h) = &d.help {
            out.push_str(&format!("  help: {h}\n"));
        }
        for (span, label) in &d.related {
            let (line, col) = file.line_col(span.start as usize);
            out.push_str(&format!("  related {line}:{col}: {label}\n"));
        }
    }
    out
}

fn check(input: &str, expect: Expect) {
    let (doc, diags) = parse(0, input);
    let mut out = String::new();
    for item in &doc.items {
        out.push_str(&compact(item));
        out.push('\n');
    }
    out.push_str(&render_diags(input, &diags));
    expect.assert_eq(&out);
}

/// The mapping expressions of one schema, one per line.
fn check_exprs(mappings: &str, expect: Expect) {
    let input = format!("schema s {{\n{mappings}\n}}\n");
    let (doc, diags) = parse(0, &input);
    let mut out = String::new();
    for item in &doc.items {
        if let Item::Schema(s) = item {
            for m in &s.body {
                match m {
                    MappingItem::Field(f) => {
                        out.push_str(&format!("{} = {}\n", f.target.node, compact(&f.expr)))
                    }
                    MappingItem::Relationship(r) => out.push_str(&format!("{}\n", compact(r))),
                }
            }
        }
    }
    out.push_str(&render_diags(&input, &diags));
    expect.assert_eq(&out);
}

fn check_errors(input: &str, expect: Expect) {
    let (_, diags) = parse(0, input);
    expect.assert_eq(&render_diags(input, &diags));
}

/// Every ```cmap block of docs/language.md.
fn doc_examples() -> Vec<&'static str> {
    let text = include_str!("../../../docs/language.md");
    text.split("```cmap\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect()
}

#[test]
fn language_reference_examples_parse_cleanly() {
    let examples = doc_examples();
    assert!(!examples.is_empty());
    for ex in examples {
        let (doc, diags) = parse(0, ex);
        assert_eq!(diags, vec![], "{ex}");
        assert_eq!(doc.items.len(), 2);
        assert_eq!(doc.comments.len(), 1);
    }
}

/// Every construct of docs/language.md, fragments wrapped in the block they belong to.
pub(crate) const ALL_CONSTRUCTS: &str = r#"
// Every construct of the language.
schema sf-opportunity "Opportunity" {
  description "Opportunities into c_opportunity"
  source salesforce.Opportunity where IsDeleted == false and Amount > 0 and StageName not in ["Dead"] and OwnerId exists
  target c_news { create_if_missing }
  dedupe composite(FirstName, LastName, BirthDate)
  inactive
  meta { createdAt: "2024-01-01T00:00:00Z", "updated at": 2 }

  @id("m1") title = Title | truncate(100)
  title2 = Title | truncate(maxLength: 100)
  slug = Name | lowercase | regex_replace("[^a-z0-9]+", "-")
  amount = Amount | currency_convert("EUR", "USD") | round(2)
  score = Amount | custom("value * 0.1")
  account = `Account.Name`
  owner = flatten(Meta, "$.owner.name")
  first = items[0].name
  odd = `Odd Key`.sub
  industry = task.industry
  address = join(Street, City, sep: ", ")
  price = "\${literal}"
  country = lookup Code in countries else "?"
  company = lookup AccountId in shard c_company.name else null
  companyId2 = lookup AccountId in shard c_company
  email! = Email validate email, max_length(254), pattern("^\\+", message: "must start with +"), required(message: "needed")
  stage = match StageName {
    "Prospecting"             => "lead"
    "Qualification"           => "qualified"
    in ["Negotiation", "Review"] => "negotiation"
    _                         => "lead"
  }
  tier = when {
    Amount >= 100000          => "enterprise"
    Industry == "Banking"     => "finance"
    Email exists              => Email | lowercase
    Phone not exists          => Mobile
    _                         => "other"
  }
  companyId -> belongs_to c_company by external_id(AccountId)
  ownerId   -> belongs_to c_user by id(OwnerId)

  lookup countries {
    "US" => "United States"
    "FR" => "France"
  }

  test "a closed deal" {
    input  { Id: "006A", StageName: "Closed Won", Amount: 5000 }
    task   { industry: "banking" }        // optional task config
    expect { name: null, stage: "won", value: 5000 }
    expect external_id "006A"
    expect relationships [{ targetField: "companyId" }]
  }
  test "deleted contacts are skipped" { input { IsDeleted: true } expect skipped }
  test "email is required"            { input { Id: "1" }       expect failed email }
  test "fails"                        { input {} expect failed }
}

lookup countries {
  "US" => "United States"
}

rates USD { EUR: 0.92, GBP: 0.79, JPY: 151.2 }

task sf-opportunity-hourly "Opportunities - Hourly" {
  description "pulls every hour"
  schema sf-opportunity
  integration salesforce
  direction bidirectional
  schedule every 15 minutes
  config { industry: "banking", limit: 10 }
  status paused
  retry 3 times every 300s exponential
  notify on success, failure, partial -> "a@b.com", "user-id"
  meta { createdBy: "admin" }
}
task t-manual { schedule manual }
task t-realtime { schedule realtime "https://hook" token "secret" }
task t-realtime2 { schedule realtime }
task t-realtime3 { schedule realtime token env("HOOK_TOKEN") }
task t-realtime4 { schedule realtime "https://hook" token stored }
task t-cron { schedule cron "0 2 * * *" }
task t-connection { schema sf-opportunity connection sf-prod }

connection sf-prod "Salesforce (production)" {
  integration salesforce
  scope tenant
  tenant "acme"
  auth oauth2 {
    clientId: "3MVG9..."
    clientSecret: env("SF_CLIENT_SECRET")
    refreshToken: stored
    "token url": "https://login.salesforce.com/services/oauth2/token",
  }
  settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: "59.0" }
  meta { status: "active", createdBy: "admin" }
}
connection news "Google News" { integration google-news  scope system  auth none }
connection empty-auth { integration files auth none {} }

shardtype c_contact "Contact" {
  email: string
  name?: string
  tags?: [string]
  sentiment?: "positive" | "negative" | "neutral"
}

entity salesforce.Contact {
  Id: string
  MailingAddress?: { street?: string, city?: string }
  CloseDate?: date
}
"#;

#[test]
fn every_construct_parses_cleanly() {
    let (doc, diags) = parse(0, ALL_CONSTRUCTS);
    assert_eq!(diags, vec![]);
    assert_eq!(doc.items.len(), 16);
}

#[test]
fn mapping_expressions() {
    check_exprs(
        r#"
  a = Email
  b = `Account.Name`
  c = MailingAddress.street
  d = items[0].name
  e = `Odd Key`.sub
  f = A.`b.c`.d
  g = flatten(Meta, "$.owner.name")
  h = "salesforce"
  i = 42
  j = [1, "x", null]
  k = { key: "v", "other key": 2, }
  l = task.industry
  m = "${FirstName} ${LastName}"
  n = "price: \${amount}"
  o = "{{task.region}}-x"
  p = join(Street, City, sep: ", ")
  q = join(A, B)
  r = Phone | replace(" ", "") | trim
  s = Title | truncate(maxLength: 100)
  t = lookup Code in countries else "?"
  u = lookup AccountId in shard c_company.name
  v = lookup X in shard else null
  w = `task`.x
"#,
        expect![[r#"
            a = Direct { field: "Email" }
            b = Direct { field: "Account.Name" }
            c = Flatten { field: "MailingAddress", path: "street" }
            d = Flatten { field: "items", path: "[0].name" }
            e = Flatten { field: "Odd Key", path: "sub" }
            f = Flatten { field: "A", path: "['b.c'].d" }
            g = Flatten { field: "Meta", path: "$.owner.name" }
            h = Default { value: String("salesforce") }
            i = Default { value: Number(42) }
            j = Default { value: Array [Number(1), String("x"), Null] }
            k = Default { value: Object {"key": String("v"), "other key": Number(2)} }
            l = Default { value: String("{{task.industry}}") }
            m = Composite(Composite { fields: ["FirstName", "LastName"], separator: None, template: Some("${FirstName} ${LastName}") })
            n = Default { value: String("price: ${amount}") }
            o = Default { value: String("{{task.region}}-x") }
            p = Composite(Composite { fields: ["Street", "City"], separator: Some(", "), template: None })
            q = Composite(Composite { fields: ["A", "B"], separator: None, template: None })
            r = Transform { field: "Phone", steps: [Transformation { name: "replace", args: [Arg { name: None, value: String(" ") }, Arg { name: None, value: String("") }] }, Transformation { name: "trim", args: [] }] }
            s = Transform { field: "Title", steps: [Transformation { name: "truncate", args: [Arg { name: Some("maxLength"), value: Number(100) }] }] }
            t = Lookup(Lookup { field: "Code", from: Table("countries"), default: Some(String("?")) })
            u = Lookup(Lookup { field: "AccountId", from: Shard { shard_type: "c_company", return_field: Some("name") }, default: None })
            v = Lookup(Lookup { field: "X", from: Table("shard"), default: Some(Null) })
            w = Flatten { field: "task", path: "x" }
        "#]],
    );
}

#[test]
fn conditionals_and_operators() {
    check_exprs(
        r#"
  stage = match StageName {
    "Prospecting" => "lead"
    != "x" => Field
    in ["a", "b"] => Other.path
    not in ["c"] => Email | lowercase
    exists => 1
    _ => "lead"
  }
  tier = when {
    A == 1 => "a"
    B != 1 => "b"
    C > 1 => "c"
    D >= 1 => "d"
    E < 1 => "e"
    F <= 1 => "f"
    G contains "x" => "g"
    H starts_with "x" => "h"
    I ends_with "x" => "i"
    J in [1] => "j"
    K not in [1] => "k"
    L exists => "l"
    M not   exists => "m"
    N containz "x" => "n"
  }
"#,
        expect![[r#"
            stage = Conditional(Conditional { style: Match { field: "StageName" }, arms: [Rule { condition: Condition { field: "StageName", op: "eq", value: Some(String("Prospecting")) }, then: Value(String("lead")) }, Rule { condition: Condition { field: "StageName", op: "neq", value: Some(String("x")) }, then: Field("Field") }, Rule { condition: Condition { field: "StageName", op: "in", value: Some(Array [String("a"), String("b")]) }, then: Field("Other.path") }, Rule { condition: Condition { field: "StageName", op: "not_in", value: Some(Array [String("c")]) }, then: Transform { field: "Email", steps: [Transformation { name: "lowercase", args: [] }] } }, Rule { condition: Condition { field: "StageName", op: "exists", value: None }, then: Value(Number(1)) }, Default { value: String("lead") }] })
            tier = Conditional(Conditional { style: When, arms: [Rule { condition: Condition { field: "A", op: "eq", value: Some(Number(1)) }, then: Value(String("a")) }, Rule { condition: Condition { field: "B", op: "neq", value: Some(Number(1)) }, then: Value(String("b")) }, Rule { condition: Condition { field: "C", op: "gt", value: Some(Number(1)) }, then: Value(String("c")) }, Rule { condition: Condition { field: "D", op: "gte", value: Some(Number(1)) }, then: Value(String("d")) }, Rule { condition: Condition { field: "E", op: "lt", value: Some(Number(1)) }, then: Value(String("e")) }, Rule { condition: Condition { field: "F", op: "lte", value: Some(Number(1)) }, then: Value(String("f")) }, Rule { condition: Condition { field: "G", op: "contains", value: Some(String("x")) }, then: Value(String("g")) }, Rule { condition: Condition { field: "H", op: "starts_with", value: Some(String("x")) }, then: Value(String("h")) }, Rule { condition: Condition { field: "I", op: "ends_with", value: Some(String("x")) }, then: Value(String("i")) }, Rule { condition: Condition { field: "J", op: "in", value: Some(Array [Number(1)]) }, then: Value(String("j")) }, Rule { condition: Condition { field: "K", op: "not_in", value: Some(Array [Number(1)]) }, then: Value(String("k")) }, Rule { condition: Condition { field: "L", op: "exists", value: None }, then: Value(String("l")) }, Rule { condition: Condition { field: "M", op: "not_exists", value: None }, then: Value(String("m")) }, Rule { condition: Condition { field: "N", op: "containz", value: Some(String("x")) }, then: Value(String("n")) }] })
        "#]],
    );
}

#[test]
fn mapping_ids_required_validation_relationships() {
    check_exprs(
        r#"
  @id("m1") email! = Email validate email, max_length(254), pattern("^\\+", message: "no +"), required(message: "needed")
  companyId -> belongs_to c_company by external_id(AccountId)
  ownerId -> belongs_to c_user by id(Owner.Id)
"#,
        expect![[r#"
            email = Direct { field: "Email" }
            RelationshipMapping { target: "companyId", kind: "belongs_to", shard_type: "c_company", by_external_id: true, field: "AccountId" }
            RelationshipMapping { target: "ownerId", kind: "belongs_to", shard_type: "c_user", by_external_id: false, field: "Owner.Id" }
        "#]],
    );
    let (doc, _) = parse(0, "schema s {\n  @id(\"m1\") email! = Email validate email, max_length(254), pattern(\"^\\\\+\", message: \"no +\"), required(message: \"needed\")\n}");
    let Some(Item::Schema(s)) = doc.items.first() else {
        panic!("no schema")
    };
    let Some(MappingItem::Field(f)) = s.body.first() else {
        panic!("no mapping")
    };
    expect![[r#"FieldMapping { id: Some("m1"), target: "email", required: Some(_), expr: Direct { field: "Email" }, validation: [Validation { rule: "email", value: None, message: None }, Validation { rule: "max_length", value: Some(Number(254)), message: None }, Validation { rule: "pattern", value: Some(String("^\\+")), message: Some("no +") }, Validation { rule: "required", value: None, message: Some("needed") }] }"#]]
        .assert_eq(&compact(f));
}

#[test]
fn schema_clauses() {
    check(
        r#"schema s "S" {
  description "d"
  source Contact where A == 1 and B exists
  target c_news {}
  dedupe external_id(Id)
  inactive
  meta { createdAt: "x" }
}
schema t { source hubspot.Contact target c_contact dedupe field_match(Email) }"#,
        expect![[r#"
            Schema(Schema { id: "s", name: Some("S"), description: Some("d"), source: Some(Source { integration: None, entity: "Contact", filters: [Condition { field: "A", op: "eq", value: Some(Number(1)) }, Condition { field: "B", op: "exists", value: None }] }), target: Some(Target { shard_type: "c_news", flags: Some([]) }), dedupe: Some(Dedupe { strategy: "external_id", fields: ["Id"] }), active: Some(false), body: [], lookups: [], tests: [], meta: [("createdAt", String("x"))] })
            Schema(Schema { id: "t", name: None, description: None, source: Some(Source { integration: Some("hubspot"), entity: "Contact", filters: [] }), target: Some(Target { shard_type: "c_contact", flags: None }), dedupe: Some(Dedupe { strategy: "field_match", fields: ["Email"] }), active: None, body: [], lookups: [], tests: [], meta: [] })
        "#]],
    );
}

#[test]
fn tests_tasks_tables_types() {
    check(
        r#"schema s {
  test "t" {
    input { Id: "1" }
    task { industry: "banking" }
    expect { name: null }
    expect external_id "006A"
    expect relationships []
    expect skipped
    expect failed
    expect failed email
  }
}
task t "T" {
  schema s
  integration salesforce
  direction push
  schedule realtime "https://x" token "tok"
  config { a: 1 }
  status error
  retry 3 times every 300s
  notify on failure
}
lookup l { "US" => "United States", 1 => 2 }
rates EUR { USD: 1.08 }
entity hubspot.Deal "Deal" { amount?: number, stage: "a" | "b", owner: { id: string } }"#,
        expect![[r#"
            Schema(Schema { id: "s", name: None, description: None, source: None, target: None, dedupe: None, active: None, body: [], lookups: [], tests: [TestCase { name: "t", input: Some(Object {"Id": String("1")}), task: Some(Object {"industry": String("banking")}), expect: [Data(Object {"name": Null}), ExternalId(String("006A")), Relationships(Array []), Skipped(_), Failed { field: None }, Failed { field: Some("email") }] }], meta: [] })
            Task(Task { id: "t", name: Some("T"), description: None, integration: Some("salesforce"), schema: Some("s"), connection: None, direction: Some("push"), schedule: Some(Realtime { webhook_url: Some("https://x"), token: Some(Plain(String("tok"))) }), config: Some(Tree { node: Object([("a", Tree { node: Scalar(Number(1)) })]) }), status: Some("error"), retry: Some(Retry { max_retries: Number(3), delay_seconds: Number(300), exponential: None }), notify: Some(Notify { events: ["failure"], recipients: [] }), meta: [] })
            Lookup(LookupTable { id: "l", entries: [("US", String("United States")), ("1", Number(2))] })
            Rates(RateTable { base: "EUR", rates: [("USD", Number(1.08))] })
            Type(TypeDef { kind: Entity, id: "hubspot.Deal", name: Some("Deal"), fields: [FieldDef { name: "amount", optional: true, ty: Named("number") }, FieldDef { name: "stage", optional: false, ty: Enum(["a", "b"]) }, FieldDef { name: "owner", optional: false, ty: Object([FieldDef { name: "id", optional: false, ty: Named("string") }]) }] })
        "#]],
    );
}

#[test]
fn literals_and_escapes() {
    check_exprs(
        r#"
  a = "tab\t quote\" slash\\ unicode\u00e9 pair\ud83d\ude00 dollar\$"
  b = -1.5e3
  c = { `odd key`: true, nested: { list: [1, 2,], }
        multi: "line" }
  d = 18446744073709551615
"#,
        expect![[r#"
            a = Default { value: String("tab\t quote\" slash\\ unicodeé pair😀 dollar$") }
            b = Default { value: Number(-1500.0) }
            c = Default { value: Object {"odd key": Bool(true), "nested": Object {"list": Array [Number(1), Number(2)]}, "multi": String("line")} }
            d = Default { value: Number(18446744073709551615) }
        "#]],
    );
}

#[test]
fn spans_are_exact() {
    let text = "schema s {\n  name = \"${First} x\"\n  street = Mailing.street\n}\n";
    let (doc, diags) = parse(3, text);
    assert!(diags.is_empty());
    let Some(Item::Schema(s)) = doc.items.first() else {
        panic!("no schema")
    };
    let at = |span: Span| {
        assert_eq!(span.file, 3);
        &text[span.range()]
    };
    assert_eq!(at(s.span), text.trim_end());
    assert_eq!(at(s.id.span), "s");
    let Some(MappingItem::Field(name)) = s.body.first() else {
        panic!()
    };
    assert_eq!(at(name.span), "name = \"${First} x\"");
    assert_eq!(at(name.target.span), "name");
    let MappingExpr::Composite(c) = &name.expr else {
        panic!()
    };
    assert_eq!(at(c.fields[0].span), "First");
    assert_eq!(at(c.template.as_ref().unwrap().span), "\"${First} x\"");
    let Some(MappingItem::Field(street)) = s.body.get(1) else {
        panic!()
    };
    let MappingExpr::Flatten { field, path } = &street.expr else {
        panic!()
    };
    assert_eq!((at(field.span), at(path.span)), ("Mailing", "street"));
}

#[test]
fn comments_are_collected() {
    let (doc, _) = parse(
        0,
        "// head\nschema s { // trailing\n  a = \"// not a comment\" // c2\n  // own\n}",
    );
    expect![[r#"[Comment { text: " head", trailing: false, blank_before: false, blank_after: false }, Comment { text: " trailing", trailing: true, blank_before: false, blank_after: false }, Comment { text: " c2", trailing: true, blank_before: false, blank_after: false }, Comment { text: " own", trailing: false, blank_before: false, blank_after: false }]"#]]
        .assert_eq(&compact(&doc.comments));
}

#[test]
fn duplicate_clauses_keep_the_first() {
    check(
        "schema s {\n  target a\n  target b\n  inactive\n  inactive\n}\ntask t {\n  schedule manual\n  schedule every 5 minutes\n  meta {}\n  meta { a: 1 }\n}\nschema u { test \"x\" { input {} input { a: 1 } } }",
        expect![[r#"
            Schema(Schema { id: "s", name: None, description: None, source: None, target: Some(Target { shard_type: "a", flags: None }), dedupe: None, active: Some(false), body: [], lookups: [], tests: [], meta: [] })
            Task(Task { id: "t", name: None, description: None, integration: None, schema: None, connection: None, direction: None, schedule: Some(Manual { span: _ }), config: None, status: None, retry: None, notify: None, meta: [] })
            Schema(Schema { id: "u", name: None, description: None, source: None, target: None, dedupe: None, active: None, body: [], lookups: [], tests: [TestCase { name: "x", input: Some(Object {}), task: None, expect: [] }], meta: [] })
            E0004 3:3 `target` is given twice in schema `s`
              help: keep one `target` clause; the first one is used
              related 2:3: first given here
            E0004 5:3 `inactive` is given twice in schema `s`
              help: keep one `inactive` clause; the first one is used
              related 4:3: first given here
            E0004 9:3 `schedule` is given twice in task `t`
              help: keep one `schedule` clause; the first one is used
              related 8:3: first given here
            E0004 11:3 `meta` is given twice in task `t`
              help: keep one `meta` clause; the first one is used
              related 10:3: first given here
            E0004 13:32 `input` is given twice in test "x"
              help: keep one `input` clause; the first one is used
              related 13:29: first given here
        "#]],
    );
}

#[test]
fn syntax_errors_in_words() {
    check_errors(
        "schema s {\n  email: Email\n}\n",
        expect![[r#"
            E0001 2:8 expected `=` or `->` after target field `email`, found `:`
              help: a field mapping is written `email = expression`
        "#]],
    );
    check_errors(
        "schema s {\n  source X where A = 1\n}\n",
        expect![[r#"
            E0001 2:20 expected an operator (`==`, `!=`, `>`, `in`, `contains`, `exists`, ...) after field `A`, found `=`
              help: to compare, write `==` (a single `=` assigns a field)
        "#]],
    );
    check_errors(
        "schema s {\n  a = 'x'\n}\n",
        expect![[r#"
            E0001 2:7 expected an expression (a field, a value, `match`, `when`, `lookup`, `join` or `flatten`), found `'x'`
              help: strings are written in double quotes: `"..."`
        "#]],
    );
    check_errors(
        "schema s {\n  a = X\n",
        expect![[r#"
            E0001 1:10 this `schema` block is never closed
              help: add `}` at the end of the `schema` block
        "#]],
    );
    check_errors(
        "task t {\n  schedul every 5 minutes\n}\n",
        expect![[r#"
            E0001 2:3 expected a task clause (`schema`, `direction`, `schedule`, ...), found `schedul`
              help: did you mean `schedule`?
        "#]],
    );
    check_errors(
        "schema s {\n  sorce salesforce.Contact\n}\n",
        expect![[r#"
            E0001 2:9 expected `=` or `->` after target field `sorce`, found `salesforce.Contact`
              help: did you mean `source`?
        "#]],
    );
    check_errors(
        "schema s {\n  a = X | trim(\n}\n",
        expect![[r#"
            E0001 2:15 this `(` is never closed
              help: add `)` at the end of the line
        "#]],
    );
    check_errors(
        "schema s {\n  a = \"unclosed\n}\n",
        expect![[r#"
            E0001 2:7 expected an expression (a field, a value, `match`, `when`, `lookup`, `join` or `flatten`), found `"unclosed`
              help: this string is not closed: add a `"` before the end of the line
        "#]],
    );
    check_errors(
        "scheme s {}\n",
        expect![[r#"
            E0001 1:1 expected `schema`, `task`, `connection`, `integration`, `lookup`, `rates`, `shardtype` or `entity`, found `scheme`
              help: did you mean `schema`?
        "#]],
    );
}

#[test]
fn every_error_is_reported_and_the_rest_is_kept() {
    let input = r#"schema a {
  source sf.Contact
  target c_contact
  email: Email
  name = FirstName
  phone = Phone | replace(" ",
  street = Street
}

schema b {
  x == Y
  y = Y
}

task t { schedule every 5 minutes }
"#;
    let (doc, diags) = parse(0, input);
    expect![[r#"
        E0001 4:8 expected `=` or `->` after target field `email`, found `:`
          help: a field mapping is written `email = expression`
        E0001 6:26 this `(` is never closed
          help: add `)` at the end of the line
        E0001 11:5 expected `=` or `->` after target field `x`, found `==`
          help: a field mapping uses a single `=`
    "#]]
    .assert_eq(&render_diags(input, &diags));
    let targets: Vec<String> = doc
        .items
        .iter()
        .flat_map(|i| match i {
            Item::Schema(s) => s
                .body
                .iter()
                .filter_map(|m| match m {
                    MappingItem::Field(f) => Some(format!("{}.{}", s.id.node, f.target.node)),
                    MappingItem::Relationship(_) => None,
                })
                .collect(),
            Item::Task(t) => vec![t.id.node.clone()],
            _ => vec![],
        })
        .collect();
    expect![[r#"["a.name", "a.street", "b.y", "t"]"#]].assert_eq(&format!("{targets:?}"));
    let Some(Item::Schema(a)) = doc.items.first() else {
        panic!()
    };
    assert!(a.source.is_some() && a.target.is_some());
}

#[test]
fn unclosed_block_stops_at_the_next_item() {
    let input = "schema a {\n  x = X\n\nschema b {\n  y = Y\n}\n";
    let (doc, diags) = parse(0, input);
    expect![[r#"
        E0001 1:10 this `schema` block is never closed
          help: add `}` at the end of the `schema` block
    "#]]
    .assert_eq(&render_diags(input, &diags));
    assert_eq!(doc.items.len(), 2);
}

#[test]
fn garbage_between_items_is_skipped() {
    let input = "schema a { x = X }\nfoo bar baz\nmore garbage {\n}\ntask t { schedule manual }\n";
    let (doc, diags) = parse(0, input);
    expect![[r#"
        E0001 2:1 expected `schema`, `task`, `connection`, `integration`, `lookup`, `rates`, `shardtype` or `entity`, found `foo`
    "#]]
    .assert_eq(&render_diags(input, &diags));
    assert_eq!(doc.items.len(), 2);
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(parse(0, ""), (Document::default(), vec![]));
    let (doc, diags) = parse(0, "  // only a comment\n");
    assert!(diags.is_empty() && doc.items.is_empty());
    assert_eq!(doc.comments.len(), 1);
}

#[test]
fn connections() {
    check(
        r#"
connection sf-prod "Salesforce (production)" {
  integration salesforce
  scope tenant                 // system | tenant
  tenant "acme"
  auth oauth2 {
    clientId: "3MVG9..."
    clientSecret: env("SF_CLIENT_SECRET"),
    refreshToken: stored
    scopes: ["api", 1]
  }
  settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: "59.0" }
}
connection news "Google News" { integration google-news  scope system  auth none }
connection `odd id` { auth custom { "X-Api-Token": env("TOKEN") } settings "not an object" }
task daily { schema s  connection sf-prod  schedule manual }
"#,
        expect![[r#"
            Connection(Connection { id: "sf-prod", name: Some("Salesforce (production)"), integration: Some("salesforce"), scope: Some("tenant"), tenant: Some("acme"), auth: Some(Auth { kind: "oauth2", fields: [("clientId", Plain(String("3MVG9..."))), ("clientSecret", Env { var: "SF_CLIENT_SECRET" }), ("refreshToken", Stored(_)), ("scopes", Plain(Array [String("api"), Number(1)]))] }), settings: Some(Tree { node: Object([("instanceUrl", Tree { node: Scalar(String("https://acme.my.salesforce.com")) }), ("apiVersion", Tree { node: Scalar(String("59.0")) })]) }), meta: [] })
            Connection(Connection { id: "news", name: Some("Google News"), integration: Some("google-news"), scope: Some("system"), tenant: None, auth: Some(Auth { kind: "none", fields: [] }), settings: None, meta: [] })
            Connection(Connection { id: "odd id", name: None, integration: None, scope: None, tenant: None, auth: Some(Auth { kind: "custom", fields: [("X-Api-Token", Env { var: "TOKEN" })] }), settings: Some(Tree { node: Scalar(String("not an object")) }), meta: [] })
            Task(Task { id: "daily", name: None, description: None, integration: None, schema: Some("s"), connection: Some("sf-prod"), direction: None, schedule: Some(Manual { span: _ }), config: None, status: None, retry: None, notify: None, meta: [] })
        "#]],
    );
}

#[test]
fn connection_spans_are_exact() {
    let text = "connection c {\n  auth basic { username: \"u\", password: env(\"P\") }\n}\n";
    let (doc, _) = parse(0, text);
    let Some(Item::Connection(c)) = doc.items.first() else {
        panic!("a connection")
    };
    let at = |span: Span| &text[span.range()];
    let auth = c.auth.as_ref().expect("auth");
    let mut out = vec![at(c.span), at(auth.span), at(auth.kind.span)];
    for (k, v) in &auth.fields {
        out.push(at(k.span));
        out.push(at(v.span()));
        if let crate::syntax::ast::Credential::Env { var, .. } = v {
            out.push(at(var.span));
        }
    }
    expect![[r#"
        [
            "connection c {\n  auth basic { username: \"u\", password: env(\"P\") }\n}",
            "auth basic { username: \"u\", password: env(\"P\") }",
            "basic",
            "username",
            "\"u\"",
            "password",
            "env(\"P\")",
            "\"P\"",
        ]
    "#]]
    .assert_debug_eq(&out);
}

#[test]
fn connection_errors_in_words() {
    check_errors(
        r#"
connection a {
  integration salesforce
  scop tenant
  auth oauth2 { clientSecret: env(SF_SECRET) }
  auth none
  tenant acme
}
task t { schema s  connection }
"#,
        expect![[r#"
            E0001 4:3 expected a connection clause (`integration`, `scope`, `tenant`, `auth`, `settings`, `meta`), found `scop`
              help: did you mean `scope`?
            E0001 5:35 expected a string, found `SF_SECRET`
            E0001 7:10 expected a string, found `acme`
            E0001 9:20 expected a line break, found `connection`
        "#]],
    );
}

/// Every key and every nested value of `settings` and `config` has its own span, so a
/// check diagnostic can point at it: the text under a key's span is the key, under a
/// value's span the value (a `key: value` pair per line below).
#[test]
fn settings_and_config_keep_a_span_per_key_and_value() {
    use crate::syntax::ast::{Tree, TreeNode};
    let text = r#"connection c {
  settings { baseUrl: "https://x", pagination: { type: "offset", `page size`: 100 }, ids: [1, "a"] }
}
task t { config { deleteGuard: 0.5, "missed runs": "skip", nested: { a: [true, null] } } }
"#;
    let (doc, diags) = parse(0, text);
    assert_eq!(diags, vec![]);
    fn walk(text: &str, t: &Tree, out: &mut Vec<String>) {
        let slice = |s: Span| text.get(s.range()).unwrap_or("?").to_string();
        if let TreeNode::Object(entries) = &t.node {
            for (k, v) in entries {
                out.push(format!("{} = {}", slice(k.span), slice(v.span)));
                walk(text, v, out);
            }
        }
        if let TreeNode::Array(items) = &t.node {
            for item in items {
                out.push(format!("[] {}", slice(item.span)));
            }
        }
    }
    let mut out = Vec::new();
    for item in &doc.items {
        let tree = match item {
            Item::Connection(c) => c.settings.as_ref(),
            Item::Task(t) => t.config.as_ref(),
            _ => None,
        };
        walk(text, tree.expect("a tree"), &mut out);
    }
    expect![[r#"
        baseUrl = "https://x"
        pagination = { type: "offset", `page size`: 100 }
        type = "offset"
        `page size` = 100
        ids = [1, "a"]
        [] 1
        [] "a"
        deleteGuard = 0.5
        "missed runs" = "skip"
        nested = { a: [true, null] }
        a = [true, null]
        [] true
        [] null"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn integration_clauses_in_words() {
    // An unknown word, a spec key written as such, a value of the wrong shape, a clause
    // given twice, and a broken statement: every one reported, the rest still read.
    let input = "integration acme \"Acme\" {\n  categroy crm\n  isPremium true\n  icon a, b\n  version \"1.0\"\n  version \"2.0\"\n  capabilities 3\n  auth oauth2 { clientId: env(\"X\") }\n  color\n}\n";
    check_errors(
        input,
        expect![[r#"
            E0901 2:3 unknown clause `categroy` in integration `acme`
              help: write `category ...`
            E0901 3:3 unknown clause `isPremium` in integration `acme`
              help: write `premium ...`
            E0905 4:8 `icon` takes one name or string
              help: write one value, e.g. `icon "..."`
            E0004 6:3 `version` is given twice in integration `acme`
              help: keep one `version` clause; the first one is used
              related 5:11: first given here
            E0905 7:16 `capabilities` takes a list of names
              help: write the names separated by commas, e.g. `capabilities a, b`, or `capabilities []` for none
            E0001 10:1 expected a value or a name, found `}`
        "#]],
    );
    let (doc, _) = parse(0, input);
    let Some(Item::Integration(k)) = doc.items.first() else {
        panic!("an integration")
    };
    assert_eq!(k.version.as_ref().map(|v| v.node.as_str()), Some("1.0"));
    assert_eq!(
        k.auth
            .as_ref()
            .and_then(|a| a.oauth.as_ref())
            .map(|b| b.fields.len()),
        Some(1)
    );
}
