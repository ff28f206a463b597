//! Where the load goes: `http://` URLs on loopback only.
//!
//! The tool generates heavy traffic, so it refuses anything but a loopback address: an IP
//! literal in `127.0.0.0/8`, `::1`, or the name `localhost` (taken as `127.0.0.1` without any
//! name lookup, so a hosts file cannot point it elsewhere).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::BenchError;

/// A parsed `http://` URL on loopback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header value (the URL's authority as written).
    pub host: String,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Target {
    /// Parses `url`, refusing other schemes and non-loopback hosts.
    pub fn parse(url: &str) -> Result<Self, BenchError> {
        let bad = |reason: &'static str| BenchError::Url { url: url.to_owned(), reason };
        let rest =
            url.strip_prefix("http://").ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad("user information is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            let port = &v6[end + 1..];
            (&v6[..end], port.strip_prefix(':').unwrap_or(port))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port),
                None => (authority, ""),
            }
        };
        let port: u16 = if port.is_empty() {
            80
        } else {
            port.parse().map_err(|_| bad("the port is not a number from 0 to 65535"))?
        };
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .map_err(|_| bad("the host must be loopback: 127.x.y.z, ::1 or localhost"))?
        };
        if !ip.is_loopback() {
            return Err(BenchError::NotLoopback { url: url.to_owned(), ip });
        }
        Ok(Self { addr: SocketAddr::new(ip, port), host: authority.to_owned(), path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_parse_with_path_query_and_default_port() {
        let t = Target::parse("http://127.0.0.1:8080/events?topic=bench").expect("url");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/events?topic=bench");
        let t = Target::parse("http://localhost").expect("url");
        assert_eq!(t.addr, "127.0.0.1:80".parse().expect("addr"));
        assert_eq!(t.path, "/");
        let t = Target::parse("http://[::1]:7999?x=1").expect("url");
        assert_eq!(t.addr, "[::1]:7999".parse().expect("addr"));
        assert_eq!(t.path, "/?x=1");
        let t = Target::parse("http://127.8.9.10:1/").expect("any 127/8 address");
        assert_eq!(t.addr.port(), 1);
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for url in ["http://10.0.0.1:80/", "http://[2001:db8::1]/", "http://0.0.0.0:8080/"] {
            assert!(
                matches!(Target::parse(url), Err(BenchError::NotLoopback { .. })),
                "{url} must be refused"
            );
        }
        for url in [
            "https://127.0.0.1/",
            "http://example.com/",
            "http://127.0.0.1:99999/",
            "http://user@127.0.0.1/",
            "http://[::1/",
        ] {
            assert!(
                matches!(Target::parse(url), Err(BenchError::Url { .. })),
                "{url} must be refused"
            );
        }
    }
}
