//! What the backend tells the window (`src-tauri/src/live.rs`): `replica-changed` with the
//! areas, kinds and customers sync just changed, and `status-changed`. Screens call
//! [`refetch_on`], [`refetch_on_customer`] and [`refetch_on_status`] instead of polling:
//! while nothing syncs, the window runs no query.

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
    /// How many `replica-changed` came, and the latest.
    replica: RwSignal<(u64, ReplicaChanged)>,
    /// How many `status-changed` came.
    status: RwSignal<u64>,
}

/// Listens for the backend's events for the life of the window. Call once, in the root.
pub fn provide() {
    let live = Live {
        replica: RwSignal::new((0, ReplicaChanged::everything())),
        status: RwSignal::new(0),
    };
    provide_context(live);
    let on_replica = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload =
            js_sys::Reflect::get(&event, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        // Unreadable news: anything may have changed.
        let changed = serde_wasm_bindgen::from_value::<ReplicaChanged>(payload)
            .unwrap_or_else(|_| ReplicaChanged::everything());
        live.replica.update(|(n, latest)| {
            *n += 1;
            *latest = changed;
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
            *latest = ReplicaChanged::everything();
        });
        live.status.update(|n| *n += 1);
    });
}

/// Refetches `resource` when sync changed one of `areas` (while the calling component is
/// mounted). Several changes between two runs refetch too: their areas were not all seen.
pub fn refetch_on<T: 'static>(resource: LocalResource<T>, areas: &'static [Area]) {
    refetch_when(resource, move |c| c.areas.iter().any(|a| areas.contains(a)));
}

/// Refetches `resource` when sync may have changed `phone`'s conversation: an open thread
/// reads again for its own customer's messages, not for every other conversation's.
pub fn refetch_on_customer<T: 'static>(resource: LocalResource<T>, phone: String) {
    refetch_when(resource, move |c| c.touches_customer(&phone));
}

/// Refetches `resource` when the latest change `hits`, or when changes came that this
/// component did not see one by one.
fn refetch_when<T: 'static>(
    resource: LocalResource<T>,
    hits: impl Fn(&ReplicaChanged) -> bool + 'static,
) {
    let live = expect_context::<Live>();
    let seen = StoredValue::new(live.replica.with_untracked(|r| r.0));
    Effect::new(move |_| {
        let (count, hit) = live.replica.with(|(n, latest)| (*n, hits(latest)));
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
