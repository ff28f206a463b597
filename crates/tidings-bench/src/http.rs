//! The little HTTP/1.1 the tool speaks: request heads written once per connection (subscribe)
//! or per event (publish, into a reused buffer), and response heads parsed for the status and
//! the body framing.

use memchr::memmem;

use crate::target::Target;

/// Longest response head accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length`.
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// The parts of a response head the tool needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The server will close the connection after this response.
    pub closes: bool,
}

/// Why a response head could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not an HTTP/1.x response head.
    Malformed,
    /// Longer than [`MAX_HEAD`].
    TooLong,
}

/// Parses a response head at the start of `bytes`: `Ok(None)` until it is complete, else the
/// head and its length (the body starts there).
pub(crate) fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let Some(end) = memmem::find(bytes, b"\r\n\r\n") else {
        return if bytes.len() > MAX_HEAD { Err(HeadError::TooLong) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(HeadError::Malformed)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().ok_or(HeadError::Malformed)?;
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed);
    }
    let status = parts
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..=999).contains(code))
        .ok_or(HeadError::Malformed)?;
    let mut chunked = false;
    let mut length = None;
    // HTTP/1.0 closes unless asked otherwise; HTTP/1.1 keeps the connection unless told.
    let mut closes = version == "HTTP/1.0";
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<u64>().map_err(|_| HeadError::Malformed)?);
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            closes = value.contains("close") || (closes && !value.contains("keep-alive"));
        }
    }
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(length)) => Framing::Length(length),
        (false, None) => Framing::Close,
    };
    Ok(Some((Head { status, framing, closes: closes || framing == Framing::Close }, end + 4)))
}

/// Appends `name: value` header lines, one per pair.
fn write_headers(out: &mut Vec<u8>, headers: &[(String, String)]) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The request a subscriber sends once.
pub(crate) fn subscribe_request(target: &Target, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(target.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("accept")) {
        out.extend_from_slice(b"Accept: text/event-stream\r\n");
    }
    write_headers(&mut out, headers);
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes a publish request with `body` into `out` (cleared first).
pub(crate) fn publish_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
) {
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(target.host.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(out, headers);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_status_and_framing() {
        let bytes = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let (head, len) = parse_head(bytes).expect("valid").expect("complete");
        assert_eq!(head, Head { status: 200, framing: Framing::Chunked, closes: false });
        assert_eq!(&bytes[len..], b"5\r\n");

        let (head, _) = parse_head(b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(head.framing, Framing::Length(12));
        assert!(!head.closes);

        let (head, _) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").expect("valid").expect("complete");
        assert_eq!(head, Head { status: 200, framing: Framing::Close, closes: true });

        let (head, _) =
            parse_head(b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .expect("valid")
                .expect("complete");
        assert_eq!(head.status, 503);
        assert!(head.closes);
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n"), Ok(None));
        assert_eq!(parse_head(b"SSH-2.0\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(parse_head(b"HTTP/1.1 abc\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(parse_head(&vec![b'a'; MAX_HEAD + 1]), Err(HeadError::TooLong));
    }

    #[test]
    fn requests_carry_host_headers_and_length() {
        let target = Target::parse("http://127.0.0.1:8081/pub/bench").expect("url");
        let mut out = Vec::new();
        publish_request(&mut out, "POST", &target, &[("X-A".into(), "1".into())], b"hello");
        assert_eq!(
            out,
            b"POST /pub/bench HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"
        );
        let target = Target::parse("http://localhost:8080/events?topic=b").expect("url");
        let request = subscribe_request(&target, &[]);
        assert_eq!(
            request,
            b"GET /events?topic=b HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/event-stream\r\n\r\n"
        );
    }
}
