//! docker/compose.yaml checked without a container engine: its structure (what §18 promises
//! about exposure, networks, keys and mail) and its validity against the Compose specification.

use std::path::PathBuf;

use serde_norway::Value;

/// The repository's compose file.
pub fn compose_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docker/compose.yaml")
}

/// The compose file, parsed.
pub fn compose() -> Value {
    let text = std::fs::read_to_string(compose_path()).expect("docker/compose.yaml is readable");
    serde_norway::from_str(&text).expect("docker/compose.yaml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("compose has a `{name}` service"))
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Value::Mapping(map) => map
            .keys()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn environment<'a>(service: &'a Value, variable: &str) -> Option<&'a str> {
    service["environment"].get(variable).and_then(Value::as_str)
}

#[test]
fn only_edge_publishes_ports() {
    let compose = compose();
    let services = compose["services"]
        .as_mapping()
        .expect("services is a mapping");
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        let published = service
            .get("ports")
            .is_some_and(|ports| !strings(ports).is_empty());
        assert_eq!(
            published,
            name == "edge",
            "service `{name}` publishes ports: {published}"
        );
    }
}

#[test]
fn private_services_share_an_internal_network_edge_alone_bridges_to_public() {
    let compose = compose();
    assert_eq!(
        compose["networks"]["internal"]["internal"].as_bool(),
        Some(true),
        "internal must be `internal: true`"
    );
    for name in ["identity", "core-api", "postgres"] {
        let networks = strings(&service(&compose, name)["networks"]);
        assert!(
            networks.contains(&"internal".to_owned()),
            "{name} is on the internal network"
        );
        assert!(
            !networks.contains(&"public".to_owned()),
            "{name} must not be on the public network"
        );
    }
    let edge = strings(&service(&compose, "edge")["networks"]);
    assert!(
        edge.contains(&"public".to_owned()) && edge.contains(&"internal".to_owned()),
        "{edge:?}"
    );
}

#[test]
fn identity_alone_has_the_egress_network_for_smtp() {
    let compose = compose();
    assert_ne!(
        compose["networks"]["egress"]["internal"].as_bool(),
        Some(true),
        "egress must reach outside"
    );
    let services = compose["services"]
        .as_mapping()
        .expect("services is a mapping");
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        let on_egress = strings(&service["networks"]).contains(&"egress".to_owned());
        assert_eq!(
            on_egress,
            name == "identity",
            "service `{name}` on egress: {on_egress}"
        );
    }
}

#[test]
fn smtp_url_is_required_and_public_url_defaults_to_the_published_origin() {
    let compose = compose();
    let identity = service(&compose, "identity");
    let smtp = environment(identity, "SMTP_URL").expect("identity sets SMTP_URL");
    assert!(
        smtp.starts_with("${SMTP_URL:?"),
        "SMTP_URL must be required (`${{SMTP_URL:?…}}`), got {smtp}"
    );
    assert!(
        environment(identity, "DEV_MAILBOX").is_none(),
        "production never runs the development mailbox"
    );
    let published = strings(&service(&compose, "edge")["ports"]);
    assert_eq!(published, ["8080:8080"]);
    for name in ["identity", "edge"] {
        assert_eq!(
            environment(service(&compose, name), "PUBLIC_URL"),
            Some("${PUBLIC_URL:-http://localhost:8080}")
        );
    }
}

#[test]
fn a_one_shot_service_creates_the_first_key_and_identity_mounts_keys_read_only() {
    let compose = compose();
    let keys = service(&compose, "keys");
    let command: Vec<String> = strings(&keys["entrypoint"])
        .into_iter()
        .chain(strings(&keys["command"]))
        .collect();
    assert_eq!(command, ["identity", "keys", "init", "--if-missing"]);
    assert!(
        keys.get("profiles").is_none(),
        "the key service must run on every `up`"
    );
    assert_eq!(strings(&keys["volumes"]), ["keys:/keys"]);
    let identity = service(&compose, "identity");
    assert_eq!(strings(&identity["volumes"]), ["keys:/keys:ro"]);
    assert_eq!(
        identity["depends_on"]["keys"]["condition"].as_str(),
        Some("service_completed_successfully"),
        "identity waits for the key service"
    );
}

#[test]
fn every_gatehouse_container_is_hardened_and_restarts() {
    let compose = compose();
    for name in ["identity", "core-api", "edge", "keys"] {
        let service = service(&compose, name);
        assert_eq!(
            service["read_only"].as_bool(),
            Some(true),
            "{name} read_only"
        );
        assert_eq!(strings(&service["cap_drop"]), ["ALL"], "{name} cap_drop");
        assert!(
            strings(&service["security_opt"]).contains(&"no-new-privileges:true".to_owned()),
            "{name}"
        );
        let restart = service["restart"].as_str().unwrap_or_default();
        assert_eq!(restart == "no", name == "keys", "{name} restart: {restart}");
    }
}

#[test]
fn the_compose_file_validates_against_the_compose_specification() {
    let run = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(compose_path())
        .output();
    let output = match run {
        Ok(output) => output,
        Err(err) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "check-jsonschema must be installed when CI=true (.ci/run installs it): {err}"
                );
            }
            eprintln!(
                "skipping the Compose schema check: check-jsonschema is not installed ({err})"
            );
            return;
        }
    };
    assert!(
        output.status.success(),
        "docker/compose.yaml does not match the Compose specification:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
