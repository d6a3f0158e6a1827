//! Credentials encryption: the master keyring and AEAD sealing of connection secrets.
//!
//! Every secret of a connection is one JSON object sealed with ChaCha20-Poly1305 under
//! the current master key: a random 96-bit nonce per seal, `encryptedData` =
//! base64(nonce || ciphertext || tag), the key's id beside it, and associated data
//! ([`aad`]) binding the tenant and the connection id, so a ciphertext copied onto
//! another connection or tenant does not open.
//!
//! # Keys
//!
//! - `CMAP_MASTER_KEY` (base64 of 32 random bytes), when set, is the current key.
//! - Otherwise `DATA/master.key` is, created on first run (mode 0600) with 32 random
//!   bytes: `{"keyId": ..., "key": base64, "createdAt": ...}`.
//! - Retired keys live in `DATA/keys/*.key` (mode 0600, the same JSON, or a bare base64
//!   line an operator wrote): they open older ciphertexts, never seal.
//!
//! A key id is derived from the key itself (`k-` and 16 hex digits of a Poly1305 tag
//! over a fixed message), so a key from the environment has a stable id too and a key
//! file whose id does not match its key is reported as damaged.
//!
//! # Rotation ([`rotate`])
//!
//! Without `CMAP_MASTER_KEY`: a new key is generated and saved as a retired key first,
//! the current key is saved as retired too, every connection is re-encrypted under the
//! new key, then the new key replaces `master.key`. Only when every connection opens
//! under it are the retired files no connection uses removed. A crash at any point
//! leaves every ciphertext openable, and running the rotation again finishes it.
//!
//! With `CMAP_MASTER_KEY` set, cmap cannot replace the key (it lives in the operator's
//! environment), so rotation is the operator's two steps: save the old key as a retired
//! file (`DATA/keys/previous.key`, the base64 line), set `CMAP_MASTER_KEY` to a new key,
//! then run the rotation, which re-encrypts every connection under the environment key
//! and removes the retired file. Asked to rotate when every connection already is under
//! the environment key, it refuses and says exactly that.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Generate, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use serde::{Deserialize, Serialize};

use super::{ConnectionRecord, ConnectionScope, EncryptedCredentials, Store, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// The `algorithm` of every [`EncryptedCredentials`] cmap seals.
pub const ALGORITHM: &str = "chacha20poly1305";
/// The environment variable of the master key (read by the caller, passed to [`Keyring::load`]).
pub const MASTER_KEY_ENV: &str = "CMAP_MASTER_KEY";
const MASTER_FILE: &str = "master.key";
const RETIRED_DIR: &str = "keys";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 32-byte master key. Never printed.
#[derive(Clone)]
struct MasterKey([u8; 32]);

impl MasterKey {
    fn generate() -> MasterKey {
        MasterKey(<[u8; 32]>::generate())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// The key's id: a Poly1305 tag of the empty message under it. The all-zero nonce
    /// is used for nothing else (seals draw random nonces), so it never repeats a
    /// (key, nonce) pair that protects data.
    fn id(&self) -> String {
        let tag = self
            .cipher()
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: b"",
                    aad: b"cmap master key id v1",
                },
            )
            // Sealing an empty message cannot fail (see `seal`).
            .expect("ChaCha20-Poly1305 seals an empty message");
        let hex: String = tag.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("k-{hex}")
    }

    fn from_base64(text: &str) -> std::result::Result<MasterKey, String> {
        // The decoder's own message names an offending byte of the key: not repeated.
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| "is not valid base64".to_string())?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("decodes to {} bytes, not 32", bytes.len()))?;
        Ok(MasterKey(array))
    }
}

/// A key file's content.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyFile {
    #[serde(default)]
    key_id: Option<String>,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The master keys: the current one seals, every one opens.
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, MasterKey>,
    /// Whether the current key came from `CMAP_MASTER_KEY`.
    from_env: bool,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("from_env", &self.from_env)
            .finish()
    }
}

/// What [`rotate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotateReport {
    /// The key every connection is now sealed under.
    pub new_key_id: String,
    /// How many connections were re-encrypted.
    pub re_encrypted: usize,
    /// The retired key files removed once no connection needed them.
    pub removed_keys: Vec<String>,
}

impl Keyring {
    /// The keyring of `data_dir`: the current key from `master_key_env` (the value of
    /// `CMAP_MASTER_KEY`, if set) or `DATA/master.key` (created on first run), and the
    /// retired keys of `DATA/keys/`.
    pub fn load(data_dir: &Path, master_key_env: Option<&str>) -> Result<Keyring> {
        let mut keys = BTreeMap::new();
        for (id, key) in read_retired(data_dir)? {
            keys.insert(id, key);
        }
        let master_path = data_dir.join(MASTER_FILE);
        let file_key = read_key_file(&master_path)?;
        if let Some((id, key)) = &file_key {
            keys.insert(id.clone(), key.clone());
        }
        let (current, from_env) = match master_key_env {
            Some(value) => {
                let key = MasterKey::from_base64(value).map_err(|why| {
                    StoreError::Crypto(format!(
                        "{MASTER_KEY_ENV} {why}: it must be 32 random bytes in base64, \
                         for example from `head -c 32 /dev/urandom | base64`"
                    ))
                })?;
                let id = key.id();
                keys.insert(id.clone(), key);
                (id, true)
            }
            None => match file_key {
                Some((id, _)) => (id, false),
                None => {
                    let (id, key) = create_master(data_dir)?;
                    keys.insert(id.clone(), key);
                    (id, false)
                }
            },
        };
        Ok(Keyring {
            current,
            keys,
            from_env,
        })
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` under the current key, bound to `aad` (see [`aad`]).
    ///
    /// Panics only if the operating system cannot provide random bytes for the nonce
    /// (or on a plaintext past 256 GiB).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> EncryptedCredentials {
        let key = self.current_key();
        let nonce = Nonce::generate();
        let sealed = key
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // ChaCha20-Poly1305 refuses only messages past 256 GiB, which cannot be
            // credentials held in memory: a failure here is a bug, not bad input.
            .expect("ChaCha20-Poly1305 seals any message under 256 GiB");
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&sealed);
        EncryptedCredentials {
            encrypted_data: BASE64.encode(data),
            key_id: self.current.clone(),
            algorithm: ALGORITHM.to_string(),
        }
    }

    /// Opens credentials sealed by [`Keyring::seal`] with the same `aad`. A wrong key,
    /// other associated data or an altered ciphertext is a [`StoreError::Crypto`] that
    /// repeats nothing of the data.
    pub fn open(&self, enc: &EncryptedCredentials, aad: &[u8]) -> Result<Vec<u8>> {
        if enc.algorithm != ALGORITHM {
            return Err(StoreError::Crypto(format!(
                "credentials sealed with `{}`; cmap opens only {ALGORITHM}",
                enc.algorithm
            )));
        }
        let key = self.keys.get(&enc.key_id).ok_or_else(|| {
            StoreError::Crypto(format!(
                "credentials sealed under key `{}`, which is neither the current key `{}` \
                 nor a retired key in DATA/{RETIRED_DIR}/",
                enc.key_id, self.current
            ))
        })?;
        let damaged = || {
            StoreError::Crypto(format!(
                "credentials sealed under key `{}` are damaged",
                enc.key_id
            ))
        };
        let data = BASE64.decode(&enc.encrypted_data).map_err(|_| damaged())?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(damaged());
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| damaged())?;
        key.cipher()
            .decrypt(&nonce, Payload { msg: sealed, aad })
            .map_err(|_| {
                StoreError::Crypto(format!(
                    "credentials do not open under key `{}`: they were sealed for another \
                     tenant or connection, or altered",
                    enc.key_id
                ))
            })
    }

    fn current_key(&self) -> &MasterKey {
        // `current` is always inserted into `keys` by the constructors.
        &self.keys[&self.current]
    }
}

/// The associated data of a connection's credentials: the tenant and connection id,
/// length-prefixed so no two pairs meet. System-scope connections use the empty tenant.
pub fn aad(tenant: &str, connection_id: &str) -> Vec<u8> {
    let mut out = b"cmap credentials v1".to_vec();
    for part in [tenant, connection_id] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// The associated data of `record`'s credentials ([`aad`] of its tenant and id).
pub fn connection_aad(record: &ConnectionRecord) -> Vec<u8> {
    let tenant = match record.scope {
        ConnectionScope::System => "",
        ConnectionScope::Tenant => record.tenant_id.as_deref().unwrap_or(""),
    };
    aad(tenant, &record.id)
}

/// Re-encrypts every connection of `store` under a new master key (see the module docs
/// for the steps, and for what happens with `CMAP_MASTER_KEY` set).
pub fn rotate(
    data_dir: &Path,
    master_key_env: Option<&str>,
    store: &dyn Store,
) -> Result<RotateReport> {
    let mut ring = Keyring::load(data_dir, master_key_env)?;
    if ring.from_env {
        let stale = store
            .connections()?
            .iter()
            .filter(|c| c.credentials.key_id != ring.current)
            .count();
        if stale == 0 {
            return Err(StoreError::Crypto(format!(
                "cannot rotate: the master key comes from {MASTER_KEY_ENV}, which cmap cannot \
                 change, and every credential is already sealed under it (key `{current}`). \
                 To rotate it, save the current key as {retired} (its base64 line, mode 0600), \
                 set {MASTER_KEY_ENV} to a new key (`head -c 32 /dev/urandom | base64`) and run \
                 the rotation again. To let cmap keep and rotate its own key in {master} \
                 instead, save the current key the same way and unset {MASTER_KEY_ENV}.",
                current = ring.current,
                retired = data_dir.join(RETIRED_DIR).join("previous.key").display(),
                master = data_dir.join(MASTER_FILE).display(),
            )));
        }
        let re_encrypted = re_encrypt(&ring, store)?;
        let removed_keys = remove_unused_retired(data_dir, &ring, store)?;
        return Ok(RotateReport {
            new_key_id: ring.current,
            re_encrypted,
            removed_keys,
        });
    }

    let new_key = MasterKey::generate();
    let new_id = new_key.id();
    // Both keys are on disk as retired keys before any ciphertext depends on them: a
    // crash from here on leaves every connection openable.
    let old_id = ring.current.clone();
    write_retired(data_dir, &old_id, ring.current_key())?;
    write_retired(data_dir, &new_id, &new_key)?;
    ring.keys.insert(new_id.clone(), new_key.clone());
    ring.current.clone_from(&new_id);

    let re_encrypted = re_encrypt(&ring, store)?;
    write_master(data_dir, &new_id, &new_key)?;
    let removed_keys = remove_unused_retired(data_dir, &ring, store)?;
    Ok(RotateReport {
        new_key_id: new_id,
        re_encrypted,
        removed_keys,
    })
}

/// Re-seals under the current key every connection sealed under another.
fn re_encrypt(ring: &Keyring, store: &dyn Store) -> Result<usize> {
    let mut n = 0;
    for mut record in store.connections()? {
        if record.credentials.key_id == ring.current {
            continue;
        }
        let aad = connection_aad(&record);
        let plaintext = ring
            .open(&record.credentials, &aad)
            .map_err(|e| StoreError::Crypto(format!("connection `{}`: {e}", record.id)))?;
        record.credentials = ring.seal(&plaintext, &aad);
        store.put_connection(&record)?;
        n += 1;
    }
    Ok(n)
}

/// Removes the retired key files once every connection opens under the current key
/// (and keeps them all if one does not).
fn remove_unused_retired(
    data_dir: &Path,
    ring: &Keyring,
    store: &dyn Store,
) -> Result<Vec<String>> {
    for record in store.connections()? {
        if record.credentials.key_id != ring.current {
            return Err(StoreError::Crypto(format!(
                "connection `{}` is still sealed under key `{}`; retired keys kept",
                record.id, record.credentials.key_id
            )));
        }
        ring.open(&record.credentials, &connection_aad(&record))
            .map_err(|e| StoreError::Crypto(format!("connection `{}`: {e}", record.id)))?;
    }
    // Every connection is under the current key, so no retired key is needed any more.
    // The current key may sit there as well (saved before it became current): it lives
    // on in master.key or the environment.
    let mut removed = Vec::new();
    for (path, id) in retired_files(data_dir)? {
        fs::remove_file(&path).map_err(|e| io_error("remove", &path, &e))?;
        removed.push(id);
    }
    if !removed.is_empty() {
        sync_dir(&data_dir.join(RETIRED_DIR))?;
    }
    removed.sort();
    removed.dedup();
    Ok(removed)
}

fn read_retired(data_dir: &Path) -> Result<Vec<(String, MasterKey)>> {
    let mut out = Vec::new();
    for (path, _) in retired_files(data_dir)? {
        if let Some(entry) = read_key_file(&path)? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The `*.key` files of `DATA/keys/`, in name order, with their key ids.
fn retired_files(data_dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let dir = data_dir.join(RETIRED_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read", &dir, &e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error("read", &dir, &e))?.path();
        if path.extension().is_some_and(|ext| ext == "key") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        if let Some((id, _)) = read_key_file(&path)? {
            out.push((path, id));
        }
    }
    Ok(out)
}

/// A key file's key and id; `None` if the file does not exist.
fn read_key_file(path: &Path) -> Result<Option<(String, MasterKey)>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path, &e)),
    };
    warn_if_readable_by_others(path);
    let damaged = |why: &str| StoreError::Crypto(format!("key file {} {why}", path.display()));
    let trimmed = text.trim();
    let (stated_id, encoded) = if trimmed.starts_with('{') {
        let file: KeyFile =
            serde_json::from_str(trimmed).map_err(|_| damaged("is not a key file"))?;
        (file.key_id, file.key)
    } else {
        (None, trimmed.to_string())
    };
    let key = MasterKey::from_base64(&encoded)
        .map_err(|why| damaged(&format!("holds a key that {why}")))?;
    let id = key.id();
    if stated_id.is_some_and(|stated| stated != id) {
        return Err(damaged("is damaged: its keyId does not match its key"));
    }
    Ok(Some((id, key)))
}

/// Creates `DATA/master.key` with a new key, unless another process just did.
fn create_master(data_dir: &Path) -> Result<(String, MasterKey)> {
    // The data directory holds shards too: private from its creation.
    super::private::create_dir(data_dir).map_err(|e| io_error("create", data_dir, &e))?;
    let key = MasterKey::generate();
    let id = key.id();
    let path = data_dir.join(MASTER_FILE);
    match write_key_file(&path, &id, &key) {
        Ok(()) => {
            sync_dir(data_dir)?;
            tracing::info!(key_id = %id, path = %path.display(), "created the master key");
            Ok((id, key))
        }
        // Two first runs at once: the other one's key wins, and both use it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(&path)?
            .ok_or_else(|| StoreError::Crypto(format!("key file {} vanished", path.display()))),
        Err(e) => Err(io_error("create", &path, &e)),
    }
}

/// Saves `key` as `DATA/keys/<id>.key` unless it is there already.
fn write_retired(data_dir: &Path, id: &str, key: &MasterKey) -> Result<()> {
    let dir = data_dir.join(RETIRED_DIR);
    create_private_dir(&dir)?;
    let path = dir.join(format!("{id}.key"));
    match write_key_file(&path, id, key) {
        Ok(()) => sync_dir(&dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("create", &path, &e)),
    }
}

/// Replaces `DATA/master.key` atomically (a new file renamed over it).
fn write_master(data_dir: &Path, id: &str, key: &MasterKey) -> Result<()> {
    let path = data_dir.join(MASTER_FILE);
    let tmp = data_dir.join(format!("{MASTER_FILE}.new"));
    // A leftover from a crash could have other permissions; the new file is created 0600.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("remove", &tmp, &e)),
    }
    write_key_file(&tmp, id, key).map_err(|e| io_error("create", &tmp, &e))?;
    fs::rename(&tmp, &path).map_err(|e| io_error("replace", &path, &e))?;
    sync_dir(data_dir)
}

/// Writes a new key file, mode 0600 from its creation, flushed to disk.
fn write_key_file(path: &Path, id: &str, key: &MasterKey) -> std::io::Result<()> {
    let content = serde_json::to_string_pretty(&KeyFile {
        key_id: Some(id.to_string()),
        key: BASE64.encode(key.0),
        created_at: Some(chrono::Utc::now()),
    })
    .map_err(std::io::Error::other)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> Result<()> {
    super::private::create_dir(dir).map_err(|e| io_error("create", dir, &e))
}

/// Makes a file's creation, rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "a key file is readable by other users; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn io_error(action: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Crypto(format!("cannot {action} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeZone, Utc};
    use expect_test::expect;

    use super::*;
    use crate::store::{
        Batch, ConnectionStatus, DeadLetter, DeadLetterCursor, ExecutionCursor, LogCursor, Page,
        PageRequest, PendingReference, PruneRequest, Pruned, Shard, SledStore, SourceKey,
        SyncExecution, SyncLog, TaskState,
    };

    const SECRET: &str = "sk-live-7f3a9c-TOPSECRET";

    /// A key for `CMAP_MASTER_KEY`: 32 bytes of `fill`, base64.
    fn env_key(fill: u8) -> String {
        BASE64.encode([fill; 32])
    }

    fn open_store(dir: &Path) -> SledStore {
        SledStore::open(&dir.join("state")).unwrap()
    }

    fn record(
        ring: &Keyring,
        scope: ConnectionScope,
        tenant: Option<&str>,
        id: &str,
    ) -> ConnectionRecord {
        let mut record = ConnectionRecord {
            id: id.into(),
            integration_id: "salesforce".into(),
            scope,
            tenant_id: tenant.map(str::to_owned),
            auth_type: "oauth2".into(),
            credentials: EncryptedCredentials {
                encrypted_data: String::new(),
                key_id: String::new(),
                algorithm: String::new(),
            },
            oauth: None,
            status: ConnectionStatus::Active,
            last_validated_at: None,
            display_name: Some(format!("VISIBLE-NAME-{id}")),
            created_by: "admin".into(),
            created_at: Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap(),
        };
        let plaintext = format!(r#"{{"clientSecret":"{SECRET}","for":"{id}"}}"#);
        record.credentials = ring.seal(plaintext.as_bytes(), &connection_aad(&record));
        record
    }

    /// The plaintext of every connection of `store`, by id, opened with a fresh keyring.
    fn opened(dir: &Path, env: Option<&str>, store: &dyn Store) -> Vec<(String, String, String)> {
        let ring = Keyring::load(dir, env).unwrap();
        store
            .connections()
            .unwrap()
            .into_iter()
            .map(|c| {
                let text = ring.open(&c.credentials, &connection_aad(&c)).unwrap();
                (c.id, c.credentials.key_id, String::from_utf8(text).unwrap())
            })
            .collect()
    }

    fn retired_ids(dir: &Path) -> Vec<String> {
        retired_files(dir)
            .unwrap()
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    #[test]
    fn sealed_credentials_open_with_the_same_key_and_aad() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let aad = aad("acme", "sf-prod");
        let sealed = ring.seal(SECRET.as_bytes(), &aad);
        assert_eq!(sealed.algorithm, "chacha20poly1305");
        assert_eq!(sealed.key_id, ring.current_key_id());
        assert!(
            sealed.key_id.starts_with("k-") && sealed.key_id.len() == 18,
            "{}",
            sealed.key_id
        );
        // nonce (12) + plaintext + tag (16)
        assert_eq!(
            BASE64.decode(&sealed.encrypted_data).unwrap().len(),
            12 + SECRET.len() + 16
        );
        assert_eq!(ring.open(&sealed, &aad).unwrap(), SECRET.as_bytes());

        // The next run finds the same key in master.key.
        let again = Keyring::load(dir.path(), None).unwrap();
        assert_eq!(again.current_key_id(), ring.current_key_id());
        assert_eq!(again.open(&sealed, &aad).unwrap(), SECRET.as_bytes());
    }

    #[test]
    fn every_seal_draws_a_new_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let aad = aad("acme", "sf-prod");
        let seals: Vec<EncryptedCredentials> = (0..50).map(|_| ring.seal(b"same", &aad)).collect();
        let nonces: std::collections::BTreeSet<Vec<u8>> = seals
            .iter()
            .map(|s| BASE64.decode(&s.encrypted_data).unwrap()[..12].to_vec())
            .collect();
        assert_eq!(nonces.len(), 50);
        assert_ne!(seals[0].encrypted_data, seals[1].encrypted_data);
        for s in &seals {
            assert_eq!(ring.open(s, &aad).unwrap(), b"same");
        }
    }

    #[test]
    fn wrong_aad_key_or_data_do_not_open_and_say_nothing_of_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let sealed = ring.seal(SECRET.as_bytes(), &aad("acme", "sf-prod"));
        let id = ring.current_key_id().to_string();
        let check = |enc: &EncryptedCredentials, aad: &[u8], expect: &expect_test::Expect| {
            let err = ring.open(enc, aad).unwrap_err();
            assert!(matches!(err, StoreError::Crypto(_)));
            let message = err.to_string().replace(&id, "KEY");
            assert!(!message.contains(SECRET) && !message.contains(&enc.encrypted_data));
            expect.assert_eq(&message);
        };
        let moved = expect![[
            r#"credentials error: credentials do not open under key `KEY`: they were sealed for another tenant or connection, or altered"#
        ]];
        check(&sealed, &aad("globex", "sf-prod"), &moved);
        check(&sealed, &aad("acme", "sf-sandbox"), &moved);
        // Length prefixes: ("ac", "mesf-prod") is not ("acme", "sf-prod").
        check(&sealed, &aad("ac", "mesf-prod"), &moved);
        check(&sealed, &aad("", "sf-prod"), &moved);

        let mut altered = sealed.clone();
        let mut bytes = BASE64.decode(&altered.encrypted_data).unwrap();
        bytes[14] ^= 1;
        altered.encrypted_data = BASE64.encode(bytes);
        check(&altered, &aad("acme", "sf-prod"), &moved);

        let mut short = sealed.clone();
        short.encrypted_data = BASE64.encode([0u8; 20]);
        check(
            &short,
            &aad("acme", "sf-prod"),
            &expect![[r#"credentials error: credentials sealed under key `KEY` are damaged"#]],
        );
        let mut not_base64 = sealed.clone();
        not_base64.encrypted_data = "%%%".into();
        check(
            &not_base64,
            &aad("acme", "sf-prod"),
            &expect![[r#"credentials error: credentials sealed under key `KEY` are damaged"#]],
        );

        let other = tempfile::tempdir().unwrap();
        let foreign = Keyring::load(other.path(), None)
            .unwrap()
            .seal(b"x", &aad("acme", "sf-prod"));
        let err = ring
            .open(&foreign, &aad("acme", "sf-prod"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err.replace(&foreign.key_id, "OTHER").replace(&id, "KEY"),
            "credentials error: credentials sealed under key `OTHER`, which is neither the current key `KEY` nor a retired key in DATA/keys/"
        );

        let mut aes = sealed.clone();
        aes.algorithm = "aes-256-gcm".into();
        check(
            &aes,
            &aad("acme", "sf-prod"),
            &expect![[
                r#"credentials error: credentials sealed with `aes-256-gcm`; cmap opens only chacha20poly1305"#
            ]],
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("master.key")), 0o600);
        let file: KeyFile =
            serde_json::from_str(&fs::read_to_string(dir.path().join("master.key")).unwrap())
                .unwrap();
        assert_eq!(file.key_id.as_deref(), Some(ring.current_key_id()));

        let store = open_store(dir.path());
        store
            .put_connection(&record(&ring, ConnectionScope::System, None, "news"))
            .unwrap();
        let old_id = ring.current_key_id().to_string();
        // A rotation that stops after writing its keys leaves them private too.
        let failing = FailAfter::new(&store, 0);
        rotate(dir.path(), None, &failing).unwrap_err();
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        let retired = retired_files(dir.path()).unwrap();
        assert_eq!(retired.len(), 2);
        assert!(retired.iter().any(|(_, id)| *id == old_id));
        for (path, _) in &retired {
            assert_eq!(mode(path), 0o600, "{}", path.display());
        }
        rotate(dir.path(), None, &store).unwrap();
        assert_eq!(mode(&dir.path().join("master.key")), 0o600);
    }

    #[test]
    fn the_master_key_may_come_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let key = env_key(7);
        let ring = Keyring::load(dir.path(), Some(&format!("  {key}\n"))).unwrap();
        // The id depends on the key only: the same key, the same id, anywhere.
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            ring.current_key_id(),
            Keyring::load(elsewhere.path(), Some(&key))
                .unwrap()
                .current_key_id()
        );
        assert_ne!(
            ring.current_key_id(),
            Keyring::load(elsewhere.path(), Some(&env_key(8)))
                .unwrap()
                .current_key_id()
        );
        // No key file is created when the key comes from the environment.
        assert!(!dir.path().join("master.key").exists());
        let sealed = ring.seal(b"x", b"a");
        assert_eq!(
            Keyring::load(elsewhere.path(), Some(&key))
                .unwrap()
                .open(&sealed, b"a")
                .unwrap(),
            b"x"
        );
    }

    #[test]
    fn a_bad_environment_key_is_explained_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let check = |value: &str, expect: expect_test::Expect| {
            let err = Keyring::load(dir.path(), Some(value))
                .unwrap_err()
                .to_string();
            if value.len() > 3 {
                assert!(!err.contains(value.trim()), "{err}");
            }
            expect.assert_eq(&err);
        };
        check(
            "not base64 at all!",
            expect![[
                r#"credentials error: CMAP_MASTER_KEY is not valid base64: it must be 32 random bytes in base64, for example from `head -c 32 /dev/urandom | base64`"#
            ]],
        );
        check(
            &BASE64.encode([1u8; 16]),
            expect![[
                r#"credentials error: CMAP_MASTER_KEY decodes to 16 bytes, not 32: it must be 32 random bytes in base64, for example from `head -c 32 /dev/urandom | base64`"#
            ]],
        );
        check(
            "",
            expect![[
                r#"credentials error: CMAP_MASTER_KEY decodes to 0 bytes, not 32: it must be 32 random bytes in base64, for example from `head -c 32 /dev/urandom | base64`"#
            ]],
        );
        assert!(!dir.path().join("master.key").exists());
    }

    #[test]
    fn a_damaged_key_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let path = dir.path().join("master.key");
        let mut file: KeyFile = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        file.key = env_key(9);
        fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let err = Keyring::load(dir.path(), None).unwrap_err().to_string();
        assert_eq!(
            err.replace(&dir.path().display().to_string(), "DATA"),
            "credentials error: key file DATA/master.key is damaged: its keyId does not match its key"
        );
        assert!(!err.contains(&file.key));
        fs::write(&path, "{\"key\": 12}").unwrap();
        let err = Keyring::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.ends_with("master.key is not a key file"), "{err}");
        // A bare base64 line (what an operator writes) is a key file too.
        fs::write(&path, format!("{}\n", env_key(9))).unwrap();
        let ring2 = Keyring::load(dir.path(), None).unwrap();
        assert_ne!(ring2.current_key_id(), ring.current_key_id());
        assert_eq!(
            ring2.current_key_id(),
            Keyring::load(dir.path(), Some(&env_key(9)))
                .unwrap()
                .current_key_id()
        );
    }

    #[test]
    fn the_keyring_never_prints_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), Some(&env_key(3))).unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains(&env_key(3)), "{shown}");
        assert_eq!(
            shown,
            format!(
                "Keyring {{ current: {:?}, keys: [{:?}], from_env: true }}",
                ring.current, ring.current
            )
        );
    }

    #[test]
    fn rotation_re_encrypts_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let old_id = ring.current_key_id().to_string();
        let store = open_store(dir.path());
        for (scope, tenant, id) in [
            (ConnectionScope::System, None, "news"),
            (ConnectionScope::Tenant, Some("acme"), "sf"),
            (ConnectionScope::Tenant, Some("globex"), "sf"),
        ] {
            store
                .put_connection(&record(&ring, scope, tenant, id))
                .unwrap();
        }
        let before = opened(dir.path(), None, &store);

        let report = rotate(dir.path(), None, &store).unwrap();
        assert_ne!(report.new_key_id, old_id);
        assert_eq!(report.re_encrypted, 3);
        assert_eq!(report.removed_keys.len(), 2);
        assert!(
            report.removed_keys.contains(&old_id)
                && report.removed_keys.contains(&report.new_key_id)
        );

        let after = opened(dir.path(), None, &store);
        assert_eq!(
            Keyring::load(dir.path(), None).unwrap().current_key_id(),
            report.new_key_id
        );
        for ((id_b, key_b, text_b), (id_a, key_a, text_a)) in before.iter().zip(&after) {
            assert_eq!((id_b, text_b), (id_a, text_a));
            assert_eq!(key_b, &old_id);
            assert_eq!(key_a, &report.new_key_id);
        }
        // The old key is gone: nothing needs it any more.
        assert_eq!(retired_ids(dir.path()), Vec::<String>::new());
        let stale = ring.seal(b"x", b"a");
        assert!(Keyring::load(dir.path(), None)
            .unwrap()
            .open(&stale, b"a")
            .is_err());
    }

    #[test]
    fn an_interrupted_rotation_leaves_everything_openable_and_finishes_when_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        let old_id = ring.current_key_id().to_string();
        let store = open_store(dir.path());
        for tenant in ["a", "b", "c"] {
            store
                .put_connection(&record(&ring, ConnectionScope::Tenant, Some(tenant), "sf"))
                .unwrap();
        }
        // The process dies after re-encrypting one connection of three.
        let failing = FailAfter::new(&store, 1);
        let err = rotate(dir.path(), None, &failing).unwrap_err();
        assert_eq!(err.to_string(), "storage error: disk full (simulated)");

        let mid = opened(dir.path(), None, &store);
        let keys: Vec<&str> = mid.iter().map(|(_, k, _)| k.as_str()).collect();
        let new_id = keys
            .iter()
            .find(|k| **k != old_id)
            .expect("one re-encrypted")
            .to_string();
        assert_eq!(keys.iter().filter(|k| **k == old_id).count(), 2);
        // The old key is still current (master.key unchanged) and both are kept.
        assert_eq!(
            Keyring::load(dir.path(), None).unwrap().current_key_id(),
            old_id
        );
        let mut retired = retired_ids(dir.path());
        retired.sort();
        let mut expected = vec![old_id.clone(), new_id.clone()];
        expected.sort();
        assert_eq!(retired, expected);

        let report = rotate(dir.path(), None, &store).unwrap();
        assert_eq!(report.re_encrypted, 3);
        let done = opened(dir.path(), None, &store);
        assert!(done.iter().all(|(_, k, _)| *k == report.new_key_id));
        assert_eq!(
            done.iter().map(|(_, _, t)| t.clone()).collect::<Vec<_>>(),
            mid.iter().map(|(_, _, t)| t.clone()).collect::<Vec<_>>()
        );
        assert_eq!(retired_ids(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn with_an_environment_key_the_operator_supplies_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (env_key(1), env_key(2));
        let old_ring = Keyring::load(dir.path(), Some(&old)).unwrap();
        let store = open_store(dir.path());
        store
            .put_connection(&record(
                &old_ring,
                ConnectionScope::Tenant,
                Some("acme"),
                "sf",
            ))
            .unwrap();

        // Nothing to re-encrypt: cmap says what to do instead of pretending.
        let err = rotate(dir.path(), Some(&old), &store)
            .unwrap_err()
            .to_string();
        expect![[r#"credentials error: cannot rotate: the master key comes from CMAP_MASTER_KEY, which cmap cannot change, and every credential is already sealed under it (key `KEY`). To rotate it, save the current key as DATA/keys/previous.key (its base64 line, mode 0600), set CMAP_MASTER_KEY to a new key (`head -c 32 /dev/urandom | base64`) and run the rotation again. To let cmap keep and rotate its own key in DATA/master.key instead, save the current key the same way and unset CMAP_MASTER_KEY."#]]
            .assert_eq(&err.replace(old_ring.current_key_id(), "KEY").replace(&dir.path().display().to_string(), "DATA"));
        assert!(!err.contains(&old));

        // The new key without the old one: the old ciphertext cannot be opened, said so.
        let err = rotate(dir.path(), Some(&new), &store)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("credentials error: connection `sf`: credentials error: credentials sealed under key"), "{err}");

        // The operator's steps: the old key as a retired file, the new one in the env.
        fs::create_dir_all(dir.path().join("keys")).unwrap();
        fs::write(dir.path().join("keys/previous.key"), format!("{old}\n")).unwrap();
        let report = rotate(dir.path(), Some(&new), &store).unwrap();
        let new_id = Keyring::load(dir.path(), Some(&new))
            .unwrap()
            .current_key_id()
            .to_string();
        assert_eq!(
            report,
            RotateReport {
                new_key_id: new_id.clone(),
                re_encrypted: 1,
                removed_keys: vec![old_ring.current_key_id().to_string()],
            }
        );
        let after = opened(dir.path(), Some(&new), &store);
        assert_eq!(after[0].1, new_id);
        assert!(after[0].2.contains(SECRET));
        assert!(!dir.path().join("keys/previous.key").exists());
    }

    #[test]
    fn no_secret_reaches_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(dir.path(), None).unwrap();
        {
            let store = open_store(dir.path());
            store
                .put_connection(&record(&ring, ConnectionScope::Tenant, Some("acme"), "sf"))
                .unwrap();
            store
                .put_connection(&record(&ring, ConnectionScope::System, None, "news"))
                .unwrap();
            rotate(dir.path(), None, &store).unwrap();
        }
        let mut files = Vec::new();
        let mut dirs = vec![dir.path().to_path_buf()];
        while let Some(d) = dirs.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        let contains = |needle: &[u8]| -> Vec<String> {
            files
                .iter()
                .filter(|f| {
                    fs::read(f)
                        .unwrap()
                        .windows(needle.len())
                        .any(|w| w == needle)
                })
                .map(|f| f.display().to_string())
                .collect()
        };
        // The grep sees what the store wrote (the connection's non-secret fields)...
        assert!(!contains(b"VISIBLE-NAME-sf").is_empty(), "files: {files:?}");
        // ...and never the secret.
        assert_eq!(contains(SECRET.as_bytes()), Vec::<String>::new());
        assert_eq!(contains(b"clientSecret"), Vec::<String>::new());
    }

    /// A store whose `put_connection` fails after `n` successes (a crash mid-rotation).
    struct FailAfter<'a> {
        inner: &'a SledStore,
        left: AtomicUsize,
    }

    impl<'a> FailAfter<'a> {
        fn new(inner: &'a SledStore, n: usize) -> Self {
            FailAfter {
                inner,
                left: AtomicUsize::new(n),
            }
        }
    }

    impl Store for FailAfter<'_> {
        fn put_connection(&self, record: &ConnectionRecord) -> Result<()> {
            if self.left.load(Ordering::SeqCst) == 0 {
                return Err(StoreError::Backend("disk full (simulated)".into()));
            }
            self.left.fetch_sub(1, Ordering::SeqCst);
            self.inner.put_connection(record)
        }
        fn connections(&self) -> Result<Vec<ConnectionRecord>> {
            self.inner.connections()
        }
        fn connection(&self, tenant: &str, id: &str) -> Result<Option<ConnectionRecord>> {
            self.inner.connection(tenant, id)
        }
        fn commit(&self, batch: Batch) -> Result<()> {
            self.inner.commit(batch)
        }
        fn shard(&self, tenant: &str, id: &str) -> Result<Option<Shard>> {
            self.inner.shard(tenant, id)
        }
        fn shard_by_source(&self, t: &str, i: &str, e: &str, x: &str) -> Result<Option<Shard>> {
            self.inner.shard_by_source(t, i, e, x)
        }
        fn shard_by_type(&self, t: &str, i: &str, s: &str, x: &str) -> Result<Option<Shard>> {
            self.inner.shard_by_type(t, i, s, x)
        }
        fn shard_by_dedupe_key(&self, t: &str, s: &str, k: &str) -> Result<Option<Shard>> {
            self.inner.shard_by_dedupe_key(t, s, k)
        }
        fn shards(&self, t: &str, s: Option<&str>) -> Box<dyn Iterator<Item = Result<Shard>> + '_> {
            self.inner.shards(t, s)
        }
        fn tenants(&self) -> Result<Vec<String>> {
            self.inner.tenants()
        }
        fn unmarked(&self, t: &str, i: &str, e: &str, m: &str) -> Result<Vec<(Shard, SourceKey)>> {
            self.inner.unmarked(t, i, e, m)
        }
        fn count_by_source(&self, t: &str, i: &str, e: &str) -> Result<u64> {
            self.inner.count_by_source(t, i, e)
        }
        fn pending_for(&self, t: &str, i: &str, s: &str, x: &str) -> Result<Vec<PendingReference>> {
            self.inner.pending_for(t, i, s, x)
        }
        fn task_state(&self, t: &str, id: &str) -> Result<Option<TaskState>> {
            self.inner.task_state(t, id)
        }
        fn execution(&self, t: &str, id: &str) -> Result<Option<SyncExecution>> {
            self.inner.execution(t, id)
        }
        fn executions(
            &self,
            t: &str,
            task: Option<&str>,
            page: &PageRequest<ExecutionCursor>,
        ) -> Result<Page<SyncExecution, ExecutionCursor>> {
            self.inner.executions(t, task, page)
        }
        fn running_executions(&self) -> Result<Vec<SyncExecution>> {
            self.inner.running_executions()
        }
        fn logs(
            &self,
            t: &str,
            e: &str,
            page: &PageRequest<LogCursor>,
        ) -> Result<Page<SyncLog, LogCursor>> {
            self.inner.logs(t, e, page)
        }
        fn dead_letters(
            &self,
            t: &str,
            e: &str,
            page: &PageRequest<DeadLetterCursor>,
        ) -> Result<Page<DeadLetter, DeadLetterCursor>> {
            self.inner.dead_letters(t, e, page)
        }
        fn prune(&self, request: &PruneRequest) -> Result<Pruned> {
            self.inner.prune(request)
        }
        fn event_seen(&self, t: &str, task: &str, e: &str) -> Result<bool> {
            self.inner.event_seen(t, task, e)
        }
        crate::forward_identity_methods!(inner);
    }
}
