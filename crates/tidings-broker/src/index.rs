//! Selector index. PLACEHOLDER owned by the selector work: a linear scan with the final API.

use std::hash::Hash;

use crate::selector::Selector;

/// Maps selectors to keys (subscriber ids) and finds the keys whose selectors match a topic.
#[derive(Debug)]
pub struct SelectorIndex<K> {
    entries: Vec<(Selector, K)>,
}

impl<K> Default for SelectorIndex<K> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<K: Copy + Eq + Hash> SelectorIndex<K> {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `key` under `selector`. Inserting the same pair twice registers it twice.
    pub fn insert(&mut self, selector: &Selector, key: K) {
        self.entries.push((selector.clone(), key));
    }

    /// Removes one registration of `key` under `selector`; returns whether one existed.
    pub fn remove(&mut self, selector: &Selector, key: K) -> bool {
        match self.entries.iter().position(|(s, k)| s == selector && *k == key) {
            Some(i) => {
                self.entries.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Calls `found` for every registration whose selector matches `topic`. A key registered
    /// under several matching selectors is reported once per selector: callers dedupe.
    pub fn for_each_match(&self, topic: &str, mut found: impl FnMut(K)) {
        for (selector, key) in &self.entries {
            if selector.matches(topic) {
                found(*key);
            }
        }
    }

    /// Number of registrations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no registrations.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
