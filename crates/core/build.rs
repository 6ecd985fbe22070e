//! Tells cargo what the crate's compile-time inputs are besides its sources, since neither
//! `sqlx::migrate!` nor the `sqlx::query!` macros can say so on stable Rust:
//! - the migrations folders, which `sqlx::migrate!` embeds;
//! - the offline query data in `.sqlx/` (one file per checked statement, written by
//!   `cargo xtask sql-prepare`), which the query macros read when no database is set;
//! - the variables that switch the query macros between that data and a live database.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-replica");
    println!("cargo:rerun-if-changed=.sqlx");
    for var in ["DATABASE_URL", "SQLX_OFFLINE", "SQLX_OFFLINE_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}
