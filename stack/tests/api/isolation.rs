//! DESIGN §18's network test, with no container engine: docker/compose.yaml's networks rebuilt
//! as Linux network namespaces (one per network, holding a bridge; one per service, joined to
//! its networks' bridges by veth pairs; link-local 169.254.0.0/16 addresses only), the real
//! binaries started in them with the compose file's own environment, and the proof from the
//! public side: only edge answers, while sign-up and a proxied call through edge work end to end.
//! The stores are SQLite files (the compose file's PostgreSQL is not started: DATABASE_URL is the
//! one variable replaced); SMTP is a real aiosmtpd on the egress network.

mod environment;
mod topology;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_norway::Value;
use test_support::eventually;

use crate::compose::compose;
use crate::lifecycle::binary;
use environment::{environment, networks_of, port, LISTEN};
use topology::{address, can_run, curl, host, ip, Topology, HOSTS, NETWORKS};

const DEADLINE: Duration = Duration::from_secs(60);
const SMTP_PORT: u16 = 2525;

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
        eventually(DEADLINE, &format!("{service} ready"), || {
            let healthy = topology
                .exec(&ns, bin)
                .arg("healthcheck")
                .env_clear()
                .env(variable, format!("0.0.0.0:{port}"))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            std::future::ready(healthy)
        })
        .await;
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
