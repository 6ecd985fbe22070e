//! Provisioning shops, their secrets and devices — what the `shop` and `device` commands
//! do. Every function returns what the command prints as JSON. Secrets are never returned.

use serde::Serialize;
use ziflow_core::secrets::{self, MasterKey};
use ziflow_core::storage::devices::{self, Permission, Role};
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_core::storage::shops;
use ziflow_core::{Clock, Db, SystemClock};

/// Printed by `shop create`.
#[derive(Debug, Serialize)]
pub struct CreatedShop {
    /// The shop's public id (in webhook URLs).
    pub uid: String,
    /// Its name.
    pub name: String,
    /// The owner's first device.
    pub device_id: i64,
    /// That device's bearer token (shown once).
    pub device_token: String,
    /// What to enter as "Verify token" in Meta's webhook settings.
    pub whatsapp_verify_token: String,
}

/// Creates a shop with its owner device and WhatsApp verify token.
pub async fn create_shop(
    db: &Db,
    name: &str,
    currency: &str,
    timezone: &str,
) -> anyhow::Result<CreatedShop> {
    let uid = secrets::new_token("shop")?
        .chars()
        .take(5 + 16)
        .collect::<String>();
    create_shop_with_uid(db, &uid, name, currency, timezone).await
}

/// [`create_shop`] with a chosen uid (local mode uses `local`).
pub async fn create_shop_with_uid(
    db: &Db,
    uid: &str,
    name: &str,
    currency: &str,
    timezone: &str,
) -> anyhow::Result<CreatedShop> {
    let now = SystemClock.now();
    let uid = uid.to_string();
    shops::create(db, &uid, name, currency, timezone, now).await?;
    let verify = secrets::new_token("wvt")?;
    shops::set_whatsapp_verify_token(db, &uid, &verify).await?;
    let token = secrets::new_token("zdt")?;
    let device_id = devices::add(db, &uid, "Owner", Role::Owner, &[], &token, now).await?;
    Ok(CreatedShop {
        uid,
        name: name.trim().to_string(),
        device_id,
        device_token: token,
        whatsapp_verify_token: verify,
    })
}

/// Printed by `shop set`.
#[derive(Debug, Serialize)]
pub struct UpdatedShop {
    /// The shop.
    pub uid: String,
    /// Names of the secrets that were set (never their values).
    pub secrets_set: Vec<&'static str>,
}

/// Stores the given provider secrets, sealed with `key`.
pub async fn set_secrets(
    db: &Db,
    key: &MasterKey,
    uid: &str,
    stripe_webhook_secret: Option<&str>,
    whatsapp_app_secret: Option<&str>,
) -> anyhow::Result<UpdatedShop> {
    shops::get(db, uid).await?;
    let mut set = Vec::new();
    for (name, value) in [
        (SecretName::StripeWebhook, stripe_webhook_secret),
        (SecretName::WhatsAppApp, whatsapp_app_secret),
    ] {
        if let Some(value) = value {
            shop_secrets::set(db, key, uid, name, value.trim()).await?;
            set.push(name.as_str());
        }
    }
    if set.is_empty() {
        anyhow::bail!("nothing to set: pass --stripe-webhook-secret and/or --whatsapp-app-secret");
    }
    Ok(UpdatedShop {
        uid: uid.to_string(),
        secrets_set: set,
    })
}

/// Printed by `device add`.
#[derive(Debug, Serialize)]
pub struct AddedDevice {
    /// The shop.
    pub uid: String,
    /// Device id (for `device revoke`).
    pub device_id: i64,
    /// Its bearer token (shown once).
    pub device_token: String,
    /// `owner` or `rep`.
    pub role: &'static str,
    /// What it may do beyond its role (`refund,mark_paid`).
    pub can: String,
}

/// Adds a device to a shop. `can` (`refund,mark_paid`, or empty) is what a rep's device may
/// do beyond running the day; an owner's may do everything anyway.
pub async fn add_device(
    db: &Db,
    uid: &str,
    name: &str,
    role: &str,
    can: &str,
) -> anyhow::Result<AddedDevice> {
    let role = Role::parse(role)?;
    let can = Permission::parse_list(can)?;
    let token = secrets::new_token("zdt")?;
    let device_id = devices::add(db, uid, name, role, &can, &token, SystemClock.now()).await?;
    Ok(AddedDevice {
        uid: uid.to_string(),
        device_id,
        device_token: token,
        role: role.as_str(),
        can: Permission::join(&can),
    })
}

/// Printed by `device permit`.
#[derive(Debug, Serialize)]
pub struct PermittedDevice {
    /// The shop.
    pub uid: String,
    /// The device.
    pub device_id: i64,
    /// What it may do now beyond its role.
    pub can: String,
}

/// Replaces what a device may do beyond its role (`refund,mark_paid`, or empty for nothing).
pub async fn permit_device(
    db: &Db,
    uid: &str,
    device_id: i64,
    can: &str,
) -> anyhow::Result<PermittedDevice> {
    let can = Permission::parse_list(can)?;
    devices::set_permissions(db, uid, device_id, &can).await?;
    Ok(PermittedDevice {
        uid: uid.to_string(),
        device_id,
        can: Permission::join(&can),
    })
}

/// Printed by `device revoke`.
#[derive(Debug, Serialize)]
pub struct RevokedDevice {
    /// The shop.
    pub uid: String,
    /// The device.
    pub device_id: i64,
    /// False when it was already revoked.
    pub revoked_now: bool,
}

/// Revokes a device; its token stops working at once.
pub async fn revoke_device(db: &Db, uid: &str, device_id: i64) -> anyhow::Result<RevokedDevice> {
    let revoked_now = devices::revoke(db, uid, device_id, SystemClock.now()).await?;
    Ok(RevokedDevice {
        uid: uid.to_string(),
        device_id,
        revoked_now,
    })
}

/// Runs the shop's bot tests with its setup as stored now (`agent test`).
pub async fn run_bot_tests(
    db: &Db,
    uid: &str,
) -> anyhow::Result<Vec<ziflow_core::agent::bottests::Run>> {
    ziflow_core::storage::shops::get(db, uid).await?;
    let mut conn = db.acquire().await?;
    let setup = ziflow_core::agent::run::Setup::load_in(&mut conn, uid).await?;
    let tests = ziflow_core::agent::bottests::load_in(&mut conn, uid).await?;
    Ok(ziflow_core::agent::bottests::run_all(&setup, &tests))
}

/// What `ziflow-relay migrate` moved: rows per table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Moved {
    /// The PostgreSQL database, without its password.
    pub to: String,
    /// Rows copied, per table.
    pub rows: std::collections::BTreeMap<String, u64>,
}

/// Copies the SQLite relay in `from_data_dir` into the empty PostgreSQL database at `to_url`
/// (see `ziflow_core::storage::copy`). Refuses a folder without `relay.db` and a database
/// that already holds a relay.
pub async fn migrate(from_data_dir: &std::path::Path, to_url: &str) -> anyhow::Result<Moved> {
    let file = crate::db_path(from_data_dir);
    anyhow::ensure!(
        file.exists(),
        "{} holds no relay.db: name the data folder of the relay to move",
        from_data_dir.display()
    );
    copy_to_postgres(&file, to_url).await
}

#[cfg(feature = "postgres")]
async fn copy_to_postgres(file: &std::path::Path, to_url: &str) -> anyhow::Result<Moved> {
    use anyhow::Context;
    let from = Db::open_durable(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let to = crate::open_store(
        std::path::Path::new(""),
        Some(&crate::Postgres {
            url: to_url.to_string(),
            pool: 2,
        }),
    )
    .await?;
    let rows = ziflow_core::storage::copy::sqlite_to_postgres(&from, &to).await?;
    from.close().await;
    to.close().await;
    Ok(Moved {
        to: crate::without_password(to_url),
        rows: rows
            .into_iter()
            .map(|(table, n)| (table.to_string(), n))
            .collect(),
    })
}

#[cfg(not(feature = "postgres"))]
async fn copy_to_postgres(_file: &std::path::Path, _to_url: &str) -> anyhow::Result<Moved> {
    anyhow::bail!("this ziflow-relay was built without PostgreSQL support (the `postgres` feature)")
}
