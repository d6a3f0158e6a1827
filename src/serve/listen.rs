//! The HTTP listener of `cmap serve`: accepts connections up to a cap and serves each
//! with HTTP/1.1 under a header-read timeout, then shuts down gracefully.
//!
//! `axum::serve` holds a connection for as long as its client likes: one that sends half
//! a request head and stops is kept forever, and enough of them exhaust the file
//! descriptors until `/healthz` no longer answers. Here:
//! - a connection must send a whole request head within `header_read_timeout` of being
//!   accepted or of its previous response (so an idle keep-alive connection is bounded
//!   too), else hyper closes it;
//! - at most `max_connections` are served at once: the loop takes a permit before it
//!   accepts, so past the cap new connections wait in the kernel's accept queue, costing
//!   no descriptor and no memory here, and are taken as soon as one closes;
//! - request bodies are read under `body_read_timeout` by the handlers that read them
//!   ([`super::http`]).
//!
//! HTTP/2 is not served: webhook senders and the control API speak HTTP/1.1, and h2 would
//! need its own set of limits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::http::Config;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, asks
/// every connection to close after its request in flight (idle ones close at once), and
/// returns when all have.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A permit before accepting: at the cap, connections wait in the kernel's queue.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed; if it were, nothing more could be served.
                Err(_) => break,
            },
            // Shutdown wins over waiting for a free connection slot.
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // A connection that went away before it was taken (ECONNABORTED) or a
                    // process out of descriptors (EMFILE): log, pause so the error cannot
                    // spin the loop, and go on; connections that close free descriptors.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        () = &mut shutdown => break,
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a header timeout, a malformed
            // request): hyper has answered what could be answered.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            // The slot frees when the connection is gone.
            drop(permit);
        });
    }
    // No new connections; the open ones finish their request in flight and close.
    drop(listener);
    graceful.shutdown().await;
}
