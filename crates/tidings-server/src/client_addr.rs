//! The client's address behind reverse proxies: [`TrustedProxies`] reads `X-Forwarded-For` or
//! `Forwarded` (RFC 7239), but only as far as the hops that wrote them are trusted.
//!
//! A proxy appends the address it received a connection from to the forwarding header, so the
//! list reads left to right from the (claimed) original client to the last proxy. Everything a
//! hop did not write itself is whatever the previous hop sent, and a client can send anything.
//! So the client address is found by walking **from the right**: start at the TCP peer; while
//! the current address is a trusted proxy, step one entry left; the first address that is not
//! a trusted proxy is the client. Entries further left were written by that client (or by
//! proxies nobody vouches for) and are ignored.
//!
//! - **Nothing is trusted by default**: the peer address is the client address, and forwarding
//!   headers are ignored completely, so a direct client cannot spoof its address.
//! - Trust the proxies in front of the hub by address or CIDR block ([`IpNet`]).
//! - Choose the header your proxy writes ([`ForwardedHeader`]; default `X-Forwarded-For`).
//!   Only that header is read: reading the other one too would let a client supply a whole
//!   chain the proxy never touched.
//! - An entry that is not an address (`unknown`, an obfuscated `_name` in `Forwarded`,
//!   garbage) ends the walk: the answer is then the last trusted hop, the proxy that reported
//!   the unknown client. Empty `X-Forwarded-For` entries are skipped.
//! - IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4 peers)
//!   are treated as the IPv4 address.
//!
//! What it is not: a rate limiter or an access list. It only answers "who is the client".
//!
//! ```
//! use std::net::IpAddr;
//! use http::HeaderMap;
//! use tidings_server::client_addr::{IpNet, TrustedProxies};
//!
//! let proxies = TrustedProxies::none().trust(IpNet::parse("10.0.0.0/8")?);
//! let mut headers = HeaderMap::new();
//! // The client claims to be 127.0.0.1; the edge proxy saw 203.0.113.7; the inner proxy saw
//! // the edge proxy, 10.0.0.2.
//! headers.insert("x-forwarded-for", "127.0.0.1, 203.0.113.7, 10.0.0.2".parse()?);
//! let peer: IpAddr = "10.0.0.3".parse()?;
//! assert_eq!(proxies.client_ip(peer, &headers), "203.0.113.7".parse::<IpAddr>()?);
//!
//! // A client connecting directly cannot spoof.
//! let direct: IpAddr = "198.51.100.9".parse()?;
//! assert_eq!(proxies.client_ip(direct, &headers), direct);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use http::header::FORWARDED;

/// A block of IP addresses: an address and a prefix length (`10.0.0.0/8`, `fd00::/8`), or a
/// single address (`192.0.2.1`, which is `/32`; `::1`, which is `/128`).
///
/// Host bits beyond the prefix are cleared, so `10.1.2.3/8` is `10.0.0.0/8`. An IPv4-mapped
/// IPv6 address is stored as IPv4 (prefix adjusted), so either spelling matches IPv4 peers.
///
/// ```
/// use tidings_server::client_addr::IpNet;
///
/// let net = IpNet::parse("192.168.0.0/16")?;
/// assert!(net.contains("192.168.4.2".parse()?));
/// assert!(!net.contains("192.169.0.1".parse()?));
/// assert_eq!(IpNet::parse("10.1.2.3/8")?.to_string(), "10.0.0.0/8");
/// assert!(IpNet::parse("::1")?.contains("::1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why an [`IpNet`] was refused.
///
/// ```
/// use tidings_server::client_addr::{IpNet, IpNetError};
/// assert_eq!(IpNet::parse("10.0.0.0/33"), Err(IpNetError::PrefixTooLong { prefix: 33, max: 32 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetError {
    /// The part before `/` is not an IP address.
    #[error("not an IP address")]
    InvalidAddress,
    /// The part after `/` is not a number.
    #[error("the prefix length is not a number")]
    InvalidPrefix,
    /// The prefix is longer than the address.
    #[error("prefix /{prefix} is longer than the address ({max} bits)")]
    PrefixTooLong {
        /// The prefix given.
        prefix: u32,
        /// 32 for IPv4, 128 for IPv6.
        max: u32,
    },
}

impl IpNet {
    /// The block of `prefix` leading bits of `addr`.
    ///
    /// # Errors
    /// [`IpNetError::PrefixTooLong`].
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use tidings_server::client_addr::IpNet;
    /// let net = IpNet::new(Ipv4Addr::new(172, 16, 0, 0).into(), 12)?;
    /// assert!(net.contains(Ipv4Addr::new(172, 31, 255, 255).into()));
    /// # Ok::<(), tidings_server::client_addr::IpNetError>(())
    /// ```
    pub fn new(addr: IpAddr, prefix: u32) -> Result<Self, IpNetError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(IpNetError::PrefixTooLong { prefix, max });
        }
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        // Both branches bounded above: prefix <= 32 for IPv4, <= 128 for IPv6.
        let prefix = u8::try_from(prefix).unwrap_or(u8::MAX);
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask128(prefix))),
        };
        Ok(Self { addr, prefix })
    }

    /// Parses `addr` or `addr/prefix`.
    ///
    /// # Errors
    /// [`IpNetError`].
    ///
    /// ```
    /// use tidings_server::client_addr::IpNet;
    /// assert!(IpNet::parse(" 10.0.0.0/8 ").is_ok());
    /// assert!(IpNet::parse("10.0.0.0/x").is_err());
    /// assert!(IpNet::parse("localhost").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, IpNetError> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| IpNetError::InvalidAddress)?;
        let prefix = match prefix {
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse().map_err(|_| IpNetError::InvalidPrefix)?
            }
            Some(_) => return Err(IpNetError::InvalidPrefix),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 `ip` counts as IPv4).
    ///
    /// ```
    /// use tidings_server::client_addr::IpNet;
    /// let net = IpNet::parse("10.0.0.0/8")?;
    /// assert!(net.contains("::ffff:10.1.2.3".parse()?));
    /// assert!(!net.contains("::1".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                ip.to_bits() & mask32(self.prefix) == net.to_bits()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                ip.to_bits() & mask128(self.prefix) == net.to_bits()
            }
            _ => false,
        }
    }

    /// The first address of the block.
    ///
    /// ```
    /// use tidings_server::client_addr::IpNet;
    /// assert_eq!(IpNet::parse("10.9.9.9/8")?.addr(), "10.0.0.0".parse::<std::net::IpAddr>()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    ///
    /// ```
    /// use tidings_server::client_addr::IpNet;
    /// assert_eq!(IpNet::parse("fd00::/8")?.prefix_len(), 8);
    /// # Ok::<(), tidings_server::client_addr::IpNetError>(())
    /// ```
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which forwarding header the trusted proxies write.
///
/// ```
/// use tidings_server::client_addr::{ForwardedHeader, TrustedProxies};
/// let proxies = TrustedProxies::none().header(ForwardedHeader::Forwarded);
/// # let _ = proxies;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, Traefik, Caddy, cloud load
    /// balancers). The default.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for="[2001:db8::1]:4711"` (RFC 7239).
    Forwarded,
}

/// Which peers may tell the hub who the client is; see the [module docs](self).
///
/// ```
/// use http::HeaderMap;
/// use tidings_server::client_addr::{ForwardedHeader, IpNet, TrustedProxies};
///
/// let proxies = TrustedProxies::none()
///     .trust(IpNet::parse("127.0.0.1")?)
///     .header(ForwardedHeader::Forwarded);
/// let mut headers = HeaderMap::new();
/// headers.insert("forwarded", r#"for="[2001:db8::17]:4711";proto=https"#.parse()?);
/// let client = proxies.client_ip("127.0.0.1".parse()?, &headers);
/// assert_eq!(client, "2001:db8::17".parse::<std::net::IpAddr>()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Trusts no proxy: the peer address is always the client address. The default.
    ///
    /// ```
    /// use tidings_server::client_addr::TrustedProxies;
    /// assert!(!TrustedProxies::none().is_trusted("127.0.0.1".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts the proxies in `net` too.
    ///
    /// ```
    /// use tidings_server::client_addr::{IpNet, TrustedProxies};
    /// let proxies = TrustedProxies::none().trust(IpNet::parse("10.0.0.0/8")?);
    /// assert!(proxies.is_trusted("10.2.3.4".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trust(mut self, net: IpNet) -> Self {
        self.nets.push(net);
        self
    }

    /// Trusts the proxies in each of `nets` too.
    ///
    /// ```
    /// use tidings_server::client_addr::{IpNet, TrustedProxies};
    /// let nets = ["127.0.0.1", "::1"].map(IpNet::parse);
    /// let proxies = TrustedProxies::none().trust_nets(nets.into_iter().collect::<Result<Vec<_>, _>>()?);
    /// assert!(proxies.is_trusted("::1".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trust_nets(mut self, nets: impl IntoIterator<Item = IpNet>) -> Self {
        self.nets.extend(nets);
        self
    }

    /// The header the trusted proxies write. Default: [`ForwardedHeader::XForwardedFor`].
    ///
    /// ```
    /// use tidings_server::client_addr::{ForwardedHeader, TrustedProxies};
    /// let proxies = TrustedProxies::none().header(ForwardedHeader::Forwarded);
    /// # let _ = proxies;
    /// ```
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Whether `ip` is a trusted proxy.
    ///
    /// ```
    /// use tidings_server::client_addr::{IpNet, TrustedProxies};
    /// let proxies = TrustedProxies::none().trust(IpNet::parse("192.0.2.1")?);
    /// assert!(proxies.is_trusted("::ffff:192.0.2.1".parse()?));
    /// assert!(!proxies.is_trusted("192.0.2.2".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(ip))
    }

    /// The client's address, given the TCP peer's address and the request headers.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tidings_server::client_addr::{IpNet, TrustedProxies};
    ///
    /// let proxies = TrustedProxies::none().trust(IpNet::parse("10.0.0.1")?);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-forwarded-for", "unknown".parse()?);
    /// // The proxy does not know the client: the proxy is the best answer there is.
    /// assert_eq!(proxies.client_ip("10.0.0.1".parse()?, &headers), "10.0.0.1".parse::<std::net::IpAddr>()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut current = peer.to_canonical();
        if !self.is_trusted(current) {
            return current;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for_hops(headers),
            ForwardedHeader::Forwarded => forwarded_hops(headers),
        };
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else { return current };
            current = ip.to_canonical();
            if !self.is_trusted(current) {
                return current;
            }
        }
        // Every hop is a trusted proxy: the leftmost one is as far as anyone knows.
        current
    }
}

/// The hops of every `X-Forwarded-For` line, left to right; `None` for an entry that is not an
/// address. Empty entries are skipped.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for line in headers.get_all("x-forwarded-for") {
        let Ok(line) = std::str::from_utf8(line.as_bytes()) else {
            hops.push(None);
            continue;
        };
        hops.extend(line.split(',').map(str::trim).filter(|e| !e.is_empty()).map(parse_node));
    }
    hops
}

/// The `for=` hops of every `Forwarded` line (RFC 7239 §4), left to right; `None` for an
/// element without a usable `for` (absent, `unknown`, obfuscated, repeated), and a single
/// `None` for a line whose syntax is broken (nothing in it can be attributed to a hop).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for line in headers.get_all(FORWARDED) {
        match parse_forwarded_line(line.as_bytes()) {
            Some(elements) => hops.extend(elements),
            None => hops.push(None),
        }
    }
    hops
}

/// One `Forwarded` line: `element *( "," element )`, each `pair *( ";" pair )`, each
/// `token "=" ( token / quoted-string )`. Returns each element's `for` node.
fn parse_forwarded_line(line: &[u8]) -> Option<Vec<Option<IpAddr>>> {
    let mut elements = Vec::new();
    let mut for_value: Option<Option<IpAddr>> = None;
    let mut repeated = false;
    let mut rest = line;
    loop {
        rest = skip_ows(rest);
        // A pair, or nothing (empty pairs and elements are allowed by the list syntax).
        if let Some(&first) = rest.first() {
            if first != b',' && first != b';' {
                let name_len = rest.iter().position(|&b| !is_tchar(b)).unwrap_or(rest.len());
                if name_len == 0 {
                    return None;
                }
                let (name, after) = rest.split_at(name_len);
                let after = after.strip_prefix(b"=")?;
                let (value, after) = parse_value(after)?;
                if name.eq_ignore_ascii_case(b"for") {
                    if for_value.is_some() {
                        repeated = true;
                    }
                    for_value = Some(std::str::from_utf8(&value).ok().and_then(parse_node));
                }
                rest = skip_ows(after);
            }
        }
        match rest.split_first() {
            Some((b';', after)) => rest = after,
            Some((b',', after)) => {
                elements.push(if repeated { None } else { for_value.take().flatten() });
                for_value = None;
                repeated = false;
                rest = after;
            }
            None => {
                elements.push(if repeated { None } else { for_value.take().flatten() });
                return Some(elements);
            }
            Some(_) => return None,
        }
    }
}

/// A token or a quoted-string (with `\` escapes), and what follows it.
fn parse_value(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if let Some(mut rest) = input.strip_prefix(b"\"") {
        let mut value = Vec::new();
        loop {
            let (&byte, after) = rest.split_first()?;
            match byte {
                b'"' => return Some((value, after)),
                b'\\' => {
                    let (&escaped, after) = after.split_first()?;
                    value.push(escaped);
                    rest = after;
                }
                _ => {
                    value.push(byte);
                    rest = after;
                }
            }
        }
    }
    let len = input.iter().position(|&b| !is_tchar(b)).unwrap_or(input.len());
    (len > 0).then(|| (input[..len].to_vec(), &input[len..]))
}

fn skip_ows(input: &[u8]) -> &[u8] {
    let start = input.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(input.len());
    &input[start..]
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A node: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, or a bare IPv6
/// address (`X-Forwarded-For` writers do that). `unknown`, `_obfuscated` and anything else:
/// `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // `[v6]` without a port, and RFC 7239 obfuscated ports (`[v6]:_abc`, `1.2.3.4:_abc`).
    if let Some(inner) = node.strip_prefix('[') {
        let (addr, after) = inner.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)).flatten();
    }
    let (addr, port) = node.split_once(':')?;
    if is_port(port) { addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4) } else { None }
}

/// A port, numeric or obfuscated (`_` followed by letters, digits, `.`, `_`, `-`).
fn is_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(obfuscated) => {
            !obfuscated.is_empty()
                && obfuscated.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }
        None => port.parse::<u16>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn nodes() {
        assert_eq!(parse_node("192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:8080"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:_p"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]:_x"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("unknown"), None);
        assert_eq!(parse_node("_hidden"), None);
        assert_eq!(parse_node("[2001:db8::1"), None);
        assert_eq!(parse_node("[192.0.2.1]"), None);
        assert_eq!(parse_node("192.0.2.1:99999"), None);
        assert_eq!(parse_node("192.0.2.1:_"), None);
        assert_eq!(parse_node(""), None);
    }

    #[test]
    fn forwarded_syntax() {
        let line = |text: &str| parse_forwarded_line(text.as_bytes());
        assert_eq!(
            line(r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#),
            Some(vec![Some(ip("192.0.2.60")), Some(ip("2001:db8:cafe::17"))])
        );
        assert_eq!(line("for=unknown, for=_hidden"), Some(vec![None, None]));
        assert_eq!(line("proto=https"), Some(vec![None]));
        assert_eq!(line(r#"for="192.0.2.1, for=10.0.0.1""#), Some(vec![None]));
        assert_eq!(line(r#"for="\1\9\2.0.2.1""#), Some(vec![Some(ip("192.0.2.1"))]));
        assert_eq!(line("for=192.0.2.1;for=192.0.2.2"), Some(vec![None]));
        assert_eq!(
            line(" for=192.0.2.1 ,, for=192.0.2.2 "),
            Some(vec![Some(ip("192.0.2.1")), None, Some(ip("192.0.2.2"))])
        );
        assert_eq!(line(r#"for="unterminated"#), None);
        assert_eq!(line("for"), None);
        assert_eq!(line("=1"), None);
        assert_eq!(line("for=1.2.3.4 x"), None);
        assert_eq!(line(""), Some(vec![None]));
    }

    #[test]
    fn masks() {
        assert_eq!(mask32(0), 0);
        assert_eq!(mask32(32), u32::MAX);
        assert_eq!(mask32(8), 0xff00_0000);
        assert_eq!(mask128(0), 0);
        assert_eq!(mask128(128), u128::MAX);
        assert!(IpNet::parse("0.0.0.0/0").expect("net").contains(ip("203.0.113.1")));
        assert!(!IpNet::parse("0.0.0.0/0").expect("net").contains(ip("2001:db8::1")));
        assert_eq!(IpNet::parse("::ffff:10.0.0.0/104").expect("net").to_string(), "10.0.0.0/8");
    }
}
