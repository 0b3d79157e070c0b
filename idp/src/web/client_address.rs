//! The client's address, for throttling and the audit trail. Behind a load balancer the TCP
//! peer is the balancer, so `X-Forwarded-For` is read, but only from proxies listed in
//! `trusted_proxies`: anyone else could write any address there (OWASP ASVS V2.2: limits
//! must not be bypassable by a spoofed header).

use std::net::IpAddr;

pub use crate::config::TrustedProxies;
use actix_web::HttpRequest;

impl TrustedProxies {
    /// Whether `ip` is one of the proxies or networks listed.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.contains(ip)
    }

    /// The client behind `peer`: walking `X-Forwarded-For` from the right, the first address
    /// not of a trusted proxy (the left-most when all are).
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                Err(_) => break, // a garbled hop: keep the last one vouched for
            }
        }
        client
    }
}

/// The client's address as text ("" when unknown).
pub fn client_address(proxies: &TrustedProxies, req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    proxies.client(peer, forwarded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxies =
            TrustedProxies::try_from(vec!["10.0.0.0/8".to_string(), "192.0.2.7".to_string()])
                .unwrap();
        // Straight from the internet: the header is ignored.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        // Through the balancer: the client it saw.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), Some("198.51.100.4")),
            ip("198.51.100.4")
        );
        // A client that writes its own header cannot choose its address.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), Some("1.1.1.1, 198.51.100.4")),
            ip("198.51.100.4")
        );
        // Two trusted hops.
        assert_eq!(
            proxies.client(ip("192.0.2.7"), Some("198.51.100.4, 10.9.9.9")),
            ip("198.51.100.4")
        );
        assert_eq!(
            proxies.client(ip("10.1.2.3"), Some("garbage")),
            ip("10.1.2.3")
        );
        assert_eq!(proxies.client(ip("10.1.2.3"), None), ip("10.1.2.3"));
        assert!(TrustedProxies::try_from(vec!["not-an-ip".to_string()]).is_err());
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), Some("1.1.1.1")),
            ip("10.1.2.3")
        );
    }
}
