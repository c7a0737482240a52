//! `identity keys VERB`: the operator's commands over the key directory. It only parses, calls
//! the lifecycle functions and prints — a table for people, JSON with `--json` — and turns the
//! outcome into the exit status (0 done, 1 refused or failed with one line why, 2 bad usage).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;
use service_kit::{parse_duration, Clock};

use super::audit::os_user;
use super::lifecycle;
use super::ring::{KeyRing, KeyRingConfig};
use super::schedule::{KeyState, Schedule};
use super::store::KeyDir;
use super::verify::{self, Expectations, Refused, Verified};
use super::{KeyError, Kid};

/// `identity keys`: manage the signing keys.
#[derive(clap::Args, Clone, Debug)]
pub struct KeysArgs {
    /// Directory holding the private keys, keys.json and audit.log.
    #[arg(long, env = "KEYS_DIR", default_value = "keys", global = true)]
    pub keys_dir: PathBuf,
    /// How long verifiers may cache the JWKS (its Cache-Control max-age).
    #[arg(long, env = "JWKS_MAX_AGE", default_value = "60s", value_parser = parse_duration, global = true)]
    pub jwks_max_age: Duration,
    /// How often verifiers refresh the JWKS.
    #[arg(long, env = "JWKS_REFRESH", default_value = "30s", value_parser = parse_duration, global = true)]
    pub verifier_refresh: Duration,
    /// Accept private key files readable by their group, as identity does with the same setting
    /// (a Kubernetes Secret volume); files readable by others are refused either way.
    #[arg(long, env = "KEYS_GROUP_READABLE", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub keys_group_readable: bool,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The verbs of `identity keys`.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum KeysCommand {
    /// Create the directory (mode 0700) and a first key, active at once.
    Init {
        /// When keys already exist, change nothing and exit 0 (a deployment's one-shot key
        /// service runs this on every start).
        #[arg(long)]
        if_missing: bool,
    },
    /// List the keys, newest first, with their state and fingerprint.
    ///
    /// The kid is the key's RFC 7638 thumbprint (SHA-256 of its public JWK); FINGERPRINT is the
    /// first 8 bytes of that digest in hex, for comparing keys by eye. `--json` prints
    /// `{kid, state, created_at, activates_at, retires_at}` per key.
    List,
    /// Print the public key set as served at /.well-known/jwks.json.
    Jwks,
    /// Add a new key, published now, signing after the lead; older keys retire then.
    Rotate {
        /// How long the new key is published before it signs (default twice max-age + refresh).
        #[arg(long, value_parser = parse_duration)]
        lead: Option<Duration>,
        /// Accept a lead shorter than max-age + refresh.
        #[arg(long)]
        force: bool,
    },
    /// Withdraw a key at once; if it was signing, a fresh key signs from now.
    Revoke {
        /// The key id.
        kid: String,
        /// Why (recorded in audit.log).
        #[arg(long)]
        reason: String,
        /// Allow revoking the only published key.
        #[arg(long)]
        force: bool,
    },
    /// Delete revoked keys' private key files and retired keys no longer published.
    Prune,
    /// Decode a token and check it against the published keys; say which check fails.
    ///
    /// Checks the format, alg, typ, forbidden headers, kid (known, not revoked, still
    /// published), signature, aud, nbf/iat/exp against the clock (5 s leeway), lifetime and the
    /// required claims; iss, htm and htu only when --issuer, --method and --path ask for them.
    /// Exit 0 and the decoded token when every check passes, 1 and the failed check otherwise.
    Verify {
        /// The token (JWS compact), or `-` to read it from standard input.
        token: String,
        /// The audience the token must be for.
        #[arg(long, default_value = verify::DEFAULT_AUDIENCE)]
        audience: String,
        /// The issuer the token must carry (not checked when not given).
        #[arg(long, env = "ISSUER")]
        issuer: Option<String>,
        /// The HTTP method the token must be for (not checked when not given).
        #[arg(long)]
        method: Option<String>,
        /// The core-api path the token must be for (not checked when not given).
        #[arg(long)]
        path: Option<String>,
    },
}

/// A failure of a verb: bad usage (exit 2), refused/failed (exit 1), or a token that fails a
/// check (exit 1).
enum Failure {
    Usage(String),
    Refused(KeyError),
    Token(Refused),
}

impl From<KeyError> for Failure {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::MalformedKid(_) => Failure::Usage(error.to_string()),
            other => Failure::Refused(other),
        }
    }
}

/// Runs one verb and returns the process exit status; on failure one line on stderr says why.
/// Verbs that read or change the directory first say what is wrong with it, and changes say
/// again afterwards what the running identity will make of the directory.
pub fn run(args: KeysArgs, clock: &Clock) -> i32 {
    let changes = matches!(
        args.command,
        KeysCommand::Init { .. }
            | KeysCommand::Rotate { .. }
            | KeysCommand::Revoke { .. }
            | KeysCommand::Prune
    );
    let judged = changes || matches!(args.command, KeysCommand::List);
    let dir = KeyDir::new(&args.keys_dir).group_readable(args.keys_group_readable);
    if judged {
        for problem in dir.problems() {
            eprintln!("identity keys: warning: {problem}");
        }
    }
    match execute(&args, clock) {
        Ok(output) => {
            print_out(&output);
            if changes {
                report_after_change(&dir);
            }
            0
        }
        Err(Failure::Usage(why)) => {
            eprintln!("identity keys: {why}");
            2
        }
        Err(Failure::Refused(error)) => {
            eprintln!("identity keys: {error}");
            1
        }
        Err(Failure::Token(refused)) => {
            if args.json {
                print_out(&json(&serde_json::json!({
                    "valid": false,
                    "check": refused.check(),
                    "message": refused.to_string(),
                })));
            }
            eprintln!("identity keys: token refused: {refused}");
            1
        }
    }
}

/// After a change: whether a running identity will apply it, given what is wrong, if anything.
fn report_after_change(dir: &KeyDir) {
    let problems = dir.problems();
    if problems.is_empty() {
        return;
    }
    for problem in &problems {
        eprintln!("identity keys: after the change: {problem}");
    }
    // The ring applies a change whose keys.json and listed keys load (see KeyRing::reload).
    let listed_ok = dir.read_schedule().is_ok_and(|schedule| {
        schedule
            .keys
            .iter()
            .filter(|meta| meta.revoked_at.is_none())
            .all(|meta| dir.read_private_key(&meta.kid).is_ok())
    });
    if listed_ok {
        eprintln!("identity keys: a running identity applies this change; it reports the file above in /readyz until it is fixed or removed");
    } else if dir.read_schedule().is_ok() {
        eprintln!("identity keys: a running identity applies only the revocations until the listed key files are fixed; it keeps its last good ring otherwise");
    } else {
        eprintln!(
            "identity keys: a running identity keeps its last good ring until keys.json is fixed"
        );
    }
}

/// Prints a verb's output; a closed pipe (`| head`) is the reader's choice, not a failure.
fn print_out(output: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{output}");
}

fn execute(args: &KeysArgs, clock: &Clock) -> Result<String, Failure> {
    let dir = args.keys_dir.as_path();
    let config = KeyRingConfig {
        jwks_max_age: args.jwks_max_age,
        verifier_refresh: args.verifier_refresh,
        group_readable: args.keys_group_readable,
    };
    let actor = os_user();
    let output = match &args.command {
        KeysCommand::Init { if_missing } => match lifecycle::init(dir, clock, &actor) {
            Ok(kid) if args.json => json(&serde_json::json!({"kid": kid})),
            Ok(kid) => format!("created key {kid} in {}; it signs from now", dir.display()),
            Err(KeyError::AlreadyInitialized { .. }) if *if_missing => {
                if args.json {
                    json(&serde_json::json!({"kid": null}))
                } else {
                    format!("keys already exist in {}; nothing changed", dir.display())
                }
            }
            Err(err) => return Err(err.into()),
        },
        KeysCommand::List => list(dir, clock, args.json)?,
        KeysCommand::Jwks => json(&KeyRing::load(dir, config, clock.clone())?.jwks()),
        KeysCommand::Rotate { lead, force } => {
            let lead = lead.unwrap_or_else(|| config.default_lead());
            let rotated = lifecycle::rotate(dir, clock, &config, lead, *force, &actor)?;
            let activates_at = rfc3339_millis(rotated.activates_at);
            if args.json {
                json(&serde_json::json!({"kid": rotated.kid, "activates_at": activates_at}))
            } else {
                format!(
                    "created key {}; published now, signs from {activates_at}",
                    rotated.kid
                )
            }
        }
        KeysCommand::Revoke { kid, reason, force } => {
            let kid = Kid::parse(kid)?;
            if reason.trim().is_empty() {
                return Err(Failure::Usage("--reason must say why".into()));
            }
            let revoked =
                lifecycle::revoke(dir, clock, &config, &kid, reason.trim(), *force, &actor)?;
            if args.json {
                json(
                    &serde_json::json!({"revoked": revoked.kid, "replacement": revoked.replacement}),
                )
            } else {
                match revoked.replacement {
                    Some(new) => format!("revoked key {kid}; new key {new} signs from now"),
                    None => format!("revoked key {kid}"),
                }
            }
        }
        KeysCommand::Verify {
            token,
            audience,
            issuer,
            method,
            path,
        } => {
            let token = read_token(token)?;
            let expected = Expectations {
                audience: audience.clone(),
                issuer: issuer.clone(),
                method: method.clone(),
                path: path.clone(),
            };
            let ring = KeyRing::load(dir, config, clock.clone())?;
            let (schedule, published) = ring.schedule_and_jwks();
            let now = clock.now_millis();
            let verified = verify::verify_token(&token, &expected, &schedule, &published, now)
                .map_err(Failure::Token)?;
            if args.json {
                json(&verified)
            } else {
                describe_verified(&verified, now)
            }
        }
        KeysCommand::Prune => {
            let pruned = lifecycle::prune(dir, clock, &config, &actor)?;
            if args.json {
                json(&serde_json::json!({"pruned": pruned}))
            } else if pruned.is_empty() {
                "nothing to prune".to_owned()
            } else {
                let kids: Vec<&str> = pruned.iter().map(Kid::as_str).collect();
                format!("pruned {}", kids.join(", "))
            }
        }
    };
    Ok(output)
}

/// One row of `list --json`.
#[derive(Debug, Serialize)]
struct ListedKey {
    kid: String,
    state: KeyState,
    created_at: String,
    activates_at: String,
    retires_at: Option<String>,
    /// Table only: the contract fixes the five JSON fields, and the kid is the fingerprint.
    #[serde(skip)]
    fingerprint: String,
}

/// The keys newest first (by creation, then activation) with their state now.
fn listed_keys(schedule: &Schedule, now: i64) -> Vec<ListedKey> {
    let mut order: Vec<usize> = (0..schedule.keys.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&schedule.keys[a], &schedule.keys[b]);
        (b.created_at, b.activates_at, &b.kid).cmp(&(a.created_at, a.activates_at, &a.kid))
    });
    order
        .into_iter()
        .map(|i| {
            let key = &schedule.keys[i];
            ListedKey {
                kid: key.kid.to_string(),
                state: schedule.state(i, now),
                created_at: rfc3339_millis(key.created_at),
                activates_at: rfc3339_millis(key.activates_at),
                retires_at: key.retires_at.map(rfc3339_millis),
                fingerprint: key.kid.fingerprint(),
            }
        })
        .collect()
}

/// Reads `keys.json` only, so an operator can list even when a private key file is broken.
fn list(dir: &Path, clock: &Clock, as_json: bool) -> Result<String, Failure> {
    let schedule = KeyDir::new(dir).read_schedule()?;
    let rows = listed_keys(&schedule, clock.now_millis());
    if as_json {
        return Ok(json(&rows));
    }
    let mut table = format!(
        "{:<43}  {:<8}  {:<24}  {:<24}  {:<24}  {}",
        "KID", "STATE", "CREATED", "ACTIVATES", "RETIRES", "FINGERPRINT"
    );
    for row in &rows {
        table.push_str(&format!(
            "\n{:<43}  {:<8}  {:<24}  {:<24}  {:<24}  {}",
            row.kid,
            row.state.as_str(),
            row.created_at,
            row.activates_at,
            row.retires_at.as_deref().unwrap_or("-"),
            row.fingerprint
        ));
    }
    Ok(table)
}

/// The token argument, or standard input for `-` (keeps the token out of the process list).
fn read_token(argument: &str) -> Result<String, Failure> {
    if argument != "-" {
        return Ok(argument.trim().to_owned());
    }
    let mut token = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut token)
        .map_err(|e| Failure::Usage(format!("cannot read the token from standard input: {e}")))?;
    Ok(token.trim().to_owned())
}

/// The human answer of `verify` for a token that passed.
fn describe_verified(verified: &Verified, now_millis: i64) -> String {
    let exp = verified.claims.exp;
    let left = exp.saturating_sub(now_millis.div_euclid(1000));
    let mut out = format!(
        "valid: every check passed; signed by key {} ({}); expires {} (in {left}s)",
        verified.kid,
        verified.key_state.as_str(),
        rfc3339_millis(exp.saturating_mul(1000)),
    );
    if !verified.not_checked.is_empty() {
        let flags: Vec<&str> = verified
            .not_checked
            .iter()
            .map(|check| match *check {
                "iss" => "--issuer",
                "htm" => "--method",
                _ => "--path",
            })
            .collect();
        out.push_str(&format!(
            "\nnot checked: {} (give {} to check)",
            verified.not_checked.join(", "),
            flags.join(", ")
        ));
    }
    out.push_str(&format!("\nheader: {}", verified.header));
    out.push_str(&format!("\nclaims: {}", json(&verified.claims)));
    out
}

fn json(value: &impl Serialize) -> String {
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
