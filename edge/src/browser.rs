//! What edge knows of the browser it serves: its address and the User-Agent it sends.
//! The address is decided once per request, by [`resolve_client_address`], with the rule of
//! DESIGN §14: the TCP peer, or — only when the peer is one of `TRUSTED_PROXIES` — the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Every limit, log line and token
//! exchange reads that one answer; nothing else looks at forwarding headers.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::USER_AGENT;
use http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::error::EdgeError;
use crate::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies in front of edge whose `X-Forwarded-For` it believes (`TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma list of CIDRs (`10.0.0.0/8, fd00::/8`) or single addresses; empty means
    /// none.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let net = match item.parse::<IpNet>() {
                Ok(net) => canonical_net(net.trunc()),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(address.to_canonical()),
                    Err(_) => {
                        return Err(format!(
                            "TRUSTED_PROXIES: `{item}` is neither a CIDR such as 10.0.0.0/8 nor an IP address"
                        ))
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `address` (already canonical) is one of the trusted proxies.
    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }
}

/// `net` with an IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) written as the IPv4 range it
/// maps, since addresses are compared in their canonical form.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        net => net,
    }
}

/// The client's address for this request, as §14's rule decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// The rule: the TCP peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` entry that is not trusted (each proxy appends the address it received
    /// the request from, so entries right of that one were written by our own proxies and entries
    /// left of it by whoever sent it, who may lie). When every entry is trusted, the left-most
    /// (the client is inside the trusted network). An entry that is not an address ends the walk
    /// at the nearest trusted hop: what lies beyond it cannot be believed.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientAddress {
        let mut client = peer.to_canonical();
        if !trusted.contains(client) {
            return ClientAddress(client);
        }
        let entries = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|value| value.as_bytes().rsplit(|&b| b == b','));
        for entry in entries {
            let Some(address) = forwarded_address(entry) else {
                break;
            };
            client = address;
            if !trusted.contains(address) {
                break;
            }
        }
        ClientAddress(client)
    }

    /// The address itself (IPv4-mapped IPv6 addresses written as IPv4).
    pub fn ip(self) -> IpAddr {
        self.0
    }

    /// The key under which per-address limits count this client: an IPv4 address itself, an
    /// IPv6 address its /64 (one subscriber or one host gets a whole /64; counting single
    /// addresses would give it 2^64 budgets).
    pub fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        }
    }
}

/// One `X-Forwarded-For` entry as an address: `1.2.3.4`, `2001:db8::1`, and the port-carrying
/// forms some proxies write (`1.2.3.4:5678`, `[2001:db8::1]:443`); anything else is `None`.
fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    let address = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()?;
    Some(address.to_canonical())
}

/// Middleware on every route: decides the client's address once and keeps it in the request's
/// extensions, where [`client_address`] and [`client_ip`] read it.
pub async fn resolve_client_address(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = ClientAddress::resolve(peer.ip(), request.headers(), &state.trusted_proxies);
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

/// The client's address as [`resolve_client_address`] decided it.
pub fn client_address(extensions: &Extensions) -> Result<ClientAddress, EdgeError> {
    extensions
        .get::<ClientAddress>()
        .copied()
        .ok_or(EdgeError::Internal(
            "no client address: serve with into_make_service_with_connect_info",
        ))
}

/// The client's IP address in text, as identity and the logs get it.
pub fn client_ip(extensions: &Extensions) -> Result<String, EdgeError> {
    client_address(extensions).map(|client| client.ip().to_string())
}

/// The browser's User-Agent, empty when absent or not text.
pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(value));
        }
        headers
    }

    fn resolve(peer: &str, xff: &[&'static str], trusted: &str) -> IpAddr {
        let trusted = TrustedProxies::parse(trusted).unwrap();
        ClientAddress::resolve(ip(peer), &forwarded(xff), &trusted).ip()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            resolve("203.0.113.9", &["198.51.100.1"], ""),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let trusted = "10.0.0.0/8";
        assert_eq!(
            resolve("203.0.113.9", &["10.0.0.1, 1.1.1.1"], trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
        let trusted = "10.0.0.0/8";
        // The client claims 1.1.1.1; the proxy appended the address it really saw.
        assert_eq!(
            resolve("10.0.0.5", &["1.1.1.1, 198.51.100.7"], trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve("10.0.0.5", &[], trusted),
            ip("10.0.0.5"),
            "no header: the proxy itself"
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_across_headers() {
        let trusted = "10.0.0.0/8, 192.0.2.10";
        let chain = ["1.1.1.1, 198.51.100.7", "192.0.2.10", "10.1.2.3"];
        assert_eq!(resolve("10.0.0.5", &chain, trusted), ip("198.51.100.7"));
        assert_eq!(
            resolve("10.0.0.5", &["10.9.9.9, 10.1.1.1"], trusted),
            ip("10.9.9.9"),
            "all trusted: left-most"
        );
    }

    #[test]
    fn garbage_ends_the_walk_at_the_nearest_trusted_hop() {
        let trusted = "10.0.0.0/8";
        assert_eq!(
            resolve("10.0.0.5", &["1.1.1.1, unknown, 10.0.0.7"], trusted),
            ip("10.0.0.7")
        );
        assert_eq!(
            resolve("10.0.0.5", &["not an address"], trusted),
            ip("10.0.0.5")
        );
        assert_eq!(resolve("10.0.0.5", &[""], trusted), ip("10.0.0.5"));
        // Entries that are addresses with ports or spaces still count.
        assert_eq!(
            resolve("10.0.0.5", &[" 198.51.100.7:4711 "], trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve("10.0.0.5", &["[2001:db8::7]:443"], trusted),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn non_utf8_header_bytes_are_garbage() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"1.1.1.1\xff").unwrap(),
        );
        assert_eq!(
            ClientAddress::resolve(ip("10.0.0.5"), &headers, &trusted).ip(),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_are_ipv4_everywhere() {
        let trusted = "10.0.0.0/8";
        assert_eq!(resolve("::ffff:203.0.113.9", &[], ""), ip("203.0.113.9"));
        assert_eq!(
            resolve("::ffff:10.0.0.5", &["::ffff:198.51.100.7"], trusted),
            ip("198.51.100.7")
        );
        for mapped in ["::ffff:10.0.0.1", "::ffff:10.0.0.0/104"] {
            let mapped = TrustedProxies::parse(mapped).unwrap();
            assert_eq!(
                ClientAddress::resolve(ip("10.0.0.1"), &forwarded(&["198.51.100.7"]), &mapped).ip(),
                ip("198.51.100.7")
            );
        }
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a = ClientAddress(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddress(ip("2001:db8:1:2:bbbb::2"));
        let c = ClientAddress(ip("2001:db8:1:3::1"));
        assert_eq!(a.limit_key(), ip("2001:db8:1:2::"));
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), c.limit_key());
        assert_eq!(
            ClientAddress(ip("198.51.100.7")).limit_key(),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_addresses_and_refuse_the_rest() {
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        assert_eq!(
            TrustedProxies::parse(" , ").unwrap(),
            TrustedProxies::default()
        );
        let parsed = TrustedProxies::parse("10.0.0.0/8, 2001:db8::/32,192.0.2.1").unwrap();
        assert!(parsed.contains(ip("10.200.0.1")));
        assert!(parsed.contains(ip("2001:db8:ffff::1")));
        assert!(parsed.contains(ip("192.0.2.1")));
        assert!(!parsed.contains(ip("192.0.2.2")));
        for bad in ["10.0.0.0/33", "ten", "10.0.0.0/8;", "*"] {
            let err = TrustedProxies::parse(bad).unwrap_err();
            assert!(err.contains("TRUSTED_PROXIES"), "{err}");
        }
    }
}
