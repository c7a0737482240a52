//! DESIGN §18's network test, with no container engine: docker/compose.yaml's networks rebuilt
//! as Linux network namespaces (one per network, holding a bridge; one per service, joined to
//! its networks' bridges by veth pairs; link-local 169.254.0.0/16 addresses only), the real
//! binaries started in them with the compose file's own environment, and the proof from the
//! public side: only edge answers, while sign-up and a proxied call through edge work end to end.
//! The stores are SQLite files (the compose file's PostgreSQL is not started: DATABASE_URL is the
//! one variable replaced); SMTP is a real aiosmtpd on the egress network.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;

use crate::compose::compose;
use crate::lifecycle::binary;

const DEADLINE: Duration = Duration::from_secs(60);

/// Each compose network is 169.254.<octet>.0/24; its bridge namespace holds .1, services .2….
const NETWORKS: [(&str, u8); 3] = [("public", 10), ("internal", 20), ("egress", 30)];
/// A service's host number on every network it joins.
const HOSTS: [(&str, u8); 3] = [("edge", 2), ("identity", 3), ("core-api", 4)];
/// The ports the images listen on (docker/Dockerfile's `*_ADDR`).
const LISTEN: [(&str, &str, u16); 3] = [
    ("edge", "EDGE_ADDR", 8080),
    ("identity", "IDENTITY_ADDR", 8081),
    ("core-api", "CORE_API_ADDR", 8082),
];
const SMTP_PORT: u16 = 2525;

fn address(network: &str, service_host: u8) -> Ipv4Addr {
    let octet = NETWORKS
        .iter()
        .find(|(name, _)| *name == network)
        .expect("a known network")
        .1;
    Ipv4Addr::new(169, 254, octet, service_host)
}

fn host(service: &str) -> u8 {
    HOSTS
        .iter()
        .find(|(name, _)| *name == service)
        .expect("a known service")
        .1
}

fn port(service: &str) -> u16 {
    LISTEN
        .iter()
        .find(|(name, _, _)| *name == service)
        .expect("a known service")
        .2
}

/// Runs `ip ARGS`, panicking with its stderr on failure (the Drop guard still cleans up).
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The namespaces of one run, deleted (with every process started in them) when dropped.
struct Topology {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Topology {
    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn add_namespace(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// `command` run inside namespace `ns`.
    fn exec(&self, ns: &str, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// Whether a TCP connection from `ns` to `addr:port` succeeds (bash's /dev/tcp, 2 s cap).
    fn can_connect(&self, ns: &str, addr: Ipv4Addr, port: u16) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "timeout",
                "2",
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/{addr}/{port}"),
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    async fn wait_until_connectable(&mut self, ns: &str, addr: Ipv4Addr, port: u16, what: &str) {
        let started = Instant::now();
        while !self.can_connect(ns, addr, port) {
            for child in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a process exited early ({status}) while waiting for {what}");
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{what} did not listen on {addr}:{port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Whether this test can run: root and `ip`. Otherwise it skips (fails under CI=true).
fn can_run() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let reason = match uid.as_deref() {
        Ok("0") if Command::new("ip").arg("-V").output().is_ok() => return true,
        Ok("0") => "the `ip` command (iproute2) is missing".to_owned(),
        _ => "it needs root to create network namespaces".to_owned(),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the network isolation test cannot run under CI=true: {reason}");
    }
    eprintln!("skipping the network isolation test: {reason}");
    false
}

/// Compose's interpolation: `${V:-default}` → default, `${V:?message}` and `${V}` → `given[V]`.
fn interpolate(text: &str, given: &HashMap<&str, String>) -> String {
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
fn environment(
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

fn networks_of(service: &Value) -> Vec<String> {
    service["networks"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

fn curl(topology: &Topology, ns: &str, args: &[&str]) -> Output {
    let mut command = topology.exec(ns, Path::new("curl"));
    command.args(["-sS", "--max-time", "20"]).args(args);
    command.output().expect("curl runs")
}

#[tokio::test]
async fn from_the_public_network_only_edge_answers_and_a_proxied_call_works() {
    if !can_run() {
        return;
    }
    let (Some(identity_bin), Some(core_api_bin), Some(edge_bin)) =
        (binary("identity"), binary("core-api"), binary("edge"))
    else {
        return;
    };
    let compose = compose();
    let services = &compose["services"];
    let work = tempfile::tempdir().expect("a temp dir");
    let prefix = format!(
        "gh{}{}",
        std::process::id() % 100_000,
        rand::random::<u16>() % 1000
    );
    let mut topology = Topology {
        prefix,
        namespaces: Vec::new(),
        children: Vec::new(),
    };

    // The networks: a namespace each, holding a bridge; the public and egress bridges also carry
    // .1, standing for "a client on the internet" and "the SMTP server" respectively.
    for (network, _) in NETWORKS {
        let ns = topology.add_namespace(network);
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &ns, "link", "set", "br0", "up"]);
        if network != "internal" {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", address(network, 1)),
                "dev",
                "br0",
            ]);
        }
    }
    // The services: a namespace each, one veth per network the compose file puts them on.
    for (service, host_number) in HOSTS {
        let ns = topology.add_namespace(service);
        for network in networks_of(&services[service]) {
            let bridge_ns = topology.ns(&network);
            let (inside, outside) = (format!("e-{network}"), format!("p-{service}"));
            ip(&[
                "link", "add", &inside, "netns", &ns, "type", "veth", "peer", "name", &outside,
                "netns", &bridge_ns,
            ]);
            ip(&[
                "-n", &bridge_ns, "link", "set", &outside, "master", "br0", "up",
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", address(&network, host_number)),
                "dev",
                &inside,
            ]);
            ip(&["-n", &ns, "link", "set", &inside, "up"]);
        }
    }
    let public = topology.ns("public");
    let egress = topology.ns("egress");
    println!("namespaces: {}", topology.namespaces.join(" "));
    for (service, _) in HOSTS {
        println!(
            "  {service}: networks {:?}",
            networks_of(&services[service])
        );
    }

    // SMTP on the egress network.
    let smtp_addr = address("egress", 1);
    let smtp = topology
        .exec(&egress, Path::new("python3"))
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("{smtp_addr}:{SMTP_PORT}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts (pip install aiosmtpd)");
    topology.children.push(smtp);
    topology
        .wait_until_connectable(&egress.clone(), smtp_addr, SMTP_PORT, "aiosmtpd")
        .await;

    let mut given = HashMap::new();
    given.insert("SMTP_URL", format!("smtp://{smtp_addr}:{SMTP_PORT}"));
    given.insert("POSTGRES_PASSWORD", "unused".to_owned());
    given.insert("GATEHOUSE_IDENTITY_PASSWORD", "unused".to_owned());
    given.insert("GATEHOUSE_CORE_PASSWORD", "unused".to_owned());
    let keys_dir = work.path().join("keys").display().to_string();
    let sqlite = |name: &str| format!("sqlite://{}", work.path().join(name).display());

    // The one-shot key service, as the compose file runs it.
    let keys = &services["keys"];
    let argv: Vec<String> = [&keys["entrypoint"], &keys["command"]]
        .into_iter()
        .flat_map(|v| {
            v.as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(argv[0], "identity");
    let status = Command::new(&identity_bin)
        .args(&argv[1..])
        .env_clear()
        .envs(environment(keys, &given, &[("KEYS_DIR", keys_dir.clone())]))
        .status()
        .expect("identity keys runs");
    assert!(status.success(), "the key service exits 0");

    async fn start(
        topology: &mut Topology,
        services: &Value,
        given: &HashMap<&str, String>,
        service: &str,
        bin: &Path,
        overrides: Vec<(&str, String)>,
    ) {
        let (_, variable, port) = LISTEN
            .iter()
            .find(|(name, _, _)| *name == service)
            .expect("listens");
        let mut overrides = overrides;
        overrides.push((variable, format!("0.0.0.0:{port}")));
        overrides.push(("PATH", std::env::var("PATH").unwrap_or_default()));
        let ns = topology.ns(service);
        let child = topology
            .exec(&ns, bin)
            .env_clear()
            .envs(environment(&services[service], given, &overrides))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        topology.children.push(child);
        // The service's own healthcheck verb, run in its namespace, says when it is ready.
        let started = Instant::now();
        loop {
            let ok = topology
                .exec(&ns, bin)
                .arg("healthcheck")
                .env_clear()
                .env(variable, format!("0.0.0.0:{port}"))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{service} did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let identity_env = vec![
        ("DATABASE_URL", sqlite("identity.db")),
        ("KEYS_DIR", keys_dir),
    ];
    start(
        &mut topology,
        services,
        &given,
        "identity",
        &identity_bin,
        identity_env,
    )
    .await;
    start(
        &mut topology,
        services,
        &given,
        "core-api",
        &core_api_bin,
        vec![("DATABASE_URL", sqlite("core-api.db"))],
    )
    .await;
    start(&mut topology, services, &given, "edge", &edge_bin, vec![]).await;

    // Who can reach whom.
    let edge_public = address("public", host("edge"));
    let identity_internal = address("internal", host("identity"));
    let core_internal = address("internal", host("core-api"));
    let checks = [
        (
            "public → edge",
            public.clone(),
            edge_public,
            port("edge"),
            true,
        ),
        (
            "public → identity",
            public.clone(),
            identity_internal,
            port("identity"),
            false,
        ),
        (
            "public → core-api",
            public.clone(),
            core_internal,
            port("core-api"),
            false,
        ),
        (
            "public → smtp (egress)",
            public.clone(),
            smtp_addr,
            SMTP_PORT,
            false,
        ),
        (
            "edge → identity",
            topology.ns("edge"),
            identity_internal,
            port("identity"),
            true,
        ),
        (
            "edge → core-api",
            topology.ns("edge"),
            core_internal,
            port("core-api"),
            true,
        ),
        (
            "edge → smtp (egress)",
            topology.ns("edge"),
            smtp_addr,
            SMTP_PORT,
            false,
        ),
        (
            "core-api → smtp (egress)",
            topology.ns("core-api"),
            smtp_addr,
            SMTP_PORT,
            false,
        ),
        (
            "identity → smtp (egress)",
            topology.ns("identity"),
            smtp_addr,
            SMTP_PORT,
            true,
        ),
    ];
    for (what, ns, addr, port, expected) in checks {
        let reached = topology.can_connect(&ns, addr, port);
        println!(
            "{what:<26} {addr}:{port:<5} {}",
            if reached { "connects" } else { "unreachable" }
        );
        assert_eq!(reached, expected, "{what}");
    }

    // A user on the public side signs up and makes a proxied call, all through edge.
    let jar = work.path().join("cookies.txt").display().to_string();
    let base = format!("http://{edge_public}:{}", port("edge"));
    let email = format!("netns-{}@example.com", rand::random::<u32>());
    let body =
        format!(r#"{{"name":"Net","email":"{email}","password":"correct horse battery staple"}}"#);
    let origin = "Origin: http://localhost:8080";
    let sign_up = curl(
        &topology,
        &public,
        &[
            "-c",
            &jar,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            origin,
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &format!("{base}/api/auth/sign-up/email"),
        ],
    );
    let sign_up_status = String::from_utf8_lossy(&sign_up.stdout).to_string();
    println!("public: POST {base}/api/auth/sign-up/email → {sign_up_status}");
    assert_eq!(
        sign_up_status,
        "200",
        "{}",
        String::from_utf8_lossy(&sign_up.stderr)
    );
    let profile = curl(
        &topology,
        &public,
        &[
            "-b",
            &jar,
            "-w",
            "\n%{http_code}",
            &format!("{base}/api/profile"),
        ],
    );
    let profile = String::from_utf8_lossy(&profile.stdout).to_string();
    println!(
        "public: GET {base}/api/profile → {}",
        profile.replace('\n', " ")
    );
    assert!(profile.ends_with("\n200"), "{profile}");
    assert!(
        profile.contains(&email),
        "core-api answered for the signed-up user: {profile}"
    );

    // identity reached the SMTP server through egress: the verification mail arrived.
    let mut smtp = topology.children.remove(0);
    let _ = smtp.kill();
    let smtp_output = smtp.wait_with_output().expect("aiosmtpd's output");
    let mail = String::from_utf8_lossy(&smtp_output.stdout);
    let delivered = mail.contains(&email);
    println!("smtp (egress): mail to {email} delivered: {delivered}");
    assert!(delivered, "identity sends mail through the egress network");
}
