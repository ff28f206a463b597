//! Encode and decode throughput of `tidings-codec` against the `sse-stream` and
//! `eventsource-stream` crates, on the same bytes. Results and method: `docs/BENCHMARKS.md`.
//!
//! ```text
//! cargo bench -p tidings-codec --bench codec
//! cargo bench -p tidings-codec --bench codec -- --test   # run every case once, checked
//! ```
//!
//! Every case is a stream of many events of one size. Decoders read the same wire bytes, cut
//! into [`CHUNK`]-byte reads as a socket would deliver them (lines and UTF-8 sequences split
//! anywhere), as owned `Bytes` the way an HTTP body yields them, and every implementation
//! yields owned events (`'static`, no borrow of the decoder or the input): the peers' data is
//! a `String`, tidings' a `SharedStr` that shares the input chunk. Each event is dropped inside
//! the timed loop. `tidings_push` is tidings fed borrowed slices (`Decoder::push`, which must
//! copy). `tidings_borrowed` is tidings' borrowed API (`Decoder::next_item_ref`): its events
//! borrow the decoder instead of being owned, so it is not the owned-event comparison, and is
//! reported as its own row. `encode::tidings_encode_into` appends every frame to one reused
//! buffer (`Event::encode_into`) instead of allocating one `Bytes` per frame. `encode::floor`
//! and `encode::floor_into` are not encoders but the least work any encoder must do for the
//! workload (see their docs): the bounds on what an encoder's ratio can be. The peers are
//! `Stream` adapters: they are polled directly with a no-op waker over an always-ready
//! in-memory stream, so no executor or I/O is measured.
//! Before timing, each decoder's output is checked against the events that produced the input,
//! so a decoder that skipped work would fail rather than look fast.

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use futures_core::Stream;
use tidings_codec::{Decoder, Event, EventId, Item, ItemRef};

/// Read size the decoders are fed: one TLS record, a common socket read.
const CHUNK: usize = 16 * 1024;

/// Event sizes measured: the whole encoded frame (`id`, `data` and the blank line) is about
/// this many bytes, and one benchmark iteration handles `count` events.
#[derive(Clone, Copy, Debug)]
enum Size {
    /// ~100 B frames, 1 000 per iteration: chat messages, ticks, notifications.
    Small,
    /// ~4 KiB frames, 100 per iteration: a JSON document.
    Medium,
    /// ~1 MiB frames, 4 per iteration: a snapshot; just under the decoder's default limit.
    Large,
}

impl Size {
    const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    fn frame_len(self) -> usize {
        match self {
            Size::Small => 100,
            Size::Medium => 4 * 1024,
            // An unoptimised build (`cargo test --all-targets` runs each case once) uses
            // 64 KiB: eventsource-stream's parsing is quadratic in the line length and would
            // otherwise take half a minute there.
            Size::Large if cfg!(debug_assertions) => 64 * 1024,
            Size::Large => 1024 * 1024,
        }
    }

    fn count(self) -> usize {
        match self {
            Size::Small => 1_000,
            Size::Medium => 100,
            Size::Large => 4,
        }
    }
}

/// The logical events of one workload: ids and single-line, mostly ASCII JSON-like data.
struct Workload {
    events: Vec<(String, String)>,
}

impl Workload {
    fn new(size: Size) -> Self {
        let events = (0..size.count())
            .map(|seq| {
                // Ids of 4 to 19 digits: the data then starts at every offset modulo 16 in the
                // wire bytes, so no implementation gains or loses from one lucky alignment of
                // its large copies (this CPU's `rep movsb` is several times slower unaligned).
                let id = format!("{seq:0width$}", width = 4 + seq % 16);
                // Frame overhead: "id:" + id + LF, "data: " + LF, blank line.
                let overhead = 3 + id.len() + 1 + 6 + 1 + 1;
                (id, payload(seq, size.frame_len() - overhead))
            })
            .collect();
        Self { events }
    }

    fn tidings_events(&self) -> Vec<Event> {
        self.events
            .iter()
            .map(|(id, data)| {
                Event::new(data.as_str()).with_id(EventId::new(id).expect("ids have no CR/LF/NUL"))
            })
            .collect()
    }

    fn sse_stream_events(&self) -> Vec<sse_stream::Sse> {
        self.events
            .iter()
            .map(|(id, data)| sse_stream::Sse::default().id(id.as_str()).data(data.as_str()))
            .collect()
    }

    /// The wire bytes every decoder reads (the tidings encoding: `id:` then `data: `), cut into
    /// [`CHUNK`]-byte reads.
    fn wire_chunks(&self) -> (Vec<Bytes>, usize) {
        let mut wire = BytesMut::new();
        for event in self.tidings_events() {
            event.encode_into(&mut wire);
        }
        let wire = wire.freeze();
        let len = wire.len();
        let chunks =
            (0..len).step_by(CHUNK).map(|at| wire.slice(at..len.min(at + CHUNK))).collect();
        (chunks, len)
    }
}

/// Deterministic JSON-looking text of exactly `len` bytes, one line, with a few non-ASCII
/// characters as real feeds have (so UTF-8 validation is not all-ASCII fast path).
fn payload(seq: usize, len: usize) -> String {
    let mut text = format!("{{\"seq\":{seq},\"user\":\"Zoë\",\"text\":\"");
    let filler = b"the quick brown fox jumps over the lazy dog 0123456789 ";
    let tail = "\"}";
    let mut i = 0;
    while text.len() + tail.len() < len {
        text.push(char::from(filler[i % filler.len()]));
        i += 1;
    }
    text.push_str(tail);
    text
}

/// An in-memory body: yields the chunks one by one, always ready.
struct Chunks<'a>(std::slice::Iter<'a, Bytes>);

impl Stream for Chunks<'_> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next().cloned().map(Ok))
    }
}

/// Drives a stream to its end with a no-op waker: the input is always ready, so this is a plain
/// loop over `poll_next` with no executor around it.
fn drain<S: Stream + Unpin>(mut stream: S, mut each: impl FnMut(S::Item)) {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => each(item),
            Poll::Ready(None) => return,
            Poll::Pending => panic!("in-memory input is always ready"),
        }
    }
}

/// A decoder under test: reads the chunks and shows each event's `(last event id, data)` to
/// `each`, then drops the event. Static dispatch, so the per-event callback costs the same for
/// every implementation.
trait Decode {
    fn decode(chunks: &[Bytes], each: impl FnMut(&str, &str));
}

/// tidings, handed each chunk as owned `Bytes` (`Decoder::push_bytes`), as from an HTTP body.
struct Tidings;

impl Decode for Tidings {
    fn decode(chunks: &[Bytes], each: impl FnMut(&str, &str)) {
        tidings_decode(chunks, |decoder, chunk| decoder.push_bytes(chunk.clone()), each);
    }
}

/// tidings' borrowed API: events lent by the decoder (`Decoder::next_item_ref`), not owned;
/// chunks handed over as in [`Tidings`].
struct TidingsBorrowed;

impl Decode for TidingsBorrowed {
    fn decode(chunks: &[Bytes], mut each: impl FnMut(&str, &str)) {
        let mut decoder = Decoder::new();
        for chunk in chunks {
            decoder.push_bytes(chunk.clone());
            while let Some(item) = decoder.next_item_ref().expect("the input is valid") {
                if let ItemRef::Event(event) = item {
                    each(event.last_event_id, event.data);
                }
            }
        }
        assert!(!decoder.finish(), "the input ends on an event boundary");
    }
}

/// tidings, handed each chunk as a borrowed slice (`Decoder::push`, which copies it).
struct TidingsPush;

impl Decode for TidingsPush {
    fn decode(chunks: &[Bytes], each: impl FnMut(&str, &str)) {
        tidings_decode(chunks, |decoder, chunk| decoder.push(chunk), each);
    }
}

fn tidings_decode(
    chunks: &[Bytes],
    mut push: impl FnMut(&mut Decoder, &Bytes),
    mut each: impl FnMut(&str, &str),
) {
    let mut decoder = Decoder::new();
    for chunk in chunks {
        push(&mut decoder, chunk);
        while let Some(item) = decoder.next_item().expect("the input is valid") {
            if let Item::Event(event) = item {
                each(event.last_event_id.as_str(), &event.data);
            }
        }
    }
    assert!(!decoder.finish(), "the input ends on an event boundary");
}

struct SseStream;

impl Decode for SseStream {
    fn decode(chunks: &[Bytes], mut each: impl FnMut(&str, &str)) {
        drain(sse_stream::SseByteStream::new(Chunks(chunks.iter())), |event| {
            let event = event.expect("the input is valid");
            each(
                event.id.as_deref().unwrap_or_default(),
                event.data.as_deref().unwrap_or_default(),
            );
        });
    }
}

struct EventsourceStream;

impl Decode for EventsourceStream {
    fn decode(chunks: &[Bytes], mut each: impl FnMut(&str, &str)) {
        drain(eventsource_stream::EventStream::new(Chunks(chunks.iter())), |event| {
            let event = event.expect("the input is valid");
            each(&event.id, &event.data);
        });
    }
}

/// Runs one decoder over one workload: checks its output once, then times it.
fn bench_decode<D: Decode>(bencher: Bencher, size: Size) {
    let workload = Workload::new(size);
    let (chunks, wire_len) = workload.wire_chunks();
    let mut seen = Vec::new();
    D::decode(&chunks, |id, data| seen.push((id.to_owned(), data.to_owned())));
    assert!(seen == workload.events, "decoded events differ from the encoded ones");

    bencher.counter(BytesCount::new(wire_len)).counter(ItemsCount::new(size.count())).bench_local(
        || {
            D::decode(black_box(&chunks), |id, data| {
                black_box((id, data));
            });
        },
    );
}

mod decode {
    use super::*;

    #[divan::bench(args = Size::ALL)]
    fn tidings(bencher: Bencher, size: Size) {
        bench_decode::<Tidings>(bencher, size);
    }

    #[divan::bench(args = Size::ALL)]
    fn tidings_borrowed(bencher: Bencher, size: Size) {
        bench_decode::<TidingsBorrowed>(bencher, size);
    }

    #[divan::bench(args = Size::ALL)]
    fn tidings_push(bencher: Bencher, size: Size) {
        bench_decode::<TidingsPush>(bencher, size);
    }

    #[divan::bench(args = Size::ALL)]
    fn sse_stream(bencher: Bencher, size: Size) {
        bench_decode::<SseStream>(bencher, size);
    }

    #[divan::bench(args = Size::ALL)]
    fn eventsource_stream(bencher: Bencher, size: Size) {
        bench_decode::<EventsourceStream>(bencher, size);
    }
}

/// Encoding: each event becomes one owned frame (`Bytes`). The events are built outside the
/// timed region and consumed inside it, as `sse_stream::Sse::encode` takes `self`; dropping
/// the consumed event is timed for both. `eventsource-stream` has no encoder.
mod encode {
    use super::*;

    #[divan::bench(args = Size::ALL)]
    fn tidings(bencher: Bencher, size: Size) {
        let events = Workload::new(size).tidings_events();
        let wire_len: usize = events.iter().map(|event| event.encode().len()).sum();
        bencher
            .counter(BytesCount::new(wire_len))
            .counter(ItemsCount::new(size.count()))
            .with_inputs(|| events.clone())
            .bench_local_values(encode_tidings);
    }

    /// One writer appending every frame to its own reusable buffer (`Event::encode_into`),
    /// as a single connection's writer would before a socket write: no allocation per frame.
    /// The buffer is cleared, not freed, between iterations, as such a writer's would be after
    /// each write.
    #[divan::bench(args = Size::ALL)]
    fn tidings_encode_into(bencher: Bencher, size: Size) {
        bench_appending(bencher, size, BytesMut::new(), BytesMut::clear, encode_tidings_into);
    }

    #[divan::bench(args = Size::ALL)]
    fn sse_stream(bencher: Bencher, size: Size) {
        let events = Workload::new(size).sse_stream_events();
        let wire_len: usize =
            events.iter().map(|event| event.clone().encode().map_or(0, |frame| frame.len())).sum();
        bencher
            .counter(BytesCount::new(wire_len))
            .counter(ItemsCount::new(size.count()))
            .with_inputs(|| events.clone())
            .bench_local_values(encode_sse_stream);
    }

    /// Not an encoder: the least work any encoder must do for this workload when events own
    /// their text as `String`s, as `sse-stream`'s do. For each consumed `(id, data)` pair: one
    /// scan of the data for line breaks, one exact-size allocation, the copies, and freeing
    /// the pair; no validation and no other fields. An owned-frame encoder cannot beat
    /// `sse-stream` by more than `sse-stream`'s time divided by this one.
    #[divan::bench(args = Size::ALL)]
    fn floor(bencher: Bencher, size: Size) {
        let workload = Workload::new(size);
        let frames: Vec<u8> = workload.tidings_events().iter().flat_map(Event::encode).collect();
        let floor_frames: Vec<u8> = encode_floor(workload.events.clone()).concat();
        assert!(floor_frames == frames, "the floor writes what tidings writes");
        bencher
            .counter(BytesCount::new(frames.len()))
            .counter(ItemsCount::new(size.count()))
            .with_inputs(|| workload.events.clone())
            .bench_local_values(encode_floor);
    }

    /// The same least work for tidings' own `Event`s, appended to one reused buffer: the
    /// bound for `tidings_encode_into`.
    #[divan::bench(args = Size::ALL)]
    fn floor_into(bencher: Bencher, size: Size) {
        bench_appending(bencher, size, Vec::new(), Vec::clear, encode_floor_into);
    }

    /// One writer appending every frame to its own reusable buffer `out`, as a single
    /// connection's writer would before a socket write: no allocation per frame. The buffer
    /// is cleared, not freed, between iterations, as such a writer's would be after each
    /// write. Before timing, what `append` writes is checked against `Event::encode`.
    fn bench_appending<B: AsRef<[u8]>>(
        bencher: Bencher,
        size: Size,
        mut out: B,
        clear: fn(&mut B),
        append: fn(Vec<Event>, &mut B),
    ) {
        let events = Workload::new(size).tidings_events();
        let frames: Vec<u8> = events.iter().flat_map(Event::encode).collect();
        append(events.clone(), &mut out);
        assert!(out.as_ref() == frames, "appended frames differ from Event::encode's");
        bencher
            .counter(BytesCount::new(frames.len()))
            .counter(ItemsCount::new(size.count()))
            .with_inputs(|| events.clone())
            .bench_local_values(|events| {
                clear(&mut out);
                append(events, &mut out);
                black_box(out.as_ref().len())
            });
    }

    /// One frame of the floor rows: `id:`, one `data: ` line, a blank line.
    fn put_floor_frame(out: &mut Vec<u8>, id: &str, data: &str) {
        assert!(memchr::memchr2(b'\r', b'\n', data.as_bytes()).is_none(), "one-line data");
        out.extend_from_slice(b"id:");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    // One function per implementation, never inlined, so a profiler (callgrind's
    // `--toggle-collect`) can count exactly the timed work.

    #[inline(never)]
    fn encode_tidings(events: Vec<Event>) -> Vec<Bytes> {
        events.into_iter().map(|event| event.encode()).collect()
    }

    #[inline(never)]
    fn encode_tidings_into(events: Vec<Event>, out: &mut BytesMut) {
        for event in events {
            event.encode_into(out);
        }
    }

    #[inline(never)]
    fn encode_floor(events: Vec<(String, String)>) -> Vec<Bytes> {
        events
            .into_iter()
            .map(|(id, data)| {
                let mut out = Vec::with_capacity("id:\ndata: \n\n".len() + id.len() + data.len());
                put_floor_frame(&mut out, &id, &data);
                Bytes::from(out)
            })
            .collect()
    }

    #[inline(never)]
    fn encode_floor_into(events: Vec<Event>, out: &mut Vec<u8>) {
        for event in events {
            let id = event.id().map_or("", EventId::as_str);
            put_floor_frame(out, id, event.data().unwrap_or_default());
        }
    }

    #[inline(never)]
    fn encode_sse_stream(events: Vec<sse_stream::Sse>) -> Vec<Bytes> {
        events.into_iter().map(|event| event.encode().expect("fields are valid")).collect()
    }
}

fn main() {
    // glibc serves blocks above its mmap threshold (128 KiB at start) with fresh mappings, and
    // raises the threshold the first time such a block is freed. Without this warm-up, whether
    // a 1 MiB case pays a page fault per page depends on which cases ran before it. Freeing an
    // 8 MiB block puts the allocator in the state a long-running process reaches by itself.
    drop(black_box(vec![1u8; 8 << 20]));
    divan::main();
}
