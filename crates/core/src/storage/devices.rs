//! Devices allowed to sync a shop, identified by the hash of their bearer token.

use sqlx::FromRow;

use crate::secrets::token_hash;
use crate::{Db, Error, Result};

/// A device's role: owners see metrics and settings; reps run the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The shop owner.
    Owner,
    /// A sales rep.
    Rep,
}

impl Role {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Rep => "rep",
        }
    }

    /// Parses `owner` or `rep`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "owner" => Ok(Self::Owner),
            "rep" => Ok(Self::Rep),
            other => Err(Error::InvalidInput(format!(
                "role must be owner or rep, not {other:?}"
            ))),
        }
    }
}

/// Something that moves money, which a rep's device may do only when the owner allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Refund an invoice (`invoice.refund`).
    Refund,
    /// Mark an invoice paid by hand (`invoice.mark_paid`).
    MarkPaid,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 2] = [Self::Refund, Self::MarkPaid];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refund => "refund",
            Self::MarkPaid => "mark_paid",
        }
    }

    /// Parses a comma-separated list (`refund,mark_paid`; empty: none), refusing unknown words.
    pub fn parse_list(s: &str) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let p = Self::ALL
                .into_iter()
                .find(|p| p.as_str() == word)
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "unknown permission {word:?}: a device can be allowed refund, mark_paid"
                    ))
                })?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The stored list.
    pub fn join(list: &[Self]) -> String {
        list.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A device that presented a valid, unrevoked token.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Device {
    /// Device id.
    pub id: i64,
    /// The shop it may read and act on.
    pub shop_uid: String,
    /// Its name ("Front desk").
    pub name: String,
    /// `owner` or `rep`.
    pub role: String,
    /// What the owner allowed this device beyond its role (`refund,mark_paid`).
    pub can: String,
}

impl Device {
    /// Whether the device may do `what`: an owner's always, a rep's when allowed.
    pub fn may(&self, what: Permission) -> bool {
        self.role == "owner" || self.can.split(',').any(|w| w.trim() == what.as_str())
    }
}

/// Registers a device for `token` (the caller shows the token once; only its hash is kept).
pub async fn add(
    db: &Db,
    shop: &str,
    name: &str,
    role: Role,
    can: &[Permission],
    token: &str,
    now: i64,
) -> Result<i64> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput("a device needs a name".into()));
    }
    super::shops::get(db, shop).await?;
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        r#"INSERT INTO devices (shop_uid, name, role, can, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id AS "id!""#,
        shop,
        name.trim(),
        role.as_str(),
        Permission::join(can),
        token_hash(token),
        now
    )?)
}

/// The device a bearer token belongs to, if it exists and is not revoked.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Device>> {
    Ok(query_as!(
        fetch_optional,
        &mut db.acquire().await?,
        Device,
        "SELECT id, shop_uid, name, role, can FROM devices
         WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash(token)
    )?)
}

/// Replaces what a device of the shop is allowed beyond its role. Returns whether it exists.
pub async fn set_permissions(
    db: &Db,
    shop: &str,
    device_id: i64,
    can: &[Permission],
) -> Result<()> {
    let n = execute!(
        &mut db.acquire().await?,
        "UPDATE devices SET can = $1 WHERE shop_uid = $2 AND id = $3",
        Permission::join(can),
        shop,
        device_id
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "device {device_id} of shop {shop}"
        )));
    }
    Ok(())
}

/// One device of a shop, as the owner's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Listed {
    /// Device id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `owner` or `rep`.
    pub role: String,
    /// What it may do beyond its role, comma-separated.
    pub can: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds it was revoked.
    pub revoked_at: Option<i64>,
}

/// The shop's devices, oldest first (revoked ones included, marked).
pub async fn list(db: &Db, shop: &str) -> Result<Vec<Listed>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        Listed,
        "SELECT id, name, role, can, created_at, revoked_at FROM devices
         WHERE shop_uid = $1 ORDER BY id",
        shop
    )?)
}

/// Revokes a device of the shop. Returns whether a device was revoked now.
pub async fn revoke(db: &Db, shop: &str, device_id: i64, now: i64) -> Result<bool> {
    let n = execute!(
        &mut db.acquire().await?,
        "UPDATE devices SET revoked_at = $1 WHERE shop_uid = $2 AND id = $3 AND revoked_at IS NULL",
        now,
        shop,
        device_id
    )?;
    if n == 0 {
        let exists: Option<i64> = query_scalar!(
            fetch_optional,
            &mut db.acquire().await?,
            "SELECT id FROM devices WHERE shop_uid = $1 AND id = $2",
            shop,
            device_id
        )?;
        if exists.is_none() {
            return Err(Error::NotFound(format!(
                "device {device_id} of shop {shop}"
            )));
        }
    }
    Ok(n == 1)
}
