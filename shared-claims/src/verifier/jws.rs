//! The JWS compact serialization of an internal token, taken apart by hand: exactly three
//! base64url parts without padding, and a header that is a JSON object. It decides nothing about
//! trust; the verifier's rules read what it parsed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, SIGNATURE_LENGTH};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};

use crate::VerifyError::{self, Malformed};

/// Far above any token identity mints; refuses huge inputs before decoding them.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Length of a base64url-encoded (unpadded) 64-byte Ed25519 signature.
const SIGNATURE_B64_LEN: usize = 86;

/// A token split into its parts, with the header decoded.
pub(super) struct Jws<'t> {
    /// What the signature covers: the ASCII of `header.payload`.
    pub(super) signing_input: &'t str,
    /// The protected header.
    pub(super) header: Header,
    payload: &'t str,
    signature: &'t str,
}

/// The JOSE header members the verifier reads; others are ignored, duplicates are refused.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: Option<String>,
    pub(super) typ: Option<String>,
    pub(super) kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

impl Header {
    /// The first member present that lets a token choose its own key or demand extensions.
    pub(super) fn forbidden_member(&self) -> Option<&'static str> {
        [
            ("jku", self.jku),
            ("jwk", self.jwk),
            ("x5u", self.x5u),
            ("x5c", self.x5c),
            ("crit", self.crit),
        ]
        .into_iter()
        .find_map(|(name, present)| present.then_some(name))
    }
}

/// A member counts as present whatever its value, `null` included.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

impl<'t> Jws<'t> {
    /// Splits the token and decodes its header; the payload and signature stay encoded until
    /// the header rules have passed.
    pub(super) fn parse(token: &'t str) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Malformed("token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed("token does not have three parts"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| Malformed("header is not base64url"))?;
        let decoded_header =
            json_object(&header_json).ok_or(Malformed("header is not a JSON object"))?;
        Ok(Jws {
            signing_input: &token[..header.len() + 1 + payload.len()],
            header: decoded_header,
            payload,
            signature,
        })
    }

    /// The 64-byte Ed25519 signature.
    pub(super) fn signature(&self) -> Result<Signature, VerifyError> {
        if self.signature.len() != SIGNATURE_B64_LEN {
            return Err(Malformed("signature is not 64 bytes"));
        }
        // decode_slice wants room for its estimate (3 bytes per 4 characters), 66 here.
        let mut buffer = [0u8; SIGNATURE_B64_LEN / 4 * 3 + 3];
        let written = URL_SAFE_NO_PAD
            .decode_slice(self.signature, &mut buffer)
            .map_err(|_| Malformed("signature is not base64url"))?;
        let bytes: [u8; SIGNATURE_LENGTH] = buffer[..written]
            .try_into()
            .map_err(|_| Malformed("signature is not 64 bytes"))?;
        Ok(Signature::from_bytes(&bytes))
    }

    /// The payload as a JSON object of claims; call only once the signature has verified.
    pub(super) fn claims<T: DeserializeOwned>(&self) -> Result<T, VerifyError> {
        let json = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| Malformed("payload is not base64url"))?;
        json_object(&json).ok_or(Malformed(
            "claims are not a JSON object of the expected types",
        ))
    }
}

/// Parses `json` only if it is an object: serde would otherwise also accept an array for a struct.
fn json_object<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    if !json.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    serde_json::from_slice(json).ok()
}
