//! A key directory that is mangled or insecure: a running identity keeps its last good ring, and
//! refuses a private key others may read, naming the file.

use super::*;

#[tokio::test]
async fn a_corrupted_keys_json_leaves_a_running_identity_on_its_last_good_ring() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let (stack, alice, session) = start_with_alice(setup).await;
    let identity_url = stack.stack.identity.url();
    let served_before = jwks_text(&identity_url).await;
    let kid = header_of(
        &stack
            .exchange(&session, "GET", "/api/profile", &alice.user_agent)
            .await,
    )["kid"]
        .clone();

    let good = fs::read(keys_dir.join("keys.json")).expect("keys.json");
    fs::write(
        keys_dir.join("keys.json"),
        b"{\"version\":1,\"keys\":[{\"kid\":",
    )
    .expect("corrupted");

    // First the watcher must have read the broken file (`/readyz` names it): only then does
    // "nothing changed" say that identity kept its last good ring.
    let deadline = Deadline::new(WATCH * 3, "identity's watcher reports the broken keys.json");
    while !keys_problem(&identity_url).await.contains("keys.json") {
        deadline.wait().await;
    }
    assert_eq!(
        jwks_text(&identity_url).await,
        served_before,
        "the JWKS is unchanged"
    );
    let token = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    assert_eq!(
        header_of(&token)["kid"],
        kid,
        "identity still signs with the last good key"
    );
    assert_eq!(alice.get("/api/profile").await.status(), 200);

    // Repaired and rotated, the watcher takes the directory again: it was alive all along.
    fs::write(keys_dir.join("keys.json"), good).expect("restored");
    let rotated = rotate(&keys_dir, &stack.clock);
    let new_kid = rotated.kid.to_string();
    let deadline = Deadline::new(WATCH * 3, "the repaired directory is taken");
    while !published_kids(&identity_url).await.contains(&new_kid) {
        deadline.wait().await;
    }
}

/// What identity at `identity_url` says is wrong with its key directory (empty when nothing).
async fn keys_problem(identity_url: &str) -> String {
    let ready: Value = reqwest::get(format!("{identity_url}/readyz"))
        .await
        .expect("identity answers")
        .json()
        .await
        .expect("JSON");
    ready["keys_problem"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The JWKS document identity at `identity_url` serves, as text.
async fn jwks_text(identity_url: &str) -> String {
    reqwest::get(format!("{identity_url}/.well-known/jwks.json"))
        .await
        .expect("identity answers")
        .text()
        .await
        .expect("a body")
}

#[tokio::test]
async fn a_private_key_readable_by_others_is_refused_naming_the_file() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let kid = keys_json(&keys_dir)["keys"][0]["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();
    let pem = keys_dir.join(Kid::parse(&kid).expect("a kid").pem_file_name());
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o644)).expect("chmod 644");

    let refused = match stack::start_identity(setup.identity.clone(), setup.clock.clone()).await {
        Ok(_) => panic!("identity started with a private key readable by others"),
        Err(error) => format!("{error:#}"),
    };
    assert!(refused.contains(&pem.display().to_string()), "{refused}");
    assert!(refused.contains("readable by group or others"), "{refused}");
    assert_eq!(
        identity::keys::run(keys(&keys_dir, KeysCommand::Jwks), &setup.clock),
        1
    );

    fs::set_permissions(&pem, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let identity = stack::start_identity(setup.identity.clone(), setup.clock.clone())
        .await
        .expect("starts once fixed");
    identity.stop().await.expect("stops");
}

#[tokio::test]
async fn a_revocation_with_a_stray_group_readable_pem_in_keys_dir_stops_the_key_at_once() {
    let Some(setup) = short_window_setup().await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let (stack, alice, session) = start_with_alice(setup).await;
    let before = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let old_kid = kid_of(&before);

    // An operator's backup copy of the key, group-readable, left in the directory.
    let stray = keys_dir.join("signing-key.backup.pem");
    std::fs::copy(keys_dir.join(format!("{old_kid}.pem")), &stray).expect("copied");
    std::fs::set_permissions(&stray, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");

    let revoke = KeysCommand::Revoke {
        kid: old_kid.clone(),
        reason: "leaked in a log".into(),
        force: true,
    };
    assert_eq!(
        identity::keys::run(keys(&keys_dir, revoke), &stack.clock),
        0
    );

    let identity_url = stack.stack.identity.url();
    let deadline = Deadline::new(
        WATCH * 3,
        "identity unpublishes the revoked key despite the stray file",
    );
    while published_kids(&identity_url).await.contains(&old_kid) {
        deadline.wait().await;
    }
    let after = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    assert_ne!(
        header_of(&after)["kid"].as_str(),
        Some(old_kid.as_str()),
        "identity stopped signing with it"
    );

    let ready = reqwest::get(format!("{identity_url}/readyz"))
        .await
        .expect("identity answers");
    assert_eq!(
        ready.status(),
        200,
        "the ring serves, so identity stays ready"
    );
    let body: Value = ready.json().await.expect("JSON");
    let problem = body["keys_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("signing-key.backup.pem"),
        "readyz names the bad file: {body}"
    );

    let audit = std::fs::read_to_string(keys_dir.join("audit.log")).expect("audit log");
    let revoke_line: Value = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["verb"] == "revoke")
        .expect("a revoke line");
    assert_eq!(revoke_line["kid"], old_kid.as_str());
    assert!(
        revoke_line["uid"].is_u64() && revoke_line["actor"].is_string(),
        "{revoke_line}"
    );
}
