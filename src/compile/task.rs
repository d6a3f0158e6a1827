//! Sync tasks: schema reference, keyword values, schedules (cron through croner, zones
//! through chrono-tz), retry and notifications, lowered to [`ir::Task`]; and the
//! cross-check of `{{task.KEY}}` placeholders against the tasks' configs (W0404).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use super::ir::{self, Direction, IntervalUnit, TaskStatus};
use super::schema::TaskKey;
use super::types::Ty;
use super::Cx;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Name, Span};

const DIRECTIONS: &[&str] = &["pull", "push", "bidirectional"];
const STATUSES: &[&str] = &["active", "paused", "error", "disabled"];
const UNITS: &[&str] = &["minutes", "hours", "days", "weeks"];
const EVENTS: &[&str] = &["success", "failure", "partial"];
const SCHEDULES: &[&str] = &["manual", "interval", "cron", "realtime"];

/// E0110 for a keyword outside its closed set.
pub(super) fn keyword<T: Copy>(
    cx: &mut Cx<'_>,
    name: &Name,
    what: &str,
    known: &[&str],
    values: &[T],
) -> Option<T> {
    if let Some(i) = known.iter().position(|k| *k == name.node) {
        return values.get(i).copied();
    }
    let d = Diagnostic::new(
        Code::UnknownKeyword,
        name.span,
        format!("unknown {what} `{}`", name.node),
    );
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    cx.push(match did_you_mean(&name.node, known.iter().copied()) {
        Some(s) => d
            .with_label(format!("did you mean `{s}`?"))
            .with_help(format!("write `{s}`")),
        None => d
            .with_label(format!("not a {what}"))
            .with_help(format!("use one of {list}")),
    });
    None
}

/// The declared connections: every id (to tell an unknown one from one that failed to
/// lower) with its integration as written, and the lowered ones.
pub(super) struct Connections<'a> {
    pub known: Vec<&'a str>,
    pub integrations: HashMap<&'a str, Option<&'a str>>,
    pub lowered: HashMap<&'a str, Arc<ir::Connection>>,
}

/// What a task's config check needs of a schema, whether or not it lowered.
pub(super) struct SchemaFacts<'a> {
    /// The source's integration (`salesforce` in `salesforce.Contact`).
    pub integration: Option<&'a str>,
    /// The task keys it reads (`{{task.KEY}}`, `task.KEY` in a script).
    pub task_keys: Vec<String>,
    /// A script reads `task` other than by a literal key: any key may be read.
    pub whole_task: bool,
    /// Whether it deletes removed records (`None`: its target did not check).
    pub deletes: Option<bool>,
}

pub(super) fn lower(
    cx: &mut Cx<'_>,
    t: &ast::Task,
    tenant: String,
    known: &[&str],
    schemas: &HashMap<&str, Arc<ir::Schema>>,
    facts: &HashMap<&str, SchemaFacts<'_>>,
    connections: &Connections<'_>,
) -> Option<ir::Task> {
    let schema = match &t.schema {
        None => {
            cx.push(
                Diagnostic::new(
                    Code::MissingClause,
                    t.id.span,
                    format!("task `{}` names no schema", t.id.node),
                )
                .with_label("`schema` is required")
                .with_help(match known.first() {
                    Some(s) => format!("add `schema {s}` (or another schema id)"),
                    None => "add `schema SCHEMA_ID`".to_string(),
                }),
            );
            None
        }
        Some(name) if !known.contains(&name.node.as_str()) => {
            let d = Diagnostic::new(
                Code::UnknownSchema,
                name.span,
                format!("unknown schema `{}`", name.node),
            );
            cx.push(match did_you_mean(&name.node, known.iter().copied()) {
                Some(s) => d
                    .with_label(format!("did you mean `{s}`?"))
                    .with_help(format!("write `schema {s}`")),
                None => d
                    .with_label("no schema has this id")
                    .with_help("name a schema declared in the pipeline or the stdlib"),
            });
            None
        }
        // A known schema that failed to lower has reported its own errors.
        Some(name) => schemas.get(name.node.as_str()).cloned(),
    };

    let connection = match &t.connection {
        None => Some(None),
        Some(name) if !connections.known.contains(&name.node.as_str()) => {
            let d = Diagnostic::new(
                Code::UnknownConnection,
                name.span,
                format!("unknown connection `{}`", name.node),
            );
            cx.push(
                match did_you_mean(&name.node, connections.known.iter().copied()) {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `connection {s}`")),
                    None => d.with_label("no connection has this id").with_help(
                        match connections.known.first() {
                            Some(c) => format!(
                                "name a declared connection (e.g. `connection {c}`), or declare `connection {} {{ .. }}`",
                                name.node
                            ),
                            None => format!(
                                "declare it: `connection {} {{ integration NAME  auth none }}`",
                                name.node
                            ),
                        },
                    ),
                },
            );
            None
        }
        // A known connection that failed to lower has reported its own errors.
        Some(name) => Some(connections.lowered.get(name.node.as_str()).cloned()),
    };

    let direction = match &t.direction {
        None => Some(Direction::Pull),
        Some(n) => keyword(
            cx,
            n,
            "direction",
            DIRECTIONS,
            &[Direction::Pull, Direction::Push, Direction::Bidirectional],
        ),
    };
    let status = match &t.status {
        None => Some(TaskStatus::Active),
        Some(n) => keyword(
            cx,
            n,
            "status",
            STATUSES,
            &[
                TaskStatus::Active,
                TaskStatus::Paused,
                TaskStatus::Error,
                TaskStatus::Disabled,
            ],
        ),
    };
    let schedule = match &t.schedule {
        None => Some(ir::Schedule::Manual),
        Some(s) => schedule(cx, &t.id.node, s),
    };
    let config = {
        let schema_facts = t.schema.as_ref().and_then(|n| facts.get(n.node.as_str()));
        // The connector: the named connection's, else the one of the schema's source
        // integration (the connection the engine then picks serves it), else the one
        // the task names (`integration`, the spec's `tenantIntegrationId`).
        let integration = match &t.connection {
            Some(name) => connections
                .integrations
                .get(name.node.as_str())
                .copied()
                .flatten(),
            None => schema_facts
                .and_then(|f| f.integration)
                .or(t.integration.as_ref().map(|i| i.node.as_str())),
        };
        let reads = match schema_facts {
            Some(f) if !f.whole_task => super::config::Reads::Keys(&f.task_keys),
            _ => super::config::Reads::Any,
        };
        let task_facts = super::config::TaskFacts {
            integration,
            schedule: schedule.as_ref(),
            direction,
            deletes: schema_facts.and_then(|f| f.deletes),
            reads,
        };
        let config = super::config::task(cx, t, &task_facts);
        if let Some(c) = &config {
            // The connection the task reads through, when it can be told now.
            let through = match &t.connection {
                Some(name) => connections
                    .lowered
                    .get_key_value(name.node.as_str())
                    .map(|(id, c)| (*id, c.clone())),
                None => integration.and_then(|i| {
                    let mut serving = connections
                        .lowered
                        .iter()
                        .filter(|(_, c)| c.integration == i);
                    match (serving.next(), serving.next()) {
                        (Some((id, c)), None) => Some((*id, c.clone())),
                        _ => None,
                    }
                }),
            };
            super::config::check_read(
                cx,
                t,
                &c.source,
                through.as_ref().map(|(id, c)| (*id, &c.settings)),
            );
        }
        config
    };
    let retry = match &t.retry {
        None => Some(ir::RetryConfig {
            max_retries: 0,
            retry_delay_seconds: 0,
            exponential_backoff: false,
        }),
        Some(r) => retry(cx, r),
    };
    let notifications = match &t.notify {
        None => Some(ir::Notifications::default()),
        Some(n) => notify(cx, &t.id.node, n),
    };

    let schema = schema?;
    Some(ir::Task {
        id: t.id.node.clone(),
        name: t.name.as_ref().map(|n| n.node.clone()),
        description: t.description.as_ref().map(|n| n.node.clone()),
        integration: t
            .integration
            .as_ref()
            .map(|n| n.node.clone())
            .or_else(|| schema.integration.clone()),
        schema,
        direction: direction?,
        schedule: schedule?,
        config: config?,
        status: status?,
        retry: retry?,
        notifications: notifications?,
        connection: connection?,
        tenant,
    })
}

fn schedule(cx: &mut Cx<'_>, task: &str, s: &ast::Schedule) -> Option<ir::Schedule> {
    match s {
        ast::Schedule::Manual { .. } => Some(ir::Schedule::Manual),
        ast::Schedule::Interval { interval, unit, .. } => {
            let unit = keyword(
                cx,
                unit,
                "interval unit",
                UNITS,
                &[
                    IntervalUnit::Minutes,
                    IntervalUnit::Hours,
                    IntervalUnit::Days,
                    IntervalUnit::Weeks,
                ],
            );
            let n = match interval.node.as_u64() {
                Some(n) if n > 0 => Some(n),
                _ => {
                    let example = interval
                        .node
                        .as_f64()
                        .filter(|f| *f > 0.0)
                        .map_or(15, |f| f.ceil() as u64);
                    cx.push(
                        Diagnostic::new(
                            Code::NonPositiveInterval,
                            interval.span,
                            "the interval must be a whole number greater than 0",
                        )
                        .with_label(format!("this is {}", short_value(&interval.node)))
                        .with_help(format!(
                            "write e.g. `schedule every {example} {}`",
                            unit_name(unit)
                        )),
                    );
                    None
                }
            };
            // The limit is what keeps every next run a representable date: checked here
            // once, so the scheduler never meets an interval it cannot add.
            let n = match (n, unit) {
                (Some(n), Some(unit))
                    if n.checked_mul(unit.minutes())
                        .is_none_or(|m| m > ir::MAX_INTERVAL_MINUTES) =>
                {
                    let most = ir::MAX_INTERVAL_MINUTES / unit.minutes();
                    cx.push(
                        Diagnostic::new(
                            Code::IntervalTooLong,
                            interval.span,
                            format!(
                                "an interval of {n} {} is longer than cmap schedules",
                                unit_name(Some(unit))
                            ),
                        )
                        .with_label(match unit {
                            IntervalUnit::Days => format!("at most {most} days"),
                            _ => format!("at most {most} {} (3650 days)", unit_name(Some(unit))),
                        })
                        .with_help(format!(
                            "write at most `schedule every {most} {}`, or a cron expression for yearly runs, e.g. `schedule cron \"0 0 1 1 *\"`",
                            unit_name(Some(unit))
                        )),
                    );
                    None
                }
                (n, _) => n,
            };
            Some(ir::Schedule::Interval {
                interval: n?,
                unit: unit?,
            })
        }
        ast::Schedule::Cron {
            expression,
            timezone,
            ..
        } => {
            let cron = match ir::CronExpr::parse(&expression.node) {
                Ok(cron) => never_runs(cx, &cron, expression.span).then_some(cron),
                Err(e) => {
                    cx.push(
                        Diagnostic::new(Code::InvalidCron, expression.span, format!("invalid cron expression: {}", e.to_string().trim_end_matches('.')))
                            .with_label("5 fields: minute hour day-of-month month day-of-week")
                            .with_help("write a standard 5-field expression, e.g. `\"0 2 * * *\"` (every day at 02:00)"),
                    );
                    None
                }
            };
            let tz = match timezone {
                None => Some(chrono_tz::Tz::UTC),
                Some(z) => match chrono_tz::Tz::from_str(&z.node) {
                    Ok(tz) => Some(tz),
                    Err(_) => {
                        let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
                        let d = Diagnostic::new(
                            Code::UnknownTimezone,
                            z.span,
                            format!("unknown timezone `{}`", z.node),
                        );
                        cx.push(match did_you_mean(&z.node, names) {
                            Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("write `in \"{s}\"`")),
                            None => d
                                .with_label("not an IANA zone")
                                .with_help("write an IANA zone name, e.g. `in \"America/New_York\"` or `in \"UTC\"`"),
                        });
                        None
                    }
                },
            };
            Some(ir::Schedule::Cron {
                cron: cron?,
                timezone: tz?,
            })
        }
        ast::Schedule::Realtime {
            span,
            webhook_url,
            token,
        } => {
            let token = match token {
                Some(t) => super::connection::webhook_token(cx, task, t),
                None => {
                    cx.push(no_token(task, *span));
                    None
                }
            };
            // The spec's `webhookUrl`: where senders post, for the record. Checked like
            // every URL a pipeline names.
            let url = match webhook_url {
                None => Some(None),
                Some(u) => match super::config::parse_url(&u.node) {
                    Ok(url) => Some(Some(url)),
                    Err(why) => {
                        cx.push(
                            Diagnostic::new(
                                Code::InvalidValue,
                                u.span,
                                format!("the webhook URL of task `{task}` is not a URL"),
                            )
                            .with_label(why)
                            .with_help(format!(
                                "write where senders post, e.g. `schedule realtime \"https://cmap.example.com/webhooks/{task}\" token ...`"
                            )),
                        );
                        None
                    }
                },
            };
            Some(ir::Schedule::Realtime {
                webhook_url: url?,
                token: token?,
            })
        }
        ast::Schedule::Unknown { kind, .. } => {
            keyword::<()>(cx, kind, "schedule type", SCHEDULES, &[]);
            None
        }
    }
}

/// E0408: a realtime task that would accept deliveries from anyone.
fn no_token(task: &str, span: Span) -> Diagnostic {
    let var = super::connection::env_name(task, "webhookToken");
    Diagnostic::new(
        Code::RealtimeWithoutToken,
        span,
        format!("realtime task `{task}` has no token: anyone could post records to it"),
    )
    .with_label("deliveries to this task are not authenticated")
    .with_help(format!(
        "add `token env(\"{var}\")` and set the variable for `cmap serve`, or `token stored` \
         and set it with `cmap tokens generate {task}`"
    ))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// E0406 when no date matches `cron`; `true` when some date does.
///
/// The Gregorian calendar repeats every 400 years, weekdays included (146,097 days, a
/// whole number of weeks), so a pattern that matches no day of one 400-year cycle
/// matches none ever. The days are asked of croner's own pattern, the same test the
/// scheduler's search makes, so check and runtime cannot disagree. The walk stops at the
/// first matching day: a usual expression costs a few steps, a never-matching one
/// 146,097 (a millisecond or two).
fn never_runs(cx: &mut Cx<'_>, cron: &ir::CronExpr, span: Span) -> bool {
    let pattern = &cron.cron().pattern;
    let months: Vec<u32> = (1..=12)
        .filter(|m| pattern.month_match(*m).unwrap_or(false))
        .collect();
    let Some(start) = chrono::NaiveDate::from_ymd_opt(2000, 1, 1) else {
        return true;
    };
    let mut day = start;
    for _ in 0..146_097 {
        use chrono::Datelike;
        if months.contains(&day.month()) {
            let weekday =
                croner::Weekday::from_days_from_sunday(day.weekday().num_days_from_sunday());
            if pattern
                .day_match(day.year(), day.month(), day.day(), weekday)
                .unwrap_or(false)
            {
                return true;
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => return true,
        }
    }
    // Words for the fields, from the text (a nickname such as `@daily` always matches,
    // so five fields are there).
    let fields: Vec<&str> = cron.text().split_whitespace().collect();
    let (dom, month, dow) = match fields.as_slice() {
        [_, _, dom, month, dow] => (*dom, *month, *dow),
        _ => ("?", "?", "?"),
    };
    let names: Vec<&str> = months
        .iter()
        .filter_map(|m| MONTHS.get(*m as usize - 1).copied())
        .collect();
    let longest = months
        .iter()
        .map(|m| match m {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        })
        .max()
        .unwrap_or(31);
    let in_months = if months.len() == 12 {
        String::new()
    } else {
        format!(" in {}", names.join(", "))
    };
    let (label, help) = if pattern.matches_dom_and_dow() {
        (
            format!("no date is both day-of-month `{dom}` and day-of-week `{}`{in_months}", dow.trim_start_matches('+')),
            "the `+` before the day of week asks for both days at once; drop it to run on either (Vixie cron's rule)".to_string(),
        )
    } else if pattern.is_dow_wildcard() {
        (
            format!("day-of-month `{dom}` never happens{in_months}"),
            format!(
                "{}; pick days that exist, or `L` for the last day of the month",
                match (names.as_slice(), longest) {
                    (["February"], _) => "February has 28 days, 29 in leap years".to_string(),
                    ([one], n) => format!("{one} has {n} days"),
                    (_, 29) =>
                        "those months have at most 29 days (February, in leap years)".to_string(),
                    (_, n) => format!("those months have at most {n} days"),
                }
            ),
        )
    } else {
        (
            format!(
                "no date matches day-of-month `{dom}`, day-of-week `{dow}` and month `{month}`"
            ),
            "pick days that exist in the months listed".to_string(),
        )
    };
    cx.push(
        Diagnostic::new(
            Code::CronNeverRuns,
            span,
            format!("cron `{}` never runs: no date matches it", cron.text()),
        )
        .with_label(label)
        .with_help(help),
    );
    false
}

fn unit_name(unit: Option<IntervalUnit>) -> &'static str {
    match unit {
        Some(IntervalUnit::Hours) => "hours",
        Some(IntervalUnit::Days) => "days",
        Some(IntervalUnit::Weeks) => "weeks",
        _ => "minutes",
    }
}

fn short_value(v: &Value) -> String {
    match v {
        Value::Number(_) => format!("`{v}`"),
        other => Ty::of_value(other).describe(),
    }
}

fn retry(cx: &mut Cx<'_>, r: &ast::Retry) -> Option<ir::RetryConfig> {
    let count = |cx: &mut Cx<'_>, lit: &ast::Literal, what: &str, example: &str| -> Option<u64> {
        match lit.node.as_u64() {
            Some(n) => Some(n),
            None => {
                cx.push(
                    Diagnostic::new(
                        Code::InvalidRetry,
                        lit.span,
                        format!("{what} must be a whole number of at least 0"),
                    )
                    .with_label(format!("this is {}", short_value(&lit.node)))
                    .with_help(format!("write e.g. `{example}`")),
                );
                None
            }
        }
    };
    let max = count(
        cx,
        &r.max_retries,
        "the number of retries",
        "retry 3 times every 300s",
    );
    let delay = count(
        cx,
        &r.delay_seconds,
        "the retry delay",
        "retry 3 times every 300s",
    );
    let max = match max.map(u32::try_from) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            cx.push(
                Diagnostic::new(Code::InvalidRetry, r.max_retries.span, "too many retries")
                    .with_label("more than 4294967295")
                    .with_help("write a smaller count, e.g. `retry 3 times every 300s`"),
            );
            None
        }
        None => None,
    };
    Some(ir::RetryConfig {
        max_retries: max?,
        retry_delay_seconds: delay?,
        exponential_backoff: r.exponential.as_ref().is_some_and(|e| e.node),
    })
}

fn notify(cx: &mut Cx<'_>, task: &str, n: &ast::Notify) -> Option<ir::Notifications> {
    let mut out = ir::Notifications::default();
    let mut ok = true;
    for event in &n.events {
        match keyword(cx, event, "notify event", EVENTS, &[0u8, 1, 2]) {
            Some(0) => out.on_success = true,
            Some(1) => out.on_failure = true,
            Some(_) => out.on_partial = true,
            None => ok = false,
        }
    }
    for r in &n.recipients {
        match recipient(&r.node) {
            Ok(email) => out.recipients.push(ir::Recipient {
                written: r.node.clone(),
                email,
            }),
            Err((label, help)) => {
                ok = false;
                cx.push(
                    Diagnostic::new(
                        Code::InvalidRecipient,
                        r.span,
                        if r.node.is_empty() {
                            format!("an empty recipient of the notifications of task `{task}`")
                        } else {
                            format!(
                                "`{}` cannot receive the notifications of task `{task}`",
                                r.node.escape_debug()
                            )
                        },
                    )
                    .with_label(label)
                    .with_help(help),
                );
            }
        }
    }
    ok.then_some(out)
}

/// A recipient: an email address (with `@`; a display name is allowed, `Ada
/// <ada@example.com>`) parsed as the mailer parses it, or a user id (no `@`, no space).
fn recipient(text: &str) -> Result<Option<lettre::message::Mailbox>, (String, String)> {
    if text.contains('@') {
        return text.parse::<lettre::message::Mailbox>().map(Some).map_err(|e| {
            (
                format!("not an email address: {e}"),
                "write an address such as `\"admin@tenant.com\"` (or `\"Ada <ada@tenant.com>\"`)".to_string(),
            )
        });
    }
    if text.trim().is_empty() {
        return Err((
            "empty".into(),
            "write an email address or a user id, or remove the entry".into(),
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            "a user id has no spaces or control characters".into(),
            "write the user's id (`\"user-42\"`) or an email address".into(),
        ));
    }
    Ok(None)
}

/// W0404: a schema reads `{{task.KEY}}` but no task running it sets `KEY`.
///
/// A key that only some tasks set is deliberate (the spec's news tasks leave `industry`
/// null for a company feed), so only a key no task sets is reported.
pub(super) fn check_task_keys(
    cx: &mut Cx<'_>,
    schema: &ast::Schema,
    keys: &[TaskKey],
    tasks: &[&ast::Task],
) {
    let users: Vec<&ast::Task> = tasks
        .iter()
        .copied()
        .filter(|t| t.schema.as_ref().is_some_and(|s| s.node == schema.id.node))
        .collect();
    let sets = |t: &ast::Task, key: &str| {
        t.config
            .as_ref()
            .and_then(ast::Tree::entries)
            .is_some_and(|entries| entries.iter().any(|(k, _)| k.node == key))
    };
    // One warning per placeholder: each is a place that reads a missing key.
    for key in keys {
        let Some(first) = users.first() else { return };
        if users.iter().any(|t| sets(t, &key.key)) {
            continue;
        }
        let names = users
            .iter()
            .map(|t| format!("`{}`", t.id.node))
            .collect::<Vec<_>>()
            .join(", ");
        let mut d = Diagnostic::new(
            Code::TaskKeyNeverSet,
            key.span,
            format!("no task running `{}` sets `{}`", schema.id.node, key.key),
        )
        .with_label(format!(
            "`task.{}` is always null here: {names} never set it",
            key.key
        ))
        .with_help(format!(
            "add `config {{ {}: ... }}` to task `{}`",
            key.key, first.id.node
        ));
        for t in &users {
            d = d.with_related(
                config_span(t),
                format!("task `{}` runs this schema", t.id.node),
            );
        }
        cx.push(d);
    }
}

/// Where a task's config is, or its id when it has none.
fn config_span(t: &ast::Task) -> Span {
    t.config.as_ref().map_or(t.id.span, |c| c.span)
}
