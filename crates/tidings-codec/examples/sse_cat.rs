//! Reads an SSE stream on standard input and prints what a browser would see, one line per
//! item: dispatched events, comments and retry hints.
//!
//! ```text
//! printf 'event: greet\ndata: hello\ndata: world\nid: 1\n\n' | cargo run -q -p tidings-codec --example sse_cat
//! event greet id="1" data="hello\nworld"
//! ```

use std::io::{self, BufWriter, Read, Write};

use tidings_codec::{Decoder, Item};

fn main() -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut decoder = Decoder::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = input.read(&mut chunk)?;
        if read == 0 {
            if decoder.finish() {
                writeln!(out, "(end of stream: incomplete event discarded)")?;
            }
            return out.flush();
        }
        decoder.push(&chunk[..read]);
        for item in decoder.items() {
            match item {
                Ok(Item::Event(event)) => writeln!(
                    out,
                    "event {} id={:?} data={:?}",
                    event.event_type(),
                    event.last_event_id.as_str(),
                    event.data
                )?,
                Ok(Item::Comment(text)) => writeln!(out, "comment {text:?}")?,
                Ok(Item::Retry(delay)) => writeln!(out, "retry {} ms", delay.as_millis())?,
                Ok(other) => writeln!(out, "{other:?}")?,
                Err(error) => writeln!(out, "error: {error}")?,
            }
        }
    }
}
