//! The IR: a checked pipeline, valid by construction.
//!
//! Nothing here can be wrong in a way `check` would report: names are resolved,
//! operators and transformations are known, regexes, formats and scripts compiled,
//! lookup tables attached. The interpreter (`runtime`) runs it without re-checking.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use super::config::{Settings, Source, TaskConfig};
pub use super::path::{Path, Segment};
use crate::functions::Transform;
use crate::object_shape::ObjectShape;

/// Everything a set of pipeline files declares, checked.
#[derive(Debug, Default)]
pub struct Program {
    /// In declaration order; ids are unique.
    pub schemas: Vec<Arc<Schema>>,
    pub tasks: Vec<Arc<Task>>,
    pub connections: Vec<Arc<Connection>>,
    /// The integration catalogue's definitions (stdlib/ and the checked files).
    pub integrations: Vec<Arc<IntegrationDefinition>>,
}

impl Program {
    pub fn schema(&self, id: &str) -> Option<&Arc<Schema>> {
        self.schemas.iter().find(|s| s.id == id)
    }
    pub fn task(&self, id: &str) -> Option<&Arc<Task>> {
        self.tasks.iter().find(|t| t.id == id)
    }
    pub fn connection(&self, id: &str) -> Option<&Arc<Connection>> {
        self.connections.iter().find(|c| c.id == id)
    }
    pub fn integration(&self, id: &str) -> Option<&Arc<IntegrationDefinition>> {
        self.integrations.iter().find(|i| i.id == id)
    }
}

#[derive(Debug)]
pub struct Schema {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The integration (`salesforce`), when the source names one.
    pub integration: Option<String>,
    pub entity: String,
    /// ANDed; a record failing one is skipped, not failed.
    pub filters: Vec<Condition>,
    pub target: Target,
    pub dedupe: Dedupe,
    pub fields: Fields,
    pub relationships: Vec<Relationship>,
    pub active: bool,
    pub tests: Vec<Test>,
    /// The top-level source keys anything in the schema reads, so the input reader can
    /// skip the rest of each record unparsed. `None`: the schema needs whole records
    /// (a `custom` script reads `record`).
    pub reads: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub shard_type: String,
    pub create_if_missing: bool,
    pub update_if_exists: bool,
    pub delete_if_removed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DedupeStrategy {
    ExternalId,
    FieldMatch,
    Composite,
}

impl DedupeStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            DedupeStrategy::ExternalId => "external_id",
            DedupeStrategy::FieldMatch => "field_match",
            DedupeStrategy::Composite => "composite",
        }
    }
}

/// How each output gets its `externalId`: the value of the one field (external_id), or
/// the match fields' values joined with `|` (field_match, composite). A record whose key
/// is missing fails.
#[derive(Debug)]
pub struct Dedupe {
    pub strategy: DedupeStrategy,
    /// Source paths (never empty).
    pub fields: Vec<Path>,
}

/// A schema's field mappings, in order, with the shape of the `structuredData` they map
/// a record to: one key per mapping's target, in mapping order. Built together, so they
/// always agree; the runtime builds each record's output from the shape without hashing
/// a key (docs/performance.md).
#[derive(Debug, Default)]
pub struct Fields {
    plans: Vec<FieldPlan>,
    output: ObjectShape,
}

impl Fields {
    pub fn new(plans: Vec<FieldPlan>) -> Fields {
        let output = ObjectShape::new(plans.iter().map(|p| p.target.as_str()));
        Fields { plans, output }
    }

    /// The shape of `structuredData`: its n-th key is the n-th mapping's target.
    pub fn output(&self) -> &ObjectShape {
        &self.output
    }
}

impl Deref for Fields {
    type Target = [FieldPlan];

    fn deref(&self) -> &[FieldPlan] {
        &self.plans
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = &'a FieldPlan;
    type IntoIter = std::slice::Iter<'a, FieldPlan>;

    fn into_iter(self) -> Self::IntoIter {
        self.plans.iter()
    }
}

/// One output field.
#[derive(Debug)]
pub struct FieldPlan {
    pub target: String,
    /// The mapping's `id`, when it has one.
    pub mapping_id: Option<String>,
    pub expr: Expr,
    pub required: bool,
    pub validations: Vec<Validation>,
    /// For `--explain`: the mapping in words (`transform Phone | replace | trim`).
    pub describe: String,
}

#[derive(Debug)]
pub enum Expr {
    Direct(Path),
    Transform(Path, Vec<Step>),
    Conditional {
        rules: Vec<Rule>,
        default: Option<Value>,
    },
    /// A default value with no placeholder.
    Value(Value),
    /// A default value whose string has `{{task.KEY}}` placeholders.
    TaskTemplate(Vec<TemplatePart>),
    /// A composite template: `${Field}` placeholders, missing → "".
    Template(Vec<TemplatePart>),
    /// A composite without template: non-empty values joined.
    Join {
        fields: Vec<Path>,
        separator: String,
    },
    LookupTable {
        field: Path,
        table: Arc<HashMap<String, Value>>,
        default: Value,
    },
    LookupShard {
        field: Path,
        shard_type: String,
        return_field: Option<String>,
        default: Value,
    },
    /// `sourceField` then `path` (dot/index or JSONPath, already parsed).
    Flatten {
        field: Path,
        path: Path,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    Lit(String),
    /// `${Field}` in a composite template.
    Field(Path),
    /// `{{task.KEY}}` in a default.
    TaskKey(String),
}

/// A compiled transformation.
#[derive(Debug)]
pub struct Step {
    pub name: &'static str,
    pub transform: Box<dyn Transform>,
}

#[derive(Debug)]
pub struct Rule {
    pub condition: Condition,
    pub then: Then,
}

#[derive(Debug)]
pub enum Then {
    Value(Value),
    Field(Path),
    Transform(Path, Vec<Step>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    StartsWith,
    EndsWith,
    In,
    NotIn,
    Exists,
    NotExists,
}

impl Op {
    pub const ALL: &'static [Op] = &[
        Op::Eq,
        Op::Neq,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Contains,
        Op::StartsWith,
        Op::EndsWith,
        Op::In,
        Op::NotIn,
        Op::Exists,
        Op::NotExists,
    ];
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Exists => "exists",
            Op::NotExists => "not_exists",
        }
    }
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.as_str() == name)
    }
}

/// `{ field, operator, value }`; `value` is an array for `in`/`not_in`, `Null` for
/// `exists`/`not_exists`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub field: Path,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug)]
pub struct Relationship {
    /// `belongs_to`, ...
    pub kind: String,
    pub target: String,
    pub shard_type: String,
    pub by_external_id: bool,
    pub field: Path,
}

#[derive(Debug)]
pub struct Validation {
    pub rule: ValidationRule,
    /// Replaces the generated message when set.
    pub message: Option<String>,
}

#[derive(Debug)]
pub enum ValidationRule {
    Required,
    Pattern(regex::Regex),
    Min(f64),
    Max(f64),
    MinLength(usize),
    MaxLength(usize),
    OneOf(Vec<Value>),
    Email,
    Url,
}

#[derive(Debug)]
pub struct Test {
    pub name: String,
    pub input: Value,
    pub task: Map<String, Value>,
    pub expect: Vec<TestExpect>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestExpect {
    Data(Value),
    ExternalId(Value),
    Relationships(Value),
    Skipped,
    Failed { field: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Pull,
    Push,
    Bidirectional,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    Active,
    Paused,
    Error,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl IntervalUnit {
    /// How many minutes one unit is.
    pub fn minutes(self) -> u64 {
        match self {
            IntervalUnit::Minutes => 1,
            IntervalUnit::Hours => 60,
            IntervalUnit::Days => 24 * 60,
            IntervalUnit::Weeks => 7 * 24 * 60,
        }
    }
}

/// The longest interval schedule, in minutes: 3650 days (about ten years; 521 weeks,
/// 87,600 hours, 5,256,000 minutes). A longer one is refused at check time (E0407), so a
/// next run is always a date cmap can represent and schedule.
pub const MAX_INTERVAL_MINUTES: u64 = 3650 * 24 * 60;

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Manual,
    /// `0 < interval * unit <=` [`MAX_INTERVAL_MINUTES`].
    Interval {
        interval: u64,
        unit: IntervalUnit,
    },
    /// A cron expression that matches at least one day (checked), and an IANA zone.
    Cron {
        cron: CronExpr,
        timezone: chrono_tz::Tz,
    },
    /// Runs on each delivery to `POST /webhooks/TASK`, which must carry the token.
    Realtime {
        /// The spec's `webhookUrl`: where senders post (informational; deliveries go to
        /// `POST /webhooks/TASK` of the server).
        webhook_url: Option<url::Url>,
        /// Where the verification token comes from (never written in the file).
        token: SecretSource,
    },
}

/// The id prefix of the store records that hold realtime tasks' stored tokens (`task:`
/// + the task id). A connection's id may not start with it (`check` refuses one).
pub const TASK_TOKEN_PREFIX: &str = "task:";

/// Where a secret a pipeline names comes from: never its value, which is not written in
/// pipeline files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `env("NAME")`: the environment variable, read by the server when a version of
    /// the pipelines loads.
    Env(String),
    /// `stored`: set with `cmap tokens set` (or `generate`), kept encrypted in the data
    /// directory.
    Stored,
}

/// A standard 5-field cron expression (minute hour day-of-month month day-of-week),
/// parsed once at check time by croner, with the text it was written as (for display).
///
/// Days follow croner's rule, at check time and at run time alike (both ask croner's
/// pattern): when neither day field is `*` (or `?`), a day matches when its day of month
/// or its day of week does (Vixie cron's OR); a `+` before the day-of-week field asks for
/// both (AND). croner also reads `L` (last day of the month; `5L` last Friday), `W`
/// (nearest weekday), `#` (`1#2`: second Monday), month and day names, and the
/// `@daily`-style nicknames.
#[derive(Clone, PartialEq)]
pub struct CronExpr {
    text: String,
    /// Boxed: the pattern is some 300 bytes, and schedules are mostly not crons.
    cron: Box<croner::Cron>,
    /// The hour field is `*` or `*/N` (`@hourly` too): the expression names a frequency,
    /// not times of day, so both passes of an hour repeated by a DST change run.
    every_hour: bool,
}

impl CronExpr {
    /// Parses a 5-field expression (no seconds, no year field).
    pub fn parse(text: &str) -> Result<CronExpr, croner::errors::CronError> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(text)?;
        let mut fields = text.split_whitespace();
        let first = fields.next().unwrap_or_default();
        let every_hour = if first.starts_with('@') {
            first.eq_ignore_ascii_case("@hourly")
        } else {
            fields
                .next()
                .is_some_and(|hour| hour == "*" || hour.starts_with("*/"))
        };
        Ok(CronExpr {
            text: text.to_string(),
            cron: Box::new(cron),
            every_hour,
        })
    }

    /// Whether the hour field is `*` or `*/N` (or `@hourly`): a frequency rather than
    /// times of day (see `serve::schedule` for what that changes across DST).
    pub fn every_hour(&self) -> bool {
        self.every_hour
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed pattern.
    pub fn cron(&self) -> &croner::Cron {
        &self.cron
    }
}

impl std::fmt::Debug for CronExpr {
    /// The text: the parsed pattern is its bit sets, thousands of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CronExpr").field(&self.text).finish()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    pub max_retries: u32,
    pub retry_delay_seconds: u64,
    pub exponential_backoff: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notifications {
    pub on_success: bool,
    pub on_failure: bool,
    pub on_partial: bool,
    /// Email addresses and user ids, checked at check time.
    pub recipients: Vec<Recipient>,
}

#[derive(Debug)]
pub struct Task {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub integration: Option<String>,
    pub schema: Arc<Schema>,
    pub direction: Direction,
    pub schedule: Schedule,
    /// The config, typed at check time: the engine's keys, the connector's, and every
    /// key as written for `{{task.KEY}}`.
    pub config: TaskConfig,
    pub status: TaskStatus,
    /// Absent: no retry (`maxRetries` 0).
    pub retry: RetryConfig,
    pub notifications: Notifications,
    /// The connection it reads through (`connection ID`); `None`: the connection of the
    /// schema's integration, when there is exactly one.
    pub connection: Option<Arc<Connection>>,
    /// The tenant it belongs to, where its executions, shards and deliveries are stored:
    /// its file's folder's (`tenants/ID/`); for a top-level file's task, the tenant of the
    /// tenant-scope connection it reads through, else `default` (docs/serve.md, "Tenants
    /// of pipeline files").
    pub tenant: String,
}

/// The connection a task that names none reads through: among the connections serving
/// `integration` (the source integration of its schema), those of the task's `tenant`
/// (tenant scope; no `tenant` clause is `default`) when there are any, else the
/// `scope system` ones, which serve every tenant. So a tenant's own connection wins over
/// the system one (the AI providers' bring-your-own-key), and one tenant's connection
/// never serves another's task. `tenant: None` (a top-level task, whose tenant comes
/// from its connection): every serving connection. `Err` holds the candidates when
/// there is not exactly one (none: nothing serves it; several: ambiguous, W0707).
/// `Engine::connection_for` and `check` both resolve with this.
pub fn serving_connection<'c>(
    connections: impl IntoIterator<Item = &'c Arc<Connection>>,
    integration: &str,
    tenant: Option<&str>,
) -> Result<&'c Arc<Connection>, Vec<&'c Arc<Connection>>> {
    let serving: Vec<&Arc<Connection>> = connections
        .into_iter()
        .filter(|c| c.integration == integration)
        .collect();
    let candidates = match tenant {
        None => serving,
        Some(t) => {
            let (own, system): (Vec<_>, Vec<_>) = serving
                .into_iter()
                .filter(|c| {
                    c.scope == ConnectionScope::System
                        || c.tenant
                            .as_deref()
                            .unwrap_or(crate::tenant_id::DEFAULT_TENANT)
                            == t
                })
                .partition(|c| c.scope == ConnectionScope::Tenant);
            if own.is_empty() {
                system
            } else {
                own
            }
        }
    };
    match candidates.as_slice() {
        [one] => Ok(*one),
        _ => Err(candidates),
    }
}

/// The spec's IntegrationConnection as a pipeline declares it: which integration, whose,
/// how to authenticate (secret values named, never written), and connector settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub id: String,
    pub name: Option<String>,
    /// The integration (and so the connector): `salesforce`, `hubspot`, `google-news`,
    /// `rss`, `rest`, `files`.
    pub integration: String,
    pub scope: ConnectionScope,
    /// For tenant scope: its folder's tenant (`tenants/ID/`), else its `tenant "ID"`,
    /// else `default`. `None` for system scope.
    pub tenant: Option<String>,
    pub auth: AuthConfig,
    /// Connector settings (`instanceUrl`, `baseUrl`, `path`, ...), typed by its
    /// connector at check time.
    pub settings: Settings,
}

/// A notification recipient (spec: "User IDs or email addresses"), as written, with its
/// mailbox when it is an email address (parsed once, at check time, by the mail library
/// that sends).
#[derive(Clone, Debug, PartialEq)]
pub struct Recipient {
    pub written: String,
    pub email: Option<lettre::message::Mailbox>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionScope {
    System,
    Tenant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// No credentials (public feeds, files).
    None,
    ApiKey,
    Basic,
    OAuth2,
    Custom,
}

impl AuthType {
    /// The spec's name (`none` is cmap's, for public sources).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::ApiKey => "api_key",
            AuthType::Basic => "basic",
            AuthType::OAuth2 => "oauth2",
            AuthType::Custom => "custom",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    pub auth_type: AuthType,
    /// Credential fields (`apiKey`, `username`, `password`, `clientId`, `clientSecret`,
    /// `refreshToken`, `tokenUrl`, ...), in declaration order.
    pub fields: Vec<(String, CredentialValue)>,
}

/// Where a credential's value comes from. Secrets are never written in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialValue {
    /// Written in the file: only for values that are not secret (`clientId`, `tokenUrl`).
    Plain(String),
    /// `env("NAME")`: read from the environment when the connection is used.
    Env(String),
    /// `stored`: set with `cmap connections set`, kept encrypted in the data directory.
    Stored,
}

// ---------------------------------------------------------------------------------------
// The integration catalogue
// ---------------------------------------------------------------------------------------

/// A closed set of spec words (`crm`, `superadmin_only`, ...): each enum knows its
/// spellings, and serialises as them.
macro_rules! spec_words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $(#[serde(rename = $word)] $variant,)*
        }

        impl $name {
            /// Every value, in the spec's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The spec's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word,)* }
            }

            /// The value spelt `word`, exactly.
            pub fn parse(word: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == word)
            }
        }
    };
}

spec_words! {
    /// `IntegrationCategory`.
    IntegrationCategory {
        Crm = "crm",
        Communication = "communication",
        DataSource = "data_source",
        Storage = "storage",
        AiProvider = "ai_provider",
        Custom = "custom",
    }
}

spec_words! {
    /// Who sees a definition (spec "Access Control & Visibility").
    Visibility {
        Public = "public",
        SuperadminOnly = "superadmin_only",
    }
}

spec_words! {
    /// `IntegrationCapability`.
    Capability {
        Read = "read",
        Write = "write",
        Delete = "delete",
        Search = "search",
        Realtime = "realtime",
        Bulk = "bulk",
        Attachments = "attachments",
    }
}

spec_words! {
    /// An entry of `supportedSyncDirections`.
    SyncDirection {
        Pull = "pull",
        Push = "push",
        Bidirectional = "bidirectional",
    }
}

spec_words! {
    /// A definition's `authType` (no `none`: an integration without credentials is
    /// `custom` with no `oauthConfig`, docs/language.md "Integrations").
    IntegrationAuthType {
        OAuth2 = "oauth2",
        ApiKey = "api_key",
        Basic = "basic",
        Custom = "custom",
    }
}

spec_words! {
    /// `connectionScope`: one connection for every tenant, one per tenant, or either.
    IntegrationScope {
        System = "system",
        Tenant = "tenant",
        Both = "both",
    }
}

spec_words! {
    /// A definition's `status`.
    IntegrationStatus {
        Active = "active",
        Beta = "beta",
        Deprecated = "deprecated",
        Disabled = "disabled",
    }
}

/// The spec's IntegrationDefinition ("Integration Types"), checked. Serialises to the
/// spec's JSON shape (camelCase keys, in the spec's order), which the HTTP API returns
/// as is: `requiredPlan` and `oauthConfig` are left out when absent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationDefinition {
    /// Letters, digits, `_` and `-` (it is a URL path segment of the API).
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub category: IntegrationCategory,
    pub icon: String,
    /// `#RGB` or `#RRGGBB`.
    pub color: String,
    pub visibility: Visibility,
    pub is_premium: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_plan: Option<String>,
    /// Distinct, in the order written.
    pub capabilities: Vec<Capability>,
    pub supported_sync_directions: Vec<SyncDirection>,
    pub supports_realtime: bool,
    pub supports_webhooks: bool,
    pub auth_type: IntegrationAuthType,
    /// Present exactly when `auth_type` is `oauth2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_config: Option<OAuthConfig>,
    /// Ids of declared `entity` definitions (`salesforce.Contact`). The spec leaves
    /// `IntegrationEntity` undefined; an entity's id is what a schema's `source` names.
    pub available_entities: Vec<String>,
    pub connection_scope: IntegrationScope,
    pub status: IntegrationStatus,
    /// Like `1.2.3` (two or three numbers, optional `-pre` / `+build`).
    pub version: String,
}

/// The spec's OAuthConfig ("OAuth Flow"). URLs are absolute `https` (plain `http` only
/// to a loopback host). `client_id` and `client_secret` say where the value comes from,
/// never the secret itself; they serialise as a connection's credentials do in seed
/// JSON: `"plain"`, `{ "env": "VAR" }` or `{ "stored": true }`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConfig {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<String>,
    /// Each without whitespace (the wire form joins them with spaces).
    pub scopes: Vec<String>,
    pub client_id: CredentialValue,
    /// Never [`CredentialValue::Plain`]: a written secret does not check (E0701).
    pub client_secret: CredentialValue,
    /// Absent: the server derives it from its public URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    pub pkce: bool,
}

impl serde::Serialize for CredentialValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            CredentialValue::Plain(v) => serializer.serialize_str(v),
            CredentialValue::Env(var) => {
                let mut m = serializer.serialize_map(Some(1))?;
                m.serialize_entry("env", var)?;
                m.end()
            }
            CredentialValue::Stored => {
                let mut m = serializer.serialize_map(Some(1))?;
                m.serialize_entry("stored", &true)?;
                m.end()
            }
        }
    }
}
