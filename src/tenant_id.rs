//! The tenant id rule, one place for every layer: the store (tenants, users), the API
//! (`X-Tenant-Id`), the CLI (`--tenant`) and `check` (a connection's `tenant "ID"`, a
//! `tenants/ID/` folder of pipeline files). A leaf: it uses nothing else of the crate.

/// The tenant of file-based pipelines outside `tenants/`, and of everything stored
/// before tenants existed. Every store has it from its first open.
pub const DEFAULT_TENANT: &str = "default";

/// The longest tenant id: one DNS label, so it fits a host name or a path segment.
pub const MAX_TENANT_ID: usize = 63;

/// `Ok` when `id` is a tenant id: 1 to 63 of `a-z`, `0-9` and `-`, starting with a
/// letter or digit (a DNS label's characters: safe in a path, a header, a file name).
/// `Err` says what is wrong and how to fix it.
pub fn valid_tenant_id(id: &str) -> Result<(), String> {
    let shown = id.escape_default();
    if id.is_empty() {
        return Err("a tenant id is empty".into());
    }
    if id.len() > MAX_TENANT_ID {
        return Err(format!(
            "tenant id `{shown}` is {} characters long; at most {MAX_TENANT_ID}",
            id.len()
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "tenant id `{shown}` holds `{}`: use lower-case letters, digits and `-`",
            bad.escape_default()
        ));
    }
    if id.starts_with('-') {
        return Err(format!(
            "tenant id `{shown}` starts with `-`: start it with a letter or digit"
        ));
    }
    Ok(())
}
