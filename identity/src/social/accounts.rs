//! The `accounts` table (a user's links to provider accounts) and the user records social
//! sign-in creates. A user created by a provider has no password: its `password_hash` is a
//! well-formed argon2id string whose digest is random bytes, so no password can ever match it
//! (sign-in with one takes as long and fails like any wrong password), and the salt
//! [`NO_PASSWORD_SALT`] marks it so list-accounts and unlink-account know the user has no
//! password "account". Setting a password (reset) replaces it like any other hash.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;
use sqlx::{AnyPool, Row};

use crate::users::{self, CreateUserError, Email, Name, NewUser, User, USER_COLUMNS};

/// The salt that marks "no password" (base64 of `gatehouse:no-password`).
const NO_PASSWORD_SALT: &str = "Z2F0ZWhvdXNlOm5vLXBhc3N3b3Jk";

/// The parameters `passwords` hashes with (7 MiB, 5 passes, 1 lane), so a sign-in attempt
/// against a user without a password costs what any other does.
const HASH_PARAMS: &str = "m=7168,t=5,p=1";

/// A password hash no password matches.
fn no_password_hash() -> String {
    let mut digest = [0u8; 32];
    OsRng.fill_bytes(&mut digest);
    format!(
        "$argon2id$v=19${HASH_PARAMS}${NO_PASSWORD_SALT}${}",
        STANDARD_NO_PAD.encode(digest)
    )
}

/// Whether a stored hash is a real password's.
pub fn is_password(hash: &str) -> bool {
    !hash.contains(&format!("${NO_PASSWORD_SALT}$"))
}

/// One linked provider account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub account_id: String,
    pub scopes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Better-Auth's list-accounts item.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountJson {
    id: String,
    provider_id: String,
    account_id: String,
    user_id: String,
    created_at: String,
    updated_at: String,
    scopes: Vec<String>,
}

impl Account {
    pub fn to_json(&self) -> AccountJson {
        AccountJson {
            id: self.id.clone(),
            provider_id: self.provider_id.clone(),
            account_id: self.account_id.clone(),
            user_id: self.user_id.clone(),
            created_at: rfc3339_millis(self.created_at),
            updated_at: rfc3339_millis(self.updated_at),
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// The password "account" of a password user, listed as Better-Auth does.
pub fn credential_json(user: &User) -> AccountJson {
    AccountJson {
        id: user.id.clone(),
        provider_id: "credential".into(),
        account_id: user.id.clone(),
        user_id: user.id.clone(),
        created_at: rfc3339_millis(user.created_at),
        updated_at: rfc3339_millis(user.updated_at),
        scopes: Vec::new(),
    }
}

const ACCOUNT_COLUMNS: &str =
    "a.id, a.user_id, a.provider_id, a.account_id, a.scopes, a.created_at, a.updated_at";

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        provider_id: row.try_get(2)?,
        account_id: row.try_get(3)?,
        scopes: row.try_get(4)?,
        created_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
    })
}

/// The user linked to `(provider, subject)`, if any.
pub async fn find_user_by_account(
    pool: &AnyPool,
    provider_id: &str,
    subject: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM accounts a JOIN users u ON u.id = a.user_id \
         WHERE a.provider_id = $1 AND a.account_id = $2"
    ))
    .bind(provider_id)
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    row.map(|row| User::from_row(&row, 0)).transpose()
}

/// What linking a provider account came to.
pub enum Linking {
    /// The account is now linked to the user.
    Linked,
    /// The account was linked already: to this user (`None` when it was unlinked since).
    AlreadyLinkedTo(Option<User>),
}

/// Links `(provider, subject, scopes)` to `user_id`, or finds whom that account is linked to
/// already (another callback may have linked it in the meantime).
pub async fn link_or_find_owner(
    pool: &AnyPool,
    user_id: &str,
    provider_id: &str,
    subject: &str,
    scopes: &str,
    now: i64,
) -> Result<Linking, sqlx::Error> {
    if link(pool, user_id, provider_id, subject, scopes, now).await? {
        return Ok(Linking::Linked);
    }
    let owner = find_user_by_account(pool, provider_id, subject).await?;
    Ok(Linking::AlreadyLinkedTo(owner))
}

/// Links `(provider, subject)` to `user_id`; `false` when that account is linked already.
pub async fn link(
    pool: &AnyPool,
    user_id: &str,
    provider_id: &str,
    subject: &str,
    scopes: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO accounts (id, user_id, provider_id, account_id, scopes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user_id)
    .bind(provider_id)
    .bind(subject)
    .bind(scopes)
    .bind(now)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Creates a user without a password, verified when the provider says so.
pub async fn create_user(
    pool: &AnyPool,
    email: &Email,
    name: &Name,
    image: Option<&str>,
    email_verified: bool,
    now: i64,
) -> Result<User, CreateUserError> {
    let hash = no_password_hash();
    let new = NewUser {
        email,
        name,
        password_hash: &hash,
        image,
    };
    let mut user = users::create(pool, new, uuid::Uuid::new_v4().to_string(), now).await?;
    if email_verified {
        mark_verified(pool, &user.id, now).await?;
        user.email_verified = true;
    }
    Ok(user)
}

/// Marks a user's address verified (the provider asserted it for the same address).
pub async fn mark_verified<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_verified = 1, updated_at = $1 WHERE id = $2 AND email_verified = 0",
    )
    .bind(now)
    .bind(user_id)
    .execute(executor)
    .await?;
    Ok(())
}

/// A user's linked accounts, oldest first.
pub async fn list(pool: &AnyPool, user_id: &str) -> Result<Vec<Account>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.user_id = $1 ORDER BY a.created_at, a.id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(account_from_row).collect()
}

/// Whether the user has a password.
pub async fn has_password(pool: &AnyPool, user_id: &str) -> Result<bool, sqlx::Error> {
    Ok(users::password_hash(pool, user_id)
        .await?
        .is_some_and(|hash| is_password(&hash)))
}

/// Unlinks one of the user's accounts unless it is their last way to sign in (the count and the
/// delete are one statement).
pub async fn unlink(
    pool: &AnyPool,
    user_id: &str,
    account_id: &str,
    keeps_password: bool,
) -> Result<Unlinked, sqlx::Error> {
    let others_needed: i64 = if keeps_password { 0 } else { 1 };
    let deleted = sqlx::query(
        "DELETE FROM accounts WHERE id = $1 AND user_id = $2 \
         AND (SELECT COUNT(*) FROM accounts o WHERE o.user_id = $2 AND o.id <> $1) >= $3",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(others_needed)
    .execute(pool)
    .await?;
    if deleted.rows_affected() > 0 {
        return Ok(Unlinked::Done);
    }
    let exists = sqlx::query("SELECT 1 FROM accounts WHERE id = $1 AND user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?
        .is_some();
    Ok(if exists {
        Unlinked::LastAccount
    } else {
        Unlinked::NotFound
    })
}

/// What unlinking did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    LastAccount,
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_no_password_hash_is_well_formed_and_marked() {
        let hash = no_password_hash();
        assert!(argon2::PasswordHash::new(&hash).is_ok(), "{hash}");
        assert!(!is_password(&hash));
        assert_ne!(hash, no_password_hash(), "each digest is random");
        let real = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(is_password(real));
    }
}
