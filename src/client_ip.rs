//! The client's address, for the login and registration limits.
//!
//! Behind reverse proxies the socket peer is the proxy, so `X-Forwarded-For` is read, but only as
//! far as it was written by proxies we trust: each proxy appends the address it received from, so
//! walking the list from the right, the first hop that is not a trusted proxy is the client. What
//! lies to the left of it was written by the client and proves nothing.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

use crate::error::ApiError;

/// The configured `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client address given the socket peer and the `X-Forwarded-For` values in order.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(&peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(&ip) => client = ip,
                Some(ip) => return ip,
                // A trusted proxy wrote something unreadable: stop at the last hop we believe.
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// Extractor: the client address of this request (needs `web::Data<TrustedProxies>`).
pub struct ClientIp(pub IpAddr);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let proxies = req.app_data::<web::Data<TrustedProxies>>();
        let ip = match proxies {
            Some(proxies) => {
                let values = req
                    .headers()
                    .get_all("x-forwarded-for")
                    .filter_map(|v| v.to_str().ok());
                proxies.client_ip(peer, values)
            }
            None => peer,
        };
        ready(Ok(ClientIp(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("203.0.113.9"), ["1.1.1.1"]), ip("203.0.113.9"));
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), ["1.1.1.1"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn right_most_untrusted_hop_wins() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.5/32"]);
        // The client forged "6.6.6.6"; the edge proxy appended the real address, the inner one its own.
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), ["6.6.6.6, 198.51.100.7, 192.168.1.5"]),
            ip("198.51.100.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), ["6.6.6.6", "198.51.100.7:4711"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn only_trusted_hops_or_garbage_fall_back_to_the_nearest_trusted_one() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["10.1.1.1"]), ip("10.1.1.1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), Vec::<&str>::new()), ip("10.0.0.2"));
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), ["1.2.3.4, not-an-ip"]),
            ip("10.0.0.2")
        );
    }
}
