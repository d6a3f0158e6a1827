//! Printer tests: `check(input, expect)` prints a parsed file and asserts the two
//! printer laws on it: printing is idempotent, and the printed text parses back to the
//! same AST (up to spans). Proptests check the laws on generated files and that the
//! parser never panics.

use expect_test::{expect, Expect};
use proptest::prelude::*;
use serde_json::Value;

use super::print;
use crate::syntax::ast::*;
use crate::syntax::parser::parse;
use crate::syntax::parser::tests::{compact, ALL_CONSTRUCTS};

/// The parameters of a few transformations, in order (the CLI passes
/// `functions::param_names`; the printer must not depend on it).
fn params(name: &str) -> Option<Vec<&'static str>> {
    match name {
        "truncate" => Some(vec!["maxLength"]),
        "replace" => Some(vec!["search", "replacement"]),
        "round" => Some(vec!["decimals"]),
        _ => None,
    }
}

/// Asserts the printer laws on `text`, which must parse cleanly; returns the print.
fn laws(text: &str, with_params: bool) -> String {
    let p: Option<crate::syntax::ParamNames<'_>> = if with_params { Some(&params) } else { None };
    let (doc, diags) = parse(0, text);
    assert_eq!(diags, vec![], "input does not parse:\n{text}");
    let printed = print(&doc, p);
    let (again, diags) = parse(0, &printed);
    assert_eq!(diags, vec![], "printed text does not parse:\n{printed}");
    assert_eq!(print(&again, p), printed, "printing is not idempotent");
    if !with_params {
        // Comments are re-attached, so only their text and kind must survive.
        let items = |d: &Document| compact(&d.items);
        assert_eq!(
            items(&again),
            items(&doc),
            "the printed text means something else:\n{printed}"
        );
        let texts = |d: &Document| {
            d.comments
                .iter()
                .map(|c| c.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&again), texts(&doc));
    }
    printed
}

fn check(input: &str, expect: Expect) {
    expect.assert_eq(&laws(input, false));
}

fn check_params(input: &str, expect: Expect) {
    expect.assert_eq(&laws(input, true));
}

#[test]
fn language_reference_example() {
    let text = include_str!("../../../docs/language.md");
    let example = text
        .split("```cmap\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_default();
    check(
        example,
        expect![[r#"
            // Salesforce contacts into c_contact.
            schema sf-contact-to-contact "Salesforce Contact to Contact" {
              source salesforce.Contact where IsDeleted == false
              target c_contact { create_if_missing, update_if_exists }
              dedupe external_id(Id)

              email! = Email validate email
              name = "${FirstName} ${LastName}"
              phone = Phone | replace(" ", "")
              street = MailingAddress.street
              source = "salesforce"

              test "maps a contact" {
                input {
                  Id: "003A"
                  IsDeleted: false
                  FirstName: "Ada"
                  LastName: "Lovelace"
                  Email: "ada@example.com"
                  Phone: "+1 555 0100"
                  MailingAddress: { street: "1 Main St" }
                }
                expect {
                  email: "ada@example.com"
                  name: "Ada Lovelace"
                  phone: "+15550100"
                  street: "1 Main St"
                  source: "salesforce"
                }
              }
            }

            task sf-contact-daily "Salesforce Contacts - Daily" {
              schema sf-contact-to-contact
              direction pull
              schedule cron "0 2 * * *" in "America/New_York"
            }
        "#]],
    );
}

#[test]
fn every_construct() {
    check(
        ALL_CONSTRUCTS,
        expect![[r#"
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
                "Prospecting" => "lead"
                "Qualification" => "qualified"
                in ["Negotiation", "Review"] => "negotiation"
                _ => "lead"
              }
              tier = when {
                Amount >= 100000 => "enterprise"
                Industry == "Banking" => "finance"
                Email exists => Email | lowercase
                Phone not exists => Mobile
                _ => "other"
              }
              companyId -> belongs_to c_company by external_id(AccountId)
              ownerId -> belongs_to c_user by id(OwnerId)

              lookup countries {
                "US" => "United States"
                "FR" => "France"
              }

              test "a closed deal" {
                input { Id: "006A", StageName: "Closed Won", Amount: 5000 }
                task { industry: "banking" } // optional task config
                expect { name: null, stage: "won", value: 5000 }
                expect external_id "006A"
                expect relationships [{ targetField: "companyId" }]
              }

              test "deleted contacts are skipped" {
                input { IsDeleted: true }
                expect skipped
              }

              test "email is required" {
                input { Id: "1" }
                expect failed email
              }

              test "fails" {
                input {}
                expect failed
              }
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

            task t-manual {
              schedule manual
            }

            task t-realtime {
              schedule realtime "https://hook" token "secret"
            }

            task t-realtime2 {
              schedule realtime
            }

            task t-realtime3 {
              schedule realtime token env("HOOK_TOKEN")
            }

            task t-realtime4 {
              schedule realtime "https://hook" token stored
            }

            task t-cron {
              schedule cron "0 2 * * *"
            }

            task t-connection {
              schema sf-opportunity
              connection sf-prod
            }

            connection sf-prod "Salesforce (production)" {
              integration salesforce
              scope tenant
              tenant "acme"
              auth oauth2 {
                clientId: "3MVG9..."
                clientSecret: env("SF_CLIENT_SECRET")
                refreshToken: stored
                "token url": "https://login.salesforce.com/services/oauth2/token"
              }
              settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: "59.0" }
              meta { status: "active", createdBy: "admin" }
            }

            connection news "Google News" {
              integration google-news
              scope system
              auth none
            }

            connection empty-auth {
              integration files
              auth none
            }

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
        "#]],
    );
}

#[test]
fn canonical_spelling() {
    check(
        r#"schema   s{source X where A eq 1 and B not_in [1,2] and C   not   exists
target t dedupe external_id( Id )
a=X|trim() b = "x"    c=   task.region
d = match F { == "a" => 1, _ => 2 }
}"#,
        expect![[r#"
            schema s {
              source X where A == 1 and B not in [1, 2] and C not exists
              target t
              dedupe external_id(Id)

              a = X | trim
              b = "x"
              c = task.region
              d = match F {
                "a" => 1
                _ => 2
              }
            }
        "#]],
    );
}

#[test]
fn comments_stay_where_they_were() {
    check(
        r#"// file header

// before the schema
schema s { // after the head
  // before target
  target t // after target
  a = X
  // between mappings
  b = match F {
    // before an arm
    "x" => 1 // after an arm
    // end of the match
  }
  // end of the schema
}
// before the task
task t {
  schedule manual
}
// end of file
"#,
        expect![[r#"
            // file header

            // before the schema
            schema s { // after the head
              // before target
              target t // after target

              a = X
              // between mappings
              b = match F {
                // before an arm
                "x" => 1 // after an arm
                // end of the match
              }
              // end of the schema
            }

            // before the task
            task t {
              schedule manual
            }

            // end of file
        "#]],
    );
}

#[test]
fn connections_print_canonically_with_their_comments() {
    check(
        r#"// Salesforce production.
connection sf-prod "Salesforce (production)" { integration salesforce
  scope tenant                 // system | tenant (default tenant)
  tenant "acme"
  auth oauth2 { // the refresh token is set once
    clientId: "3MVG9...", clientSecret: env("SF_CLIENT_SECRET")
    // kept encrypted in the data directory
    refreshToken: stored, "token url": "https://login.salesforce.com/services/oauth2/token",
    // end of the credentials
  }
  settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: "59.0", limits: { pageSize: 2000, maxPages: 10000 } }
  meta { status: "active" }
}
connection news "Google News" { integration google-news  scope system  auth none }
connection files { integration files auth none { // nothing to say
} }
task sf-contact-daily { schema sf-contact-to-contact  connection sf-prod  schedule cron "0 2 * * *" }
"#,
        expect![[r#"
            // Salesforce production.
            connection sf-prod "Salesforce (production)" {
              integration salesforce
              scope tenant // system | tenant (default tenant)
              tenant "acme"
              auth oauth2 { // the refresh token is set once
                clientId: "3MVG9..."
                clientSecret: env("SF_CLIENT_SECRET")
                // kept encrypted in the data directory
                refreshToken: stored
                "token url": "https://login.salesforce.com/services/oauth2/token"
                // end of the credentials
              }
              settings {
                instanceUrl: "https://acme.my.salesforce.com"
                apiVersion: "59.0"
                limits: { pageSize: 2000, maxPages: 10000 }
              }
              meta { status: "active" }
            }

            connection news "Google News" {
              integration google-news
              scope system
              auth none
            }

            connection files {
              integration files
              auth none // nothing to say
            }

            task sf-contact-daily {
              schema sf-contact-to-contact
              connection sf-prod
              schedule cron "0 2 * * *"
            }
        "#]],
    );
}

#[test]
fn named_arguments_print_positionally_with_params() {
    check_params(
        r#"schema s {
  a = X | truncate(maxLength: 100)
  b = X | replace(search: " ", replacement: "")
  c = X | replace(" ", replacement: "")
  d = X | replace(replacement: "", search: " ")
  e = X | round(places: 2)
  f = X | unknown(a: 1)
}"#,
        expect![[r#"
            schema s {
              a = X | truncate(100)
              b = X | replace(" ", "")
              c = X | replace(" ", "")
              d = X | replace(replacement: "", search: " ")
              e = X | round(places: 2)
              f = X | unknown(a: 1)
            }
        "#]],
    );
    // Without parameter names, arguments print as written.
    check(
        "schema s {\n  a = X | truncate(maxLength: 100)\n}",
        expect![[r#"
            schema s {
              a = X | truncate(maxLength: 100)
            }
        "#]],
    );
}

#[test]
fn long_literals_break_per_entry() {
    check(
        r#"task t {
  config { industry: "banking", region: "emea", keywords: ["merger", "acquisition", "ipo", "bankruptcy"], limit: 50 }
}
rates USD { EUR: 0.92, GBP: 0.79, JPY: 151.2, CHF: 0.88, CAD: 1.36, AUD: 1.52, NZD: 1.65, SEK: 10.4, NOK: 10.6 }"#,
        expect![[r#"
            task t {
              config {
                industry: "banking"
                region: "emea"
                keywords: ["merger", "acquisition", "ipo", "bankruptcy"]
                limit: 50
              }
            }

            rates USD {
              EUR: 0.92
              GBP: 0.79
              JPY: 151.2
              CHF: 0.88
              CAD: 1.36
              AUD: 1.52
              NZD: 1.65
              SEK: 10.4
              NOK: 10.6
            }
        "#]],
    );
}

/// An AST built by hand (as the seed-JSON reader builds it) prints as `.cmap` that
/// reads back to the same AST.
#[test]
fn hand_built_ast() {
    let n = |s: &str| Name::new(s.to_string(), Span::default());
    let lit = |v: Value| Literal::new(v, Span::default());
    let mapping = |target: &str, expr: MappingExpr| {
        MappingItem::Field(FieldMapping {
            span: Span::default(),
            id: None,
            target: n(target),
            required: None,
            expr,
            validation: vec![],
        })
    };
    let schema = Schema {
        span: Span::default(),
        id: n("s"),
        name: None,
        description: None,
        source: None,
        target: None,
        dedupe: None,
        active: None,
        body: vec![
            mapping(
                "a",
                MappingExpr::Direct {
                    field: n("Account.Name"),
                },
            ),
            mapping("b", MappingExpr::Direct { field: n("true") }),
            mapping(
                "c",
                MappingExpr::Default {
                    value: lit(Value::String("cost ${x}".into())),
                },
            ),
            mapping(
                "d",
                MappingExpr::Default {
                    value: lit(Value::String("{{task.region}}".into())),
                },
            ),
            mapping(
                "e",
                MappingExpr::Flatten {
                    field: n("Meta"),
                    path: n("$.owner['a.b']"),
                },
            ),
            mapping(
                "f",
                MappingExpr::Flatten {
                    field: n("task"),
                    path: n("x"),
                },
            ),
            mapping(
                "g",
                MappingExpr::Transform {
                    field: n("Odd Key"),
                    steps: vec![],
                },
            ),
            mapping(
                "h",
                MappingExpr::Flatten {
                    field: n("items"),
                    path: n("[0].name"),
                },
            ),
            mapping("odd target", MappingExpr::Direct { field: n("x") }),
        ],
        lookups: vec![],
        tests: vec![],
        meta: vec![],
    };
    let doc = Document {
        items: vec![Item::Schema(schema)],
        comments: vec![],
    };
    let printed = print(&doc, None);
    expect![[r#"
        schema s {
          a = `Account.Name`
          b = `true`
          c = "cost \${x}"
          d = task.region
          e = flatten(Meta, "$.owner['a.b']")
          f = `task`.x
          g = `Odd Key`
          h = items[0].name
          `odd target` = x
        }
    "#]]
    .assert_eq(&printed);
    let (back, diags) = parse(0, &printed);
    assert!(diags.is_empty());
    let Some(Item::Schema(s)) = back.items.first() else {
        panic!("no schema")
    };
    let exprs: Vec<String> = s
        .body
        .iter()
        .map(|m| match m {
            MappingItem::Field(f) => compact(&f.expr),
            MappingItem::Relationship(r) => compact(r),
        })
        .collect();
    // `g` (a transform without steps) reads back as the direct mapping it means.
    expect![[r#"
        Direct { field: "Account.Name" }
        Direct { field: "true" }
        Default { value: String("cost ${x}") }
        Default { value: String("{{task.region}}") }
        Flatten { field: "Meta", path: "$.owner['a.b']" }
        Flatten { field: "task", path: "x" }
        Direct { field: "Odd Key" }
        Flatten { field: "items", path: "[0].name" }
        Direct { field: "x" }"#]]
    .assert_eq(&exprs.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z_][A-Za-z0-9_]{0,6}(-[a-z]{1,3})?",
        1 => prop::sample::select(vec![
            "true", "null", "task", "match", "when", "lookup", "join", "flatten", "in", "not", "and", "where",
            "else", "shard", "validate", "source", "target", "test", "expect", "input", "exists", "_", "by", "id",
        ])
        .prop_map(str::to_string),
    ]
}

fn string() -> impl Strategy<Value = String> {
    "([a-z ]|\\$|\\{|\\}|\"|\\\\|é|\n|\t){0,10}"
        .prop_map(|s| serde_json::to_string(&s).unwrap_or_default())
}

fn literal() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i32>().prop_map(|i| i.to_string()),
        (-1000.0f64..1000.0).prop_map(|f| format!("{f:.3}")),
        string(),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop_oneof![ident(), string()], inner), 0..4).prop_map(|v| {
                let entries: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{ {} }}", entries.join(", "))
            }),
        ]
    })
}

fn path() -> impl Strategy<Value = String> {
    (
        ident(),
        prop::collection::vec(
            prop_oneof![
                ident().prop_map(|i| format!(".{i}")),
                (0u8..9).prop_map(|i| format!("[{i}]"))
            ],
            0..3,
        ),
    )
        .prop_map(|(head, rest)| format!("`{head}`{}", rest.concat()))
}

fn transformation() -> impl Strategy<Value = String> {
    let arg = (prop::option::of("[a-z][a-zA-Z]{0,5}"), literal());
    ("[a-z][a-z_]{0,6}", prop::collection::vec(arg, 0..3)).prop_map(|(name, mut args)| {
        if args.is_empty() {
            return name;
        }
        // Positional arguments come first.
        args.sort_by_key(|(n, _)| n.is_some());
        let args: Vec<String> = args
            .into_iter()
            .map(|(n, v)| n.map_or(v.clone(), |n| format!("{n}: {v}")))
            .collect();
        format!("{name}({})", args.join(", "))
    })
}

fn condition() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec![
        "==",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "contains",
        "in",
        "not in",
        "starts_with",
    ]);
    prop_oneof![
        (path(), op, literal()).prop_map(|(p, o, v)| format!("{p} {o} {v}")),
        (path(), prop::sample::select(vec!["exists", "not exists"]))
            .prop_map(|(p, o)| format!("{p} {o}")),
    ]
}

fn then() -> impl Strategy<Value = String> {
    prop_oneof![
        literal(),
        path(),
        (path(), prop::collection::vec(transformation(), 1..3))
            .prop_map(|(p, t)| format!("{p} | {}", t.join(" | "))),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    prop_oneof![
        path(),
        literal(),
        "[a-z][a-zA-Z0-9_]{0,6}".prop_map(|k| format!("task.{k}")),
        (path(), prop::collection::vec(transformation(), 1..3))
            .prop_map(|(p, t)| format!("{p} | {}", t.join(" | "))),
        (
            path(),
            prop::collection::vec((literal(), then()), 0..3),
            prop::option::of(literal())
        )
            .prop_map(|(f, arms, d)| {
                let mut s = format!("match {f} {{\n");
                for (v, t) in arms {
                    s.push_str(&format!("  {v} => {t}\n"));
                }
                if let Some(d) = d {
                    s.push_str(&format!("  _ => {d}\n"));
                }
                s + "}"
            }),
        prop::collection::vec((condition(), then()), 1..3).prop_map(|arms| {
            let arms: Vec<String> = arms
                .into_iter()
                .map(|(c, t)| format!("{c} => {t}"))
                .collect();
            format!("when {{ {} }}", arms.join("\n"))
        }),
        (path(), ident(), prop::option::of(literal())).prop_map(|(p, t, d)| {
            format!(
                "lookup {p} in `{t}`{}",
                d.map(|d| format!(" else {d}")).unwrap_or_default()
            )
        }),
        (path(), ident(), prop::option::of(ident())).prop_map(|(p, s, f)| {
            format!(
                "lookup {p} in shard `{s}`{}",
                f.map(|f| format!(".`{f}`")).unwrap_or_default()
            )
        }),
        (
            prop::collection::vec(path(), 1..3),
            prop::option::of(string())
        )
            .prop_map(|(fs, sep)| {
                format!(
                    "join({}{})",
                    fs.join(", "),
                    sep.map(|s| format!(", sep: {s}")).unwrap_or_default()
                )
            }),
        (ident(), string()).prop_map(|(f, p)| format!("flatten(`{f}`, {p})")),
        (ident(), ident()).prop_map(|(a, b)| format!("\"${{{a}}} and ${{{b}}}\"")),
    ]
}

/// A schema with generated mappings and comments.
fn schema() -> impl Strategy<Value = String> {
    let mapping = (
        ident(),
        any::<bool>(),
        expr(),
        prop::option::of("[a-z ]{0,8}"),
        any::<bool>(),
    )
        .prop_map(|(target, required, expr, comment, own_line)| {
            let mapping = format!("`{target}`{} = {expr}", if required { "!" } else { "" });
            match comment {
                Some(c) if own_line => format!("// {c}\n{mapping}"),
                Some(c) => format!("{mapping} // {c}"),
                None => mapping,
            }
        });
    (
        ident(),
        prop::collection::vec(mapping, 0..6),
        prop::option::of(condition()),
    )
        .prop_map(|(id, mappings, filter)| {
            let source = filter
                .map(|f| format!("  source X where {f}\n"))
                .unwrap_or_default();
            format!("schema `{id}` {{\n{source}{}\n}}\n", mappings.join("\n"))
        })
}

/// A connection with generated clauses, credentials and comments.
fn connection() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        string(),
        ident().prop_map(|v| format!("env(\"{v}\")")),
        Just("stored".to_string()),
        literal(),
    ];
    let credential =
        (ident(), value, prop::option::of("[a-z ]{0,8}")).prop_map(|(key, value, comment)| {
            match comment {
                Some(c) => format!("// {c}\n`{key}`: {value}"),
                None => format!("`{key}`: {value}"),
            }
        });
    (
        ident(),
        prop::option::of(string()),
        prop::option::of(ident()),
        prop::option::of(string()),
        ident(),
        prop::collection::vec(credential, 0..4),
        prop::option::of(literal()),
    )
        .prop_map(|(id, name, scope, tenant, kind, creds, settings)| {
            let mut out = format!("connection `{id}` {} {{\n", name.unwrap_or_default());
            out.push_str(&format!("  integration `{id}`\n"));
            if let Some(s) = scope {
                out.push_str(&format!("  scope `{s}`\n"));
            }
            if let Some(t) = tenant {
                out.push_str(&format!("  tenant {t}\n"));
            }
            out.push_str(&format!("  auth `{kind}` {{\n{}\n}}\n", creds.join("\n")));
            if let Some(l) = settings {
                out.push_str(&format!("  settings {l}\n"));
            }
            out.push_str("}\n");
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn printing_generated_connections_obeys_the_laws(text in connection()) {
        laws(&text, false);
    }

    #[test]
    fn printing_generated_files_obeys_the_laws(text in schema()) {
        laws(&text, false);
    }

    #[test]
    fn parse_never_panics_on_anything(text in "\\PC{0,200}") {
        let _ = parse(0, &text);
    }

    #[test]
    fn parse_never_panics_on_mutated_files(
        at in 0usize..ALL_CONSTRUCTS.len(),
        cut in 0usize..40,
        insert in prop::sample::select(vec!["", "{", "}", "(", ")", "\"", "`", "//", "\n", "=", "==", "|", "=>", "->", "é", "schema x {", "'"]),
    ) {
        let mut text = ALL_CONSTRUCTS.to_string();
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.replace_range(at..end, insert);
        let (doc, _) = parse(0, &text);
        // Whatever was read prints and reads back without panicking either.
        let printed = print(&doc, None);
        let _ = parse(0, &printed);
    }
}
