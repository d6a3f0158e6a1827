//! Capturing what the code under test logs, for assertions on log lines (a warning was
//! given; no secret reached a log).
//!
//! One global subscriber writes every event, at every level and from every thread (the
//! blocking pool included, where store work runs), into one buffer while a capture is
//! on; captures take turns (one at a time in the whole test binary), so a capture holds
//! all its code logged, plus whatever other tests logged meanwhile (harmless for the
//! assertions made: a line is there, a secret is not). A scoped subscriber
//! (`set_default`) would lose events: tracing caches each callsite's interest
//! process-wide, and a callsite first hit on another test's thread (no subscriber there)
//! is cached as "never" for everyone. The filter here is asked at each event instead
//! (it answers "sometimes"), and says no at once while nothing captures.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static LOGGED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// One capture at a time (tests run on many threads, each in its own runtime).
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Buffer;

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if ACTIVE.load(Ordering::SeqCst) {
            LOGGED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| Buffer)
            // `dynamic_filter_fn`: asked at every event (`filter_fn` would cache its
            // first answer per callsite, and lose every later event of a callsite first
            // hit while nothing captured).
            .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
                ACTIVE.load(Ordering::Relaxed)
            }));
        let subscriber = tracing_subscriber::registry().with(layer);
        // Another subscriber already global would make every capture here empty, and
        // the assertions on it fail loudly rather than pass.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Runs `f` and returns its output with everything logged meanwhile.
pub async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    install();
    let _turn = TURN.lock().await;
    LOGGED.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ACTIVE.store(true, Ordering::SeqCst);
    let output = f.await;
    ACTIVE.store(false, Ordering::SeqCst);
    let text = std::mem::take(&mut *LOGGED.lock().unwrap_or_else(|e| e.into_inner()));
    (output, String::from_utf8_lossy(&text).into_owned())
}
