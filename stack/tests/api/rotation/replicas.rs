//! Several writers of one key directory: identity replicas switch to a new kid at the same
//! moment, and concurrent `identity keys` runs leave a valid ring with exactly one signer.

use super::*;

/// Signs up at identity directly (as edge would) and returns the secret session token.
async fn session_at(identity_url: &str, user_agent: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{identity_url}/v1/sign-up"))
        .json(&json!({
            "name": "Replica User",
            "email": unique_email("replica"),
            "password": PASSWORD,
            "client_ip": "127.0.0.1",
            "user_agent": user_agent,
        }))
        .send()
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200, "sign-up at {identity_url}");
    let body: Value = response.json().await.expect("JSON");
    body["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

/// The kid of a token identity at `identity_url` signs now.
async fn signing_kid_at(identity_url: &str, session_token: &str, user_agent: &str) -> String {
    kid_of(&crate::cluster::mint_at(identity_url, session_token, "/api/profile", user_agent).await)
}

/// The kid each replica signs with now.
async fn signing_kids(replicas: &[String], sessions: &[String], user_agent: &str) -> Vec<String> {
    let mut kids = Vec::new();
    for (url, session) in replicas.iter().zip(sessions) {
        kids.push(signing_kid_at(url, session, user_agent).await);
    }
    kids
}

#[tokio::test]
async fn two_identity_replicas_on_one_keys_dir_switch_to_the_new_kid_at_the_same_moment() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let clock = setup.clock.clone();
    let keys_dir = setup.identity.keys_dir.clone();
    let mut second_config = setup.identity.clone();
    second_config.database_url = format!(
        "sqlite://{}/identity-replica.db",
        setup.dir.path().display()
    )
    .parse()
    .expect("a store URL");
    let first = stack::start_identity(setup.identity.clone(), clock.clone())
        .await
        .expect("first replica starts");
    let second = stack::start_identity(second_config, clock.clone())
        .await
        .expect("second replica starts");
    let replicas = [first.url(), second.url()];
    let user_agent = "GatehouseTest/1.0 (replicas)";
    let mut sessions = Vec::new();
    for url in &replicas {
        sessions.push(session_at(url, user_agent).await);
    }
    let old = signing_kids(&replicas, &sessions, user_agent).await;
    assert_eq!(
        old[0], old[1],
        "both replicas sign with the same key to begin with"
    );

    let rotated = rotate(&keys_dir, &clock);
    let new_kid = rotated.kid.to_string();
    for url in &replicas {
        let deadline = Deadline::new(WATCH * 3, "each replica publishes the pending key");
        while !published_kids(url).await.contains(&new_kid) {
            deadline.wait().await;
        }
    }
    let kids_now = || signing_kids(&replicas, &sessions, user_agent);
    assert_eq!(kids_now().await, old, "a pending key signs nowhere");

    let until_activation = Duration::from_millis(
        u64::try_from(rotated.activates_at - clock.now_millis()).expect("ahead"),
    );
    clock.advance(until_activation - Duration::from_millis(300));
    assert_eq!(
        kids_now().await,
        old,
        "just before activation both still sign with the old key"
    );
    clock.advance(Duration::from_millis(300));
    assert_eq!(
        kids_now().await,
        [new_kid.clone(), new_kid.clone()],
        "from activation on both sign with the new key"
    );
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        kids_now().await,
        [new_kid.clone(), new_kid],
        "and keep doing so"
    );
    first.stop().await.expect("first replica stops");
    second.stop().await.expect("second replica stops");
}

#[test]
fn concurrent_cli_runs_leave_a_valid_ring_with_exactly_one_signer() {
    let parent = tempfile::tempdir().expect("a temp dir");
    let dir: PathBuf = parent.path().join("keys");
    let clock = stack::Clock::adjustable();
    identity::keys::ensure_initialized(&dir, &clock).expect("a first key");
    let rotations = 4;
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let (dir, clock) = (dir.clone(), clock.clone());
            std::thread::spawn(move || {
                let command = match i % 4 {
                    0 | 2 => KeysCommand::Rotate {
                        lead: Some(Duration::from_secs(600)),
                        force: false,
                    },
                    1 => KeysCommand::List,
                    _ => KeysCommand::Jwks,
                };
                identity::keys::run(keys(&dir, command), &clock)
            })
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().expect("a CLI run does not panic"), 0);
    }

    let ring =
        KeyRing::load(&dir, KeyRingConfig::default(), clock.clone()).expect("the ring loads");
    let listed = keys_json(&dir);
    let listed = listed["keys"].as_array().expect("keys");
    assert_eq!(listed.len(), 1 + rotations, "no rotation was lost");
    for key in listed {
        let kid = key["kid"].as_str().expect("a kid");
        assert!(
            dir.join(format!("{kid}.pem")).exists(),
            "{kid} has its private key"
        );
    }
    // keys.json times are fixed-width RFC 3339 UTC, so they compare as text.
    let now = service_kit::timefmt::rfc3339_millis(clock.now_millis());
    let may_sign: Vec<&str> = listed
        .iter()
        .filter(|key| {
            let at = |name: &str| key[name].as_str().map(str::to_owned);
            at("activates_at").is_some_and(|a| a <= now)
                && key["revoked_at"].is_null()
                && at("retires_at").is_none_or(|r| r > now)
        })
        .filter_map(|key| key["kid"].as_str())
        .collect();
    assert_eq!(
        may_sign.len(),
        1,
        "exactly one key may sign now: {may_sign:?}"
    );
    assert_eq!(ring.signing_kid().as_deref(), Some(may_sign[0]));
    assert_eq!(
        ring.jwks().keys.len(),
        1 + rotations,
        "the active key and every pending one are published"
    );

    let audit = fs::read_to_string(dir.join("audit.log")).expect("audit.log");
    let verbs: Vec<String> = audit
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("one JSON object per line")["verb"]
                .to_string()
        })
        .collect();
    assert_eq!(verbs.len(), 1 + rotations, "{audit}");
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .expect("lists")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
