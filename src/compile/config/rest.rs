//! The generic REST reader: the connection's settings, and what a task may set in its
//! own config (every setting but `baseUrl`, which is where the connection's credentials
//! go). `crate::connectors::rest` runs the read.

use serde_json::Value;

use super::keys::Keys;
use crate::syntax::ast::{Tree, TreeNode};

/// The largest page a task may ask for (`pagination.pageSize`).
pub const MAX_PAGE_SIZE: u64 = 10_000;
/// The largest first page number (`pagination.startPage`).
pub const MAX_START_PAGE: u64 = 1_000_000;

/// How pages follow each other.
#[derive(Clone, Debug, PartialEq)]
pub enum Pagination {
    /// One page.
    None,
    /// The next cursor is at `path` in the body, sent as the query parameter `param`.
    Cursor { path: String, param: String },
    /// `param` is the offset of the page's first record.
    Offset { param: String },
    /// `param` is the page number, from `start`; `total_pages_path` in the body says
    /// which page is the last.
    Page {
        param: String,
        start: u64,
        total_pages_path: Option<String>,
    },
    /// The `Link: <URL>; rel="next"` header.
    Link,
    /// The next page's URL is at `path` in the body.
    NextUrl { path: String },
}

/// The `pagination` setting: its type and what every type takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Paging {
    pub kind: Pagination,
    /// `limitParam`: the query parameter the page size is sent in (offset pagination:
    /// `limit` by default; otherwise none is sent unless named).
    pub limit_param: Option<String>,
    /// `pageSize`: the page size sent in `limit_param`; `None`: the engine's page size
    /// (`--page-size`).
    pub page_size: Option<u32>,
    /// `totalPath`: the total record count in the body (for progress).
    pub total_path: Option<String>,
}

/// What shapes one read. A connection's settings give each; a task's config may give
/// its own, which wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    /// `path`: appended to `baseUrl`; `{entity}` is the source entity. Default
    /// `/{entity}`.
    pub path: Option<String>,
    /// `recordsPath`: the dot path of the records array in the body.
    pub records_path: Option<String>,
    /// `pagination`.
    pub paging: Option<Paging>,
    /// `idField`: the dot path of a record's external id (default `id`).
    pub id_field: Option<String>,
    /// `updatedField` (a task may say `modifiedSinceField`): the record's modification
    /// time; with it, reads are incremental.
    pub updated_field: Option<String>,
    /// `incrementalParam`: the query parameter the watermark is sent in.
    pub incremental_param: Option<String>,
}

impl Read {
    /// This read's keys, each given by `over` when it gives it (a task's own over its
    /// connection's).
    pub fn or(&self, over: &Read) -> Read {
        Read {
            path: over.path.clone().or_else(|| self.path.clone()),
            records_path: over
                .records_path
                .clone()
                .or_else(|| self.records_path.clone()),
            paging: over.paging.clone().or_else(|| self.paging.clone()),
            id_field: over.id_field.clone().or_else(|| self.id_field.clone()),
            updated_field: over
                .updated_field
                .clone()
                .or_else(|| self.updated_field.clone()),
            incremental_param: over
                .incremental_param
                .clone()
                .or_else(|| self.incremental_param.clone()),
        }
    }
}

/// A REST connection's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `baseUrl` (required): the API's origin and base path.
    pub base_url: url::Url,
    pub read: Read,
}

const TYPES: &[(&str, Kind)] = &[
    ("none", Kind::None),
    ("cursor", Kind::Cursor),
    ("offset", Kind::Offset),
    ("page", Kind::Page),
    ("link", Kind::Link),
    ("next_url", Kind::NextUrl),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    None,
    Cursor,
    Offset,
    Page,
    Link,
    NextUrl,
}

/// The options of one type only, and the type they belong to.
const TYPE_OPTIONS: &[(&str, Kind)] = &[
    ("cursorPath", Kind::Cursor),
    ("cursorParam", Kind::Cursor),
    ("offsetParam", Kind::Offset),
    ("pageParam", Kind::Page),
    ("startPage", Kind::Page),
    ("totalPagesPath", Kind::Page),
    ("nextUrlPath", Kind::NextUrl),
];

pub(super) fn settings(k: &mut Keys<'_>) -> Option<Settings> {
    let base_url = k.url("baseUrl", "https://api.example.com/v1");
    k.require(
        "baseUrl",
        "\"https://api.example.com/v1\"",
        ": the API's origin, where the connection's credentials go",
    );
    let read = read(k, false);
    if let (Some(base), Some(path)) = (&base_url, &read.path) {
        // The first page's URL must parse once the entity is in: checked with a
        // placeholder entity, since connections are shared by entities.
        let joined = join(base, path, "entity");
        if let Err(why) = joined {
            if let Some(at) = k.value("path").map(|v| v.span) {
                k.invalid(
                    at,
                    format!("`baseUrl` and `path` of {} make no URL", k.owner),
                    why,
                    "write a path such as `path: \"/v1/{entity}\"`".into(),
                );
            }
        }
    }
    Some(Settings {
        base_url: base_url?,
        read,
    })
}

/// What a task's config says of a REST read: any setting but `baseUrl`.
pub(super) fn task(k: &mut Keys<'_>) -> Read {
    read(k, true)
}

/// The URL of a read's first page: `base` + `path` with `{entity}` replaced.
pub fn join(base: &url::Url, path: &str, entity: &str) -> Result<url::Url, String> {
    let path = path.replace("{entity}", entity);
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url::Url::parse(&joined).map_err(|e| format!("`{joined}` is not a URL: {e}"))
}

fn read(k: &mut Keys<'_>, task: bool) -> Read {
    let path = k.string("path", "\"/v1/{entity}\"").map(|s| s.node);
    let records_path = k.dot_path("recordsPath", "\"data.items\"");
    let paging = k.value("pagination").and_then(|v| pagination(k, v));
    let id_field = k.dot_path("idField", "\"id\"");
    let mut updated_field = k.dot_path("updatedField", "\"updated_at\"");
    if task {
        // The spec's name for the same thing, in a task's config.
        let both = k.has("updatedField") && k.has("modifiedSinceField");
        let modified = k.dot_path("modifiedSinceField", "\"updated_at\"");
        if both {
            k.not_here(
                "modifiedSinceField",
                "`updatedField` is given too, and says the same",
                "keep one of the two",
            );
        }
        updated_field = updated_field.or(modified);
    }
    let incremental_param = k
        .string("incrementalParam", "\"updated_since\"")
        .map(|s| s.node);
    if task {
        k.not_here(
            "baseUrl",
            "the API's base URL belongs to the connection (its credentials go there)",
            "set `baseUrl` in the connection's settings; a task may set `path`",
        );
    }
    Read {
        path,
        records_path,
        paging,
        id_field,
        updated_field,
        incremental_param,
    }
}

/// `pagination`: a type name, or `{ type, ...options }`.
fn pagination(k: &mut Keys<'_>, v: &Tree) -> Option<Paging> {
    let names = TYPES
        .iter()
        .map(|(w, _)| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match &v.node {
        TreeNode::Scalar(Value::String(_)) => {
            // The short form: the type alone, with its defaults.
            let wrapped = Tree {
                span: v.span,
                node: TreeNode::Object(vec![(
                    crate::syntax::ast::Name::new("type".into(), v.span),
                    v.clone(),
                )]),
            };
            let mut p = k.nested(&wrapped, format!("`pagination` of {}", k.owner));
            let out = paging(&mut p, &names);
            k.absorb(p);
            out
        }
        TreeNode::Object(_) => {
            let mut p = k.nested(v, format!("`pagination` of {}", k.owner));
            let out = paging(&mut p, &names);
            k.absorb(p);
            out
        }
        _ => {
            k.wrong_type(
                "pagination",
                v,
                "a type name or an object",
                "{ type: \"offset\", pageSize: 100 }",
            );
            None
        }
    }
}

fn paging(p: &mut Keys<'_>, names: &str) -> Option<Paging> {
    let limit_param = p.string("limitParam", "\"limit\"").map(|s| s.node);
    let page_size = p.whole("pageSize", 1..=MAX_PAGE_SIZE, "records");
    let total_path = p.dot_path("totalPath", "\"meta.total\"");
    let kind = p.keyword("type", TYPES);
    p.require(
        "type",
        "\"offset\"",
        &format!(
            " (one of {names}), e.g. `pagination: {{ type: \"offset\", pageSize: {} }}`",
            page_size.unwrap_or(100)
        ),
    );
    // Without a known type nothing more can be said of the options.
    let kind = kind?;
    let option = |p: &mut Keys<'_>, key: &'static str, default: &str| -> String {
        p.string(key, &format!("\"{default}\""))
            .map_or_else(|| default.to_string(), |s| s.node)
    };
    let dot = |p: &mut Keys<'_>, key: &'static str, default: &str| -> String {
        p.dot_path(key, &format!("\"{default}\""))
            .unwrap_or_else(|| default.to_string())
    };
    let pagination = match kind {
        Kind::None => Pagination::None,
        Kind::Cursor => Pagination::Cursor {
            path: dot(p, "cursorPath", "next_cursor"),
            param: option(p, "cursorParam", "cursor"),
        },
        Kind::Offset => Pagination::Offset {
            param: option(p, "offsetParam", "offset"),
        },
        Kind::Page => Pagination::Page {
            param: option(p, "pageParam", "page"),
            start: p.whole("startPage", 0..=MAX_START_PAGE, "").unwrap_or(1),
            total_pages_path: p.dot_path("totalPagesPath", "\"meta.pages\""),
        },
        Kind::Link => Pagination::Link,
        Kind::NextUrl => Pagination::NextUrl {
            path: dot(p, "nextUrlPath", "next"),
        },
    };
    let type_name = TYPES
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("", |(w, _)| *w);
    for (key, owner) in TYPE_OPTIONS {
        if *owner == kind {
            continue;
        }
        let owner_name = TYPES
            .iter()
            .find(|(_, k)| k == owner)
            .map_or("", |(w, _)| *w);
        p.not_here(
            key,
            &format!("an option of `{owner_name}` pagination; this one is `{type_name}`"),
            &format!("remove it, or write `type: \"{owner_name}\"`"),
        );
    }
    // Offset pagination sends the page size as `limit` unless told otherwise; other
    // types send it only in a parameter they are given.
    let limit_param = match (kind, limit_param) {
        (Kind::Offset, None) => Some("limit".to_string()),
        (_, l) => l,
    };
    if page_size.is_some() && limit_param.is_none() {
        p.not_here(
            "pageSize",
            "no query parameter carries it: this pagination sends no page size",
            "name the parameter the API reads the page size from, e.g. `limitParam: \"per_page\"`",
        );
    }
    super::unknown(
        p,
        "a `pagination` option",
        &format!("the options of `{type_name}` pagination are"),
    );
    Some(Paging {
        kind: pagination,
        limit_param,
        page_size: page_size.and_then(|n| u32::try_from(n).ok()),
        total_path,
    })
}
