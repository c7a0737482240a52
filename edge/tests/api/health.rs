//! Liveness, readiness and shutdown.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_and_readyz_follows_identity() {
    let edge = TestEdge::start().await;
    assert_eq!(
        json_of(edge.get("/healthz").send().await.unwrap()).await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(
        json_of(edge.get("/readyz").send().await.unwrap()).await,
        (200, json!({ "status": "ready" }))
    );

    let orphan = TestEdge::start_with(Options {
        identity_url: Some(dead_url().await),
        ..Options::default()
    })
    .await;
    assert_eq!(
        json_of(orphan.get("/healthz").send().await.unwrap())
            .await
            .0,
        200
    );
    let (status, body) = json_of(orphan.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
    assert!(body["reason"].is_string());
}

#[tokio::test]
async fn run_until_returns_once_shutdown_resolves() {
    let config = edge::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        ..edge::Config::default()
    };
    let server = edge::Server::bind(config).await.unwrap();
    let url = format!("http://{}/healthz", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    drop(client);
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_configuration_names_the_variable() {
    let cases = [
        (
            edge::Config {
                public_url: "not a url".into(),
                ..edge::Config::default()
            },
            "PUBLIC_URL",
        ),
        (
            edge::Config {
                identity_url: "ftp://x".into(),
                ..edge::Config::default()
            },
            "IDENTITY_URL",
        ),
        (
            edge::Config {
                core_api_url: "http://core/prefix".into(),
                ..edge::Config::default()
            },
            "CORE_API_URL",
        ),
        (
            edge::Config {
                body_limit: 0,
                ..edge::Config::default()
            },
            "BODY_LIMIT",
        ),
    ];
    for (mut config, variable) in cases {
        config.addr = "127.0.0.1:0".parse().unwrap();
        let err = edge::Server::bind(config).await.err().expect("refused");
        assert!(err.to_string().starts_with(variable), "{err}");
    }
}
