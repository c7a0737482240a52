//! Everything that can go wrong with the key directory or a signing request. Messages name the
//! file or key at fault and never carry key material.

use std::path::PathBuf;

/// The error of every key-ring operation, from loading the directory to the CLI verbs.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The directory has no `keys.json` yet.
    #[error("{}: no keys here yet; run `identity keys init`", path.display())]
    NotInitialized {
        /// The missing `keys.json`.
        path: PathBuf,
    },
    /// `init` found keys already there.
    #[error("{}: keys already exist; use `identity keys rotate` for a new one", path.display())]
    AlreadyInitialized {
        /// The `keys.json` that already lists keys.
        path: PathBuf,
    },
    /// A private key file may be read by group or others.
    #[error("{}: private key is readable by group or others (mode {mode:03o}); run chmod 600 on it", path.display())]
    InsecurePermissions {
        /// The `.pem` file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `keys.json` lists a key whose `.pem` file is missing.
    #[error("{}: missing, but keys.json lists key {kid}", path.display())]
    MissingPrivateKey {
        /// The expected `.pem` file.
        path: PathBuf,
        /// The key listed in `keys.json`.
        kid: String,
    },
    /// A `.pem` file is not a PKCS#8 PEM Ed25519 private key.
    #[error("{}: not a PKCS#8 PEM Ed25519 private key", path.display())]
    InvalidPrivateKey {
        /// The `.pem` file.
        path: PathBuf,
    },
    /// A private key's thumbprint is not the kid it is filed under.
    #[error("{}: the key's thumbprint is {thumbprint}, not the kid {kid} it is filed under", path.display())]
    KidMismatch {
        /// The `.pem` file.
        path: PathBuf,
        /// The kid from the file name and `keys.json`.
        kid: String,
        /// The thumbprint of the key inside.
        thumbprint: String,
    },
    /// `keys.json` is not valid.
    #[error("{}: {reason}", path.display())]
    InvalidMetadata {
        /// The `keys.json` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A kid that is not an RFC 7638 thumbprint (43 base64url characters).
    #[error("`{0}` is not a key id (43 base64url characters)")]
    MalformedKid(String),
    /// No key signs at this moment (all pending, retired or revoked).
    #[error("no signing key is active now")]
    NoSigningKey,
    /// A kid that is not in `keys.json`.
    #[error("no key {0} in keys.json")]
    UnknownKid(String),
    /// `revoke` of a key already revoked.
    #[error("key {0} is already revoked")]
    AlreadyRevoked(String),
    /// `revoke` would leave verifiers without any published key.
    #[error("key {0} is the only published key; revoking it stops every verifier until they refetch the JWKS (use --force to do it anyway)")]
    OnlyPublishedKey(String),
    /// `rotate` with a lead shorter than verifiers need to learn the new key.
    #[error("lead {lead_secs}s is shorter than JWKS max-age + verifier refresh ({minimum_secs}s): verifiers would meet the new key before they know it (use --force to do it anyway)")]
    LeadTooShort {
        /// The lead asked for, in seconds.
        lead_secs: u64,
        /// The smallest safe lead, in seconds.
        minimum_secs: u64,
    },
    /// A private key could not be generated or encoded.
    #[error("could not encode a key: {0}")]
    Encoding(String),
}

impl KeyError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KeyError::Io {
            path: path.into(),
            source,
        }
    }
}
