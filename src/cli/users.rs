//! `cmap tenants add|list`, `cmap users add|list` and `cmap tokens create|revoke`: who
//! may use the API (docs/api.md, "Authentication"). The bootstrap of a new deployment:
//! the first super admin is made here, with the data directory `cmap serve` uses.
//!
//! A new API token is printed alone on stdout, one line, before it is stored (as `cmap
//! tokens generate` does, for the same reason): a token nobody saw must not be valid, so
//! when stdout is closed or fails, nothing is stored.
//!
//! Each change leaves an entry in the audit log (docs/api.md, "Audit log") whose actor
//! is the operator, `{"userId": "cli", "role": "operator"}`: the command line has no
//! login, holding the data directory is its authority. The entry is appended right
//! after the change (the identity writes are steps of their own); when it cannot be,
//! the change stands and a warning says so.

use chrono::{DateTime, Duration, Utc};

use super::out::Out;
use super::state::{self, Failure, StateArgs};
use super::{EXIT_OK, EXIT_USAGE};
use crate::redact::{Known, Redactor};
use crate::store::api_token::{self, IssuedToken};
use crate::store::audit::{action, Actor, Details, Outcome, Target};
use crate::store::identity::{normalize_email, valid_tenant_id};
use crate::store::{ApiToken, Revocation, Role, StoreError, Tenant, User};
use crate::store::{AuditEntry, Store};

/// `human` (a table) or `json` (one record per line), as `cmap executions` takes.
type Format = super::check::Format;

#[derive(Debug, clap::Args)]
pub struct TenantsArgs {
    #[command(subcommand)]
    command: TenantsCommand,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Debug, clap::Subcommand)]
enum TenantsCommand {
    /// Adds a tenant. `default` (the tenant of file-based pipelines) always exists.
    Add {
        /// 1 to 63 of `a-z`, `0-9` and `-`, starting with a letter or digit.
        id: String,
        /// A name for people (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// Lists the tenants.
    List {
        /// `human` (a table) or `json` (one Tenant per line).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Debug, clap::Subcommand)]
enum UsersCommand {
    /// Adds a user and prints their first API token, alone on stdout (shown once).
    Add {
        /// The user's e-mail address (stored in lower case; unique across tenants).
        email: String,
        /// What the user may do (docs/api.md, "Roles").
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The user's tenant (required for `user` and `tenant_admin`; a `super_admin`
        /// belongs to none).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
    /// Lists the users (never their tokens).
    List {
        /// `human` (a table) or `json` (one User per line).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

/// The roles as `--role` spells them (the store's [`Role`] knows no command line).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum RoleArg {
    User,
    TenantAdmin,
    SuperAdmin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::User => Role::User,
            RoleArg::TenantAdmin => Role::TenantAdmin,
            RoleArg::SuperAdmin => Role::SuperAdmin,
        }
    }
}

pub fn tenants(args: TenantsArgs) -> u8 {
    let result = match args.command {
        TenantsCommand::Add { id, name } => add_tenant(&args.state, id, name),
        TenantsCommand::List { format } => list_tenants(&args.state, format),
    };
    result.unwrap_or_else(|f| f.print())
}

pub fn users(args: UsersArgs) -> u8 {
    let result = match args.command {
        UsersCommand::Add {
            email,
            role,
            tenant,
        } => add_user(&args.state, &email, role.into(), tenant),
        UsersCommand::List { format } => list_users(&args.state, format),
    };
    result.unwrap_or_else(|f| f.print())
}

/// `cmap tokens create EMAIL [--expires DURATION]`.
pub fn create_token(state: &StateArgs, email: &str, expires: Option<&str>) -> u8 {
    create_token_for(state, email, expires).unwrap_or_else(|f| f.print())
}

/// `cmap tokens revoke PREFIX`.
pub fn revoke_token(state: &StateArgs, id: &str) -> u8 {
    revoke(state, id).unwrap_or_else(|f| f.print())
}

fn store_failure(e: StoreError) -> Failure {
    Failure::usage(e.to_string(), None)
}

/// Appends the operator's audit entry of a change that was made; warns when it cannot
/// (the change stands). `issued`, when a token was just shown, is masked in the details
/// whatever they say.
fn audit(
    store: &dyn Store,
    tenant: Option<&str>,
    act: &str,
    target: Target,
    details: serde_json::Value,
    issued: Option<&IssuedToken>,
) {
    let redactor = Redactor::new(issued.map(|t| Known::Value(t.expose())));
    let entry = AuditEntry::new(
        Utc::now(),
        tenant,
        Actor::operator(),
        act,
        target,
        Outcome::Success,
        Details::scrubbed(details, &redactor),
    );
    if let Err(e) = store.append_audit(&entry) {
        errln!("warning: the change was made but its audit entry could not be stored: {e}");
    }
}

fn add_tenant(state: &StateArgs, id: String, name: Option<String>) -> Result<u8, Failure> {
    valid_tenant_id(&id).map_err(|e| Failure::usage(e, None))?;
    let store = state::open_store(state)?;
    let tenant = Tenant {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        created_at: Utc::now(),
    };
    store.add_tenant(&tenant).map_err(|e| match e {
        StoreError::Exists(_) => Failure::usage(
            e.to_string(),
            Some("`cmap tenants list` shows the tenants; pick another id".into()),
        ),
        e => store_failure(e),
    })?;
    audit(
        &*store,
        Some(&tenant.id),
        action::TENANT_ADD,
        Target::new("tenant", &tenant.id),
        serde_json::json!({ "name": tenant.name }),
        None,
    );
    errln!("added tenant `{}`", tenant.id);
    Ok(EXIT_OK)
}

fn list_tenants(state: &StateArgs, format: Format) -> Result<u8, Failure> {
    let store = state::open_store(state)?;
    let tenants = store.tenant_records().map_err(store_failure)?;
    let mut out = Out::stdout();
    if format == Format::Json {
        // Stops at the first line that cannot be written (a closed pipe).
        tenants.iter().all(|t| out.json_line(t));
        return Ok(out.finish(EXIT_OK));
    }
    outln!(out, "{:<24}  {:<20}  NAME", "TENANT", "CREATED");
    for t in &tenants {
        let shown = outln!(
            out,
            "{:<24}  {:<20}  {}",
            t.id,
            t.created_at.format("%Y-%m-%d %H:%M:%S"),
            t.name.escape_debug()
        );
        if !shown {
            break;
        }
    }
    Ok(out.finish(EXIT_OK))
}

fn list_users(state: &StateArgs, format: Format) -> Result<u8, Failure> {
    let store = state::open_store(state)?;
    let users = store.users().map_err(store_failure)?;
    let mut out = Out::stdout();
    if format == Format::Json {
        // Stops at the first line that cannot be written (a closed pipe).
        users.iter().all(|u| out.json_line(u));
        return Ok(out.finish(EXIT_OK));
    }
    outln!(
        out,
        "{:<36}  {:<12}  {:<24}  {:<20}  EMAIL",
        "USER",
        "ROLE",
        "TENANT",
        "CREATED"
    );
    for u in &users {
        let shown = outln!(
            out,
            "{:<36}  {:<12}  {:<24}  {:<20}  {}",
            u.id,
            u.role.as_str(),
            u.tenant_id.as_deref().unwrap_or("-"),
            u.created_at.format("%Y-%m-%d %H:%M:%S"),
            u.email
        );
        if !shown {
            break;
        }
    }
    Ok(out.finish(EXIT_OK))
}

fn add_user(
    state: &StateArgs,
    email: &str,
    role: Role,
    tenant: Option<String>,
) -> Result<u8, Failure> {
    let email = normalize_email(email).map_err(|e| Failure::usage(e, None))?;
    let now = Utc::now();
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        role,
        tenant_id: tenant,
        created_at: now,
    };
    user.check_tenant().map_err(|e| Failure::usage(e, None))?;
    let store = state::open_store(state)?;
    // Checked before the token is shown (and again, atomically, when it is stored).
    if let Some(tenant) = &user.tenant_id {
        if store
            .tenant_record(tenant)
            .map_err(store_failure)?
            .is_none()
        {
            return Err(Failure::usage(
                format!("tenant `{tenant}` does not exist"),
                Some(format!("add it first: `cmap tenants add {tenant}`")),
            ));
        }
    }
    if store
        .user_by_email(&user.email)
        .map_err(store_failure)?
        .is_some()
    {
        return Err(email_taken(&user.email));
    }
    let (record, issued) = api_token::mint(&user, now, None).map_err(store_failure)?;
    show(&issued, &format!("cmap users add {}", user.email))?;
    if let Err(e) = store.add_user(&user, &record) {
        errln!("the token printed above was not stored: it is not valid");
        return Err(match e {
            StoreError::Exists(_) => email_taken(&user.email),
            e => store_failure(e),
        });
    }
    audit(
        &*store,
        user.tenant_id.as_deref(),
        action::USER_ADD,
        Target::new("user", &user.id),
        serde_json::json!({
            "email": user.email,
            "role": user.role,
            "tokenId": issued.id(),
        }),
        Some(&issued),
    );
    errln!(
        "added {} `{}`{} with API token `{}`; the token is not shown again",
        user.role,
        user.email,
        user.tenant_id
            .as_deref()
            .map(|t| format!(" to tenant `{t}`"))
            .unwrap_or_default(),
        issued.id()
    );
    Ok(EXIT_OK)
}

fn email_taken(email: &str) -> Failure {
    Failure::usage(
        format!("a user with e-mail `{email}` exists already"),
        Some(format!(
            "`cmap users list` shows the users; `cmap tokens create {email}` gives them another token"
        )),
    )
}

/// Prints the token alone on stdout; a failure when it could not be (then it must not
/// be stored).
fn show(issued: &IssuedToken, again: &str) -> Result<(), Failure> {
    let mut out = Out::stdout();
    let shown = outln!(out, "{}", issued.expose());
    if !shown || out.finish(EXIT_OK) != EXIT_OK {
        return Err(Failure::usage(
            "the new API token could not be written to stdout; nothing was stored",
            Some(format!("run `{again}` again with stdout open")),
        ));
    }
    Ok(())
}

fn create_token_for(state: &StateArgs, email: &str, expires: Option<&str>) -> Result<u8, Failure> {
    let email = normalize_email(email).map_err(|e| Failure::usage(e, None))?;
    let now = Utc::now();
    let expires_at = match expires {
        Some(text) => Some(
            now + parse_duration(text)
                .map_err(|e| Failure::usage(format!("--expires: {e}"), None))?,
        ),
        None => None,
    };
    let store = state::open_store(state)?;
    let Some(user) = store.user_by_email(&email).map_err(store_failure)? else {
        return Err(Failure::usage(
            format!("no user has the e-mail `{email}`"),
            Some("`cmap users list` shows the users; `cmap users add` adds one".into()),
        ));
    };
    let (record, issued) = api_token::mint(&user, now, expires_at).map_err(store_failure)?;
    show(&issued, &format!("cmap tokens create {email}"))?;
    if let Err(e) = store.add_api_token(&record) {
        errln!("the token printed above was not stored: it is not valid");
        return Err(store_failure(e));
    }
    audit(
        &*store,
        user.tenant_id.as_deref(),
        action::TOKEN_CREATE,
        Target::new("token", issued.id()),
        serde_json::json!({
            "userId": user.id,
            "email": user.email,
            "expiresAt": record.expires_at,
        }),
        Some(&issued),
    );
    errln!(
        "created API token `{}` for `{email}`{}; it is not shown again",
        issued.id(),
        expiry(&record)
    );
    Ok(EXIT_OK)
}

fn expiry(record: &ApiToken) -> String {
    record
        .expires_at
        .map(|at| format!(", expiring {}", at.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default()
}

fn revoke(state: &StateArgs, id: &str) -> Result<u8, Failure> {
    // What was given is never repeated unless it is an id: it may be a whole token.
    let help = "give the token's id: the 16 hex digits after `cmap_` (printed when it was created)";
    if id.starts_with(api_token::PREFIX) {
        return Err(Failure::usage(
            "that is not a token id but looks like a whole token (not repeated here)",
            Some(help.into()),
        ));
    }
    if !api_token::is_id(id) {
        return Err(Failure::usage(
            "that is not a token id (not repeated here)",
            Some(help.into()),
        ));
    }
    let store = state::open_store(state)?;
    let at: DateTime<Utc> = Utc::now();
    // Read first for the audit entry's tenant (the token's user's).
    let token = store.api_token(id).map_err(store_failure)?;
    match store.revoke_api_token(id, at).map_err(store_failure)? {
        Revocation::Revoked => {
            let tenant = token.as_ref().and_then(|t| t.tenant_id.as_deref());
            let user = token.as_ref().map(|t| t.user_id.as_str());
            audit(
                &*store,
                tenant,
                action::TOKEN_REVOKE,
                Target::new("token", id),
                serde_json::json!({ "userId": user }),
                None,
            );
            errln!("revoked API token `{id}`");
            Ok(EXIT_OK)
        }
        Revocation::AlreadyRevoked(when) => {
            errln!(
                "API token `{id}` was revoked already, at {}; nothing changed",
                when.format("%Y-%m-%d %H:%M:%S UTC")
            );
            Ok(EXIT_OK)
        }
        Revocation::Unknown => Err(Failure {
            code: EXIT_USAGE,
            message: format!("no API token has the id `{id}`"),
            help: Some("`cmap tokens create` printed the id of each token it made".into()),
        }),
    }
}

/// The longest `--expires`: 100 years, well inside chrono's range.
const MAX_DAYS: i64 = 36_500;

/// `90d`, `12h`, `30m`: a whole positive number of days, hours or minutes, at most 100
/// years. `Err` says what is wrong.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let help = "write it as a whole number and a unit: `90d`, `12h` or `30m`";
    let text = text.trim();
    let unit_at = text
        .char_indices()
        .last()
        .map(|(i, _)| i)
        .ok_or_else(|| format!("the duration is empty; {help}"))?;
    let (number, unit) = text.split_at(unit_at);
    let minutes_per: i64 = match unit {
        "d" => 24 * 60,
        "h" => 60,
        "m" => 1,
        _ => {
            return Err(format!(
                "`{}` has no unit (d, h or m); {help}",
                text.escape_debug()
            ))
        }
    };
    let n: i64 = number
        .parse()
        .ok()
        .filter(|_| number.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("`{}` is not a duration; {help}", text.escape_debug()))?;
    if n == 0 {
        return Err(format!(
            "`{text}` would expire the token at once; give a positive duration"
        ));
    }
    let minutes = n
        .checked_mul(minutes_per)
        .filter(|m| *m <= MAX_DAYS * 24 * 60)
        .ok_or_else(|| format!("`{text}` is more than {MAX_DAYS} days"))?;
    Ok(Duration::minutes(minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("90d", Ok(90 * 24 * 60)),
            ("12h", Ok(12 * 60)),
            ("30m", Ok(30)),
            (" 1d ", Ok(24 * 60)),
            ("36500d", Ok(36_500 * 24 * 60)),
            ("36501d", Err("is more than 36500 days")),
            ("99999999999999999d", Err("is more than 36500 days")),
            ("99999999999999999999d", Err("is not a duration")),
            ("0m", Err("would expire the token at once")),
            ("", Err("the duration is empty")),
            ("d", Err("is not a duration")),
            ("90", Err("has no unit")),
            ("90s", Err("has no unit")),
            ("1w", Err("has no unit")),
            ("-5d", Err("is not a duration")),
            ("+5d", Err("is not a duration")),
            ("1.5h", Err("is not a duration")),
            ("5 d", Err("is not a duration")),
            ("5dd", Err("is not a duration")),
            ("５d", Err("is not a duration")),
            ("5é", Err("has no unit")),
        ];
        for (text, want) in cases {
            match (parse_duration(text), want) {
                (Ok(d), Ok(m)) => assert_eq!(d.num_minutes(), *m, "{text:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{text:?}: {e}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
