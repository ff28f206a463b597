//! Topic selectors. PLACEHOLDER owned by the selector work: exact topics and `*` only.

use std::sync::Arc;

/// Why a selector string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The selector is empty.
    #[error("empty selector")]
    Empty,
}

/// A parsed topic selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    source: Arc<str>,
}

impl Selector {
    /// Parses a selector.
    ///
    /// # Errors
    /// [`SelectorError`] when the text is not a valid selector.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.is_empty() {
            return Err(SelectorError::Empty);
        }
        Ok(Self { source: Arc::from(text) })
    }

    /// The selector as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` is selected.
    #[must_use]
    pub fn matches(&self, topic: &str) -> bool {
        &*self.source == "*" || &*self.source == topic
    }
}
