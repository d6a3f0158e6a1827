//! Tests of tenants, users and API tokens in the sled store.

use chrono::{DateTime, TimeZone, Utc};
use tempfile::TempDir;

use super::tests::reopen;
use super::SledStore;
use crate::store::{ApiToken, Revocation, Role, Store, StoreError, Tenant, User};

fn open() -> (TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = reopen(dir.path());
    (dir, store)
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0)
        .single()
        .expect("a valid time")
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: format!("{id} inc."),
        created_at: at(0),
    }
}

fn user(id: &str, email: &str, role: Role, tenant: Option<&str>) -> User {
    User {
        id: id.into(),
        email: email.into(),
        role,
        tenant_id: tenant.map(str::to_owned),
        created_at: at(1),
    }
}

fn token(id: &str, user: &User) -> ApiToken {
    ApiToken {
        id: id.into(),
        secret_hash: "00".repeat(32),
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        created_at: at(1),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

fn ids<T>(items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|t| id(t).to_owned()).collect()
}

#[test]
fn default_tenant_exists_from_the_first_open_and_survives_reopening() {
    let (dir, store) = open();
    let default = store.tenant_record("default").expect("read");
    let created = default.as_ref().map(|t| t.created_at);
    assert_eq!(default.map(|t| t.name).as_deref(), Some("default"));
    drop(store);
    let store = reopen(dir.path());
    let again = store.tenant_record("default").expect("read");
    assert_eq!(
        again.map(|t| t.created_at),
        created,
        "seeded once, not again"
    );
    assert!(matches!(
        store.add_tenant(&tenant("default")),
        Err(StoreError::Exists(what)) if what == "tenant `default`"
    ));
}

#[test]
fn tenants_are_added_once_validated_and_listed_in_order() {
    let (_dir, store) = open();
    store.add_tenant(&tenant("zeta")).expect("add");
    store.add_tenant(&tenant("acme")).expect("add");
    let cases: &[(&str, &str)] = &[
        ("acme", "tenant `acme` exists already"),
        ("", "invalid write: a tenant id is empty"),
        (
            "Acme",
            "invalid write: tenant id `Acme` holds `A`: use lower-case letters, digits and `-`",
        ),
        (
            "a/b",
            "invalid write: tenant id `a/b` holds `/`: use lower-case letters, digits and `-`",
        ),
    ];
    for (id, want) in cases {
        let err = store.add_tenant(&tenant(id)).expect_err(id);
        assert_eq!(err.to_string(), *want);
    }
    let listed = store.tenant_records().expect("list");
    assert_eq!(ids(listed, |t| &t.id), ["acme", "default", "zeta"]);
    assert_eq!(
        store.tenant_record("acme").expect("read"),
        Some(tenant("acme"))
    );
    assert_eq!(store.tenant_record("nope").expect("read"), None);
}

#[test]
fn users_are_added_with_their_first_token_or_not_at_all() {
    let (_dir, store) = open();
    store.add_tenant(&tenant("acme")).expect("add");
    let admin = user("u1", "ada@acme.io", Role::TenantAdmin, Some("acme"));
    store.add_user(&admin, &token("t1", &admin)).expect("add");
    let root = user("u0", "root@castiel.io", Role::SuperAdmin, None);
    store.add_user(&root, &token("t0", &root)).expect("add");

    // Each refused: (user, its token, the error), and nothing of it is stored.
    let other_token = token("t9", &user("u9", "x@y.z", Role::User, Some("acme")));
    let cases: Vec<(User, ApiToken, &str)> = vec![
        (
            user("u2", "ada@acme.io", Role::User, Some("acme")),
            token("t2", &user("u2", "", Role::User, Some("acme"))),
            "a user with e-mail `ada@acme.io` exists already",
        ),
        (
            user("u2", "bob@acme.io", Role::User, Some("nope")),
            token("t2", &user("u2", "", Role::User, Some("nope"))),
            "tenant `nope` does not exist",
        ),
        (
            user("u2", "bob@acme.io", Role::User, None),
            token("t2", &user("u2", "", Role::User, None)),
            "invalid write: a user belongs to a tenant: give one (`--tenant ID`)",
        ),
        (
            user("u2", "bob@acme.io", Role::SuperAdmin, Some("acme")),
            token("t2", &user("u2", "", Role::SuperAdmin, Some("acme"))),
            "invalid write: a super_admin belongs to no tenant (it acts in any), but tenant `acme` was given",
        ),
        (
            user("u2", "Bob@acme.io", Role::User, Some("acme")),
            token("t2", &user("u2", "", Role::User, Some("acme"))),
            "invalid write: the e-mail `Bob@acme.io` is not normalised (`bob@acme.io`)",
        ),
        (
            user("u2", "bob@acme.io", Role::User, Some("acme")),
            token("t1", &user("u2", "", Role::User, Some("acme"))),
            "API token `t1` exists already",
        ),
        (
            user("u2", "bob@acme.io", Role::User, Some("acme")),
            other_token,
            "invalid write: token `t9` names user `u9` of tenant Some(\"acme\"), not user `u2` of tenant Some(\"acme\")",
        ),
    ];
    for (u, t, want) in cases {
        let err = store.add_user(&u, &t).expect_err(want);
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(store.user_by_email("bob@acme.io").expect("read"), None);
    assert_eq!(store.api_token("t2").expect("read"), None);

    assert_eq!(
        store.user_by_email("ada@acme.io").expect("read"),
        Some(admin.clone())
    );
    assert_eq!(
        store.user(Some("acme"), "u1").expect("read"),
        Some(admin.clone())
    );
    assert_eq!(
        store.user(None, "u1").expect("read"),
        None,
        "tenant-prefixed"
    );
    assert_eq!(store.user(None, "u0").expect("read"), Some(root.clone()));
    assert_eq!(store.users().expect("list"), vec![root, admin.clone()]);
    assert_eq!(
        store.api_token("t1").expect("read"),
        Some(token("t1", &admin))
    );
}

#[test]
fn tokens_are_added_for_stored_users_only() {
    let (_dir, store) = open();
    let ada = user("u1", "ada@example.com", Role::User, Some("default"));
    store.add_user(&ada, &token("t1", &ada)).expect("add");
    store.add_api_token(&token("t2", &ada)).expect("add");
    let ghost = user("u2", "g@example.com", Role::User, Some("default"));
    let elsewhere = user("u1", "ada@example.com", Role::SuperAdmin, None);
    let cases = [
        (
            token("t3", &ghost),
            "user `u2` of tenant `default` does not exist",
        ),
        (token("t3", &elsewhere), "user `u1` does not exist"),
        (token("t2", &ada), "API token `t2` exists already"),
    ];
    for (t, want) in cases {
        assert_eq!(store.add_api_token(&t).expect_err(want).to_string(), want);
    }
    assert_eq!(store.api_token("t3").expect("read"), None);
}

#[test]
fn revoking_twice_keeps_the_first_time() {
    let (_dir, store) = open();
    let ada = user("u1", "ada@example.com", Role::User, Some("default"));
    store.add_user(&ada, &token("t1", &ada)).expect("add");
    assert_eq!(
        store.revoke_api_token("t1", at(5)).expect("revoke"),
        Revocation::Revoked
    );
    assert_eq!(
        store.revoke_api_token("t1", at(9)).expect("revoke"),
        Revocation::AlreadyRevoked(at(5))
    );
    assert_eq!(
        store.revoke_api_token("nope", at(9)).expect("revoke"),
        Revocation::Unknown
    );
    let stored = store.api_token("t1").expect("read").expect("stored");
    assert_eq!(stored.revoked_at, Some(at(5)));
}

#[test]
fn last_use_is_written_only_when_older_than_the_bound() {
    let (_dir, store) = open();
    let ada = user("u1", "ada@example.com", Role::User, Some("default"));
    store.add_user(&ada, &token("t1", &ada)).expect("add");
    store.revoke_api_token("t1", at(2)).expect("revoke");
    // (now, written before `if_before`, expected write, lastUsedAt after)
    let cases = [
        (at(10), at(9), true, Some(at(10))),
        (at(10), at(9), false, Some(at(10))),
        (at(11), at(10), false, Some(at(10))),
        (at(12), at(11), true, Some(at(12))),
    ];
    for (now, if_before, wrote, after) in cases {
        let done = store.touch_api_token("t1", now, if_before).expect("touch");
        assert_eq!(done, wrote, "{now}");
        let stored = store.api_token("t1").expect("read").expect("stored");
        assert_eq!(stored.last_used_at, after, "{now}");
        assert_eq!(stored.revoked_at, Some(at(2)), "other fields kept");
    }
    assert!(!store
        .touch_api_token("nope", at(20), at(20))
        .expect("touch"));
}

#[test]
fn a_token_whose_user_is_gone_is_refused() {
    use crate::store::api_token::{self, AuthError, Reason};
    let (_dir, store) = open();
    let ghost = user("u-ghost", "g@example.com", Role::User, Some("default"));
    let (record, issued) = api_token::mint(&ghost, at(0), None).expect("mint");
    // The store never writes a token without its user: put one there as a damaged (or
    // hand-edited) store would hold it.
    let k = super::identity::token_key(&record.id);
    let bytes = serde_json::to_vec(&record).expect("encode");
    store.state.raw().insert(k, bytes).expect("insert");
    match api_token::authenticate(&store, issued.expose(), at(1)) {
        Err(AuthError::Refused(r)) => assert_eq!(
            r.reason(),
            &Reason::UserMissing {
                id: record.id.clone(),
                user: "u-ghost".into()
            }
        ),
        other => panic!("not refused: {other:?}"),
    }
}
