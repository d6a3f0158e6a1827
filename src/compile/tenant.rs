//! Which tenant each pipeline item belongs to, from the folder of its file, and the checks
//! that keep one tenant's items from serving another (docs/serve.md, "Tenants of pipeline
//! files").
//!
//! The rule: a file under `<pipelines>/tenants/ID/` is tenant ID's ([`Owner::Tenant`]);
//! any other pipeline file is a top-level one ([`Owner::Top`], tenant `default`); the
//! standard library is no one's ([`Owner::Stdlib`]). The workspace loader reads the
//! folders (compile does no I/O) and hands the owners in through
//! [`super::Options::owners`].
//!
//! What may reference what:
//! - Schemas of top-level files and of the standard library are shared definitions:
//!   every tenant's tasks may use them. A schema in a tenant's folder is that tenant's
//!   alone (E1005).
//! - Rate tables, top-level lookup tables and types apply to the whole workspace, so a
//!   tenant's folder may not declare them (E1006).
//! - A task reads through a connection of its own tenant, or a `scope system` one. A
//!   top-level connection is `default`'s (or the tenant its `tenant "ID"` names), so a
//!   task in a tenant's folder cannot read through it; a task of a top-level file cannot
//!   read through a connection of a tenant's folder (E1004).
//! - A connection in a tenant's folder is that tenant's: a `tenant "OTHER"` clause or
//!   `scope system` there is refused (E1003).
//!
//! A task's tenant is its folder's; a top-level task keeps the rule from before folders:
//! the tenant of the tenant-scope connection it reads through, else `default`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ir, task, types, Cx};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{self, Span};
use crate::tenant_id::{valid_tenant_id, DEFAULT_TENANT};

/// Whose a pipeline file is, by where it sits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Owner {
    /// The standard library: shared definitions, no tenant.
    Stdlib,
    /// A file outside `tenants/`: tenant `default`'s; its schemas are shared.
    #[default]
    Top,
    /// A file under `tenants/ID/` (the id as the folder is named; the loader reports a
    /// name that is not a tenant id, E1001).
    Tenant(String),
}

impl Owner {
    /// The tenant whose folder holds the file.
    pub fn folder(&self) -> Option<&str> {
        match self {
            Owner::Tenant(t) => Some(t),
            Owner::Stdlib | Owner::Top => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Owner::Stdlib => "the standard library".into(),
            Owner::Top => "a top-level file".into(),
            Owner::Tenant(t) => format!("tenant `{t}`'s folder"),
        }
    }
}

/// The owner of each document, by file id.
pub(super) struct Owners<'a> {
    owners: &'a [Owner],
    stdlib_docs: usize,
}

impl<'a> Owners<'a> {
    pub fn new(options: &'a super::Options) -> Owners<'a> {
        Owners {
            owners: &options.owners,
            stdlib_docs: options.stdlib_docs,
        }
    }

    /// The owner of the file `span` is in.
    pub fn of(&self, span: Span) -> &Owner {
        let file = span.file as usize;
        match self.owners.get(file) {
            Some(owner) => owner,
            None if file < self.stdlib_docs => &Owner::Stdlib,
            None => &Owner::Top,
        }
    }
}

/// E0106 for an id defined twice; when a tenant's folder is one of the two places, the
/// message names both owners (ids are unique across the whole workspace).
pub(super) fn duplicate(
    owners: &Owners<'_>,
    what: &str,
    id: &str,
    span: Span,
    first: Span,
) -> Diagnostic {
    let (again, before) = (owners.of(span), owners.of(first));
    if again == before || (again.folder().is_none() && before.folder().is_none()) {
        return types::duplicate(what, id, span, first);
    }
    let (again, before) = (again.describe(), before.describe());
    Diagnostic::new(
        Code::DuplicateId,
        span,
        format!("{what} `{id}` is defined twice: in {before} and in {again}"),
    )
    .with_label(format!("defined again here, in {again}"))
    .with_related(first, format!("first defined here, in {before}"))
    .with_help(format!(
        "ids are unique across the whole workspace, every tenant's folder included: rename one of the two {what}s"
    ))
}

/// E1006 for each definition of a tenant's folder that applies to the whole workspace:
/// rate tables, top-level lookup tables, types, integration definitions.
pub(super) fn check_definitions(cx: &mut Cx<'_>, owners: &Owners<'_>, docs: &[ast::Document]) {
    for item in docs.iter().flat_map(|d| &d.items) {
        let (what, at, help) = match item {
            ast::Item::Rates(r) => (
                format!("`rates {}`", r.base.node),
                r.base.span,
                "a pipeline's rates replace the standard library's for every tenant: declare them in a top-level file",
            ),
            ast::Item::Lookup(l) => (
                format!("lookup table `{}`", l.id.node),
                l.id.span,
                "declare it inside the schema that uses it (a schema's own `lookup`), or in a top-level file to share it",
            ),
            ast::Item::Type(t) => (
                match t.kind {
                    ast::TypeDefKind::ShardType => format!("`shardtype {}`", t.id.node),
                    ast::TypeDefKind::Entity => format!("`entity {}`", t.id.node),
                },
                t.id.span,
                "types are the same for every tenant: declare it in a top-level file (or the standard library)",
            ),
            ast::Item::Integration(i) => (
                format!("`integration {}`", i.id.node),
                i.id.span,
                "integration definitions are the platform's catalogue, the same for every tenant: declare it in a top-level file (or add it with POST /api/admin/integrations)",
            ),
            ast::Item::Schema(_) | ast::Item::Task(_) | ast::Item::Connection(_) => continue,
        };
        let Some(folder) = owners.of(at).folder() else {
            continue;
        };
        cx.push(
            Diagnostic::new(
                Code::SharedDefinitionInTenantFolder,
                at,
                format!("{what} is in tenant `{folder}`'s folder but applies to every tenant"),
            )
            .with_label("a workspace-wide definition")
            .with_help(help),
        );
    }
}

/// Checks a connection's tenant against its folder (E1002, E1003) and gives a
/// tenant-scope connection of a tenant's folder that tenant when it names none.
pub(super) fn connection(
    cx: &mut Cx<'_>,
    owners: &Owners<'_>,
    c: &ast::Connection,
    lowered: Option<ir::Connection>,
) -> Option<ir::Connection> {
    let id = &c.id.node;
    let system = c.scope.as_ref().is_some_and(|s| s.node == "system");
    let folder = owners.of(c.id.span).folder();
    if let (Some(t), false) = (&c.tenant, system) {
        if let Err(why) = valid_tenant_id(&t.node) {
            cx.push(
                Diagnostic::new(
                    Code::InvalidTenantId,
                    t.span,
                    format!("connection `{id}` names no valid tenant"),
                )
                .with_label(why)
                .with_help(match folder {
                    Some(f) => format!("remove the clause: the file is in tenant `{f}`'s folder"),
                    None => "write a tenant id, e.g. `tenant \"acme\"`, or move the file into `tenants/ID/` and remove the clause".into(),
                }),
            );
        }
    }
    let Some(folder) = folder else {
        return lowered;
    };
    match (&c.scope, &c.tenant) {
        (Some(scope), _) if system => cx.push(
            Diagnostic::new(
                Code::ForeignTenantClause,
                scope.span,
                format!("connection `{id}` is in tenant `{folder}`'s folder but says `scope system`"),
            )
            .with_label("a tenant's folder holds that tenant's connections")
            .with_help(format!(
                "remove `scope system` to make it tenant `{folder}`'s, or move the file out of `tenants/` (system-wide connections are declared in top-level files)"
            )),
        ),
        (_, Some(t)) if t.node != folder => cx.push(
            Diagnostic::new(
                Code::ForeignTenantClause,
                t.span,
                format!(
                    "connection `{id}` is in tenant `{folder}`'s folder but says `tenant \"{}\"`",
                    t.node.escape_default()
                ),
            )
            .with_label(format!("the folder decides: this connection is tenant `{folder}`'s"))
            .with_help(format!(
                "remove the `tenant` clause, or move the file into `tenants/{}/`",
                t.node.escape_default()
            )),
        ),
        _ => {}
    }
    lowered.map(|mut l| {
        if l.scope == ir::ConnectionScope::Tenant {
            l.tenant = Some(folder.to_string());
        }
        l
    })
}

/// The connection a task reads through, as the engine picks it
/// (`Engine::connection_for`): the one it names, else the one connection serving its
/// schema's source integration, of its tenant's `folder` first
/// ([`ir::serving_connection`]). `None` when it cannot be told (none or several serve:
/// the engine then refuses the run, W0707) or it did not check.
pub(super) fn through<'c>(
    t: &ast::Task,
    folder: Option<&str>,
    connections: &'c task::Connections<'_>,
    schemas: &HashMap<&str, Arc<ir::Schema>>,
) -> Option<&'c Arc<ir::Connection>> {
    if let Some(name) = &t.connection {
        return connections.lowered.get(name.node.as_str());
    }
    let schema = schemas.get(t.schema.as_ref()?.node.as_str())?;
    let integration = schema.integration.as_deref()?;
    ir::serving_connection(connections.lowered.values(), integration, folder).ok()
}

/// The tenant `t` belongs to: its folder's; for a top-level task, the tenant of the
/// tenant-scope connection it reads through, else `default`.
pub(super) fn of_task(
    owners: &Owners<'_>,
    t: &ast::Task,
    connections: &task::Connections<'_>,
    schemas: &HashMap<&str, Arc<ir::Schema>>,
) -> String {
    if let Some(folder) = owners.of(t.id.span).folder() {
        return folder.to_string();
    }
    through(t, None, connections, schemas)
        .filter(|c| c.scope == ir::ConnectionScope::Tenant)
        .and_then(|c| c.tenant.clone())
        .unwrap_or_else(|| DEFAULT_TENANT.to_string())
}

/// Where the first definition of each schema and connection id is.
pub(super) struct Defined<'a> {
    pub schemas: &'a HashMap<&'a str, Span>,
    pub connections: &'a HashMap<&'a str, Span>,
}

/// E1005 for a schema of another tenant's folder, E1004 for a connection of another
/// tenant (of `tenant`, the task's).
pub(super) fn check_task(
    cx: &mut Cx<'_>,
    owners: &Owners<'_>,
    t: &ast::Task,
    tenant: &str,
    defined: &Defined<'_>,
    connections: &task::Connections<'_>,
    schemas: &HashMap<&str, Arc<ir::Schema>>,
) {
    let id = &t.id.node;
    let home = owners.of(t.id.span);
    let who = match home.folder() {
        Some(f) => format!("task `{id}` of tenant `{f}`'s folder"),
        None => format!("task `{id}` of a top-level file"),
    };
    if let Some(name) = &t.schema {
        let theirs = defined
            .schemas
            .get(name.node.as_str())
            .map(|at| (*at, owners.of(*at)));
        if let Some((at, Owner::Tenant(other))) = theirs {
            if home.folder() != Some(other.as_str()) {
                cx.push(
                    Diagnostic::new(
                        Code::ForeignSchema,
                        name.span,
                        format!("{who} uses schema `{}` of tenant `{other}`'s folder", name.node),
                    )
                    .with_label(format!("tenant `{other}`'s schema"))
                    .with_related(at, format!("declared in tenant `{other}`'s folder"))
                    .with_help(match home.folder() {
                        Some(f) => format!(
                            "move the schema to a top-level file to share it with every tenant, or copy it into `tenants/{f}/` under another id"
                        ),
                        None => format!(
                            "move the task into `tenants/{other}/`, or the schema to a top-level file to share it"
                        ),
                    }),
                );
            }
        }
    }

    // Its tenant's connection (or a system one); else, to report it, the one other
    // tenant's connection it would otherwise read through.
    let found = through(t, home.folder(), connections, schemas)
        .or_else(|| through(t, None, connections, schemas));
    let Some(c) = found else {
        return;
    };
    let Some(at) = defined.connections.get(c.id.as_str()).copied() else {
        return;
    };
    let folder = owners.of(at).folder();
    let tenant_scope = c.scope == ir::ConnectionScope::Tenant;
    let foreign_folder = folder.is_some() && folder != home.folder();
    let foreign_tenant = tenant_scope && c.tenant.as_deref() != Some(tenant);
    if !(foreign_folder || foreign_tenant) {
        return;
    }
    let whose = match (folder, &c.tenant) {
        (Some(f), _) => format!("tenant `{f}`'s folder"),
        (None, Some(other)) => format!("tenant `{other}`"),
        (None, None) => "no tenant".to_string(),
    };
    let message = format!("{who} reads through connection `{}` of {whose}", c.id);
    let help = match home.folder() {
        Some(f) => format!(
            "name a connection of tenant `{f}` (declared in `tenants/{f}/`) or a `scope system` one with `connection ID`, or move the task"
        ),
        None => format!(
            "move the task into the connection's folder, or the connection to a top-level file (`tenant \"{}\"` keeps it that tenant's)",
            folder.unwrap_or(DEFAULT_TENANT)
        ),
    };
    let d = match &t.connection {
        Some(name) => Diagnostic::new(Code::ForeignConnection, name.span, message)
            .with_label(format!("a connection of {whose}")),
        None => Diagnostic::new(
            Code::ForeignConnection,
            t.schema.as_ref().map_or(t.id.span, |s| s.span),
            message,
        )
        .with_label(format!(
            "names no connection: `{}` serves this schema's integration `{}`",
            c.id, c.integration
        )),
    };
    cx.push(
        d.with_related(at, format!("connection `{}` is declared here", c.id))
            .with_help(help),
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::Owner;
    use crate::compile::{compile, Options};
    use crate::syntax::{self, SourceMap};

    /// The tenant of each task and connection when `files` (owner, text) compile after
    /// the test stdlib; panics with the diagnostics when they do not.
    fn tenants(files: &[(Owner, &str)]) -> Vec<String> {
        let mut map = SourceMap::default();
        let mut docs = Vec::new();
        let mut owners = vec![Owner::Stdlib];
        let stdlib = std::iter::once(("stdlib.cmap".to_string(), super::super::tests::STDLIB));
        let pipeline = files
            .iter()
            .enumerate()
            .map(|(i, (_, text))| (format!("{i}.cmap"), *text));
        for (name, text) in stdlib.chain(pipeline) {
            let id = map.add(PathBuf::from(name), text.to_string());
            let (doc, diags) = syntax::parse(id, map.get(id));
            assert!(diags.is_empty(), "{diags:#?}");
            docs.push(doc);
        }
        owners.extend(files.iter().map(|(owner, _)| owner.clone()));
        let options = Options {
            stdlib_docs: 1,
            owners,
        };
        let c = compile(&docs, &options);
        let program = c
            .program
            .unwrap_or_else(|| panic!("compiles: {:#?}", c.diagnostics));
        let tasks = program
            .tasks
            .iter()
            .map(|t| format!("task {} -> {}", t.id, t.tenant));
        let connections = program.connections.iter().map(|c| {
            format!(
                "connection {} -> {}",
                c.id,
                c.tenant.as_deref().unwrap_or("(system)")
            )
        });
        tasks.chain(connections).collect()
    }

    const SCHEMA: &str = "schema s {\n source salesforce.Contact\n target c_contact\n dedupe external_id(Id)\n email = Email\n}\n";

    fn rest(id: &str, extra: &str) -> String {
        format!("connection {id} {{ integration rest {extra} auth none settings {{ baseUrl: \"http://127.0.0.1:9\", path: \"/p\" }} }}\n")
    }

    #[test]
    fn whose_each_task_and_connection_is() {
        let acme = || Owner::Tenant("acme".into());
        let system = rest("everyone", "scope system");
        let top_acme = rest("top-acme", "tenant \"acme\"");
        let top = rest("top", "");
        let mine = rest("mine", "");
        let sf = "connection sf { integration salesforce auth oauth2 { clientId: \"i\", clientSecret: env(\"S\"), refreshToken: stored, tokenUrl: \"https://t\" } tenant \"globex\" }\n";
        // (what, the files and their owners, whose each task and connection is)
        type Case<'a> = (&'a str, Vec<(Owner, String)>, &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (
                "a top-level task takes its connection's tenant, else default",
                vec![(
                    Owner::Top,
                    format!("{SCHEMA}{system}{top_acme}{top}task a {{ schema s connection top-acme }}\ntask b {{ schema s connection everyone }}\ntask c {{ schema s connection top }}\n"),
                )],
                &[
                    "task a -> acme",
                    "task b -> default",
                    "task c -> default",
                    "connection everyone -> (system)",
                    "connection top-acme -> acme",
                    "connection top -> default",
                ],
            ),
            (
                "a top-level task through the one connection of its integration",
                vec![(Owner::Top, format!("{SCHEMA}{sf}task a {{ schema s }}\n"))],
                &["task a -> globex", "connection sf -> globex"],
            ),
            (
                "a tenant folder's tasks and connections are its tenant's",
                vec![
                    (Owner::Top, format!("{SCHEMA}{system}")),
                    (
                        acme(),
                        format!("{mine}task a {{ schema s connection mine }}\ntask b {{ schema s connection everyone }}\ntask c {{ schema s schedule realtime token stored }}\n"),
                    ),
                ],
                &[
                    "task a -> acme",
                    "task b -> acme",
                    "task c -> acme",
                    "connection everyone -> (system)",
                    "connection mine -> acme",
                ],
            ),
        ];
        for (what, files, want) in cases {
            let files: Vec<(Owner, &str)> =
                files.iter().map(|(o, t)| (o.clone(), t.as_str())).collect();
            assert_eq!(tenants(&files), *want, "{what}");
        }
    }

    /// The connection a task that names none reads through (what the engine uses too):
    /// its tenant's, else a system one, never another tenant's; several tenants each
    /// with a connection of one integration is no ambiguity for their tasks.
    #[test]
    fn a_task_that_names_no_connection_reads_through_its_tenants() {
        let through = |files: &[(Owner, String)]| -> Vec<String> {
            let mut map = SourceMap::default();
            let mut docs = Vec::new();
            let mut owners = vec![Owner::Stdlib];
            let stdlib = (
                "stdlib.cmap".to_string(),
                super::super::tests::STDLIB.to_string(),
            );
            let pipeline = files
                .iter()
                .enumerate()
                .map(|(i, (_, text))| (format!("{i}.cmap"), text.clone()));
            for (name, text) in std::iter::once(stdlib).chain(pipeline) {
                let id = map.add(PathBuf::from(name), text);
                let (doc, diags) = syntax::parse(id, map.get(id));
                assert!(diags.is_empty(), "{diags:#?}");
                docs.push(doc);
            }
            owners.extend(files.iter().map(|(o, _)| o.clone()));
            let c = compile(
                &docs,
                &Options {
                    stdlib_docs: 1,
                    owners,
                },
            );
            assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
            let program = c.program.expect("checks");
            program
                .tasks
                .iter()
                .map(|t| {
                    let integration = t.schema.integration.as_deref().unwrap_or_default();
                    let c = crate::compile::ir::serving_connection(
                        &program.connections,
                        integration,
                        Some(&t.tenant),
                    );
                    format!("{} -> {}", t.id, c.map_or("none".into(), |c| c.id.clone()))
                })
                .collect()
        };
        let acme = || Owner::Tenant("acme".into());
        let globex = || Owner::Tenant("globex".into());
        let sf = |id: &str, extra: &str| {
            format!("connection {id} {{ integration salesforce {extra} auth oauth2 {{ clientId: \"i\", clientSecret: env(\"S\"), refreshToken: stored, tokenUrl: \"https://t\" }} }}\n")
        };
        let system = sf("everyone", "scope system");
        // (what, the files and their owners, each task's connection)
        type Case<'a> = (&'a str, Vec<(Owner, String)>, &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (
                "each tenant's own, no ambiguity",
                vec![
                    (Owner::Top, SCHEMA.to_string()),
                    (
                        acme(),
                        format!("{}task a {{ schema s }}\n", sf("acme-api", "")),
                    ),
                    (
                        globex(),
                        format!("{}task g {{ schema s }}\n", sf("globex-api", "")),
                    ),
                ],
                &["a -> acme-api", "g -> globex-api"],
            ),
            (
                "a tenant's own wins over the system one; without, the system one",
                vec![
                    (Owner::Top, format!("{SCHEMA}{system}")),
                    (
                        acme(),
                        format!("{}task a {{ schema s }}\n", sf("acme-api", "")),
                    ),
                    (globex(), "task g { schema s }\n".to_string()),
                ],
                &["a -> acme-api", "g -> everyone"],
            ),
        ];
        for (what, files, want) in cases {
            assert_eq!(through(files), *want, "{what}");
        }
    }
}
