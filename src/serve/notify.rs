//! Notifications when an execution ends: a JSON POST to the notification webhook
//! (`CMAP_NOTIFY_WEBHOOK`) and an email through SMTP (`CMAP_SMTP_URL`, from
//! `CMAP_SMTP_FROM`), per the task's `notify on success, failure, partial -> recipients`.
//!
//! Delivery runs in its own task, is retried (3 attempts with backoff), and is only ever
//! logged when it fails: a notification never fails or delays an execution. Logs never
//! carry the SMTP URL (it may hold a password).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use super::runner::Finished;
use crate::compile::ir::Task;
use crate::store::{ExecutionStatus, SyncExecution};

/// How long one delivery attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where notifications go.
#[derive(Clone)]
pub struct Notifier {
    webhook: Option<String>,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
    attempts: u32,
    /// Wait before the second attempt; doubled for each next one.
    backoff: Duration,
    http: reqwest::Client,
}

impl Notifier {
    /// From `CMAP_NOTIFY_WEBHOOK`, `CMAP_SMTP_URL` and `CMAP_SMTP_FROM`. An SMTP URL that
    /// cannot be read is logged (without the URL) and ignored.
    pub fn from_env() -> Notifier {
        let smtp = std::env::var("CMAP_SMTP_URL").ok().and_then(|url| match AsyncSmtpTransport::<Tokio1Executor>::from_url(&url) {
            Ok(b) => Some(b.build()),
            Err(e) => {
                tracing::warn!(error = %e, "CMAP_SMTP_URL cannot be used; no email notifications");
                None
            }
        });
        Notifier::new(
            std::env::var("CMAP_NOTIFY_WEBHOOK").ok(),
            smtp,
            std::env::var("CMAP_SMTP_FROM").unwrap_or_else(|_| "cmap@localhost".into()),
        )
    }

    pub fn new(
        webhook: Option<String>,
        smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
        from: String,
    ) -> Notifier {
        Notifier {
            webhook,
            smtp,
            from,
            attempts: 3,
            backoff: Duration::from_secs(2),
            http: reqwest::Client::new(),
        }
    }

    /// The same, with another retry backoff (tests use zero).
    pub fn with_backoff(mut self, backoff: Duration) -> Notifier {
        self.backoff = backoff;
        self
    }

    /// Whether anything is configured.
    pub fn is_active(&self) -> bool {
        self.webhook.is_some() || self.smtp.is_some()
    }

    /// The runner's end-of-execution hook: spawns the delivery and returns at once.
    pub fn finished(self) -> Finished {
        let this = Arc::new(self);
        Arc::new(move |task: Arc<Task>, execution: SyncExecution| {
            let this = this.clone();
            tokio::spawn(async move { this.deliver(&task, &execution).await });
        })
    }

    /// Sends what the task subscribes to for this execution's status; returns how many
    /// channels delivered.
    pub async fn deliver(&self, task: &Task, execution: &SyncExecution) -> usize {
        let n = &task.notifications;
        let wanted = match execution.status {
            ExecutionStatus::Success => n.on_success,
            ExecutionStatus::Failed => n.on_failure,
            ExecutionStatus::Partial => n.on_partial,
            ExecutionStatus::Running | ExecutionStatus::Cancelled => false,
        };
        if !wanted {
            return 0;
        }
        let mut delivered = 0;
        if let Some(url) = &self.webhook {
            let body = json!({
                "taskId": task.id,
                "taskName": task.name,
                "status": execution.status.as_str(),
                "recipients": n.recipients.iter().map(|r| &r.written).collect::<Vec<_>>(),
                "execution": execution,
            });
            let ok = self
                .retry("webhook", || async {
                    let r = self
                        .http
                        .post(url)
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| e.without_url().to_string())?;
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("HTTP {}", r.status()))
                    }
                })
                .await;
            delivered += usize::from(ok);
        }
        if let Some(smtp) = &self.smtp {
            // Addresses were parsed at check time; user ids get no email.
            let emails: Vec<&lettre::message::Mailbox> = n
                .recipients
                .iter()
                .filter_map(|r| r.email.as_ref())
                .collect();
            let others: Vec<&String> = n
                .recipients
                .iter()
                .filter(|r| r.email.is_none())
                .map(|r| &r.written)
                .collect();
            if !others.is_empty() {
                tracing::info!(task = %task.id, skipped = ?others, "recipients without an email address get no email");
            }
            if !emails.is_empty() {
                let ok = self
                    .retry("email", || async {
                        self.send_email(smtp, task, execution, &emails).await
                    })
                    .await;
                delivered += usize::from(ok);
            }
        }
        delivered
    }

    async fn send_email(
        &self,
        smtp: &AsyncSmtpTransport<Tokio1Executor>,
        task: &Task,
        e: &SyncExecution,
        to: &[&lettre::message::Mailbox],
    ) -> Result<(), String> {
        let r = &e.results;
        let mut builder = Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|err| format!("CMAP_SMTP_FROM: {err}"))?,
            )
            .subject(format!(
                "[cmap] {} {}",
                task.name.as_deref().unwrap_or(&task.id),
                e.status.as_str()
            ))
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            builder = builder.to((*mailbox).clone());
        }
        let body = format!(
            "Task {} finished: {}.\n\nfetched {}, created {}, updated {}, skipped {}, failed {}, deleted {}\nexecution {}\n{}",
            task.id,
            e.status.as_str(),
            r.fetched,
            r.created,
            r.updated,
            r.skipped,
            r.failed,
            r.deleted,
            e.id,
            e.errors.iter().take(5).map(|x| format!("\n- {}: {}", x.phase, x.error)).collect::<String>()
        );
        let message = builder.body(body).map_err(|err| err.to_string())?;
        smtp.send(message)
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    /// Up to `attempts` tries with doubling backoff; logs each failure; true on success.
    async fn retry<F, Fut>(&self, channel: &str, mut attempt: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut wait = self.backoff;
        for n in 1..=self.attempts {
            // lettre bounds only the connect: a server that accepts and then stays
            // silent must not hold a delivery forever.
            let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())),
            };
            match result {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(channel, attempt = n, error = %e, "notification not delivered");
                    if n < self.attempts {
                        tokio::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::{Notifications, Recipient, Task};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn task(notifications: Notifications) -> Task {
        let src = "schema s {\n source salesforce.Contact\n target c_contact\n dedupe external_id(Id)\n name = LastName\n}\ntask t \"Nightly\" { schema s }\n";
        let mut sources = crate::syntax::SourceMap::default();
        let id = sources.add("t.cmap".into(), src.into());
        let (doc, _) = crate::syntax::parse(id, sources.get(id));
        let program = crate::compile::compile(&[doc], &crate::compile::Options::default())
            .program
            .expect("compiles");
        let t = program.task("t").expect("task");
        Task {
            id: t.id.clone(),
            name: t.name.clone(),
            description: None,
            integration: None,
            schema: t.schema.clone(),
            direction: t.direction,
            schedule: t.schedule.clone(),
            config: t.config.clone(),
            status: t.status,
            retry: t.retry.clone(),
            notifications,
            connection: None,
            tenant: t.tenant.clone(),
        }
    }

    fn execution(status: ExecutionStatus) -> SyncExecution {
        serde_json::from_value(json!({
            "id": "e1", "tenantId": "default", "syncTaskId": "t", "tenantIntegrationId": "salesforce",
            "startedAt": "2026-11-25T10:00:00Z", "triggeredBy": "schedule", "status": status,
            "progress": {"phase": "complete", "processedRecords": 3, "percentage": 100.0},
            "results": {"fetched": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1},
            "errors": [], "retryCount": 0
        }))
        .expect("execution")
    }

    /// An HTTP sink answering 500 to the first `fail` requests; returns (url, bodies, hits).
    async fn http_sink(
        fail: usize,
    ) -> (String, Arc<Mutex<Vec<serde_json::Value>>>, Arc<AtomicUsize>) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (bodies.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/notify",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let (b, h) = (b.clone(), h.clone());
                async move {
                    if h.fetch_add(1, Ordering::SeqCst) < fail {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    b.lock().expect("lock").push(v);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, bodies, hits)
    }

    /// A minimal SMTP sink: records each message's RCPT addresses and DATA.
    async fn smtp_sink() -> (u16, Arc<Mutex<Vec<(Vec<String>, String)>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let g = g.clone();
                tokio::spawn(async move {
                    let (r, mut w) = socket.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                g.lock()
                                    .expect("lock")
                                    .push((std::mem::take(&mut rcpt), std::mem::take(&mut data)));
                                let _ = w.write_all(b"250 queued\r\n").await;
                            } else {
                                data.push_str(&line);
                                data.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250 sink\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        (port, got)
    }

    fn subscribed() -> Notifications {
        Notifications {
            on_success: false,
            on_failure: true,
            on_partial: true,
            recipients: vec![
                Recipient {
                    written: "admin@tenant.com".into(),
                    email: Some("admin@tenant.com".parse().expect("an address")),
                },
                Recipient {
                    written: "user-42".into(),
                    email: None,
                },
            ],
        }
    }

    #[tokio::test]
    async fn webhook_and_email_for_a_subscribed_status() {
        let (url, bodies, _) = http_sink(0).await;
        let (port, mails) = smtp_sink().await;
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .build();
        let n = Notifier::new(Some(url), Some(smtp), "cmap@example.com".into())
            .with_backoff(Duration::ZERO);
        let delivered = n
            .deliver(&task(subscribed()), &execution(ExecutionStatus::Partial))
            .await;
        assert_eq!(delivered, 2);
        let body = bodies.lock().expect("lock")[0].clone();
        assert_eq!(body["taskId"], "t");
        assert_eq!(body["status"], "partial");
        assert_eq!(body["execution"]["results"]["failed"], 1);
        let (rcpt, data) = mails.lock().expect("lock")[0].clone();
        assert_eq!(
            rcpt,
            vec!["admin@tenant.com".to_string()],
            "user ids get no email"
        );
        assert!(data.contains("Subject: [cmap] Nightly partial"), "{data}");
        assert!(data.contains("failed 1"), "{data}");
    }

    #[tokio::test]
    async fn unsubscribed_statuses_send_nothing() {
        let (url, bodies, hits) = http_sink(0).await;
        let n = Notifier::new(Some(url), None, "cmap@example.com".into());
        assert_eq!(
            n.deliver(&task(subscribed()), &execution(ExecutionStatus::Success))
                .await,
            0
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert!(bodies.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_failing_sink_is_retried_and_never_fails_anything() {
        let (url, bodies, hits) = http_sink(2).await;
        let n =
            Notifier::new(Some(url), None, "cmap@example.com".into()).with_backoff(Duration::ZERO);
        assert_eq!(
            n.deliver(&task(subscribed()), &execution(ExecutionStatus::Failed))
                .await,
            1
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3, "two failures, then success");
        assert_eq!(bodies.lock().expect("lock").len(), 1);
        // A dead endpoint: three attempts, then given up, without an error to anyone.
        let dead = Notifier::new(
            Some("http://127.0.0.1:9/notify".into()),
            None,
            "cmap@example.com".into(),
        )
        .with_backoff(Duration::ZERO);
        assert_eq!(
            dead.deliver(&task(subscribed()), &execution(ExecutionStatus::Failed))
                .await,
            0
        );
    }
}
