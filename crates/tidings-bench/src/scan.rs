//! One pass over a subscriber's received bytes: HTTP/1.1 chunked framing is removed and SSE
//! lines are found with `memchr` in the same walk, and the bench payload (`<seq>:<sent>:…`) is
//! parsed from `data:` lines without copying or allocating.
//!
//! This is deliberately not the tidings codec: the codec's decoder builds an owned event per
//! message, which is right for applications and too much work for a tool that must out-run
//! the server it measures. It only needs the sequence number and the send time of each event.
//!
//! What it accepts of SSE: lines end in LF or CRLF (a lone CR as line end, which the spec
//! also allows, is not recognised; none of the measured hubs sends one). An event is
//! dispatched at the blank line that ends it, as a browser would; events without a parsable
//! bench payload (comments, keep-alives, other data) are ignored.

use memchr::memchr;

/// What a `data:` line of the bench looks like: `data:` or `data: `, then `<seq>:<sent>:`
/// and padding. Only this prefix is kept of a line split across reads.
const KEEP: usize = 64;

/// Writes the bench data for event `seq` sent at `sent_ns` (nanoseconds on the run's clock),
/// padded with `x` to `size` bytes (or longer if the numbers do not fit), into `out`.
pub(crate) fn write_payload(out: &mut Vec<u8>, seq: u64, sent_ns: u64, size: usize) {
    let start = out.len();
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(digits.format(seq).as_bytes());
    out.push(b':');
    out.extend_from_slice(digits.format(sent_ns).as_bytes());
    out.push(b':');
    let written = out.len() - start;
    out.resize(start + size.max(written), b'x');
}

/// Parses `<seq>:<sent>:` at the start of a data value.
fn parse_payload(value: &[u8]) -> Option<(u64, u64)> {
    let (seq, rest) = parse_number(value)?;
    let rest = rest.strip_prefix(b":")?;
    let (sent, rest) = parse_number(rest)?;
    rest.starts_with(b":").then_some((seq, sent))
}

fn parse_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes.iter().position(|b| !b.is_ascii_digit()).unwrap_or(bytes.len());
    if end == 0 || end > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in &bytes[..end] {
        value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some((value, &bytes[end..]))
}

/// The body's framing is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked transfer encoding")]
pub(crate) struct FramingError;

/// Where the chunked decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `digits` seen so far.
    Size { size: u64, digits: u8 },
    /// Skipping a chunk extension up to the line end.
    Extension { size: u64 },
    /// Saw CR after the size line; LF must follow.
    SizeLf { size: u64 },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After the data: CR (optional) then LF.
    DataEnd { cr: bool },
    /// After the last chunk: at the start of a trailer line (`cr`: a CR was seen).
    TrailerStart { cr: bool },
    /// Inside a trailer field line.
    Trailer,
    /// The last chunk and the trailers were read; the body is complete.
    Done,
}

/// Removes chunked framing, handing out the data in slices of the input (no copy).
#[derive(Clone, Debug)]
pub(crate) struct Dechunk {
    state: Chunk,
}

impl Dechunk {
    pub fn new() -> Self {
        Self { state: Chunk::Size { size: 0, digits: 0 } }
    }

    /// Whether the terminating zero-size chunk was read.
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Feeds `input`, calling `data` with each piece of body data in order. Returns how many
    /// bytes belong to this body: all of `input`, unless the body ended inside it.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let total = input.len();
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                Chunk::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    data(&input[..take]);
                    input = &input[take..];
                    let left = left - take as u64;
                    self.state =
                        if left == 0 { Chunk::DataEnd { cr: false } } else { Chunk::Data(left) };
                    continue;
                }
                Chunk::Size { size, digits } => {
                    self.state = match byte {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' if digits < 15 => {
                            let nibble = (byte as char).to_digit(16).ok_or(FramingError)?;
                            Chunk::Size { size: size << 4 | u64::from(nibble), digits: digits + 1 }
                        }
                        b';' | b' ' | b'\t' if digits > 0 => Chunk::Extension { size },
                        b'\r' if digits > 0 => Chunk::SizeLf { size },
                        b'\n' if digits > 0 => Self::after_size(size),
                        _ => return Err(FramingError),
                    };
                }
                Chunk::Extension { size } => {
                    self.state = match byte {
                        b'\r' => Chunk::SizeLf { size },
                        b'\n' => Self::after_size(size),
                        _ => Chunk::Extension { size },
                    };
                }
                Chunk::SizeLf { size } => {
                    if byte != b'\n' {
                        return Err(FramingError);
                    }
                    self.state = Self::after_size(size);
                }
                Chunk::DataEnd { cr } => {
                    self.state = match byte {
                        b'\r' if !cr => Chunk::DataEnd { cr: true },
                        b'\n' => Chunk::Size { size: 0, digits: 0 },
                        _ => return Err(FramingError),
                    };
                }
                // Trailer fields are of no interest: skipped up to the empty line.
                Chunk::TrailerStart { cr } => {
                    self.state = match byte {
                        b'\r' if !cr => Chunk::TrailerStart { cr: true },
                        b'\n' => Chunk::Done,
                        _ if cr => return Err(FramingError),
                        _ => Chunk::Trailer,
                    };
                }
                Chunk::Trailer => {
                    if byte == b'\n' {
                        self.state = Chunk::TrailerStart { cr: false };
                    }
                }
                // What follows the body (a next response) is not this body's.
                Chunk::Done => return Ok(total - input.len()),
            }
            input = rest;
        }
        Ok(total - input.len())
    }

    fn after_size(size: u64) -> Chunk {
        if size == 0 { Chunk::TrailerStart { cr: false } } else { Chunk::Data(size) }
    }
}

/// Finds SSE lines in body data and reports each complete bench event.
///
/// Per-connection state is a fixed-size array: a line split across reads keeps only its
/// first [`KEEP`] bytes, enough for the payload prefix.
#[derive(Clone, Debug)]
pub(crate) struct Lines {
    /// The start of a line that the last input ended in the middle of.
    carry: [u8; KEEP],
    /// How many bytes of `carry` are valid.
    carry_len: usize,
    /// Whether some bytes of the current line were seen in earlier input.
    in_line: bool,
    /// The payload of the event being read (from its `data:` line), dispatched at the blank
    /// line.
    pending: Option<(u64, u64)>,
}

impl Lines {
    pub fn new() -> Self {
        Self { carry: [0; KEEP], carry_len: 0, in_line: false, pending: None }
    }

    /// Feeds body data, calling `event(seq, sent_ns)` for each complete bench event.
    pub fn feed(&mut self, mut input: &[u8], event: &mut impl FnMut(u64, u64)) {
        while !input.is_empty() {
            let Some(end) = memchr(b'\n', input) else {
                // The line continues in the next input: keep its start.
                let keep = (KEEP - self.carry_len).min(input.len());
                self.carry[self.carry_len..self.carry_len + keep].copy_from_slice(&input[..keep]);
                self.carry_len += keep;
                self.in_line = true;
                return;
            };
            let part = &input[..end];
            if self.in_line {
                let keep = (KEEP - self.carry_len).min(part.len());
                self.carry[self.carry_len..self.carry_len + keep].copy_from_slice(&part[..keep]);
                self.carry_len += keep;
                let line = self.carry;
                let len = self.carry_len;
                self.carry_len = 0;
                self.in_line = false;
                self.line(&line[..len], event);
            } else {
                self.line(part, event);
            }
            input = &input[end + 1..];
        }
    }

    /// One line without its LF (possibly only its first [`KEEP`] bytes).
    fn line(&mut self, line: &[u8], event: &mut impl FnMut(u64, u64)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if let Some((seq, sent)) = self.pending.take() {
                event(seq, sent);
            }
        } else if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            // Another data line of the same event replaces the payload; foreign data clears it.
            self.pending = parse_payload(value);
        }
    }
}

/// A subscriber response body: optional chunked framing, then SSE lines.
#[derive(Clone, Debug)]
pub(crate) struct Scanner {
    chunks: Option<Dechunk>,
    lines: Lines,
}

impl Scanner {
    /// A scanner for a body with (`chunked`) or without chunked transfer encoding.
    pub fn new(chunked: bool) -> Self {
        Self { chunks: chunked.then(Dechunk::new), lines: Lines::new() }
    }

    /// Feeds received bytes, calling `event(seq, sent_ns)` for each complete bench event.
    pub fn feed(
        &mut self,
        input: &[u8],
        event: &mut impl FnMut(u64, u64),
    ) -> Result<(), FramingError> {
        match &mut self.chunks {
            Some(chunks) => {
                let lines = &mut self.lines;
                chunks.feed(input, |data| lines.feed(data, event)).map(|_| ())
            }
            None => {
                self.lines.feed(input, event);
                Ok(())
            }
        }
    }

    /// Whether the body ended (the last chunk of a chunked body was read).
    pub fn is_ended(&self) -> bool {
        self.chunks.as_ref().is_some_and(Dechunk::is_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(scanner: &mut Scanner, pieces: &[&[u8]]) -> Vec<(u64, u64)> {
        let mut seen = Vec::new();
        for piece in pieces {
            scanner.feed(piece, &mut |seq, sent| seen.push((seq, sent))).expect("framing");
        }
        seen
    }

    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().expect("sizes")).min(rest.len());
            out.extend_from_slice(format!("{n:X}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out
    }

    const STREAM: &[u8] = b":\n\nid:k3-1\ndata:0:1500:xxxx\n\n: keep-alive\n\nid:k3-2\nevent:x\ndata: 1:2500:yy\n\ndata:not a payload\n\nretry:10\ndata:2:99999999999:\r\n\r\n";
    const EXPECTED: [(u64, u64); 3] = [(0, 1500), (1, 2500), (2, 99_999_999_999)];

    #[test]
    fn payload_round_trips_and_pads_to_size() {
        let mut out = Vec::new();
        write_payload(&mut out, 42, 123_456_789, 100);
        assert_eq!(out.len(), 100);
        assert!(out.starts_with(b"42:123456789:xxx"));
        assert_eq!(parse_payload(&out), Some((42, 123_456_789)));
        out.clear();
        write_payload(&mut out, u64::MAX, u64::MAX, 4);
        assert_eq!(out.len(), 42, "numbers are never cut short");
        assert_eq!(parse_payload(&out), Some((u64::MAX, u64::MAX)));
    }

    #[test]
    fn payload_parsing_refuses_what_is_not_a_payload() {
        for value in
            [&b""[..], b":1:", b"1:", b"1:2", b"a:2:", b"1:2x", b"99999999999999999999999:1:"]
        {
            assert_eq!(parse_payload(value), None, "{:?}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn plain_body_yields_each_bench_event_once_at_its_blank_line() {
        let mut scanner = Scanner::new(false);
        assert_eq!(events(&mut scanner, &[STREAM]), EXPECTED);
        let mut scanner = Scanner::new(false);
        // No blank line yet: nothing dispatched.
        assert_eq!(events(&mut scanner, &[b"data:7:8:\n"]), []);
        assert_eq!(events(&mut scanner, &[b"\n"]), [(7, 8)]);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        for at in 0..=STREAM.len() {
            let mut scanner = Scanner::new(false);
            let (a, b) = STREAM.split_at(at);
            assert_eq!(events(&mut scanner, &[a, b]), EXPECTED, "split at {at}");
        }
        // Byte by byte, the worst case for carried line starts.
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(events(&mut Scanner::new(false), &bytes), EXPECTED);
    }

    #[test]
    fn long_lines_split_across_reads_keep_their_payload() {
        let mut line = b"data: 12:34:".to_vec();
        line.resize(5000, b'x');
        line.extend_from_slice(b"\n\n");
        let pieces: Vec<&[u8]> = line.chunks(7).collect();
        assert_eq!(events(&mut Scanner::new(false), &pieces), [(12, 34)]);
    }

    #[test]
    fn chunked_bodies_at_every_chunk_size_and_split() {
        for size in [1, 2, 3, 7, 16, 1000] {
            let body = chunked(STREAM, &[size, size + 1]);
            for at in (0..=body.len()).step_by(5) {
                let mut scanner = Scanner::new(true);
                let (a, b) = body.split_at(at);
                assert_eq!(events(&mut scanner, &[a, b]), EXPECTED, "chunk {size}, split {at}");
                assert!(!scanner.is_ended());
            }
        }
    }

    #[test]
    fn chunk_extensions_lowercase_hex_and_the_last_chunk() {
        let mut scanner = Scanner::new(true);
        let seen = events(&mut scanner, &[b"b;ext=1\r\ndata:1:2:\n\n\r\n0\r\n\r\n"]);
        assert_eq!(seen, [(1, 2)]);
        assert!(scanner.is_ended());
        // Bare LF line ends are tolerated too.
        let mut scanner = Scanner::new(true);
        assert_eq!(events(&mut scanner, &[b"B\ndata:3:4:\n\n\n0\n"]), [(3, 4)]);
        assert!(!scanner.is_ended(), "the trailer section's empty line is still due");
        assert_eq!(events(&mut scanner, &[b"\n"]), []);
        assert!(scanner.is_ended());
    }

    #[test]
    fn a_body_ends_after_its_trailers_and_reports_where() {
        let mut chunks = Dechunk::new();
        let input = b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200 OK";
        let mut data = Vec::new();
        let used = chunks.feed(input, |d| data.extend_from_slice(d)).expect("framing");
        assert_eq!(data, b"abc");
        assert!(chunks.is_done());
        assert_eq!(&input[used..], b"HTTP/1.1 200 OK");
        // Split inside the trailers.
        let mut chunks = Dechunk::new();
        assert_eq!(chunks.feed(b"0\r\nX-T: 1\r", |_| {}), Ok(10));
        assert!(!chunks.is_done());
        assert_eq!(chunks.feed(b"\n\r\nnext", |_| {}), Ok(3));
        assert!(chunks.is_done());
    }

    #[test]
    fn broken_framing_is_an_error() {
        for body in [&b"zz\r\n"[..], b"\r\n", b"2\r\nab--", b"2\rx", b"1234567890abcdef0\r\n"] {
            let mut scanner = Scanner::new(true);
            assert_eq!(scanner.feed(body, &mut |_, _| {}), Err(FramingError), "{body:?}");
        }
    }
}
