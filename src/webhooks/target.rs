//! Where a webhook may be sent. In production a URL must be `https` and must not reach the
//! service's own network: loopback, private, link-local and other internal addresses are refused.
//! The name is resolved, each address checked, and the connection made to a checked address (the
//! HTTP client's resolver is [`GuardedResolver`]), so a name cannot resolve to a public address
//! when checked and to an internal one when used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// What a target URL must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct TargetPolicy {
    pub require_https: bool,
    /// Loopback and private receivers (development and tests).
    pub allow_private: bool,
}

/// Why a URL is not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
}

const MAX_URL_LEN: usize = 2048;

/// Parses and checks a URL without resolving it.
pub fn parse(raw: &str, policy: TargetPolicy) -> Result<Url, TargetError> {
    let invalid = |m: &str| TargetError::Invalid(m.to_string());
    if raw.len() > MAX_URL_LEN {
        return Err(invalid("the url is longer than 2048 characters"));
    }
    let url = Url::parse(raw).map_err(|e| TargetError::Invalid(format!("the url is not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Err(invalid("the url must be https (http is for development only)")),
        _ => return Err(invalid("the url must be an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the url must not carry credentials; authenticate the request by its signature",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("the url must not have a #fragment"));
    }
    let literal = match url.host() {
        None => return Err(invalid("the url has no host")),
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => None,
    };
    if let Some(ip) = literal {
        check_address(ip, policy)?;
    }
    Ok(url)
}

/// Refuses an internal address unless the policy allows them.
pub fn check_address(ip: IpAddr, policy: TargetPolicy) -> Result<(), TargetError> {
    if !policy.allow_private && is_internal(ip) {
        return Err(TargetError::Refused(format!(
            "{ip} is a loopback, private or link-local address; webhooks go to public addresses only"
        )));
    }
    Ok(())
}

/// Resolves the URL's host now and refuses it if any address is internal (at registration: the
/// sender checks again at every connection).
pub async fn check_resolved(url: &Url, policy: TargetPolicy) -> Result<(), TargetError> {
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    if policy.allow_private {
        return Ok(());
    }
    let addrs = tokio::net::lookup_host((name, url.port_or_known_default().unwrap_or(443)))
        .await
        .map_err(|_| TargetError::Invalid(format!("the host {name} does not resolve")))?;
    for addr in addrs {
        check_address(addr.ip(), policy)?;
    }
    Ok(())
}

/// Internal, or not a unicast internet address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64: an IPv4 address in disguise
                || (s[0..6] == [0; 6] && is_internal_v4(embedded_v4(v6))) // IPv4-compatible
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 240 // reserved
}

/// The HTTP client's resolver in production: connects only to addresses that pass the check.
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            };
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} does not resolve").into()
                } else {
                    format!("{host} resolves to an internal address; refused").into()
                };
                return Err(err);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: TargetPolicy = TargetPolicy {
        require_https: true,
        allow_private: false,
    };
    const LOCAL: TargetPolicy = TargetPolicy {
        require_https: false,
        allow_private: true,
    };

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::6810:84e5",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn production_wants_https_and_public_literals() {
        assert!(parse("https://hooks.example.com/in", PRODUCTION).is_ok());
        assert!(matches!(
            parse("http://hooks.example.com/in", PRODUCTION),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(
            parse("https://127.0.0.1/in", PRODUCTION),
            Err(TargetError::Refused(_))
        ));
        assert!(matches!(
            parse("https://[::1]/in", PRODUCTION),
            Err(TargetError::Refused(_))
        ));
        assert!(matches!(
            parse("https://169.254.169.254/latest", PRODUCTION),
            Err(TargetError::Refused(_))
        ));
        assert!(matches!(
            parse("ftp://example.com", LOCAL),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(
            parse("https://u:p@example.com", LOCAL),
            Err(TargetError::Invalid(_))
        ));
        assert!(parse("http://127.0.0.1:9/in", LOCAL).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused() {
        let url = parse("https://localhost/in", PRODUCTION).unwrap();
        assert!(matches!(
            check_resolved(&url, PRODUCTION).await,
            Err(TargetError::Refused(_))
        ));
        assert!(check_resolved(&url, LOCAL).await.is_ok());
        let resolved = reqwest::dns::Resolve::resolve(&GuardedResolver, "localhost".parse().unwrap()).await;
        assert!(resolved.is_err());
    }
}
