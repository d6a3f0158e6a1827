//! The standard library shipped inside the binary: shard types, source entities, rates,
//! and the integration catalogue.
//!
//! `stdlib/` on disk is the source of truth; the binary embeds a copy so that `cmap`
//! works from any directory. When a `stdlib/` directory is given (or found in the
//! working directory) it is read instead, so edits apply without a rebuild.

/// `(file name, contents)` of every stdlib file, in load order.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("shardtypes.cmap", include_str!("../stdlib/shardtypes.cmap")),
    ("salesforce.cmap", include_str!("../stdlib/salesforce.cmap")),
    ("hubspot.cmap", include_str!("../stdlib/hubspot.cmap")),
    ("news.cmap", include_str!("../stdlib/news.cmap")),
    ("rates.cmap", include_str!("../stdlib/rates.cmap")),
    (
        "integrations.cmap",
        include_str!("../stdlib/integrations.cmap"),
    ),
];
