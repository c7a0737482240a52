//! One proxied call is found in the access line of each service under one request id and one
//! trace id.

use super::Binaries;
use crate::support::unique_email;

#[tokio::test]
async fn one_proxied_call_has_one_request_id_and_one_trace_id_in_the_access_lines_of_all_three_services(
) {
    let Some(binaries) = Binaries::start().await else {
        return;
    };
    let browser = binaries.browser();
    let signed_up = browser
        .sign_up(
            "Trace",
            &unique_email("trace"),
            "correct horse battery staple",
        )
        .await;
    assert_eq!(signed_up.status(), 200);

    let call = browser.get("/api/profile").await;
    assert_eq!(call.status(), 200);
    let request_id = call.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&request_id).is_ok(),
        "edge makes a UUID: {request_id}"
    );

    let mut access = Vec::new();
    for service in binaries.services() {
        let line = service
            .wait_for("the call's access line", |line| {
                line["message"] == "request" && line["request_id"] == request_id
            })
            .await;
        eprintln!("{} access line: {line}", service.name);
        assert_eq!(line["service"], service.name);
        assert_eq!(line["level"], "info");
        assert_eq!(line["status"], 200);
        assert!(
            line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
        assert!(
            line["time"]
                .as_str()
                .is_some_and(|time| time.ends_with('Z')),
            "{line}"
        );
        access.push(line);
    }
    let [edge, identity, core_api] = &access[..] else {
        unreachable!()
    };
    assert_eq!(
        (edge["method"].as_str(), edge["route"].as_str()),
        (Some("GET"), Some("/api/{*path}"))
    );
    assert_eq!(
        (identity["method"].as_str(), identity["route"].as_str()),
        (Some("POST"), Some("/v1/token"))
    );
    assert_eq!(
        (core_api["method"].as_str(), core_api["route"].as_str()),
        (Some("GET"), Some("/api/profile"))
    );

    let trace_id = edge["trace_id"].as_str().expect("a trace id");
    assert!(
        trace_id.len() == 32
            && trace_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(identity["trace_id"], trace_id);
    assert_eq!(core_api["trace_id"], trace_id);
    let spans = [&edge["span_id"], &identity["span_id"], &core_api["span_id"]];
    assert!(
        spans[0] != spans[1] && spans[1] != spans[2] && spans[0] != spans[2],
        "a span per hop: {spans:?}"
    );

    assert_eq!(edge["client_ip"], "127.0.0.1");
    assert!(
        identity["user_id"].is_string() && identity["session_id"].is_string(),
        "{identity}"
    );
    assert_eq!(core_api["user_id"], identity["user_id"]);
    assert_eq!(core_api["session_id"], identity["session_id"]);
}
