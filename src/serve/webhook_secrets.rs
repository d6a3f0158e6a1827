//! The secrets webhook deliveries are checked against, read once per loaded version.
//!
//! A realtime task names where its verification token comes from (`token env("VAR")`
//! or `token stored`), never the token itself, and where the HMAC key of signed
//! deliveries comes from (task config `signatureSecretEnv`). The server reads each one when a version
//! of the pipelines loads (at start and on every reload), so a delivery compares against
//! a value in memory, and an operator who sets a variable or stores a token makes it
//! count with a reload. A token that cannot be read (the variable is unset or empty,
//! nothing is stored yet, the store cannot be read) is logged once, at load, and the
//! task refuses every delivery with 503 naming what to set: it fails closed, never
//! open. Values never reach a log or a response; only variable names and commands do.

use std::collections::HashMap;

use crate::compile::ir::{Program, Schedule, SecretSource};
use crate::connectors::auth::Secret;
use crate::engine::Engine;

/// Why a secret is not available: what is missing and how to fix it (no value).
#[derive(Clone, Debug, PartialEq)]
pub struct Unavailable {
    pub error: String,
    pub help: String,
}

/// The webhook secrets of one loaded version, by task id.
#[derive(Debug, Default)]
pub struct WebhookSecrets {
    tokens: HashMap<String, Result<Secret, Unavailable>>,
    /// The HMAC keys of tasks whose deliveries are signed (`signatureSecretEnv`).
    signing: HashMap<String, Result<Secret, Unavailable>>,
}

impl WebhookSecrets {
    /// Reads the token of every realtime task of `program`: variables from the process
    /// environment, stored tokens from `engine`'s store. Each one that cannot be read is
    /// logged here, once.
    ///
    /// A stored token is a point read of the store and a decryption per task: call it
    /// where a store read may block (a version loads rarely).
    pub fn resolve(program: &Program, engine: &Engine) -> WebhookSecrets {
        Self::resolve_with(program, engine, &|name| std::env::var(name).ok())
    }

    /// [`WebhookSecrets::resolve`] with another environment.
    pub fn resolve_with(
        program: &Program,
        engine: &Engine,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> WebhookSecrets {
        let mut tokens = HashMap::new();
        let mut signing = HashMap::new();
        for task in &program.tasks {
            let Schedule::Realtime { token, .. } = &task.schedule else {
                continue;
            };
            if let Some(name) = &task.config.engine.signature_secret_env {
                let key = match env(name).filter(|v| !v.is_empty()) {
                    Some(value) => Ok(Secret::new(value)),
                    None => Err(Unavailable {
                        error: format!(
                            "task `{}` takes no deliveries: its signing secret `{name}` is not set in the server's environment",
                            task.id
                        ),
                        help: format!(
                            "set {name} in the environment `cmap serve` starts with, and restart it"
                        ),
                    }),
                };
                if let Err(why) = &key {
                    tracing::error!(task = %task.id, help = %why.help, "{}", why.error);
                }
                signing.insert(task.id.clone(), key);
            }
            let resolved = match token {
                SecretSource::Env(name) => match env(name).filter(|v| !v.is_empty()) {
                    Some(value) => Ok(Secret::new(value)),
                    None => Err(Unavailable {
                        error: format!(
                            "task `{}` takes no deliveries: its token variable `{name}` is not set in the server's environment",
                            task.id
                        ),
                        help: format!(
                            "set {name} in the environment `cmap serve` starts with, and restart it"
                        ),
                    }),
                },
                SecretSource::Stored => match engine.webhook_token(task)
                {
                    Ok(Some(secret)) => Ok(secret),
                    Ok(None) => Err(Unavailable {
                        error: format!(
                            "task `{}` takes no deliveries: no token is stored for it",
                            task.id
                        ),
                        help: format!(
                            "run `cmap tokens generate {}` (or `cmap tokens set {}`) with the server stopped, then start it",
                            task.id, task.id
                        ),
                    }),
                    Err(e) => Err(Unavailable {
                        error: format!(
                            "task `{}` takes no deliveries: its stored token cannot be read: {e}",
                            task.id
                        ),
                        help: "check the master key (CMAP_MASTER_KEY or DATA/master.key) and the data directory".into(),
                    }),
                },
            };
            if let Err(why) = &resolved {
                // Once per version: a delivery does not log it again.
                tracing::error!(task = %task.id, help = %why.help, "{}", why.error);
            }
            tokens.insert(task.id.clone(), resolved);
        }
        WebhookSecrets { tokens, signing }
    }

    /// The token deliveries to `task` must present; `None` when `task` is not a
    /// realtime task of this version.
    pub fn token(&self, task: &str) -> Option<Result<&Secret, &Unavailable>> {
        self.tokens.get(task).map(Result::as_ref)
    }

    /// The HMAC key deliveries to `task` are signed with; `None` when they are not
    /// signed (or `task` is not a realtime task of this version).
    pub fn signing_key(&self, task: &str) -> Option<Result<&Secret, &Unavailable>> {
        self.signing.get(task).map(Result::as_ref)
    }
}
