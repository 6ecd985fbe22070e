//! ZiFlow's user interface: Leptos, client-side rendered, compiled to wasm32 and loaded by
//! the Tauri window from the embedded `ui/dist`.
//!
//! # Layout
//! - [`api`]: the only caller of Tauri `invoke`; one typed function per command.
//! - [`app`]: the shell (sidebar navigation) and which screen is showing; [`nav`]: the
//!   screens and the contexts that move between them.
//! - `pages/`: one file per screen. `components/`: pieces the screens share.
//! - [`live`]: what the backend tells the window (the replica changed, the sync status);
//!   screens refetch on it instead of polling.
//! - [`format`]: times in the rep's time zone, phones grouped for reading.

mod api;
mod app;
mod components;
mod format;
mod live;
mod nav;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
