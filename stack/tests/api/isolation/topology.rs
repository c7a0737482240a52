//! The network namespaces of one run: compose's networks as bridges, services joined by veth
//! pairs on link-local addresses, and the processes started inside them.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use test_support::eventually;

use super::DEADLINE;

/// Each compose network is 169.254.<octet>.0/24; its bridge namespace holds .1, services .2….
pub(super) const NETWORKS: [(&str, u8); 3] = [("public", 10), ("internal", 20), ("egress", 30)];
/// A service's host number on every network it joins.
pub(super) const HOSTS: [(&str, u8); 3] = [("edge", 2), ("identity", 3), ("core-api", 4)];
pub(super) fn address(network: &str, service_host: u8) -> Ipv4Addr {
    let octet = NETWORKS
        .iter()
        .find(|(name, _)| *name == network)
        .expect("a known network")
        .1;
    Ipv4Addr::new(169, 254, octet, service_host)
}

pub(super) fn host(service: &str) -> u8 {
    HOSTS
        .iter()
        .find(|(name, _)| *name == service)
        .expect("a known service")
        .1
}
/// Runs `ip ARGS`, panicking with its stderr on failure (the Drop guard still cleans up).
pub(super) fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The namespaces of one run, deleted (with every process started in them) when dropped.
pub(super) struct Topology {
    pub(super) prefix: String,
    pub(super) namespaces: Vec<String>,
    pub(super) children: Vec<Child>,
}

impl Topology {
    pub(super) fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub(super) fn add_namespace(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// `command` run inside namespace `ns`.
    pub(super) fn exec(&self, ns: &str, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// Whether a TCP connection from `ns` to `addr:port` succeeds (bash's /dev/tcp, 2 s cap).
    pub(super) fn can_connect(&self, ns: &str, addr: Ipv4Addr, port: u16) -> bool {
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

    pub(super) async fn wait_until_connectable(
        &mut self,
        ns: &str,
        addr: Ipv4Addr,
        port: u16,
        what: &str,
    ) {
        let listening = format!("{what} listening on {addr}:{port}");
        eventually(DEADLINE, &listening, || {
            for child in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a process exited early ({status}) while waiting for {what}");
                }
            }
            std::future::ready(self.can_connect(ns, addr, port))
        })
        .await;
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
pub(super) fn can_run() -> bool {
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
pub(super) fn curl(topology: &Topology, ns: &str, args: &[&str]) -> Output {
    let mut command = topology.exec(ns, Path::new("curl"));
    command.args(["-sS", "--max-time", "20"]).args(args);
    command.output().expect("curl runs")
}
