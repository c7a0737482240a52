//! A SQLite store is held by identity processes through a lock file beside it: exclusively
//! when the session cache is on (only then may memory answer for the store, DESIGN §15), shared
//! when it is off — so a second process on the same file is refused at start whenever a cache
//! could miss its writes, and processes without a cache may share the file.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// Held for as long as the process serves from the store; released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock for `database_url` (a `sqlite:` URL); `None` for an in-memory store.
    /// The error is one line naming the variables involved.
    pub fn acquire(database_url: &str, exclusive: bool) -> Result<Option<StoreLock>, String> {
        let Some(path) = lock_path(database_url) else {
            return Ok(None);
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| {
                format!(
                    "DATABASE_URL: cannot open the lock file {}: {error}",
                    path.display()
                )
            })?;
        let locked = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match locked {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(format!(
                "DATABASE_URL: another identity process holds this SQLite store ({}); with \
                 SESSION_CACHE=on only one identity may use a SQLite file — run one, use \
                 PostgreSQL for replicas, or set SESSION_CACHE=off on every process",
                path.display()
            )),
            Err(TryLockError::Error(error)) => Err(format!(
                "DATABASE_URL: cannot lock {}: {error}",
                path.display()
            )),
        }
    }
}

/// `<file>.identity-lock` for a SQLite file URL.
fn lock_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(format!("{path}.identity-lock")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_holder_excludes_everyone_and_shared_holders_share() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/identity.db?mode=rwc", dir.path().display());

        let cached = StoreLock::acquire(&url, true).unwrap();
        let refused = StoreLock::acquire(&url, true).unwrap_err();
        assert!(refused.contains("SESSION_CACHE"), "{refused}");
        assert!(
            StoreLock::acquire(&url, false).is_err(),
            "an uncached one is refused too"
        );
        drop(cached);

        let first = StoreLock::acquire(&url, false).unwrap();
        let second = StoreLock::acquire(&url, false).unwrap();
        assert!(StoreLock::acquire(&url, true).is_err());
        drop((first, second));
        assert!(StoreLock::acquire(&url, true).unwrap().is_some());
    }

    #[test]
    fn memory_stores_need_no_lock() {
        assert!(StoreLock::acquire("sqlite::memory:", true)
            .unwrap()
            .is_none());
        assert_eq!(
            lock_path("sqlite:///data/x.db?mode=rwc"),
            Some(PathBuf::from("/data/x.db.identity-lock"))
        );
    }
}
