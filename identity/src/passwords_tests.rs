use super::*;
use secrecy::SecretString;

fn password(text: &str) -> Password {
    Password::parse(SecretString::from(text)).expect("valid test password")
}

#[tokio::test]
async fn hashes_with_argon2id_owasp_parameters_and_verifies() {
    let hasher = Hasher::new().await.unwrap();
    let hash = hasher.hash(password("correct horse")).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
    assert!(hasher
        .verify(password("correct horse"), Some(hash.clone()))
        .await
        .unwrap());
    assert!(!hasher
        .verify(password("wrong horse!"), Some(hash))
        .await
        .unwrap());
}

#[tokio::test]
async fn hashes_made_with_the_argon2_crates_defaults_still_verify() {
    use argon2::password_hash::PasswordHasher as _;
    let salt = SaltString::generate(&mut OsRng);
    let stored = Argon2::default()
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
    assert!(stored.contains("m=19456,t=2,p=1"));
    let hasher = Hasher::new().await.unwrap();
    assert!(hasher
        .verify(password("correct horse"), Some(stored.clone()))
        .await
        .unwrap());
    assert!(!hasher
        .verify(password("wrong horse!"), Some(stored))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_malformed_stored_hash_is_an_error_not_a_match() {
    let hasher = Hasher::new().await.unwrap();
    assert!(hasher
        .verify(password("correct horse"), Some("$argon2id$garbage".into()))
        .await
        .is_err());
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let hasher = Hasher::with_queue(Some(1)).await.unwrap();
    let held = hasher
        .reserve(Claim::Anyone)
        .expect("the one place is free");
    assert!(matches!(
        hasher.reserve(Claim::Anyone),
        Err(PasswordError::Busy)
    ));
    assert!(matches!(
        hasher.verify(password("correct horse"), None).await,
        Err(PasswordError::Busy)
    ));
    assert_eq!(hasher.stats().refused, 2);
    drop(held);
    assert!(
        hasher.reserve(Claim::Anyone).is_ok(),
        "a released place can be taken again"
    );
}

#[tokio::test]
async fn a_flood_cannot_take_the_places_kept_for_owners() {
    let hasher = Hasher::with_queue(Some(8)).await.unwrap();
    let mut held = Vec::new();
    while let Ok(slot) = hasher.reserve(Claim::Anyone) {
        held.push(slot);
    }
    assert_eq!(
        held.len(),
        8 - 8 / OWNER_SHARE_DIVISOR,
        "anyone stops at the owners' share"
    );
    let owners: Vec<_> = (0..8 / OWNER_SHARE_DIVISOR)
        .map(|_| {
            hasher
                .reserve(Claim::Owner)
                .expect("an owner finds a kept place")
        })
        .collect();
    assert!(
        matches!(hasher.reserve(Claim::Owner), Err(PasswordError::Busy)),
        "full is full"
    );
    drop(owners);
    assert!(matches!(
        hasher.reserve(Claim::Anyone),
        Err(PasswordError::Busy)
    ));
}

#[tokio::test]
async fn jobs_of_callers_that_have_gone_are_skipped() {
    let hasher = Hasher::new().await.unwrap();
    let before = hasher.stats();
    let callers = 40;
    for _ in 0..callers {
        let hasher = hasher.clone();
        // Each caller gives up after 1 ms, long before most of 40 jobs of ~20 ms can run.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                hasher.verify(password("wrong horse!"), None),
            )
            .await;
        });
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let stats = loop {
        let stats = hasher.stats();
        if stats.hashed + stats.skipped - before.hashed - before.skipped == callers {
            break stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs never finished: {stats:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(
        stats.skipped > callers / 2,
        "most abandoned jobs are skipped: {stats:?}"
    );
}

#[tokio::test]
async fn an_unknown_email_never_matches_even_the_dummy_password() {
    let hasher = Hasher::new().await.unwrap();
    assert!(!hasher
        .verify(password("anything at all"), None)
        .await
        .unwrap());
}

#[tokio::test]
async fn an_owners_job_waits_only_for_the_jobs_already_running() {
    let hasher = Hasher::with_queue(Some(64)).await.unwrap();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let flood = threads * 3 + 2;
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    let spawn = |who: &'static str, claim: Claim| {
        let (hasher, finished) = (hasher.clone(), Arc::clone(&finished));
        tokio::spawn(async move {
            let slot = hasher.reserve(claim).expect("a free place");
            slot.verify(password("wrong horse!"), None)
                .await
                .expect("verified");
            finished.lock().unwrap().push(who);
        })
    };
    let mut tasks: Vec<_> = (0..flood).map(|_| spawn("flood", Claim::Anyone)).collect();
    // This test's runtime has one thread: the flood's tasks, spawned first, queue their jobs
    // before this one goes on and spawns the owner's.
    tokio::task::yield_now().await;
    tasks.push(spawn("owner", Claim::Owner));
    for task in tasks {
        task.await.unwrap();
    }
    let finished = finished.lock().unwrap();
    let owner = finished.iter().position(|who| *who == "owner").unwrap();
    // In turn it would finish last; it waits only for what the threads had started (one job each,
    // and at most one more each that started beside it).
    assert!(
        owner <= 2 * threads,
        "the owner finished {owner}th of {}: {finished:?}",
        finished.len()
    );
}
