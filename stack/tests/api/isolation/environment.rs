//! A service's environment from the compose file, as compose would give it inside the topology.

use std::collections::HashMap;

use serde_norway::Value;

use super::topology::{address, HOSTS};

/// The ports the images listen on (docker/Dockerfile's `*_ADDR`).
pub(super) const LISTEN: [(&str, &str, u16); 3] = [
    ("edge", "EDGE_ADDR", 8080),
    ("identity", "IDENTITY_ADDR", 8081),
    ("core-api", "CORE_API_ADDR", 8082),
];
pub(super) fn port(service: &str) -> u16 {
    LISTEN
        .iter()
        .find(|(name, _, _)| *name == service)
        .expect("a known service")
        .2
}
/// Compose's interpolation: `${V:-default}` → default, `${V:?message}` and `${V}` → `given[V]`.
pub(super) fn interpolate(text: &str, given: &HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|i| start + i)
            .expect("a closed ${…}");
        let inner = &rest[start + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner.split_once(":?").map_or(inner, |(name, _)| name), None),
        };
        match (given.get(name), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => panic!("the test must give a value for the required ${{{name}}}"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's environment from the compose file: interpolated, service names replaced by their
/// addresses on the internal network, the image's listen address, and the test's own stores.
pub(super) fn environment(
    service: &Value,
    given: &HashMap<&str, String>,
    overrides: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(map) = service["environment"].as_mapping() {
        for (key, value) in map {
            let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            let mut value = interpolate(value, given);
            for (name, host_number) in HOSTS {
                value = value.replace(
                    &format!("//{name}:"),
                    &format!("//{}:", address("internal", host_number)),
                );
            }
            env.push((key.to_owned(), value));
        }
    }
    for (key, value) in overrides {
        env.retain(|(existing, _)| existing != key);
        env.push(((*key).to_owned(), value.clone()));
    }
    env
}

pub(super) fn networks_of(service: &Value) -> Vec<String> {
    service["networks"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}
