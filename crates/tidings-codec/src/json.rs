//! JSON data helpers (feature `serde`).

use serde::{Serialize, de::DeserializeOwned};

use crate::{Event, MessageEvent};

impl Event {
    /// An event whose data is `value` serialised as compact JSON (one line, so one `data:`
    /// line on the wire).
    ///
    /// # Errors
    /// The serialiser's error, e.g. for a map with non-string keys.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Price { symbol: &'static str, cents: u64 }
    ///
    /// let frame = tidings_codec::Event::json(&Price { symbol: "ACME", cents: 1234 })?.encode();
    /// assert_eq!(&frame[..], br#"data: {"symbol":"ACME","cents":1234}"#.iter().chain(b"\n\n").copied().collect::<Vec<u8>>().as_slice());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::to_string(value)?))
    }
}

impl MessageEvent {
    /// Parses the event's data as JSON.
    ///
    /// # Errors
    /// The parser's error when the data is not JSON of type `T`.
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b"data: {\"n\": 1}\n\n");
    /// let event = decoder.next_item()?.and_then(|i| i.into_event()).expect("event");
    /// let value: serde_json::Value = event.json()?;
    /// assert_eq!(value["n"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.data)
    }
}
