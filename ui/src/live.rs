//! What the backend tells the window (`src-tauri/src/live.rs`): `replica-changed` with the
//! areas sync just changed, and `status-changed`. Screens call [`refetch_on`] and
//! [`refetch_on_status`] instead of polling: while nothing syncs, the window runs no query.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use ziflow_protocol::{Area, ReplicaChanged, REPLICA_CHANGED, STATUS_CHANGED};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    async fn tauri_listen(event: &str, handler: &js_sys::Function) -> Result<JsValue, JsValue>;
}

/// The latest news from the backend, shared through the context.
#[derive(Clone, Copy)]
pub struct Live {
    /// How many `replica-changed` came, and the areas of the latest.
    replica: RwSignal<(u64, Vec<Area>)>,
    /// How many `status-changed` came.
    status: RwSignal<u64>,
}

/// Listens for the backend's events for the life of the window. Call once, in the root.
pub fn provide() {
    let live = Live {
        replica: RwSignal::new((0, Vec::new())),
        status: RwSignal::new(0),
    };
    provide_context(live);
    let on_replica = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload =
            js_sys::Reflect::get(&event, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        // Unreadable news: anything may have changed.
        let areas = serde_wasm_bindgen::from_value::<ReplicaChanged>(payload)
            .map_or_else(|_| Area::ALL.to_vec(), |c| c.areas);
        live.replica.update(|(n, latest)| {
            *n += 1;
            *latest = areas;
        });
    });
    let on_status = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
        live.status.update(|n| *n += 1);
    });
    leptos::task::spawn_local(async move {
        // The handlers live as long as the window.
        for (event, handler) in [
            (REPLICA_CHANGED, on_replica.into_js_value()),
            (STATUS_CHANGED, on_status.into_js_value()),
        ] {
            if let Err(e) = tauri_listen(event, handler.unchecked_ref()).await {
                leptos::logging::error!("could not listen for {event}: {e:?}");
            }
        }
        // What changed before the window listened is read once now.
        live.replica.update(|(n, latest)| {
            *n += 1;
            *latest = Area::ALL.to_vec();
        });
        live.status.update(|n| *n += 1);
    });
}

/// Refetches `resource` when sync changed one of `areas` (while the calling component is
/// mounted). Several changes between two runs refetch too: their areas were not all seen.
pub fn refetch_on<T: 'static>(resource: LocalResource<T>, areas: &'static [Area]) {
    let live = expect_context::<Live>();
    let seen = StoredValue::new(live.replica.with_untracked(|r| r.0));
    Effect::new(move |_| {
        let (count, hit) = live
            .replica
            .with(|(n, latest)| (*n, latest.iter().any(|a| areas.contains(a))));
        let before = seen.get_value();
        seen.set_value(count);
        if count > before && (count - before > 1 || hit) {
            resource.refetch();
        }
    });
}

/// Refetches `resource` when the sync status or the notification focus changed.
pub fn refetch_on_status<T: 'static>(resource: LocalResource<T>) {
    let live = expect_context::<Live>();
    let seen = StoredValue::new(live.status.get_untracked());
    Effect::new(move |_| {
        let count = live.status.get();
        if count > seen.get_value() {
            seen.set_value(count);
            resource.refetch();
        }
    });
}
