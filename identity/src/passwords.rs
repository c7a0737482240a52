//! Password hashing: argon2id with m=7 MiB, t=5, p=1 — one of OWASP's equivalent recommended
//! profiles, the one with the least memory — on a few dedicated threads that each own one reused
//! block of argon2 memory and run at a lower scheduling priority; owners (a recognised device
//! cookie) have a lane of their own that the threads serve first. So a storm of sign-ins queues
//! instead of starving the proxied calls (the hot path keeps its CPU), and identity's memory stays
//! flat (no 7 MiB allocation per hash for the allocator to hoard). Sign-in with an unknown email
//! verifies against a dummy hash so it takes as long as a wrong password. It never logs or
//! returns a password.
//!
//! The work is bounded (DESIGN §14): the queue holds about two seconds of work for the threads
//! (100 jobs of ~20 ms per thread), and when it is full a caller is refused at once
//! (`PasswordError::Busy`, answered `503 SERVER_BUSY`) instead of waiting behind a flood; a
//! queued job whose caller has gone (its answer's receiver dropped, because the request was
//! dropped) is skipped without hashing, so abandoned requests cost nothing. A quarter of the
//! places are kept for owners — sign-ins from a browser with a recognised device cookie — so a
//! flood from elsewhere that fills the queue still cannot refuse the owner.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use crate::users::Password;

/// Memory cost in KiB (OWASP: m=7168, t=5, p=1 is equivalent to m=19456, t=2, p=1).
const MEMORY_KIB: u32 = 7 * 1024;
/// Passes over memory.
const ITERATIONS: u32 = 5;
/// Parallel lanes.
const LANES: u32 = 1;
/// Hash length in bytes.
const OUTPUT_LEN: usize = 32;
/// Salt length in bytes (RFC 9106 recommends 16).
const SALT_LEN: usize = 16;
/// Nice value of the hashing threads: the runtime threads (nice 0) win the CPU when both want it.
const HASHING_NICENESS: i32 = 19;
/// Queued jobs per hashing thread when no size is configured: ~100 × 20 ms ≈ 2 s of work. Long
/// enough to absorb a burst of honest sign-ins, short enough that a caller admitted to a full
/// queue is answered within a couple of seconds rather than timing out behind a flood.
const QUEUE_PER_THREAD: usize = 100;
/// What `Retry-After` says when the queue is full: roughly the time it takes to drain.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;
/// One place in this many is kept for owners (a sign-in from a browser with a recognised device
/// cookie), so a flood from other clients that fills the queue cannot refuse the owner.
const OWNER_SHARE_DIVISOR: usize = 4;

/// Who is asking for a place in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Anyone: may not take the places kept for owners.
    Anyone,
    /// A browser whose device cookie names the account: may take any free place.
    Owner,
}

/// Why hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused (a malformed stored hash, for instance).
    #[error("argon2: {0}")]
    Argon2(argon2::Error),
    /// A stored hash is not a PHC string argon2id can check.
    #[error("stored hash: {0}")]
    StoredHash(argon2::password_hash::Error),
    /// The hashing threads are gone (never happens while the hasher lives).
    #[error("hashing threads stopped")]
    Closed,
    /// The queue is full: the caller is refused at once.
    #[error("password hashing queue full")]
    Busy,
    /// A hashing thread could not be started.
    #[error("cannot start a hashing thread: {0}")]
    Spawn(std::io::Error),
}

/// One unit of work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// What the bounded queue carries: anyone's job, in order, or word that an owner's job waits in
/// the owners' lane. A thread that takes any ticket runs the oldest owner's job first, so an owner
/// waits behind the jobs already running, never behind the queue (DESIGN §14).
enum Ticket {
    Anyone(Job),
    Owner,
}

/// Owners' jobs, run before anyone's; each has an [`Ticket::Owner`] in the queue, so the queue's
/// bound counts them too.
#[derive(Default)]
struct OwnersLane(Mutex<VecDeque<Job>>);

impl std::fmt::Debug for OwnersLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnersLane")
    }
}

/// Hashes and verifies passwords on dedicated threads, off the async runtime.
#[derive(Clone, Debug)]
pub struct Hasher {
    jobs: mpsc::Sender<Ticket>,
    owners: Arc<OwnersLane>,
    /// A hash of a random password, verified against when the email is unknown.
    dummy_hash: Arc<str>,
    counters: Arc<Counters>,
    /// Places only [`Claim::Owner`] may take.
    owner_share: usize,
}

/// What the hasher has done since it started (read with [`Hasher::stats`]).
#[derive(Debug, Default)]
struct Counters {
    hashed: AtomicU64,
    skipped: AtomicU64,
    refused: AtomicU64,
}

/// A snapshot of the hasher's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HasherStats {
    /// Jobs run (argon2 computed).
    pub hashed: u64,
    /// Jobs skipped because their caller had gone.
    pub skipped: u64,
    /// Callers refused because the queue was full.
    pub refused: u64,
    /// Jobs waiting now.
    pub queued: usize,
    /// The queue's capacity.
    pub capacity: usize,
}

/// A place in the queue, taken before any other work so a full queue refuses at once.
pub struct HashSlot<'h> {
    hasher: &'h Hasher,
    permit: mpsc::OwnedPermit<Ticket>,
    claim: Claim,
}

impl Hasher {
    /// Starts one hashing thread per core with the default queue (100 jobs per thread) and
    /// computes the dummy hash once.
    pub async fn new() -> Result<Hasher, PasswordError> {
        Hasher::with_queue(None).await
    }

    /// As [`Hasher::new`], with `queue` places in the queue when given (at least 1).
    pub async fn with_queue(queue: Option<usize>) -> Result<Hasher, PasswordError> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let capacity = queue.unwrap_or(threads * QUEUE_PER_THREAD).max(1);
        let (jobs, queue) = mpsc::channel::<Ticket>(capacity);
        let queue = Arc::new(Mutex::new(queue));
        let owners = Arc::new(OwnersLane::default());
        for index in 0..threads {
            let queue = Arc::clone(&queue);
            let owners = Arc::clone(&owners);
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || hashing_thread(&queue, &owners))
                .map_err(PasswordError::Spawn)?;
        }
        let owner_share = capacity / OWNER_SHARE_DIVISOR;
        let mut hasher = Hasher {
            jobs,
            owners,
            dummy_hash: Arc::from(""),
            counters: Arc::default(),
            owner_share,
        };
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        let permit = hasher
            .jobs
            .clone()
            .reserve_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let dummy = hasher
            .run(permit, Claim::Anyone, move |memory| {
                hash_with(memory, &random)
            })
            .await??;
        hasher.dummy_hash = dummy.into();
        Ok(hasher)
    }

    /// Takes a place in the queue, or refuses at once with `Busy` when it is full — for
    /// [`Claim::Anyone`], when only the places kept for owners are left.
    pub fn reserve(&self, claim: Claim) -> Result<HashSlot<'_>, PasswordError> {
        if claim == Claim::Anyone && self.jobs.capacity() <= self.owner_share {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(PasswordError::Busy);
        }
        match self.jobs.clone().try_reserve_owned() {
            Ok(permit) => Ok(HashSlot {
                hasher: self,
                permit,
                claim,
            }),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Err(PasswordError::Busy)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PasswordError::Closed),
        }
    }

    /// The argon2id PHC string of a new password (`Busy` when the queue is full).
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.reserve(Claim::Anyone)?.hash(password).await
    }

    /// Whether `attempt` matches `stored`; with no stored hash (unknown email) it does the same
    /// work against the dummy hash and answers `false` (`Busy` when the queue is full).
    pub async fn verify(
        &self,
        attempt: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.reserve(Claim::Anyone)?.verify(attempt, stored).await
    }

    /// What the hasher has done so far, and its queue now.
    pub fn stats(&self) -> HasherStats {
        let capacity = self.jobs.max_capacity();
        HasherStats {
            hashed: self.counters.hashed.load(Ordering::Relaxed),
            skipped: self.counters.skipped.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            queued: capacity.saturating_sub(self.jobs.capacity()),
            capacity,
        }
    }

    /// Queues `work` in the reserved place and waits for its answer without blocking the
    /// runtime. If this future is dropped before a thread takes the job, the job is skipped.
    async fn run<T: Send + 'static>(
        &self,
        permit: mpsc::OwnedPermit<Ticket>,
        claim: Claim,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (answer, answered) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let job: Job = Box::new(move |memory| {
            if answer.is_closed() {
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let result = work(memory);
            counters.hashed.fetch_add(1, Ordering::Relaxed);
            let _ = answer.send(result);
        });
        match claim {
            Claim::Anyone => {
                permit.send(Ticket::Anyone(job));
            }
            Claim::Owner => {
                self.owners
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(job);
                permit.send(Ticket::Owner);
            }
        }
        answered.await.map_err(|_| PasswordError::Closed)
    }
}

impl HashSlot<'_> {
    /// The argon2id PHC string of a new password.
    pub async fn hash(self, password: Password) -> Result<String, PasswordError> {
        self.hasher
            .run(self.permit, self.claim, move |memory| {
                hash_with(memory, password.expose_secret().as_bytes())
            })
            .await?
    }

    /// Whether `attempt` matches `stored`; with no stored hash (unknown email) it does the same
    /// work against the dummy hash and answers `false`.
    pub async fn verify(
        self,
        attempt: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.hasher.dummy_hash.to_string());
        let matches = self
            .hasher
            .run(self.permit, self.claim, move |memory| {
                verify_with(memory, attempt.expose_secret().as_bytes(), &hash)
            })
            .await??;
        Ok(known && matches)
    }
}

/// A hashing thread: lowers its own priority, allocates its argon2 memory once, then serves jobs
/// until every `Hasher` is dropped. Each ticket taken runs the oldest owner's job first, if one
/// waits, then the ticket's own job (an owner's ticket has none left when its job already ran).
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Ticket>>, owners: &OwnersLane) {
    lower_this_threads_priority();
    let mut memory = vec![Block::default(); MEMORY_KIB as usize];
    loop {
        let ticket = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(ticket) = ticket else { return };
        let owners_job = owners
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        if let Some(job) = owners_job {
            job(&mut memory);
        }
        if let Ticket::Anyone(job) = ticket {
            job(&mut memory);
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes this
    // thread's nice value (on Linux the nice value is per thread). Failure leaves it at 0.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASHING_NICENESS)
    };
    if result != 0 {
        tracing::warn!("could not lower the priority of a password-hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

fn params() -> Result<Params, PasswordError> {
    Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN)).map_err(PasswordError::Argon2)
}

/// A new argon2id PHC string for `password`, computed in `memory`.
fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, PasswordError> {
    let params = params()?;
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut output = [0u8; OUTPUT_LEN];
    let blocks = ensure_blocks(memory, &params);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut output, blocks)
        .map_err(PasswordError::Argon2)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::StoredHash)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(PasswordError::StoredHash)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(PasswordError::StoredHash)?),
    };
    Ok(phc.to_string())
}

/// Whether `attempt` hashes to the stored PHC string, compared in constant time. Hashes made
/// with other argon2id parameters still verify (the memory grows once to fit).
fn verify_with(
    memory: &mut Vec<Block>,
    attempt: &[u8],
    stored: &str,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(PasswordError::StoredHash)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(PasswordError::StoredHash(
            argon2::password_hash::Error::Algorithm,
        ));
    }
    let params = Params::try_from(&parsed).map_err(PasswordError::StoredHash)?;
    let version = match parsed.version {
        None => Version::V0x13,
        Some(v) => Version::try_from(v).map_err(PasswordError::Argon2)?,
    };
    let expected = parsed.hash.ok_or(PasswordError::StoredHash(
        argon2::password_hash::Error::PhcStringField,
    ))?;
    let salt = parsed.salt.ok_or(PasswordError::StoredHash(
        argon2::password_hash::Error::PhcStringField,
    ))?;
    let mut salt_buffer = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buffer)
        .map_err(PasswordError::StoredHash)?;
    let mut output = vec![0u8; expected.len()];
    let blocks = ensure_blocks(memory, &params);
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(attempt, salt, &mut output, blocks)
        .map_err(PasswordError::Argon2)?;
    Ok(output.as_slice().ct_eq(expected.as_bytes()).into())
}

/// The first `params.block_count()` blocks of `memory`, growing it if a stored hash asks for more.
fn ensure_blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
}

#[cfg(test)]
#[path = "passwords_tests.rs"]
mod tests;
