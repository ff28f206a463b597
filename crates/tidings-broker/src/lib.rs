//! I/O-free broker core for tidings.

pub mod index;
pub mod selector;

pub use index::SelectorIndex;
pub use selector::{Selector, SelectorError};
