//! The key directory on disk: `<kid>.pem` (PKCS#8, mode 0600), `keys.json` (atomic writes),
//! `audit.log` (appends) and `.lock` (flock: writers exclusive, loaders shared). Only file
//! handling lives here; which key does what is `schedule`'s business.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::audit::AuditEntry;
use super::material::PrivateKey;
use super::schedule::Schedule;
use super::{KeyError, Kid};

const KEYS_JSON: &str = "keys.json";
const AUDIT_LOG: &str = "audit.log";
const LOCK_FILE: &str = ".lock";
/// Permission bits that must be clear on a private key file.
const GROUP_OR_OTHER: u32 = 0o077;
/// The bits that must be clear when group access is allowed (`KEYS_GROUP_READABLE`).
const OTHER: u32 = 0o007;

/// A key directory (`KEYS_DIR`).
#[derive(Clone, Debug)]
pub struct KeyDir {
    path: PathBuf,
    /// Whether a private key file may be readable by its group (a Kubernetes Secret volume with
    /// the pod's `fsGroup`); never by others.
    group_readable: bool,
}

/// A held `flock` on the directory's `.lock`; released when dropped (the file is closed).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// What the watcher compares to notice a change: for `keys.json` and every `.pem`, its name,
/// inode, length, modification time and mode. `None` when the directory cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint(Option<Vec<FileStamp>>);

/// What the watcher notes about one file. An atomic replace changes the inode; a chmod, the mode.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FileStamp {
    name: String,
    inode: u64,
    len: u64,
    mtime: (i64, i64),
    mode: u32,
}

impl KeyDir {
    /// The directory at `path` (nothing is touched yet).
    pub fn new(path: &Path) -> KeyDir {
        KeyDir {
            path: path.to_owned(),
            group_readable: false,
        }
    }

    /// The same directory, allowing (or not) private key files readable by their group
    /// (`KEYS_GROUP_READABLE`). Files readable by others are refused either way.
    pub fn group_readable(self, allowed: bool) -> KeyDir {
        KeyDir {
            group_readable: allowed,
            ..self
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of `keys.json`.
    pub fn keys_json_path(&self) -> PathBuf {
        self.path.join(KEYS_JSON)
    }

    /// Path of a key's private key file.
    pub fn pem_path(&self, kid: &Kid) -> PathBuf {
        self.path.join(kid.pem_file_name())
    }

    /// Path of `audit.log`.
    pub fn audit_path(&self) -> PathBuf {
        self.path.join(AUDIT_LOG)
    }

    /// Creates the directory (and parents) with mode 0700 if it does not exist.
    pub fn create(&self) -> Result<(), KeyError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|e| KeyError::io(&self.path, e))
    }

    /// Takes the writers' lock, waiting for another writer to finish.
    pub fn lock_exclusive(&self) -> Result<DirLock, KeyError> {
        let path = self.path.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| KeyError::io(&path, e))?;
        file.lock().map_err(|e| KeyError::io(&path, e))?;
        Ok(DirLock { _file: file })
    }

    /// Takes a shared lock so a load never sees a writer half done; `None` if no writer ever
    /// made the lock file (a directory prepared by hand), in which case there is nothing to wait for.
    pub fn lock_shared(&self) -> Result<Option<DirLock>, KeyError> {
        let path = self.path.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KeyError::io(&path, e)),
        };
        file.lock_shared().map_err(|e| KeyError::io(&path, e))?;
        Ok(Some(DirLock { _file: file }))
    }

    /// Reads and checks `keys.json`; [`KeyError::NotInitialized`] if it does not exist.
    pub fn read_schedule(&self) -> Result<Schedule, KeyError> {
        let path = self.keys_json_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(KeyError::NotInitialized { path })
            }
            Err(e) => return Err(KeyError::io(path, e)),
        };
        Schedule::parse(&text).map_err(|reason| KeyError::InvalidMetadata { path, reason })
    }

    /// Like [`KeyDir::read_schedule`], but an absent `keys.json` is an empty schedule.
    pub fn read_schedule_or_empty(&self) -> Result<Schedule, KeyError> {
        match self.read_schedule() {
            Err(KeyError::NotInitialized { .. }) => Ok(Schedule::empty()),
            other => other,
        }
    }

    /// Replaces `keys.json` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn write_schedule(&self, schedule: &Schedule) -> Result<(), KeyError> {
        let mut json =
            serde_json::to_vec_pretty(schedule).map_err(|e| KeyError::Encoding(e.to_string()))?;
        json.push(b'\n');
        self.write_atomically(&self.keys_json_path(), &json)
    }

    /// Writes a private key to `<kid>.pem`, created with mode 0600, atomically.
    pub fn write_private_key(&self, key: &PrivateKey) -> Result<(), KeyError> {
        let pem = key.to_pkcs8_pem()?;
        self.write_atomically(&self.pem_path(key.kid()), pem.as_bytes())
    }

    /// Reads `<kid>.pem`, refusing it if group or others may read it, if it is not an Ed25519
    /// PKCS#8 key, or if its thumbprint is not `kid`.
    pub fn read_private_key(&self, kid: &Kid) -> Result<PrivateKey, KeyError> {
        let path = self.pem_path(kid);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(KeyError::MissingPrivateKey {
                    path,
                    kid: kid.to_string(),
                })
            }
            Err(e) => return Err(KeyError::io(path, e)),
        };
        // Checked on the open file, so a chmod between check and read cannot slip through.
        let metadata = file.metadata().map_err(|e| KeyError::io(&path, e))?;
        check_private_mode(&path, metadata.permissions().mode(), self.group_readable)?;
        let capacity = usize::try_from(metadata.len())
            .unwrap_or(0)
            .saturating_add(1);
        let mut pem = Zeroizing::new(String::with_capacity(capacity));
        file.read_to_string(&mut pem)
            .map_err(|e| KeyError::io(&path, e))?;
        let key = PrivateKey::from_pkcs8_pem(&pem)
            .ok_or_else(|| KeyError::InvalidPrivateKey { path: path.clone() })?;
        if key.kid() != kid {
            return Err(KeyError::KidMismatch {
                path,
                kid: kid.to_string(),
                thumbprint: key.kid().to_string(),
            });
        }
        Ok(key)
    }

    /// Refuses the directory if any `.pem` in it, listed or not, is readable by group or others.
    pub fn check_pem_permissions(&self) -> Result<(), KeyError> {
        for entry in fs::read_dir(&self.path).map_err(|e| KeyError::io(&self.path, e))? {
            let entry = entry.map_err(|e| KeyError::io(&self.path, e))?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "pem") {
                let metadata = fs::metadata(&path).map_err(|e| KeyError::io(&path, e))?;
                check_private_mode(&path, metadata.permissions().mode(), self.group_readable)?;
            }
        }
        Ok(())
    }

    /// Everything wrong with the directory, one sentence each: `keys.json` that does not parse,
    /// a listed key that cannot be used, any `.pem` (listed or not) readable by group or others.
    /// Empty when identity would load it as is. A missing directory is not judged here.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let Ok(entries) = fs::read_dir(&self.path) else {
            return problems;
        };
        let mut pems: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
            .collect();
        pems.sort();
        for path in pems {
            let checked = fs::metadata(&path)
                .map_err(|e| KeyError::io(&path, e))
                .and_then(|metadata| {
                    check_private_mode(&path, metadata.permissions().mode(), self.group_readable)
                });
            if let Err(error) = checked {
                problems.push(error.to_string());
            }
        }
        match self.read_schedule() {
            Err(KeyError::NotInitialized { .. }) => {}
            Err(error) => problems.push(error.to_string()),
            Ok(schedule) => {
                for meta in schedule
                    .keys
                    .iter()
                    .filter(|meta| meta.revoked_at.is_none())
                {
                    match self.read_private_key(&meta.kid) {
                        // Already said above, from the directory listing.
                        Err(KeyError::InsecurePermissions { .. }) | Ok(_) => {}
                        Err(error) => problems.push(error.to_string()),
                    }
                }
            }
        }
        problems
    }

    /// Removes `<kid>.pem`; already gone is fine.
    pub fn remove_private_key(&self, kid: &Kid) -> Result<(), KeyError> {
        let path = self.pem_path(kid);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(KeyError::io(path, e)),
            _ => Ok(()),
        }
    }

    /// Appends one line to `audit.log`.
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<(), KeyError> {
        let path = self.audit_path();
        let mut line = serde_json::to_vec(entry).map_err(|e| KeyError::Encoding(e.to_string()))?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| KeyError::io(&path, e))?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| KeyError::io(&path, e))
    }

    /// The directory's current [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return Fingerprint(None);
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if name != KEYS_JSON && !name.ends_with(".pem") {
                    return None;
                }
                // Followed through symlinks: a Kubernetes Secret volume's files are links into a
                // `..data` link the kubelet swaps, so only the targets change on an update.
                let m = fs::metadata(entry.path()).ok()?;
                Some(FileStamp {
                    name,
                    inode: m.ino(),
                    len: m.len(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    mode: m.mode(),
                })
            })
            .collect();
        files.sort();
        Fingerprint(Some(files))
    }

    fn write_atomically(&self, target: &Path, contents: &[u8]) -> Result<(), KeyError> {
        let file_name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let temp = self.path.join(format!(".{file_name}.tmp"));
        // A temp file left by a crash may have other permissions; `create_new` below must make it.
        if let Err(e) = fs::remove_file(&temp) {
            if e.kind() != ErrorKind::NotFound {
                return Err(KeyError::io(&temp, e));
            }
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| KeyError::io(&temp, e))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| KeyError::io(&temp, e))?;
        drop(file);
        fs::rename(&temp, target).map_err(|e| KeyError::io(target, e))?;
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| KeyError::io(&self.path, e))
    }
}

fn check_private_mode(path: &Path, mode: u32, group_readable: bool) -> Result<(), KeyError> {
    let forbidden = if group_readable {
        OTHER
    } else {
        GROUP_OR_OTHER
    };
    if mode & forbidden != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
