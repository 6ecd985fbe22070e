//! Serving HTTP on the public address with limits, so that what an outsider can hold open
//! or make us wait for is bounded:
//!
//! - at most [`Limits::max_connections`] connections at once; the next waits in the
//!   kernel's accept queue until one closes (nothing is read from it meanwhile);
//! - a client has [`Limits::header_read_timeout`] to send a request's headers — on a new
//!   connection and between requests on a kept-alive one — or the connection is closed;
//! - a request has [`Limits::request_timeout`] until its response starts (reading the body
//!   included); push streams then stream for as long as they like, and end at shutdown.
//!
//! HTTP/1.1 only: the relay sits behind a TLS-terminating proxy, which speaks HTTP/1.1 to it.
//! Each request carries the peer's address ([`axum::extract::ConnectInfo`]) for per-source
//! limits. On shutdown, listening stops, idle connections close and requests in flight finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// The figures (documented in docs/relay-operations.md).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_read_timeout: Duration,
    /// Time from a request's first byte to its response's head.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `stopping` turns true, then finishes what is in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        // A free slot first: over the cap, connections wait in the accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stopped(&mut stopping) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                // The request's time limit, here rather than as a middleware layer: no
                // boxed future and no clone of the router per request.
                match tokio::time::timeout(limits.request_timeout, app.oneshot(req)).await {
                    Ok(Ok(res)) => Ok::<_, Infallible>(res),
                    Ok(Err(never)) => match never {},
                    Err(_) => Ok((
                        axum::http::StatusCode::REQUEST_TIMEOUT,
                        axum::Json(serde_json::json!({
                            "error": "timeout", "message": "the request took too long",
                        })),
                    )
                        .into_response()),
                }
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Resolves once shutdown has started (holding no borrow of the flag).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
