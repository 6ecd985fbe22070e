//! Telling the window what changed, instead of the window asking every second: after sync
//! stored events, `replica-changed` with the areas, kinds and customers they changed (each
//! screen refetches only its own, an open thread only its customer's); when the sync status
//! or the notification focus changed, `status-changed`. While nothing syncs, the window runs
//! no query at all.

use std::sync::Arc;

use tauri::{AppHandle, Emitter, Runtime};
use ziflow_protocol::{ReplicaChanged, REPLICA_CHANGED, STATUS_CHANGED};

type Send_ = dyn Fn(&'static str, Option<ReplicaChanged>) + Send + Sync;

/// Sends the window its events; cheap to clone.
#[derive(Clone)]
pub struct Live(Arc<Send_>);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Live {
    /// Events to every window of `app`.
    pub fn new<R: Runtime>(app: AppHandle<R>) -> Self {
        Self(Arc::new(move |event, payload| {
            let sent = match payload {
                Some(p) => app.emit(event, p),
                None => app.emit(event, ()),
            };
            if let Err(e) = sent {
                tracing::warn!("telling the window {event}: {e}");
            }
        }))
    }

    /// Tells what changed (nothing when no area did).
    pub fn replica_changed(&self, mut changed: ReplicaChanged) {
        changed.areas.sort();
        changed.areas.dedup();
        if !changed.areas.is_empty() {
            (self.0)(REPLICA_CHANGED, Some(changed));
        }
    }

    /// Tells the sync status or the notification focus changed.
    pub fn status_changed(&self) {
        (self.0)(STATUS_CHANGED, None);
    }
}

/// Tells the window each time `status` changes, until its sender is gone (the session ended).
pub async fn follow_status<T>(live: Live, mut status: tokio::sync::watch::Receiver<T>) {
    while status.changed().await.is_ok() {
        live.status_changed();
    }
}
