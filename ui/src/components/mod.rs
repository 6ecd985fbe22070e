//! Pieces every screen uses: the page header, and the loading, empty and error states.

use leptos::prelude::*;
use ziflow_protocol::ErrorCode;

use crate::api::ApiError;

/// Title and one-line purpose of a screen.
#[component]
pub fn PageHeader(title: &'static str, subtitle: &'static str) -> impl IntoView {
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            <p>{subtitle}</p>
        </header>
    }
}

/// Shown while a screen's data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" role="status">"Loading…"</div> }
}

/// What will appear on a screen and how to get it there.
#[component]
pub fn EmptyState(
    /// Stable id for tests (`empty-inbox`).
    id: &'static str,
    title: &'static str,
    /// Paragraphs of explanation.
    lines: &'static [&'static str],
) -> impl IntoView {
    view! {
        <div class="empty" id=id>
            <h2>{title}</h2>
            {lines.iter().map(|l| view! { <p>{*l}</p> }).collect_view()}
        </div>
    }
}

/// A failed load, with what went wrong and a way to try again.
#[component]
pub fn ErrorPanel(error: ApiError, #[prop(into)] on_retry: Callback<()>) -> impl IntoView {
    let hint = match error.code {
        ErrorCode::Ipc => "The window lost contact with ZiFlow's backend. Restart the app if retrying does not help.",
        ErrorCode::Storage => "The local database could not be read.",
        _ => "",
    };
    view! {
        <div class="error-panel" role="alert" data-code=error.code.as_str()>
            <h2>"This screen could not load"</h2>
            <p>{error.message}</p>
            {(!hint.is_empty()).then(|| view! { <p>{hint}</p> })}
            <button class="btn secondary" on:click=move |_| on_retry.run(())>"Try again"</button>
        </div>
    }
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`). Returns whether the call
/// could be made; the field next to it stays selectable either way.
pub fn copy_to_clipboard(text: &str) -> bool {
    use wasm_bindgen::{JsCast, JsValue};
    let get = |obj: &JsValue, key: &str| js_sys::Reflect::get(obj, &JsValue::from_str(key)).ok();
    let Some(clipboard) =
        get(&js_sys::global().into(), "navigator").and_then(|n| get(&n, "clipboard"))
    else {
        return false;
    };
    let Some(write) =
        get(&clipboard, "writeText").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return false;
    };
    write.call1(&clipboard, &JsValue::from_str(text)).is_ok()
}
