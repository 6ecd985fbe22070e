//! The window's commands called the way the window calls them: through Tauri's IPC, with the
//! app's own handler list and state (the in-app relay and a real replica), on Tauri's mock
//! runtime so no WebKit is needed. The end-to-end tests drive the same commands from the real
//! window.

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

/// Invokes `cmd` with `args` as the UI's `invoke` does; the answer or the error as JSON.
fn call(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: tauri::test::INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn the_windows_commands_answer_over_ipc_with_data_and_typed_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    // The only test in this binary that opens the app's own data folder.
    std::env::set_var("ZIFLOW_DATA_DIR", dir.path());
    let app = mock_builder()
        .invoke_handler(ziflow_app::invoke_handler())
        .build(mock_context(noop_assets()))
        .unwrap();
    let state = tauri::async_runtime::block_on(ziflow_app::state::AppState::load(app.handle()))
        .expect("the app starts in local mode with the demo shop");
    app.manage(state);
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();

    let info = call(&window, "app_info", json!({})).expect("app_info answers");
    assert_eq!(info["shop_name"], "Demo Boutique", "{info}");
    assert_eq!(info["mode"], "local", "{info}");
    let db = info["database_path"].as_str().unwrap();
    assert!(
        db.starts_with(dir.path().to_str().unwrap()),
        "the replica is in the data folder: {db}"
    );

    let invoices = call(&window, "list_invoices", json!({})).expect("list_invoices answers");
    assert!(invoices.is_array(), "a list: {invoices}");

    // A refusal crosses the IPC as a typed code the UI matches on, with the relay's words.
    let refused = call(
        &window,
        "move_order",
        json!({ "invoiceId": 987_654, "stage": "shipped", "notify": false }),
    )
    .expect_err("there is no order 987654");
    assert_eq!(refused["code"], "move_refused", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("987654"),
        "the relay says which order: {refused}"
    );
    let bad_date = call(
        &window,
        "metrics_summary",
        json!({ "from": "last tuesday" }),
    )
    .expect_err("not a date");
    assert_eq!(bad_date["code"], "bad_date", "{bad_date}");

    app.state::<ziflow_app::state::AppState>().shutdown();
}
