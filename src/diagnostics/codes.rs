//! Every diagnostic code cmap emits, in one list. A code is never reused or renumbered;
//! `docs/diagnostics.md` documents each one and `tests/data/diagnostics/` holds a golden
//! rendering per code.
//!
//! The letter is the severity: `E` codes are errors (the file does not check), `W`
//! codes are warnings (it checks; the output may not be what you meant).

use super::Severity;

macro_rules! codes {
    ($($variant:ident = $code:literal, $title:literal, $explain:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable code, e.g. `E0102`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short title for docs and `--format json`.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// What the code means, for docs/diagnostics.md.
            pub fn explain(self) -> &'static str {
                match self { $(Code::$variant => $explain,)* }
            }
        }
    };
}

codes! {
    // 00xx: reading the file
    Syntax = "E0001", "syntax error", "The file is not valid `.cmap`: a token is missing or out of place. The message names what was expected; the help shows the usual fix.";
    InvalidJson = "E0002", "invalid JSON", "A seed-JSON file is not valid JSON. The position is where the JSON reader stopped.";
    JsonShape = "E0003", "seed JSON of the wrong shape", "A seed-JSON value has the wrong type or a required key is missing (`fieldMappings` must be an array, `targetField` a string, ...). The key path names the value.";
    DuplicateClause = "E0004", "clause given twice", "A clause that may appear once (`source`, `target`, `dedupe`, `schedule`, ...) is written twice in one schema or task. The first one is used.";
    UnknownKey = "W0005", "unknown key in seed JSON", "A seed-JSON object has a key the spec does not define. It is kept (as `meta`) but not interpreted; usually it is a typo, and the label suggests the closest known key.";
    Io = "E0006", "file cannot be read", "A pipeline file cannot be read: it is not UTF-8 text, it cannot be opened (permissions, a dangling or looping symbolic link), it is not a regular file (a named pipe), or a directory among the pipelines cannot be listed. The other files are still checked; `cmap serve` refuses the version.";

    // 01xx: names
    UnknownMappingType = "E0101", "unknown mapping type", "A seed-JSON mapping names a `mappingType` that is not one of direct, transform, conditional, default, composite, lookup, flatten.";
    UnknownTransformation = "E0102", "unknown transformation", "A transformation name is not one of the spec's transformations (see docs/functions.md).";
    UnknownOperator = "E0103", "unknown operator", "A condition or filter uses an operator that is not one of eq, neq, gt, gte, lt, lte, contains, starts_with, ends_with, in, not_in, exists, not_exists.";
    UnknownValidation = "E0104", "unknown validation rule", "A validation rule is not one of required, pattern, min, max, min_length, max_length, one_of, email, url.";
    UnknownDedupeStrategy = "E0105", "unknown deduplication strategy", "A deduplication strategy is not one of external_id, field_match, composite.";
    DuplicateId = "E0106", "duplicate id", "Two schemas, two tasks, two connections or two lookup tables share an id (ids are global across the pipeline files checked together), or a key is given twice in one lookup table, `rates` table or `auth` block. A connection id may not start with `task:`: the data directory keeps realtime tasks' stored tokens under such ids.";
    UnknownSchema = "E0107", "task names an unknown schema", "A task's `schema` names no schema of the checked files or the standard library.";
    UnknownLookupTable = "E0108", "unknown lookup table", "A lookup mapping names a table that is declared neither in the schema nor at top level.";
    UnknownCurrency = "E0109", "unknown currency", "`currency_convert` names a currency that the rate table does not know (the pipeline's own `rates` tables, or stdlib/rates.cmap when it declares none), or a `rates` table on a base that cannot be related to the first table's base.";
    UnknownKeyword = "E0110", "unknown keyword value", "A keyword value is not one the spec allows: a direction, task status, interval unit, notification event, relationship type or connection scope.";
    UnknownTargetFlag = "E0111", "unknown target flag", "A `target` block lists a flag that is not create_if_missing, update_if_exists or delete_if_removed.";
    PipelineRatesReplaceStdlib = "W0112", "pipeline rates replace the standard library's", "The pipeline declares `rates` tables, so they are the rate table `currency_convert` uses, whole: the standard library's table (stdlib/rates.cmap) is not consulted, not even for currencies the pipeline's tables do not list. Mixing a pipeline's rates with the standard library's reference rates, possibly on another base, gives cross rates nobody chose. The help lists the currencies that only the standard library knew; add the ones you convert to your table.";
    ConflictingRates = "E0113", "conflicting currency rates", "Two rates of the pipeline's `rates` tables disagree: a currency priced twice (directly, or through a table on another base), or a table whose own base is not worth 1 of itself. Which one is meant cannot be told, so neither is used; give each currency one rate.";

    // 02xx: transformation and rule configuration
    MissingConfig = "E0201", "missing configuration", "A transformation lacks a config key it needs (`truncate` without `maxLength`).";
    ConfigType = "E0202", "configuration value of the wrong type", "A config value has the wrong type (a string where a number belongs).";
    InvalidRegex = "E0203", "invalid regular expression", "A `regex_replace` pattern or `pattern` validation rule is not a valid regular expression.";
    InvalidScript = "E0204", "invalid custom expression", "A `custom` expression is not valid rhai; scripts are compiled at check time.";
    InvalidDateFormat = "E0205", "invalid date format", "A `parse_date` / `format_date` format is not a valid strftime format.";
    UnknownConfigKey = "W0206", "unknown configuration key", "A transformation's config has a key the transformation does not take; it is ignored.";
    OperatorValue = "E0207", "operator value of the wrong shape", "An operator's value has the wrong shape: `in`/`not_in` need an array, `exists`/`not_exists` take none, comparisons need a number, string or date.";
    InvalidPath = "E0208", "invalid field path", "A field path cannot be read (`a..b`, `items[x]`, a JSONPath wildcard where one value is needed).";

    // 03xx: schemas
    DuplicateTarget = "E0301", "duplicate target field", "Two mappings write the same target field; only one could win, so this is an error.";
    UnreachableRule = "W0302", "unreachable rule", "A conditional rule can never be chosen: it follows the catch-all `_`, or an earlier rule has the same condition.";
    MissingClause = "E0303", "missing clause", "A schema lacks `source`, `target` or `dedupe`, a task lacks `schema`, or a connection lacks `integration` or `auth`.";
    EmptySchema = "W0304", "schema maps no field", "A schema maps no field: its shards would be empty.";
    TemplateWithoutPlaceholder = "W0305", "template names no field", "A composite template names no `${Field}`: it is a constant, which a default mapping says more plainly.";
    DefaultTemplateKey = "E0306", "malformed task placeholder", "A `{{task...}}` placeholder in a default value is malformed; write `{{task.KEY}}`.";

    // 04xx: tasks
    InvalidCron = "E0401", "invalid cron expression", "A cron schedule is not a standard 5-field expression (minute hour day-of-month month day-of-week).";
    UnknownTimezone = "E0402", "unknown IANA timezone", "A cron schedule names a timezone that is not in the IANA database.";
    NonPositiveInterval = "E0403", "non-positive interval", "An interval schedule must run every 1 or more whole units.";
    TaskKeyNeverSet = "W0404", "task config key never set", "A schema reads `{{task.KEY}}`, and none of the tasks that run it sets KEY in its config, so the value is always null.";
    InvalidRetry = "E0405", "invalid retry configuration", "A retry configuration has a negative or non-integer count or delay.";
    CronNeverRuns = "E0406", "cron never runs", "A cron schedule is well formed but no date matches it, so the task would never run: a day of the month that none of its months has (`0 0 30 2 *`, `31` in April, June, September and November only), a `W` day past the end of its months, or, with a `+` before the day of week (croner's AND), a day of month and a day of week that never fall together (`0 0 1 * +1#2`). `0 0 29 2 *` is valid: it runs in leap years. Days follow croner's rule at check time and at run time alike: when neither day field is `*`, a day matches when either does (Vixie cron's OR), and `+` asks for both.";
    IntervalTooLong = "E0407", "interval too long", "An interval schedule is longer than cmap schedules: at most 3650 days (521 weeks, 87600 hours, 5256000 minutes). Use a cron expression for yearly runs.";
    RealtimeWithoutToken = "E0408", "realtime task without a token", "A task with `schedule realtime` names no verification token, so anyone who can reach the server could post records into it. Name where the token comes from, as for a connection's secrets: `token env(\"VAR\")` (read by `cmap serve` when the pipelines load; while the variable is unset the task refuses deliveries with 503) or `token stored` (set with `cmap tokens set TASK` or `cmap tokens generate TASK`, kept encrypted in the data directory). Senders present it in `X-Cmap-Token` or `Authorization: Bearer`.";
    InvalidRecipient = "E0409", "invalid notification recipient", "A `notify ... -> \"...\"` recipient can receive nothing: a recipient with `@` is an email address and must parse as one (`admin@tenant.com`, or `Ada <ada@tenant.com>`), read by the same parser that sends the mail; any other recipient is a user id, which is not empty and holds no spaces or control characters.";

    // 05xx: schema-aware checks against stdlib/ types
    UnknownTargetField = "W0501", "unknown target field", "A mapping writes a field the target ShardType does not declare.";
    UnknownSourceField = "W0502", "unknown source field", "A mapping reads a field the source entity does not declare.";
    TypeMismatch = "W0503", "type mismatch", "A mapping yields a value of another type than the target field declares (a date into a number field).";
    UnknownShardType = "W0504", "unknown shard type", "A schema targets a ShardType that no `shardtype` definition declares, so its fields cannot be checked.";
    UnknownEntity = "W0505", "unknown source entity", "A schema's source entity has no `entity` definition, so source fields cannot be checked.";
    RequiredFieldUnmapped = "W0506", "required target field never mapped", "The target ShardType declares a non-optional field that no mapping writes.";

    // 06xx: tests
    InvalidTest = "E0601", "malformed test", "A `test` block is malformed: no input, an input that is not an object, or no expectation.";

    // 07xx: connections
    PlainSecret = "E0701", "secret written in plain text", "A secret (`apiKey`, `password`, `clientSecret`, `refreshToken`, `accessToken`, every `custom` value, a secret-looking key such as `token` or `*Secret` in `settings`, or a realtime task's webhook `token`) is written in the pipeline file. Pipeline files are committed and shared, so secrets are never written in them: name where the value comes from, `env(\"VAR\")` (read from the environment when the connection is used) or `stored` (set with `cmap connections set`, or `cmap tokens set` for a webhook token; kept encrypted in the data directory). The message never repeats the value.";
    UnknownAuthType = "E0702", "unknown auth type", "A connection's `auth` type is not one of none, api_key, basic, oauth2, custom.";
    MissingCredential = "E0703", "missing credential", "A connection lacks a credential its auth type needs: api_key needs apiKey; basic needs username and password; oauth2 needs clientId, clientSecret, tokenUrl and a refreshToken or accessToken; custom needs at least one value.";
    UnknownCredentialKey = "W0704", "unknown credential key", "An `auth` block has a key its auth type does not use (api_key: apiKey, header, prefix; basic: username, password; oauth2: clientId, clientSecret, refreshToken, accessToken, expiresAt, tokenUrl, clientAuth, authorizationUrl, revokeUrl, scopes, redirectUri; none: nothing). It is ignored. (`instanceUrl` is learnt from the token response, or set in a Salesforce connection's `settings`.)";
    UnknownIntegration = "W0705", "unknown integration", "A connection names an integration cmap has no connector for (salesforce, hubspot, google-news, rss, rest, files). The file checks, but a task cannot run through it.";
    UnknownConnection = "E0706", "task names an unknown connection", "A task's `connection` names no connection of the checked files.";
    AmbiguousConnection = "W0707", "several connections match a task", "A task names no connection and several connections serve its schema's integration. A run cannot choose between them and reports it; name one with `connection ID`.";
    TenantOnSystemConnection = "W0708", "tenant on a system connection", "A connection of `scope system` serves every tenant, so its `tenant` is ignored.";

    // 08xx: connector settings and task config
    UnknownSetting = "E0801", "unknown connector setting", "A connection's `settings` (or a `pagination` object in them) has a key its connector does not read, so it would be ignored: usually a typo, and the label suggests the closest setting. Each connector's settings are listed in docs/sync.md, \"Connectors\". A secret-looking key is E0701 instead.";
    UnknownTaskConfigKey = "E0802", "unknown task config key", "A task's `config` has a key that nothing reads: not the engine (`deleteGuard`, `missedRuns`, `signatureSecretEnv`, and the spec's `conflictResolution`, `pushChangesFrom`, `pullChangesFrom`), not the connector the task reads through (its keys are listed in docs/sync.md, \"Connectors\"), and not the task's schema (which reads its own keys as `{{task.KEY}}`, or `task.KEY` in a `custom` expression). The label suggests the closest key of all of them; a setting of the connection written in the task says where it belongs.";
    ValueOutOfRange = "E0803", "value out of range", "A setting or task config value is of the right type but outside what cmap accepts: `deleteGuard` is a share from 0 to 1; `lookbackSeconds` is from 0 to 315360000 (3650 days); `maxResults` from 1 to 100000; a REST `pageSize` from 1 to 10000 and `startPage` from 0 to 1000000. The bounds keep the runtime's arithmetic (dates, offsets, page numbers) far from overflowing.";
    InvalidValue = "E0804", "invalid setting value", "A setting or task config value is of the right type but cannot be used: a URL that is not an absolute http(s) URL with a host, an environment variable name with characters other than letters, digits and `_` (or starting with a digit), a Salesforce field or HubSpot property name that cannot be sent in a query, an API version that is not like `59.0`, a language or country code, a dot path with an empty segment, a CSV delimiter that is not one ASCII character, a `baseUrl` and `path` that make no URL, or an empty string.";
    MissingSetting = "E0805", "missing setting", "A connection or task lacks a setting that its read needs: a `rest` connection's `baseUrl`, a `pagination` object's `type`, a `files` read's `path` (in the connection's settings or the task's config) or a format its name does not tell, an `rss` read's feed `url`.";
    KeyDoesNotApply = "E0806", "key does nothing here", "A known key is written where it has no effect: an option of another pagination type (`cursorPath` with `type: \"offset\"`), a REST `pageSize` without a `limitParam` to send it in, `missedRuns` on a task that is not on an interval or a cron, `signatureSecretEnv` on a task that is not realtime, `deleteGuard` on a task whose schema never deletes, `conflictResolution` outside two-way sync, `pushChangesFrom` on a pull task, `pullChangesFrom` on a push task, `baseUrl` in a task's config (it belongs to the connection), or two names for one key (`fields` and `properties`, `updatedField` and `modifiedSinceField`).";

    // 09xx: the integration catalogue
    UnknownIntegrationKey = "E0901", "unknown integration key", "An `integration` definition has a clause (`.cmap`), a key (seed JSON) or an `oauthConfig` key that the spec's IntegrationDefinition does not define. Nothing can keep it (a misspelt `visibility` would silently make a definition public), so it is an error; the label suggests the closest known key. In `.cmap`, the spec's keys are written as the words docs/language.md lists (`isPremium` is `premium`, `supportedSyncDirections` is `directions`).";
    InsecureUrl = "E0902", "OAuth URL not https", "An `oauthConfig` URL (`authorizationUrl`, `tokenUrl`, `revokeUrl`, `redirectUri`) is not an absolute `https` URL with a host. Codes, tokens and client secrets travel through these URLs, so plain `http` is accepted only for `localhost`, `127.0.0.1` and `[::1]` (a mock provider in tests). A URL is written in the definition: `env(\"VAR\")` and `stored` are for the client id and secret.";
    OAuthConfigMismatch = "E0903", "authType and oauthConfig disagree", "An integration of `authType` `oauth2` has no `oauthConfig` (`auth oauth2 { .. }` in `.cmap`), or one of another `authType` has one: the connect flow reads the block only for `oauth2`.";
    UnknownAvailableEntity = "E0904", "unknown available entity", "An integration's `availableEntities` names an entity that no `entity` definition declares (stdlib/, or the checked files): write its id as `integration.Entity` (`salesforce.Contact`); the label suggests the closest declared one.";
    InvalidIntegrationValue = "E0905", "invalid integration value", "A value of an integration definition has the wrong type or form: a boolean that is not `true`/`false`, a list that is not a list of names, a `version` that is not like `1.2.3` (two or three numbers, an optional `-pre` or `+build` suffix), a `color` that is not `#RGB` or `#RRGGBB`, an id or `name` that is not made of letters, digits, `_` and `-`, an empty string, a scope with spaces, or a value listed twice.";

    // 10xx: tenants of pipeline files (docs/serve.md, "Tenants of pipeline files")
    InvalidTenantFolder = "E1001", "invalid tenant folder", "Files under `<pipelines>/tenants/<TENANT_ID>/` belong to that tenant, so the folder's name must be a tenant id: 1 to 63 of `a-z`, `0-9` and `-`, starting with a letter or digit. A pipeline file directly in `tenants/` (in no tenant's folder) is refused too: it would belong to no one. Rename the folder, or move the file into `tenants/ID/` or out of `tenants/`.";
    InvalidTenantId = "E1002", "invalid tenant id", "A connection's `tenant \"ID\"` is not a tenant id (1 to 63 of `a-z`, `0-9` and `-`, starting with a letter or digit), so nothing could be stored for it. A file in a tenant's folder needs no `tenant` clause at all.";
    ForeignTenantClause = "E1003", "connection claims another owner than its folder", "A connection in `tenants/ID/` belongs to tenant ID: the folder decides. Its `tenant \"OTHER\"` clause names another tenant, or it says `scope system` (a system-wide connection serves every tenant, so it is declared in a top-level file, not in one tenant's folder). Remove the clause, or move the file.";
    ForeignConnection = "E1004", "task reads through another tenant's connection", "A task reads (through its `connection`, or the one connection of its schema's integration when it names none) through a connection of another tenant: a task in `tenants/ID/` may use tenant ID's connections and `scope system` ones, and a task of a top-level file may not use a connection of a tenant's folder. Records and credentials of one tenant never serve another.";
    ForeignSchema = "E1005", "task uses another tenant's schema", "A task uses a schema declared in another tenant's folder. Schemas of top-level files and of the standard library are shared by every tenant; a schema in `tenants/ID/` is tenant ID's alone. Move the schema to a top-level file to share it, or copy it into the task's folder.";
    SharedDefinitionInTenantFolder = "E1006", "workspace-wide definition in a tenant folder", "A `rates` table, a top-level `lookup` table, a `shardtype` / `entity` definition or an `integration` definition is in a tenant's folder. These apply to the whole workspace (a pipeline's `rates` replace the standard library's for every tenant; lookup tables and types are found by id from any schema; integrations are the platform's catalogue), so one tenant's file would change every tenant's mapping. Declare them in a top-level file; a lookup table only one schema needs can be declared inside that schema.";
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}
