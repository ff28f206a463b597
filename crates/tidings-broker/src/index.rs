//! The subscription index: from a published topic to the keys (subscriber ids) whose selectors
//! match it, without looking at the subscribers whose selectors cannot.
//!
//! Each selector kind has its own structure, so that a publish costs a few hash lookups plus
//! one step per reported key:
//!
//! - `*` selectors sit in one list, reported for every topic;
//! - exact selectors sit in a hash map keyed by topic: one lookup;
//! - wildcard selectors sit in a trie keyed by literal tokens (a segment with its leading
//!   separator), with `*` and `**` branches per separator. A publish walks the topic's tokens
//!   down the trie, so only selectors sharing the topic's literal segments are visited;
//! - URI templates hang in the same trie under the literal segments that precede their first
//!   expression (`https://example.com/books/{id}` under `https:`, `/`, `/example`, `.com`,
//!   `/books`) and are tried, with their compiled matcher, only when the walk passes there.
//!
//! Keys are kept per selector in buckets that add and remove in O(1) and iterate as a slice.
//! A match allocates nothing.
//!
//! ```
//! use tidings_broker::{Selector, SelectorIndex};
//!
//! let mut index = SelectorIndex::new();
//! index.insert(&Selector::parse("pets")?, 1);
//! index.insert(&Selector::parse("pets/**")?, 1);
//! index.insert(&Selector::parse("petsmart")?, 2);
//!
//! let mut found = Vec::new();
//! index.for_each_match("pets/cats", |key| found.push(key));
//! assert_eq!(found, [1]);
//! # Ok::<(), tidings_broker::SelectorError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::selector::{
    Compiled, MAX_WILDCARD_SEGMENTS, Pattern, PatternToken, Selector, for_each_token, tail_matches,
    token_at,
};

/// Maps selectors to keys (subscriber ids) and finds the keys whose selectors match a topic.
///
/// The same `(selector, key)` pair may be inserted several times; each insert is one
/// registration, undone by one [`remove`](Self::remove).
///
/// ```
/// use tidings_broker::{Selector, SelectorIndex};
///
/// let mut index = SelectorIndex::new();
/// let rides = Selector::parse("ride.*.start")?;
/// index.insert(&rides, 7_u64);
/// index.insert(&Selector::parse("*")?, 8);
///
/// let mut found = Vec::new();
/// index.for_each_match("ride.driver.start", |key| found.push(key));
/// found.sort();
/// assert_eq!(found, [7, 8]);
///
/// assert!(index.remove(&rides, 7));
/// assert_eq!(index.len(), 1);
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
pub struct SelectorIndex<K> {
    all: Bucket<K>,
    exact: HashMap<Arc<str>, Bucket<K>>,
    root: Node<K>,
    /// Registrations in the trie; when zero a publish skips the walk.
    in_trie: usize,
    len: usize,
}

impl<K> Default for SelectorIndex<K> {
    fn default() -> Self {
        Self {
            all: Bucket::default(),
            exact: HashMap::new(),
            root: Node::default(),
            in_trie: 0,
            len: 0,
        }
    }
}

impl<K> fmt::Debug for SelectorIndex<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectorIndex")
            .field("len", &self.len)
            .field("exact_topics", &self.exact.len())
            .field("in_trie", &self.in_trie)
            .finish_non_exhaustive()
    }
}

impl<K: Copy + Eq + Hash> SelectorIndex<K> {
    /// An empty index.
    ///
    /// ```
    /// use tidings_broker::SelectorIndex;
    ///
    /// let index: SelectorIndex<u64> = SelectorIndex::new();
    /// assert!(index.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `key` under `selector`. Inserting the same pair twice registers it twice.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorIndex};
    ///
    /// let mut index = SelectorIndex::new();
    /// index.insert(&Selector::parse("news")?, 1_u32);
    /// assert_eq!(index.len(), 1);
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    pub fn insert(&mut self, selector: &Selector, key: K) {
        match selector.compiled() {
            Compiled::All => self.all.insert(key),
            Compiled::Exact => {
                self.exact.entry(Arc::clone(selector.source())).or_default().insert(key);
            }
            Compiled::Wildcard(pattern) => {
                self.root.insert_pattern(pattern, key);
                self.in_trie += 1;
            }
            Compiled::Template(template) => {
                let node = self.root.template_node(selector.as_str(), template.prefix_cut());
                match node.templates.iter_mut().find(|entry| entry.selector == *selector) {
                    Some(entry) => entry.keys.insert(key),
                    None => {
                        let mut keys = Bucket::default();
                        keys.insert(key);
                        node.templates.push(TemplateEntry { selector: selector.clone(), keys });
                    }
                }
                self.in_trie += 1;
            }
        }
        self.len += 1;
    }

    /// Removes one registration of `key` under `selector`; returns whether one existed.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorIndex};
    ///
    /// let mut index = SelectorIndex::new();
    /// let news = Selector::parse("news")?;
    /// index.insert(&news, 1_u32);
    /// assert!(index.remove(&news, 1));
    /// assert!(!index.remove(&news, 1));
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    pub fn remove(&mut self, selector: &Selector, key: K) -> bool {
        let removed = match selector.compiled() {
            Compiled::All => self.all.remove(key),
            Compiled::Exact => {
                let topic: &str = selector.as_str();
                match self.exact.get_mut(topic) {
                    Some(bucket) => {
                        let removed = bucket.remove(key);
                        if bucket.is_empty() {
                            self.exact.remove(topic);
                        }
                        removed
                    }
                    None => false,
                }
            }
            Compiled::Wildcard(pattern) => {
                let removed = self.root.remove_pattern(&pattern.tokens, pattern.tail, key);
                self.in_trie -= usize::from(removed);
                removed
            }
            Compiled::Template(template) => {
                let mut path = Vec::new();
                template_path(selector.as_str(), template.prefix_cut(), |token| path.push(token));
                let removed = self.root.remove_template(&path, selector, key);
                self.in_trie -= usize::from(removed);
                removed
            }
        };
        self.len -= usize::from(removed);
        removed
    }

    /// Calls `found` for every registration whose selector matches `topic`. A key registered
    /// under several matching selectors is reported once per selector (and once per distinct
    /// selector only, however often that pair was inserted): callers dedupe.
    ///
    /// The cost is a hash lookup for exact selectors, a walk of the topic's segments through
    /// the wildcard trie, a compiled-matcher run for each URI template filed under the topic's
    /// literal segments, and one call per reported key. Selectors that cannot match are not
    /// visited.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorIndex};
    ///
    /// let mut index = SelectorIndex::new();
    /// index.insert(&Selector::parse("https://example.com/books/{id}")?, 1_u32);
    /// index.insert(&Selector::parse("https://example.com/books/*")?, 2);
    /// index.insert(&Selector::parse("https://example.com/authors/**")?, 3);
    ///
    /// let mut found = Vec::new();
    /// index.for_each_match("https://example.com/books/1", |key| found.push(key));
    /// found.sort();
    /// assert_eq!(found, [1, 2]);
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    pub fn for_each_match(&self, topic: &str, mut found: impl FnMut(K)) {
        self.all.for_each(&mut found);
        if let Some(bucket) = self.exact.get(topic) {
            bucket.for_each(&mut found);
        }
        if self.in_trie > 0 {
            self.root.walk(topic, 0, true, &mut found);
        }
    }

    /// Number of registrations.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorIndex};
    ///
    /// let mut index = SelectorIndex::new();
    /// let all = Selector::parse("*")?;
    /// index.insert(&all, 1_u32);
    /// index.insert(&all, 1);
    /// assert_eq!(index.len(), 2);
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no registrations.
    ///
    /// ```
    /// use tidings_broker::SelectorIndex;
    ///
    /// assert!(SelectorIndex::<u32>::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The literal tokens a template is filed under: those of its text before the last separator
/// that precedes its first expression, at most [`MAX_WILDCARD_SEGMENTS`] of them (filing
/// higher up stays correct, only less selective).
fn template_path<'a>(source: &'a str, cut: Option<usize>, mut each: impl FnMut(&'a str)) {
    if let Some(cut) = cut {
        let mut taken = 0;
        for_each_token(&source[..cut], |token| {
            if taken < MAX_WILDCARD_SEGMENTS {
                each(token);
                taken += 1;
            }
        });
    }
}

/// The keys registered under one selector. Distinct keys sit in a vector, so reporting them is
/// a slice walk; past [`Bucket::LINEAR_MAX`] keys a hash map from key to position makes removal
/// O(1) too, which matters when a popular topic's many subscribers all leave.
struct Bucket<K> {
    keys: Vec<K>,
    /// Registrations of `keys[i]`; never zero.
    counts: Vec<u32>,
    #[allow(
        clippy::box_collection,
        reason = "boxed, an absent map costs 8 bytes instead of 48 in every bucket, and most buckets never need one"
    )]
    positions: Option<Box<HashMap<K, usize>>>,
}

impl<K> Default for Bucket<K> {
    fn default() -> Self {
        Self { keys: Vec::new(), counts: Vec::new(), positions: None }
    }
}

impl<K: Copy + Eq + Hash> Bucket<K> {
    const LINEAR_MAX: usize = 16;

    fn position(&self, key: K) -> Option<usize> {
        match &self.positions {
            Some(positions) => positions.get(&key).copied(),
            None => self.keys.iter().position(|k| *k == key),
        }
    }

    fn insert(&mut self, key: K) {
        if let Some(i) = self.position(key) {
            if let Some(count) = self.counts.get_mut(i) {
                *count = count.saturating_add(1);
            }
            return;
        }
        self.keys.push(key);
        self.counts.push(1);
        let last = self.keys.len() - 1;
        match &mut self.positions {
            Some(positions) => {
                positions.insert(key, last);
            }
            None if self.keys.len() > Self::LINEAR_MAX => {
                let positions = self.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
                self.positions = Some(Box::new(positions));
            }
            None => {}
        }
    }

    fn remove(&mut self, key: K) -> bool {
        let Some(i) = self.position(key) else { return false };
        let Some(count) = self.counts.get_mut(i) else { return false };
        if *count > 1 {
            *count -= 1;
            return true;
        }
        self.keys.swap_remove(i);
        self.counts.swap_remove(i);
        if let Some(positions) = &mut self.positions {
            positions.remove(&key);
            if let Some(moved) = self.keys.get(i) {
                positions.insert(*moved, i);
            }
            // Hysteresis: drop the map well below the threshold, so a bucket hovering around
            // it does not rebuild the map on every insert.
            if self.keys.len() < Self::LINEAR_MAX / 2 {
                self.positions = None;
            }
        }
        true
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    #[inline]
    fn for_each(&self, found: &mut impl FnMut(K)) {
        for key in &self.keys {
            found(*key);
        }
    }
}

struct TemplateEntry<K> {
    selector: Selector,
    keys: Bucket<K>,
}

/// One trie level. A node is reached by a sequence of topic tokens; what it holds applies to
/// topics that start with that sequence.
struct Node<K> {
    /// Children by literal token, leading separator included (`/cats`, `.start`; the first
    /// token has none).
    literal: HashMap<Box<str>, Node<K>>,
    /// Children for a `*` segment, by the separator before it ([`NO_SEP`] at the root).
    star: Vec<(u8, Node<K>)>,
    /// Wildcard selectors that end here: the topic must end here too.
    ends: Bucket<K>,
    /// Selectors ending in `**`, by the separator before the `**`.
    tails: Vec<(u8, Bucket<K>)>,
    /// URI templates whose literal prefix leads here.
    templates: Vec<TemplateEntry<K>>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Self {
            literal: HashMap::new(),
            star: Vec::new(),
            ends: Bucket::default(),
            tails: Vec::new(),
            templates: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Node<K> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.star.is_empty()
            && self.ends.is_empty()
            && self.tails.is_empty()
            && self.templates.is_empty()
    }

    fn literal_child(&mut self, token: &str) -> &mut Self {
        self.literal.entry(Box::from(token)).or_default()
    }

    fn star_child(&mut self, sep: u8) -> &mut Self {
        let i = match self.star.iter().position(|(s, _)| *s == sep) {
            Some(i) => i,
            None => {
                self.star.push((sep, Self::default()));
                self.star.len() - 1
            }
        };
        &mut self.star[i].1
    }

    fn insert_pattern(&mut self, pattern: &Pattern, key: K) {
        let mut node = self;
        for token in &pattern.tokens {
            node = match token {
                PatternToken::Literal(literal) => node.literal_child(literal),
                PatternToken::Star(sep) => node.star_child(*sep),
            };
        }
        match pattern.tail {
            None => node.ends.insert(key),
            Some(sep) => match node.tails.iter_mut().find(|(s, _)| *s == sep) {
                Some((_, bucket)) => bucket.insert(key),
                None => {
                    let mut bucket = Bucket::default();
                    bucket.insert(key);
                    node.tails.push((sep, bucket));
                }
            },
        }
    }

    /// Removes one registration and prunes the nodes it leaves empty. Recursion depth is
    /// bounded by [`MAX_WILDCARD_SEGMENTS`].
    fn remove_pattern(&mut self, tokens: &[PatternToken], tail: Option<u8>, key: K) -> bool {
        let Some((token, rest)) = tokens.split_first() else {
            return match tail {
                None => self.ends.remove(key),
                Some(sep) => {
                    let Some(i) = self.tails.iter().position(|(s, _)| *s == sep) else {
                        return false;
                    };
                    let removed = self.tails[i].1.remove(key);
                    if self.tails[i].1.is_empty() {
                        self.tails.swap_remove(i);
                    }
                    removed
                }
            };
        };
        match token {
            PatternToken::Literal(literal) => {
                let Some(child) = self.literal.get_mut(&**literal) else { return false };
                let removed = child.remove_pattern(rest, tail, key);
                if child.is_empty() {
                    self.literal.remove(&**literal);
                }
                removed
            }
            PatternToken::Star(sep) => {
                let Some(i) = self.star.iter().position(|(s, _)| s == sep) else { return false };
                let removed = self.star[i].1.remove_pattern(rest, tail, key);
                if self.star[i].1.is_empty() {
                    self.star.swap_remove(i);
                }
                removed
            }
        }
    }

    fn template_node(&mut self, source: &str, cut: Option<usize>) -> &mut Self {
        let mut path = Vec::new();
        template_path(source, cut, |token| path.push(token));
        let mut node = self;
        for token in path {
            node = node.literal_child(token);
        }
        node
    }

    fn remove_template(&mut self, path: &[&str], selector: &Selector, key: K) -> bool {
        let Some((token, rest)) = path.split_first() else {
            let Some(i) = self.templates.iter().position(|e| e.selector == *selector) else {
                return false;
            };
            let removed = self.templates[i].keys.remove(key);
            if self.templates[i].keys.is_empty() {
                self.templates.swap_remove(i);
            }
            return removed;
        };
        let Some(child) = self.literal.get_mut(*token) else { return false };
        let removed = child.remove_template(rest, selector, key);
        if child.is_empty() {
            self.literal.remove(*token);
        }
        removed
    }

    /// Reports what this node holds for `topic`, whose tokens before `pos` led here, then
    /// descends by the next token. `first` is true only at the root, before the first token.
    ///
    /// Each node is reached by one token sequence, so it is visited at most once per topic.
    /// Recursion depth is at most the trie's depth, which [`MAX_WILDCARD_SEGMENTS`] bounds.
    fn walk(&self, topic: &str, pos: usize, first: bool, found: &mut impl FnMut(K)) {
        for entry in &self.templates {
            if entry.selector.matches(topic) {
                entry.keys.for_each(found);
            }
        }
        let bytes = topic.as_bytes();
        for (sep, bucket) in &self.tails {
            if tail_matches(*sep, &bytes[pos..]) {
                bucket.for_each(found);
            }
        }
        if !first && pos == bytes.len() {
            self.ends.for_each(found);
            return;
        }
        let (sep, seg_start, end) = token_at(bytes, pos, first);
        // Skipping the hash when there are no literal children saves most of a walk's cost
        // for star-only levels.
        if !self.literal.is_empty() {
            if let Some(child) = self.literal.get(&topic[pos..end]) {
                child.walk(topic, end, false, found);
            }
        }
        if seg_start < end {
            for (star_sep, child) in &self.star {
                if *star_sep == sep {
                    child.walk(topic, end, false, found);
                }
            }
        }
    }
}
