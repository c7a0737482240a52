//! deploy/kubernetes checked without a cluster: every manifest against the Kubernetes schemas
//! (`kubernetes-validate`, pinned version), and what §15 promises about who may reach whom,
//! keys, probes, limits and replicas.

use std::path::PathBuf;

use serde_norway::Value;

/// The Kubernetes version the manifests are validated against: the newest schema bundled with
/// the kubernetes-validate release .ci/run installs (1.37.0).
const KUBERNETES_VERSION: &str = "1.37.0";
const SERVICES: [&str; 3] = ["identity", "core-api", "edge"];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// The resource files kustomization.yaml lists.
fn resource_files() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir().join("kustomization.yaml"))
        .expect("kustomization.yaml is readable");
    let kustomization: Value = serde_norway::from_str(&text).expect("kustomization.yaml is YAML");
    let files: Vec<PathBuf> = kustomization["resources"]
        .as_sequence()
        .expect("kustomization lists resources")
        .iter()
        .map(|file| dir().join(file.as_str().expect("a file name")))
        .collect();
    assert!(!files.is_empty());
    files
}

fn documents() -> Vec<Value> {
    let mut documents = Vec::new();
    for file in resource_files() {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Documents are separated by `---` lines (none of the manifests uses `---` otherwise).
        for document in text.split("\n---\n") {
            documents.push(
                serde_norway::from_str(document)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            );
        }
    }
    documents
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let matching: Vec<&Value> = documents
        .iter()
        .filter(|d| {
            d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
        })
        .collect();
    assert_eq!(matching.len(), 1, "exactly one {kind} {name}");
    matching[0]
}

fn app(labels: &Value) -> Option<&str> {
    labels["matchLabels"]["app.kubernetes.io/name"].as_str()
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let run = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(resource_files())
        .output();
    let output = match run {
        Ok(output) => output,
        Err(err) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("kubernetes-validate must be installed when CI=true (.ci/run installs it): {err}");
            }
            eprintln!("skipping the Kubernetes schema check: kubernetes-validate is not installed ({err})");
            return;
        }
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "deploy/kubernetes does not validate:\n{report}"
    );
    // kubernetes-validate exits 0 on a kind it has no schema for; every resource must have passed.
    assert!(
        !report.contains("WARN") && !report.contains("ERROR"),
        "{report}"
    );
    assert_eq!(
        report.matches(" passed ").count(),
        documents().len(),
        "{report}"
    );
}

#[test]
fn network_policies_let_only_the_callers_section_15_names_in() {
    let documents = documents();
    let callers = [
        ("identity", vec!["core-api", "edge"]),
        ("core-api", vec!["edge"]),
    ];
    for (name, expected) in callers {
        let policy = find(&documents, "NetworkPolicy", name);
        assert_eq!(app(&policy["spec"]["podSelector"]), Some(name));
        assert_eq!(
            policy["spec"]["policyTypes"].as_sequence().map(Vec::len),
            Some(1)
        );
        assert_eq!(policy["spec"]["policyTypes"][0].as_str(), Some("Ingress"));
        let rules = policy["spec"]["ingress"]
            .as_sequence()
            .expect("ingress rules");
        assert_eq!(
            rules.len(),
            2,
            "{name}: one rule for callers, one for metrics"
        );
        let mut metrics_rules = 0;
        for rule in rules {
            let ports: Vec<&str> = rule["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .filter_map(|p| p["port"].as_str())
                .collect();
            let peers = rule["from"].as_sequence().expect("a rule names its peers");
            assert!(
                !peers.is_empty(),
                "{name}: an empty `from` would let everyone in"
            );
            if ports == ["metrics"] {
                metrics_rules += 1;
                for peer in peers {
                    assert!(
                        peer.get("podSelector").is_none(),
                        "{name}: metrics peer {peer:?}"
                    );
                    assert_eq!(
                        peer["namespaceSelector"]["matchLabels"]["gatehouse.io/monitoring"]
                            .as_str(),
                        Some("true"),
                        "{name}: metrics only from monitoring namespaces"
                    );
                }
            } else {
                assert_eq!(ports, ["http"], "{name}: callers reach the main port only");
                let mut from: Vec<&str> = peers
                    .iter()
                    .map(|peer| {
                        assert!(
                            peer.get("namespaceSelector").is_none()
                                && peer.get("ipBlock").is_none(),
                            "{peer:?}"
                        );
                        app(&peer["podSelector"]).expect("a pod selector by app name")
                    })
                    .collect();
                from.sort_unstable();
                assert_eq!(from, expected, "{name}: who may call it");
            }
        }
        assert_eq!(metrics_rules, 1, "{name}");
    }
    // edge's metrics port is as closed as the others'.
    let edge = find(&documents, "NetworkPolicy", "edge");
    let metrics = edge["spec"]["ingress"]
        .as_sequence()
        .expect("rules")
        .iter()
        .filter(|r| r["ports"][0]["port"].as_str() == Some("metrics"));
    for rule in metrics {
        assert!(
            rule["from"][0]["namespaceSelector"]["matchLabels"]["gatehouse.io/monitoring"].as_str()
                == Some("true")
        );
    }
}

#[test]
fn deployments_run_two_non_root_read_only_replicas_with_probes_limits_and_a_pdb() {
    let documents = documents();
    for name in SERVICES {
        let deployment = find(&documents, "Deployment", name);
        assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2), "{name}");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{name}"
        );
        let containers = pod["containers"].as_sequence().expect("containers");
        for container in containers {
            let security = &container["securityContext"];
            assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{name}");
            assert_eq!(security["runAsUser"].as_u64(), Some(10001), "{name}");
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{name}"
            );
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{name}"
            );
            assert_eq!(
                security["capabilities"]["drop"][0].as_str(),
                Some("ALL"),
                "{name}"
            );
            assert_eq!(
                security["seccompProfile"]["type"].as_str(),
                Some("RuntimeDefault"),
                "{name}"
            );
            assert_eq!(
                container["livenessProbe"]["httpGet"]["path"].as_str(),
                Some("/healthz"),
                "{name}"
            );
            assert_eq!(
                container["readinessProbe"]["httpGet"]["path"].as_str(),
                Some("/readyz"),
                "{name}"
            );
            assert!(
                container["resources"]["limits"]["memory"]
                    .as_str()
                    .is_some(),
                "{name}: memory limit"
            );
            assert!(
                container["resources"]["requests"]["memory"]
                    .as_str()
                    .is_some(),
                "{name}: memory request"
            );
            assert!(
                container["resources"]["requests"]["cpu"].as_str().is_some(),
                "{name}: cpu request"
            );
            let metrics = env(container, "METRICS_ADDR")
                .and_then(|e| e["value"].as_str())
                .unwrap_or_default();
            assert!(
                metrics.starts_with("0.0.0.0:946"),
                "{name}: METRICS_ADDR {metrics}"
            );
        }
        let pdbs = documents
            .iter()
            .filter(|d| {
                d["kind"].as_str() == Some("PodDisruptionBudget")
                    && app(&d["spec"]["selector"]) == Some(name)
            })
            .count();
        assert_eq!(pdbs, 1, "{name}: one PodDisruptionBudget");
        let service = find(&documents, "Service", name);
        assert_eq!(
            service["spec"]["selector"]["app.kubernetes.io/name"].as_str(),
            Some(name)
        );
    }
}

#[test]
fn identity_reads_its_keys_from_a_read_only_secret_volume() {
    let documents = documents();
    let pod = &find(&documents, "Deployment", "identity")["spec"]["template"]["spec"];
    assert!(
        pod["securityContext"]["fsGroup"].as_u64().is_some(),
        "fsGroup makes the Secret group-readable"
    );
    let container = &pod["containers"][0];
    let keys_dir = env(container, "KEYS_DIR")
        .and_then(|e| e["value"].as_str())
        .expect("KEYS_DIR");
    assert_eq!(
        env(container, "KEYS_GROUP_READABLE").and_then(|e| e["value"].as_str()),
        Some("true")
    );
    assert_eq!(
        env(container, "SESSION_CACHE").and_then(|e| e["value"].as_str()),
        Some("on"),
        "replicas keep the cache on: changes wait for every replica (DESIGN §15)"
    );
    let core_api = &find(&documents, "Deployment", "core-api")["spec"]["template"]["spec"];
    assert_eq!(
        env(&core_api["containers"][0], "JTI_STORE").and_then(|e| e["value"].as_str()),
        Some("postgres"),
        "core-api replicas share the used token ids (DESIGN §15)"
    );
    let mount = container["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(keys_dir))
        .expect("KEYS_DIR is mounted");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let volume = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the keys volume");
    assert!(
        volume["secret"]["secretName"].as_str().is_some(),
        "keys come from a Secret"
    );
    // Never readable by others (§7 refuses that even with KEYS_GROUP_READABLE).
    let mode = volume["secret"]["defaultMode"]
        .as_u64()
        .expect("defaultMode");
    assert_eq!(mode & 0o007, 0, "defaultMode {mode:o}");
    for name in ["DATABASE_URL", "SMTP_URL"] {
        assert!(
            env(container, name)
                .and_then(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str())
                .is_some(),
            "{name}"
        );
    }
}
