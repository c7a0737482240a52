//! Users: the checked input types (`Email`, `Name`, `Password`, `ProfileChange`), the user record
//! and its JSON, and the SQL of the `users` table (create, find, change profile or password,
//! delete). It never holds or logs a password in clear past parsing: hashing belongs to
//! `passwords`.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::error::ApiError;

/// The longest email address accepted (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;
/// The longest display name accepted.
pub const NAME_MAX_CHARS: usize = 256;
/// The shortest password accepted.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password accepted (also bounds the work of hashing it).
pub const PASSWORD_MAX_CHARS: usize = 128;

/// An email address: trimmed, lower-cased, at most 254 characters, plausible syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks and normalises an address as typed by the user.
    pub fn parse(input: &str) -> Result<Email, ApiError> {
        let email = input.trim().to_lowercase();
        if email.chars().count() > EMAIL_MAX_CHARS || !plausible_email(&email) {
            return Err(ApiError::InvalidEmail);
        }
        Ok(Email(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The syntax Better-Auth's schema accepts (zod's email rule): a local part of letters, digits
/// and `_ ' + - .` that neither starts with nor repeats a dot and does not end with one or an
/// apostrophe; a domain of dot-separated labels of letters, digits and `-` (not leading), ending
/// in a top-level label of at least two letters.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && local
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    let Some((labels, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let labels_ok = labels.split('.').all(|label| {
        label
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && labels_ok && tld_ok
}

/// A display name: 1 to 256 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Checks and trims a name.
    pub fn parse(input: &str) -> Result<Name, ApiError> {
        let name = input.trim();
        match name.chars().count() {
            0 => Err(ApiError::Validation(
                "[body.name] Name must not be empty.".into(),
            )),
            n if n > NAME_MAX_CHARS => Err(ApiError::Validation(format!(
                "[body.name] Name must be at most {NAME_MAX_CHARS} characters."
            ))),
            _ => Ok(Name(name.to_owned())),
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 to 128 characters. Its `Debug` is redacted; `expose_secret` is the way out.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Checks the length of a password (characters, not bytes; never trimmed).
    pub fn parse(input: SecretString) -> Result<Password, ApiError> {
        let length = input.expose_secret().chars().count();
        if length < PASSWORD_MIN_CHARS {
            return Err(ApiError::PasswordTooShort);
        }
        if length > PASSWORD_MAX_CHARS {
            return Err(ApiError::PasswordTooLong);
        }
        Ok(Password(input))
    }

    /// The password in clear, for hashing only.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A user as stored (without the password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// UUID string; the `sub` of internal tokens.
    pub id: String,
    /// Normalised email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Avatar URL, if any.
    pub image: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
}

/// The columns `User::from_row` reads, in order, for queries that select from `users u`.
pub const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at";
/// The same columns unqualified, for `UPDATE users … RETURNING` (SQLite takes no alias there).
const RETURNING_USER: &str =
    "RETURNING id, email, name, email_verified, image, created_at, updated_at";

impl User {
    /// Reads the `USER_COLUMNS` starting at column `first`.
    pub fn from_row(row: &AnyRow, first: usize) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get(first)?,
            email: row.try_get(first + 1)?,
            name: row.try_get(first + 2)?,
            email_verified: row.try_get::<i64, _>(first + 3)? != 0,
            image: row.try_get(first + 4)?,
            created_at: row.try_get(first + 5)?,
            updated_at: row.try_get(first + 6)?,
        })
    }

    /// The Better-Auth JSON form.
    pub fn to_json(&self) -> UserJson<'_> {
        UserJson {
            id: &self.id,
            name: &self.name,
            email: &self.email,
            email_verified: self.email_verified,
            image: self.image.as_deref(),
            created_at: rfc3339_millis(self.created_at),
            updated_at: rfc3339_millis(self.updated_at),
        }
    }
}

/// Better-Auth's user object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJson<'a> {
    id: &'a str,
    name: &'a str,
    email: &'a str,
    email_verified: bool,
    image: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

/// What a new user is made of.
pub struct NewUser<'a> {
    /// The checked address.
    pub email: &'a Email,
    /// The checked name.
    pub name: &'a Name,
    /// The argon2id PHC string.
    pub password_hash: &'a str,
    /// Avatar URL, if any.
    pub image: Option<&'a str>,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The address belongs to another user (the unique index said so).
    #[error("email already taken")]
    EmailTaken,
    /// The store failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CreateUserError> for ApiError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::EmailTaken => ApiError::UserAlreadyExists,
            CreateUserError::Database(error) => ApiError::Database(error),
        }
    }
}

/// Inserts a user. The unique index on `email` decides races between two sign-ups.
pub async fn create(
    pool: &AnyPool,
    new: NewUser<'_>,
    id: String,
    now: i64,
) -> Result<User, CreateUserError> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, email_verified, image, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, $6)",
    )
    .bind(&id)
    .bind(new.email.as_str())
    .bind(new.name.as_str())
    .bind(new.password_hash)
    .bind(new.image)
    .bind(now)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(User {
            id,
            email: new.email.as_str().to_owned(),
            name: new.name.as_str().to_owned(),
            email_verified: false,
            image: new.image.map(str::to_owned),
            created_at: now,
            updated_at: now,
        }),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(CreateUserError::EmailTaken)
        }
        Err(error) => Err(CreateUserError::Database(error)),
    }
}

/// A user with the stored password hash, for sign-in.
pub struct UserWithPassword {
    /// The user.
    pub user: User,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// Finds a user and their password hash by normalised email.
pub async fn find_by_email(
    pool: &AnyPool,
    email: &Email,
) -> Result<Option<UserWithPassword>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(UserWithPassword {
            user: User::from_row(&row, 0)?,
            password_hash: row.try_get(7)?,
        })
    })
    .transpose()
}

/// A profile change as the user asked for it: each field `None` when left as it is. At least one
/// field is set (`parse` says so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileChange {
    /// A new display name.
    pub name: Option<Name>,
    /// A new avatar URL (`Some(None)` removes it).
    pub image: Option<Option<String>>,
}

impl ProfileChange {
    /// Checks a change: the email address cannot be changed here (whatever value was sent), a
    /// new name obeys the name limits, and a change must change something.
    pub fn parse(
        name: Option<&str>,
        image: Option<Option<String>>,
        email_sent: bool,
    ) -> Result<ProfileChange, ApiError> {
        if email_sent {
            return Err(ApiError::EmailCanNotBeUpdated);
        }
        let name = name.map(Name::parse).transpose()?;
        if name.is_none() && image.is_none() {
            return Err(ApiError::Validation("[body] No fields to update.".into()));
        }
        Ok(ProfileChange { name, image })
    }
}

/// Applies a profile change in one statement; `None` when the user no longer exists.
pub async fn update_profile<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    change: &ProfileChange,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    // One statement for any combination of fields: NULL leaves the name; the flag says whether
    // the image is replaced (possibly by NULL, which removes it).
    let row = sqlx::query(&format!(
        "UPDATE users SET name = COALESCE($1, name), \
         image = CASE WHEN $2 = 1 THEN $3 ELSE image END, updated_at = $4 WHERE id = $5 {RETURNING_USER}"
    ))
    .bind(change.name.as_ref().map(Name::as_str))
    .bind(i64::from(change.image.is_some()))
    .bind(change.image.clone().flatten())
    .bind(now)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    row.map(|row| User::from_row(&row, 0)).transpose()
}

/// The stored password hash of a user, `None` when the user no longer exists.
pub async fn password_hash(pool: &AnyPool, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Replaces the password hash, but only if it still is `expected` (the one the current password
/// was checked against), so of two concurrent changes exactly one wins. `None` when it lost.
pub async fn replace_password_hash<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    expected: &str,
    new_hash: &str,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4 {RETURNING_USER}"
    ))
    .bind(new_hash)
    .bind(now)
    .bind(user_id)
    .bind(expected)
    .fetch_optional(executor)
    .await?;
    row.map(|row| User::from_row(&row, 0)).transpose()
}

/// Sets a new password hash whatever the old one was (a password reset); `false` when the user
/// no longer exists.
pub async fn set_password_hash<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    new_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(new_hash)
        .bind(now)
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Marks the user's address verified; `None` when the user no longer exists.
pub async fn mark_email_verified<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE users SET email_verified = 1, updated_at = $1 WHERE id = $2 {RETURNING_USER}"
    ))
    .bind(now)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    row.map(|row| User::from_row(&row, 0)).transpose()
}

/// Deletes a user; the store deletes their sessions and single-use tokens with them (ON DELETE
/// CASCADE). Answers whether the user existed.
pub async fn delete<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
