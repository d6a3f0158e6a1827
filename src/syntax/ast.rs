//! The AST: what a `.cmap` file or a seed-JSON document says, with spans.
//!
//! The AST may hold errors (an unknown operator, a string where a number belongs,
//! a clause written twice); `compile` reports them all and lowers what is valid to the
//! IR. Both front ends (`parser` for `.cmap`, `json` for seed JSON) produce this one
//! AST, and both printers (`printer` for `.cmap`, `json::encode` for seed JSON) read it,
//! which is what makes `.cmap ⇄ JSON` lossless.
//!
//! Names follow the spec's TypeScript model (`integrations-spec.md`); a field's doc says
//! which spec key it carries.

use serde_json::Value;

// Spans live in the leaf module `crate::span` (diagnostics need them without knowing
// the AST); they stay reachable here, where the front ends and `compile` name them.
pub use crate::span::{FileId, Span};

/// A node with the span it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

pub type Name = Spanned<String>;
/// A JSON literal (`"a"`, `1.5`, `true`, `null`, `[..]`, `{..}`) with its span.
pub type Literal = Spanned<Value>;

/// A JSON literal that keeps the span of every key and of every nested value: a
/// connection's `settings` and a task's `config`, which `compile` checks key by key, so
/// that a diagnostic points at the offending key or value (in `.cmap` and in seed JSON
/// alike) rather than at the whole object.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    pub span: Span,
    pub node: TreeNode,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TreeNode {
    /// `null`, a boolean, a number or a string.
    Scalar(Value),
    Array(Vec<Tree>),
    /// Entries in source order. A key written twice in `.cmap` is kept twice (`compile`
    /// reports it); seed JSON has already kept the last of the two (and said so).
    Object(Vec<(Name, Tree)>),
}

impl Tree {
    /// The plain value (a key given twice keeps its last value, as JSON readers do).
    pub fn to_value(&self) -> Value {
        match &self.node {
            TreeNode::Scalar(v) => v.clone(),
            TreeNode::Array(items) => Value::Array(items.iter().map(Tree::to_value).collect()),
            TreeNode::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.node.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// A tree of `value` whose every part has the span `span` (for values built rather
    /// than read: tests, tools).
    pub fn from_value(value: &Value, span: Span) -> Tree {
        let node = match value {
            Value::Array(items) => {
                TreeNode::Array(items.iter().map(|v| Tree::from_value(v, span)).collect())
            }
            Value::Object(map) => TreeNode::Object(
                map.iter()
                    .map(|(k, v)| (Name::new(k.clone(), span), Tree::from_value(v, span)))
                    .collect(),
            ),
            scalar => TreeNode::Scalar(scalar.clone()),
        };
        Tree { span, node }
    }

    /// The entries, when this is an object.
    pub fn entries(&self) -> Option<&[(Name, Tree)]> {
        match &self.node {
            TreeNode::Object(entries) => Some(entries),
            _ => None,
        }
    }
}

/// One parsed file: its items in source order, and its comments (kept by `fmt`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
}

/// A `//` comment. `fmt` re-attaches each comment to the node that follows it, or to the
/// end of the line it trails.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub span: Span,
    /// The text after `//`, as written.
    pub text: String,
    /// True when code precedes the comment on its line (`email = Email // why`): `fmt`
    /// keeps it at the end of that line instead of on a line of its own.
    pub trailing: bool,
    /// An own-line comment with a blank line above it (and something before that):
    /// `fmt` keeps the blank line, so comment paragraphs stay apart.
    pub blank_before: bool,
    /// An own-line comment followed by a blank line: `fmt` keeps it detached from the
    /// node below.
    pub blank_after: bool,
}

// A schema is much larger than a rates table, but documents are built once per file and
// walked a few times: boxing would cost more code than the memory it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Schema(Schema),
    Task(Task),
    /// An IntegrationConnection (`connection ID { .. }`).
    Connection(Connection),
    /// An IntegrationDefinition of the catalogue (`integration ID { .. }`).
    Integration(Integration),
    /// A top-level lookup table, usable by every schema of the pipeline.
    Lookup(LookupTable),
    /// A currency rate table (`rates USD { EUR: 0.92 }`); later tables override earlier ones.
    Rates(RateTable),
    /// `shardtype c_contact { .. }` or `entity salesforce.Contact { .. }` (stdlib/).
    Type(TypeDef),
}

// ---------------------------------------------------------------------------------------
// Conversion schemas
// ---------------------------------------------------------------------------------------

/// A ConversionSchema. `.cmap`: `schema ID "Name" { .. }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub span: Span,
    /// `id`.
    pub id: Name,
    /// `name` (display name).
    pub name: Option<Name>,
    /// `description`.
    pub description: Option<Name>,
    /// `source`: entity, optional integration (= spec `tenantIntegrationId`) and filters.
    pub source: Option<Source>,
    /// `target`.
    pub target: Option<Target>,
    /// `deduplication`.
    pub dedupe: Option<Dedupe>,
    /// `isActive` (absent means true). `.cmap`: `inactive`.
    pub active: Option<Spanned<bool>>,
    /// `fieldMappings` and `relationshipMappings`, interleaved in source order.
    pub body: Vec<MappingItem>,
    /// Lookup tables local to this schema (seed JSON: `lookupTables`).
    pub lookups: Vec<LookupTable>,
    /// Test cases (seed JSON: `tests`).
    pub tests: Vec<TestCase>,
    /// Keys the model does not interpret but keeps (`createdAt`, `updatedAt`, ...).
    /// `.cmap`: `meta { createdAt: "..." }`.
    pub meta: Vec<(Name, Literal)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub span: Span,
    /// The integration the entity belongs to (`salesforce` in `salesforce.Contact`);
    /// seed JSON: the schema's `tenantIntegrationId`.
    pub integration: Option<Name>,
    /// `source.entity`.
    pub entity: Name,
    /// `source.filters`, ANDed. `.cmap`: `where A == 1 and B exists`.
    pub filters: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub span: Span,
    /// `target.shardTypeId`.
    pub shard_type: Name,
    /// The flags written in braces: `create_if_missing`, `update_if_exists`,
    /// `delete_if_removed` (true when listed). `None` (no braces) means the defaults:
    /// create and update, no delete.
    pub flags: Option<Vec<Name>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dedupe {
    pub span: Span,
    /// `external_id`, `field_match` or `composite` (unknown names are kept for diagnostics).
    pub strategy: Name,
    /// `externalIdField` for external_id, `matchFields` otherwise.
    pub fields: Vec<Name>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MappingItem {
    Field(FieldMapping),
    Relationship(RelationshipMapping),
}

/// A FieldMapping. `.cmap`: `target! = expr validate rule, rule`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldMapping {
    pub span: Span,
    /// The optional mapping `id` (`.cmap`: `@id("m1")` before the mapping).
    pub id: Option<Name>,
    /// `targetField`.
    pub target: Name,
    /// `required: true` (`.cmap`: `!` after the target); the span of the marker.
    pub required: Option<Span>,
    pub expr: MappingExpr,
    /// `validation`.
    pub validation: Vec<Validation>,
}

/// A field mapping's `config`, one variant per spec `mappingType`.
#[derive(Clone, Debug, PartialEq)]
pub enum MappingExpr {
    /// `email = Email`.
    Direct { field: Name },
    /// `phone = Phone | replace(" ", "") | trim`.
    Transform {
        field: Name,
        steps: Vec<Transformation>,
    },
    /// `match F { .. }` or `when { .. }`.
    Conditional(Conditional),
    /// `source = "salesforce"`, `industry = task.industry` (value `"{{task.industry}}"`).
    Default { value: Literal },
    /// `name = "${FirstName} ${LastName}"` or `join(A, B, sep: ", ")`.
    Composite(Composite),
    /// `lookup Code in countries else "?"`, `lookup AccountId in shard c_company.name`.
    Lookup(Lookup),
    /// `street = MailingAddress.street`, `flatten(Meta, "$.owner.name")`.
    Flatten { field: Name, path: Name },
    /// A mapping type this model does not know (seed JSON `mappingType: "lookups"`);
    /// kept so `compile` can report it with a suggestion.
    Unknown { mapping_type: Name },
}

/// A Transformation: `name(positional, key: value)`. Seed JSON always names its
/// arguments (`config` keys); `.cmap` may pass them by position, in the order of the
/// function's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Transformation {
    pub span: Span,
    pub name: Name,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `None` for a positional argument.
    pub name: Option<Name>,
    pub value: Literal,
}

/// How a conditional was written; both lower to the same ConversionRule list.
#[derive(Clone, Debug, PartialEq)]
pub enum CondStyle {
    /// `match Field { "a" => .. }`: every rule tests this field.
    Match { field: Name },
    /// `when { A == 1 => .. }`.
    When,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conditional {
    pub span: Span,
    pub style: CondStyle,
    /// Rules and the catch-all, in source order (an arm after `_` is unreachable and
    /// reported, so the order is kept).
    pub arms: Vec<Arm>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arm {
    /// `condition` + `then`.
    Rule {
        span: Span,
        condition: Condition,
        then: Then,
    },
    /// `_ => value` (`.cmap`) / `default` (seed JSON).
    Default { span: Span, value: Literal },
}

/// A condition or source filter: `{ field, operator, value }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub span: Span,
    pub field: Name,
    /// Spec operator name (`eq`, `not_in`, ...); `.cmap` symbols are normalised to these
    /// (`==` → `eq`, `not in` → `not_in`). Unknown names are kept for diagnostics.
    pub op: Name,
    /// Absent for `exists` / `not_exists`.
    pub value: Option<Literal>,
}

/// A rule's `then`.
#[derive(Clone, Debug, PartialEq)]
pub enum Then {
    /// `type: 'value'`.
    Value(Literal),
    /// `type: 'field'`.
    Field(Name),
    /// `type: 'transform'`.
    Transform {
        field: Name,
        steps: Vec<Transformation>,
    },
}

/// A composite mapping. With a template, the template decides and `fields` are the
/// placeholders it names; without one, the non-empty values of `fields` are joined.
#[derive(Clone, Debug, PartialEq)]
pub struct Composite {
    pub span: Span,
    /// `sourceFields`.
    pub fields: Vec<Name>,
    /// `separator` (default a single space).
    pub separator: Option<Name>,
    /// `template`.
    pub template: Option<Name>,
}

/// A lookup mapping (not modelled by the spec; seed JSON:
/// `{ type: 'lookup', sourceField, table }` or
/// `{ type: 'lookup', sourceField, shardTypeId, returnField?, byExternalId }`, plus `default?`).
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    pub span: Span,
    pub field: Name,
    pub from: LookupFrom,
    /// The value when the key is missing (absent: null).
    pub default: Option<Literal>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LookupFrom {
    /// A lookup table declared in the pipeline.
    Table(Name),
    /// Another shard, by external id; `return_field` absent means the shard's id.
    Shard {
        shard_type: Name,
        return_field: Option<Name>,
    },
}

/// A RelationshipMapping. `.cmap`: `companyId -> belongs_to c_company by external_id(AccountId)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationshipMapping {
    pub span: Span,
    /// `targetField`.
    pub target: Name,
    /// `relationshipType`.
    pub kind: Name,
    /// `lookupShardType`.
    pub shard_type: Name,
    /// `lookupByExternalId` (`by external_id(F)`; `by id(F)` is false).
    pub by_external_id: bool,
    /// `sourceField`.
    pub field: Name,
}

/// A ValidationRule (the spec leaves its shape open): `{ type, value?, message? }`.
/// `.cmap`: `validate email, max_length(254), pattern("^\\+", message: "...")`.
#[derive(Clone, Debug, PartialEq)]
pub struct Validation {
    pub span: Span,
    pub rule: Name,
    pub value: Option<Literal>,
    pub message: Option<Name>,
}

/// `lookup ID { "key" => value, .. }`. Seed JSON: `lookupTables: { ID: { key: value } }`.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupTable {
    pub span: Span,
    pub id: Name,
    pub entries: Vec<(Name, Literal)>,
}

/// `rates USD { EUR: 0.92, GBP: 0.79 }`: one unit of `base` buys `rate` of each currency.
#[derive(Clone, Debug, PartialEq)]
pub struct RateTable {
    pub span: Span,
    pub base: Name,
    pub rates: Vec<(Name, Literal)>,
}

/// `test "name" { input {..} task {..} expect {..} }` inside a schema.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub span: Span,
    pub name: Name,
    /// The source record.
    pub input: Option<Literal>,
    /// Task config for `{{task.x}}` and `task` in custom scripts.
    pub task: Option<Literal>,
    pub expect: Vec<Expect>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// `expect { .. }`: the exact structuredData.
    Data(Literal),
    /// `expect external_id "003A"`.
    ExternalId(Literal),
    /// `expect relationships [ {..} ]`.
    Relationships(Literal),
    /// `expect skipped`: a source filter drops the record.
    Skipped(Span),
    /// `expect failed` / `expect failed email`: the record fails (on that target field).
    Failed { span: Span, field: Option<Name> },
}

// ---------------------------------------------------------------------------------------
// Sync tasks
// ---------------------------------------------------------------------------------------

/// A SyncTask. `.cmap`: `task ID "Name" { .. }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub span: Span,
    pub id: Name,
    pub name: Option<Name>,
    pub description: Option<Name>,
    /// `tenantIntegrationId`.
    pub integration: Option<Name>,
    /// `conversionSchemaId`.
    pub schema: Option<Name>,
    /// The connection it reads through (`.cmap`: `connection ID`; seed JSON: the
    /// extension key `connectionId`).
    pub connection: Option<Name>,
    /// `pull`, `push` or `bidirectional`.
    pub direction: Option<Name>,
    pub schedule: Option<Schedule>,
    /// `config` (an object; a tree, so each key keeps its span).
    pub config: Option<Tree>,
    /// `active`, `paused`, `error`, `disabled` (absent: active).
    pub status: Option<Name>,
    pub retry: Option<Retry>,
    pub notify: Option<Notify>,
    /// Kept, uninterpreted keys (`createdBy`, `stats`, `lastRunAt`, ...).
    pub meta: Vec<(Name, Literal)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// `schedule manual`.
    Manual { span: Span },
    /// `schedule every 15 minutes`. `interval` is a literal so a wrongly typed seed value
    /// can be reported.
    Interval {
        span: Span,
        interval: Literal,
        unit: Name,
    },
    /// `schedule cron "0 2 * * *" in "America/New_York"`.
    Cron {
        span: Span,
        expression: Name,
        timezone: Option<Name>,
    },
    /// `schedule realtime "https://.." token env("VAR")` (`verificationToken`). The
    /// token is a secret, named like a connection's credentials: `env("VAR")` or
    /// `stored`; a literal is kept so that `compile` can refuse it (E0701).
    Realtime {
        span: Span,
        webhook_url: Option<Name>,
        token: Option<Credential>,
    },
    /// A schedule type this model does not know (seed JSON), kept for diagnostics.
    Unknown { span: Span, kind: Name },
}

/// `retry 3 times every 300s exponential`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub span: Span,
    pub max_retries: Literal,
    pub delay_seconds: Literal,
    pub exponential: Option<Spanned<bool>>,
}

/// `notify on failure, partial -> "admin@tenant.com"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Notify {
    pub span: Span,
    /// `success`, `failure`, `partial`.
    pub events: Vec<Name>,
    pub recipients: Vec<Name>,
}

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

/// An IntegrationConnection. `.cmap`: `connection ID "Display name" { .. }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub span: Span,
    /// `id`.
    pub id: Name,
    /// `displayName`.
    pub name: Option<Name>,
    /// `integrationId`.
    pub integration: Option<Name>,
    /// `scope`: `system` or `tenant` (absent: tenant; unknown words kept for diagnostics).
    pub scope: Option<Name>,
    /// `tenantId`.
    pub tenant: Option<Name>,
    /// `authType` and `credentials`.
    pub auth: Option<Auth>,
    /// Connector settings (seed JSON: the extension key `settings`); a tree, so a
    /// wrongly typed value is reported and each key keeps its span.
    pub settings: Option<Tree>,
    /// Kept, uninterpreted keys (`status`, `createdBy`, `createdAt`, ...).
    pub meta: Vec<(Name, Literal)>,
}

/// `auth oauth2 { clientId: "..", clientSecret: env("..") }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    pub span: Span,
    /// `none`, `api_key`, `basic`, `oauth2`, `custom` (unknown words kept).
    pub kind: Name,
    /// Credential fields in source order (a key given twice is kept for diagnostics).
    pub fields: Vec<(Name, Credential)>,
}

/// Where a credential's value comes from, as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Credential {
    /// A literal written in the file (only a string is valid, and only for values that
    /// are not secret: `compile` reports the rest).
    Plain(Literal),
    /// `env("VAR")` / `{ "env": "VAR" }`: the variable's name.
    Env { span: Span, var: Name },
    /// `stored` / `{ "stored": true }`: set with `cmap connections set`.
    Stored(Span),
}

impl Credential {
    pub fn span(&self) -> Span {
        match self {
            Credential::Plain(l) => l.span,
            Credential::Env { span, .. } | Credential::Stored(span) => *span,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Integration definitions (the catalogue)
// ---------------------------------------------------------------------------------------

/// An IntegrationDefinition (spec "Integration Types"). `.cmap`:
/// `integration ID "Display name" { category crm .. auth oauth2 { .. } }`.
///
/// Every clause is optional here: `compile` reports the missing required ones, wrong
/// values and wrong types. Values the spec types as booleans are kept as literals so that
/// a wrongly typed one (`premium "yes"`) reaches `compile`, as in seed JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Integration {
    pub span: Span,
    /// `id`.
    pub id: Name,
    /// `displayName`.
    pub display_name: Option<Name>,
    /// `name` (absent: the id).
    pub name: Option<Name>,
    /// `description`.
    pub description: Option<Name>,
    /// `category` (`crm`, `ai_provider`, ...; unknown words kept for diagnostics).
    pub category: Option<Name>,
    /// `icon`.
    pub icon: Option<Name>,
    /// `color`.
    pub color: Option<Name>,
    /// `visibility`: `public` (absent) or `superadmin_only`.
    pub visibility: Option<Name>,
    /// `isPremium` (absent: false). `.cmap`: `premium true`.
    pub premium: Option<Literal>,
    /// `requiredPlan`. `.cmap`: `plan "enterprise"`.
    pub plan: Option<Name>,
    /// `capabilities` (absent: none).
    pub capabilities: Option<NameList>,
    /// `supportedSyncDirections`. `.cmap`: `directions pull, push`.
    pub directions: Option<NameList>,
    /// `supportsRealtime` (absent: false). `.cmap`: `realtime true`.
    pub realtime: Option<Literal>,
    /// `supportsWebhooks` (absent: false). `.cmap`: `webhooks true`.
    pub webhooks: Option<Literal>,
    /// `authType` and `oauthConfig`. `.cmap`: `auth oauth2 { authorizationUrl: .. }`.
    pub auth: Option<IntegrationAuth>,
    /// `availableEntities`: stdlib `entity` ids (`salesforce.Contact`). `.cmap`:
    /// `entities salesforce.Contact, salesforce.Account`.
    pub entities: Option<NameList>,
    /// `connectionScope`: `system`, `tenant` (absent) or `both`. `.cmap`: `scope both`.
    pub scope: Option<Name>,
    /// `status`: `active` (absent), `beta`, `deprecated` or `disabled`.
    pub status: Option<Name>,
    /// `version` (`"1.0.0"`).
    pub version: Option<Name>,
}

/// The clauses of an `integration` block: the `.cmap` word and the spec key it writes,
/// in the order the printer and the encoder write them (`id` and `displayName` are in
/// the head, `authType` and `oauthConfig` in `auth`).
pub const INTEGRATION_CLAUSES: &[(&str, &str)] = &[
    ("name", "name"),
    ("description", "description"),
    ("category", "category"),
    ("icon", "icon"),
    ("color", "color"),
    ("visibility", "visibility"),
    ("premium", "isPremium"),
    ("plan", "requiredPlan"),
    ("capabilities", "capabilities"),
    ("directions", "supportedSyncDirections"),
    ("realtime", "supportsRealtime"),
    ("webhooks", "supportsWebhooks"),
    ("auth", "authType"),
    ("entities", "availableEntities"),
    ("scope", "connectionScope"),
    ("status", "status"),
    ("version", "version"),
];

/// A list of words (`capabilities read, write`) or, from seed JSON, of strings.
#[derive(Clone, Debug, PartialEq)]
pub struct NameList {
    pub span: Span,
    pub items: Vec<Name>,
}

/// `auth oauth2 { .. }`: the `authType`, and the `oauthConfig` when a block is written
/// (its values are credentials, as a connection writes them: a literal, `env("VAR")` or
/// `stored`; a key given twice is kept for diagnostics).
#[derive(Clone, Debug, PartialEq)]
pub struct IntegrationAuth {
    pub span: Span,
    /// `oauth2`, `api_key`, `basic`, `custom` (unknown words kept).
    pub kind: Name,
    /// `oauthConfig`: `None` when no block is written.
    pub oauth: Option<OAuthBlock>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OAuthBlock {
    pub span: Span,
    pub fields: Vec<(Name, Credential)>,
}

// ---------------------------------------------------------------------------------------
// Type definitions (stdlib/)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeDefKind {
    /// `shardtype c_contact "Contact" { .. }`: a Castiel ShardType (a target).
    ShardType,
    /// `entity salesforce.Contact { .. }`: an external source entity.
    Entity,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeDef {
    pub span: Span,
    pub kind: TypeDefKind,
    /// `c_contact`, or `salesforce.Contact` for an entity.
    pub id: Name,
    pub name: Option<Name>,
    pub fields: Vec<FieldDef>,
}

/// `email: string`, `phone?: string`, `MailingAddress?: { street?: string }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDef {
    pub span: Span,
    pub name: Name,
    pub optional: bool,
    pub ty: TypeExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// `string`, `number`, `integer`, `boolean`, `date`, `object`, `any`.
    Named(Name),
    /// `[string]`.
    Array(Box<TypeExpr>),
    /// `{ a: string, b?: number }`.
    Object(Vec<FieldDef>),
    /// `"positive" | "negative"`.
    Enum(Vec<Name>),
}
