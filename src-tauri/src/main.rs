//! `ziflow-app`: the desktop window. Everything happens in [`ziflow_app::run`].
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    ziflow_app::run()
}
