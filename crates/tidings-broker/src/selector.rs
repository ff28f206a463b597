//! Topic selectors: which topics a subscription wants.
//!
//! A topic is any string: a URI (`https://example.com/books/1`), a path (`pets/cats`) or a dotted
//! name (`ride.passenger.start`). A [`Selector`] is parsed once from the text a subscriber wrote
//! and then answers [`Selector::matches`] for each published topic. It is one of four kinds
//! ([`SelectorKind`]), decided by the text alone, in this order:
//!
//! 1. `*` alone selects every topic ([`SelectorKind::All`]).
//! 2. Text containing `{` or `}` is an RFC 6570 URI template ([`SelectorKind::Template`]),
//!    matched the way Mercure hubs match (`https://example.com/books/{id}`).
//! 3. Text with a segment that is exactly `*` or `**` is a segment wildcard
//!    ([`SelectorKind::Wildcard`]). `/` and `.` both separate segments; `*` matches one non-empty
//!    segment and a final `**` matches one or more trailing segments (`ride.*.start`,
//!    `ride.passenger.**`, `pets/**`). The separators themselves must match: `ride.*` does not
//!    select `ride/x`.
//! 4. Anything else is an exact topic ([`SelectorKind::Exact`]).
//!
//! Malformed text (empty, `*` inside a segment, `**` not last, unbalanced braces, ...) is refused
//! with a [`SelectorError`] saying what is wrong and at which byte, rather than silently
//! matching nothing. `docs/TOPICS.md` has the full grammar and how selectors from other SSE
//! servers translate.
//!
//! This module only decides whether one selector matches one topic. Finding every subscriber
//! for a topic without scanning them all is [`crate::SelectorIndex`]'s job.
//!
//! ```
//! use tidings_broker::{Selector, SelectorKind};
//!
//! let rides = Selector::parse("ride.*.start")?;
//! assert_eq!(rides.kind(), SelectorKind::Wildcard);
//! assert!(rides.matches("ride.passenger.start"));
//! assert!(!rides.matches("ride.passenger.stop"));
//!
//! let pets = Selector::parse("pets/**")?;
//! assert!(pets.matches("pets/cats"));
//! assert!(!pets.matches("petsmart"));
//!
//! let books = Selector::parse("https://example.com/books/{id}")?;
//! assert!(books.matches("https://example.com/books/1"));
//! assert!(!books.matches("https://example.com/books/1/reviews"));
//! # Ok::<(), tidings_broker::SelectorError>(())
//! ```

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use crate::template::Template;

/// Most segments a wildcard selector may have. Matching walks one trie level per segment
/// (recursively), so this bounds the walk's depth whatever a subscriber sends.
pub const MAX_WILDCARD_SEGMENTS: usize = 256;

/// Longest URI template accepted, in bytes. A template compiles to a matcher whose size and
/// per-byte cost grow with its length; real topic templates are far shorter.
pub const MAX_TEMPLATE_LEN: usize = 4096;

/// The separator recorded for the first token of a string, which has none before it.
pub(crate) const NO_SEP: u8 = 0;

/// Whether `b` separates segments. Both `/` and `.` do, so paths, URIs and dotted names all
/// split the way their users expect.
#[inline]
pub(crate) fn is_sep(b: u8) -> bool {
    b == b'/' || b == b'.'
}

/// The token starting at byte `pos` of `text`: the first token when `first`, else a separator
/// at `pos` followed by its segment. Returns `(separator, segment start, token end)`; the token
/// text is `text[pos..end]` and includes its leading separator, which is what the index's
/// literal keys hold.
///
/// Callers guarantee `pos < text.len()` unless `first` (the first token of `""` is empty).
#[inline]
pub(crate) fn token_at(text: &[u8], pos: usize, first: bool) -> (u8, usize, usize) {
    let (sep, seg_start) = if first { (NO_SEP, 0) } else { (text[pos], pos + 1) };
    let end =
        text[seg_start..].iter().position(|&b| is_sep(b)).map_or(text.len(), |i| seg_start + i);
    (sep, seg_start, end)
}

/// Calls `each` with every token of `text` (see [`token_at`]), in order.
pub(crate) fn for_each_token<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut first = true;
    loop {
        let (_, _, end) = token_at(bytes, pos, first);
        each(&text[pos..end]);
        if end == bytes.len() {
            return;
        }
        pos = end;
        first = false;
    }
}

/// Why a selector string was refused. Offsets are byte offsets into the selector text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The selector is empty.
    #[error("empty selector")]
    Empty,
    /// A `*` shares its segment with other characters (`ride.pass*`): wildcards are whole
    /// segments. [`Selector::exact`] accepts a topic that really contains `*`.
    #[error("`*` at byte {offset} must be a whole segment between `/` or `.` separators")]
    PartialWildcard {
        /// Where the offending `*` is.
        offset: usize,
    },
    /// `**` appears before the last segment (`a/**/b`).
    #[error("`**` at byte {offset} must be the last segment")]
    DoubleStarNotLast {
        /// Where the `**` segment starts.
        offset: usize,
    },
    /// A wildcard selector has more segments than [`MAX_WILDCARD_SEGMENTS`].
    #[error("wildcard selector has {segments} segments, more than the {max} allowed")]
    TooManySegments {
        /// Segments in the selector.
        segments: usize,
        /// The limit.
        max: usize,
    },
    /// A URI template is longer than [`MAX_TEMPLATE_LEN`].
    #[error("URI template is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Length of the selector in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `{` is never closed, or another `{` opens before it closes.
    #[error("`{{` at byte {offset} is not closed")]
    UnclosedBrace {
        /// Where the unclosed `{` is.
        offset: usize,
    },
    /// A `}` closes nothing.
    #[error("`}}` at byte {offset} closes no `{{`")]
    UnopenedBrace {
        /// Where the stray `}` is.
        offset: usize,
    },
    /// An expression names no variable (`{}`).
    #[error("empty expression `{{}}` at byte {offset}")]
    EmptyExpression {
        /// Where the `{` is.
        offset: usize,
    },
    /// An expression uses an operator RFC 6570 reserves for future use (`=`, `,`, `!`, `@`,
    /// `|`).
    #[error("operator {operator:?} at byte {offset} is reserved by RFC 6570")]
    ReservedOperator {
        /// Where the operator is.
        offset: usize,
        /// The operator.
        operator: char,
    },
    /// A character that cannot appear there in an expression's variable list.
    #[error("unexpected {found:?} at byte {offset} in a URI template expression")]
    InvalidExpression {
        /// Where the character is.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A prefix modifier (`{var:3}`) is not a number from 1 to 9999.
    #[error("prefix length at byte {offset} must be a number from 1 to 9999")]
    InvalidPrefixLength {
        /// Where the number should start.
        offset: usize,
    },
    /// A `%` is not followed by two hexadecimal digits.
    #[error("`%` at byte {offset} is not followed by two hexadecimal digits")]
    InvalidPercentEncoding {
        /// Where the `%` is.
        offset: usize,
    },
    /// A character RFC 6570 does not allow in a template's literal text (space, `"`, `<`, ...).
    #[error("{found:?} at byte {offset} is not allowed in a URI template")]
    InvalidLiteral {
        /// Where the character is.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A URI template also has a `*` or `**` segment; the two kinds do not combine.
    #[error("wildcard segment at byte {offset} in a URI template: use one or the other")]
    WildcardInTemplate {
        /// Where the wildcard segment starts.
        offset: usize,
    },
}

/// Which of the four selector kinds a [`Selector`] is.
///
/// ```
/// use tidings_broker::{Selector, SelectorKind};
///
/// assert_eq!(Selector::parse("*")?.kind(), SelectorKind::All);
/// assert_eq!(Selector::parse("news")?.kind(), SelectorKind::Exact);
/// assert_eq!(Selector::parse("news/**")?.kind(), SelectorKind::Wildcard);
/// assert_eq!(Selector::parse("/news/{id}")?.kind(), SelectorKind::Template);
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelectorKind {
    /// Selects exactly one topic, its own text.
    Exact,
    /// `*`: selects every topic.
    All,
    /// Segment wildcards (`ride.*.start`, `pets/**`).
    Wildcard,
    /// An RFC 6570 URI template, matched as Mercure does.
    Template,
}

/// A parsed topic selector. Cloning is cheap (reference counted).
///
/// Two selectors are equal when they have the same text and the same kind, so
/// `Selector::exact("a*")` and a hypothetical wildcard with that text never compare equal.
///
/// ```
/// use tidings_broker::Selector;
///
/// let selector = Selector::parse("ride.passenger.**")?;
/// assert_eq!(selector.as_str(), "ride.passenger.**");
/// assert!(selector.matches("ride.passenger.account.name"));
/// assert!(!selector.matches("ride.passenger"));
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
#[derive(Clone)]
pub struct Selector {
    source: Arc<str>,
    compiled: Compiled,
}

/// The matcher behind a selector; each variant is what [`SelectorKind`] names.
#[derive(Clone)]
pub(crate) enum Compiled {
    Exact,
    All,
    Wildcard(Arc<Pattern>),
    Template(Arc<Template>),
}

/// A parsed segment-wildcard selector.
pub(crate) struct Pattern {
    /// The tokens before any final `**`, in order.
    pub(crate) tokens: Box<[PatternToken]>,
    /// `Some(separator)` when the selector ends in `**`; the separator is the one before it
    /// ([`NO_SEP`] when the whole selector is `**`).
    pub(crate) tail: Option<u8>,
}

/// One token of a wildcard selector.
pub(crate) enum PatternToken {
    /// Must equal the topic's token, leading separator included.
    Literal(Box<str>),
    /// `*`: any non-empty segment after this separator.
    Star(u8),
}

impl Selector {
    /// Parses a selector, deciding its kind from the text (see the [module docs](self)).
    ///
    /// # Errors
    /// [`SelectorError`] when the text is empty, a wildcard is malformed, or a URI template is
    /// invalid. Each error says what is wrong and where.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorError};
    ///
    /// assert!(Selector::parse("pets/**").is_ok());
    /// assert_eq!(Selector::parse("a/**/b"), Err(SelectorError::DoubleStarNotLast { offset: 2 }));
    /// assert_eq!(Selector::parse("/books/{id"), Err(SelectorError::UnclosedBrace { offset: 7 }));
    /// ```
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.is_empty() {
            return Err(SelectorError::Empty);
        }
        let source: Arc<str> = Arc::from(text);
        let compiled = if text == "*" {
            Compiled::All
        } else if text.contains(['{', '}']) {
            Compiled::Template(Arc::new(Template::parse(Arc::clone(&source))?))
        } else if text.contains('*') {
            Compiled::Wildcard(Arc::new(Pattern::parse(text)?))
        } else {
            Compiled::Exact
        };
        Ok(Self { source, compiled })
    }

    /// An exact selector for `topic`, whatever characters it holds: use it for topics that
    /// contain `*`, `{` or `}`, which [`Selector::parse`] would read as patterns.
    ///
    /// # Errors
    /// [`SelectorError::Empty`] when `topic` is empty.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorKind};
    ///
    /// let literal = Selector::exact("reports/*")?;
    /// assert_eq!(literal.kind(), SelectorKind::Exact);
    /// assert!(literal.matches("reports/*"));
    /// assert!(!literal.matches("reports/2024"));
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    pub fn exact(topic: &str) -> Result<Self, SelectorError> {
        if topic.is_empty() {
            return Err(SelectorError::Empty);
        }
        Ok(Self { source: Arc::from(topic), compiled: Compiled::Exact })
    }

    /// The selector as written.
    ///
    /// ```
    /// use tidings_broker::Selector;
    ///
    /// assert_eq!(Selector::parse("pets/**")?.as_str(), "pets/**");
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Which kind of selector this is.
    ///
    /// ```
    /// use tidings_broker::{Selector, SelectorKind};
    ///
    /// assert_eq!(Selector::parse("ride.*.start")?.kind(), SelectorKind::Wildcard);
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> SelectorKind {
        match self.compiled {
            Compiled::Exact => SelectorKind::Exact,
            Compiled::All => SelectorKind::All,
            Compiled::Wildcard(_) => SelectorKind::Wildcard,
            Compiled::Template(_) => SelectorKind::Template,
        }
    }

    /// Whether `topic` is selected.
    ///
    /// A URI template also matches its own text exactly, as in Mercure (step 2 of its matching
    /// rules), so a template can be compared with another selector for authorization.
    ///
    /// ```
    /// use tidings_broker::Selector;
    ///
    /// let selector = Selector::parse("ride.*.start")?;
    /// assert!(selector.matches("ride.driver.start"));
    /// assert!(!selector.matches("ride.driver.start.late"));
    /// assert!(!selector.matches("ride/driver/start"));
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    #[must_use]
    pub fn matches(&self, topic: &str) -> bool {
        match &self.compiled {
            Compiled::Exact => *self.source == *topic,
            Compiled::All => true,
            Compiled::Wildcard(pattern) => pattern.matches(topic),
            Compiled::Template(template) => *self.source == *topic || template.matches(topic),
        }
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    pub(crate) fn source(&self) -> &Arc<str> {
        &self.source
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        // The compiled form is a function of the text and the kind, so comparing those two is
        // comparing everything.
        self.kind() == other.kind() && self.source == other.source
    }
}

impl Eq for Selector {}

impl Hash for Selector {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind().hash(state);
        self.source.hash(state);
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("kind", &self.kind())
            .field("source", &&*self.source)
            .finish()
    }
}

/// Writes the selector as it was written.
///
/// ```
/// use tidings_broker::Selector;
///
/// assert_eq!(Selector::parse("pets/**")?.to_string(), "pets/**");
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Same as [`Selector::parse`].
///
/// ```
/// use tidings_broker::Selector;
///
/// let selector: Selector = "ride.*.start".parse()?;
/// assert!(selector.matches("ride.x.start"));
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Pattern {
    /// Parses text already known to contain a `*` and no braces.
    fn parse(text: &str) -> Result<Self, SelectorError> {
        let bytes = text.as_bytes();
        let mut tokens = Vec::new();
        let mut tail = None;
        let mut pos = 0;
        let mut first = true;
        let mut segments = 0usize;
        loop {
            let (sep, seg_start, end) = token_at(bytes, pos, first);
            segments += 1;
            let segment = &text[seg_start..end];
            match segment {
                "*" => tokens.push(PatternToken::Star(sep)),
                "**" if end == bytes.len() => tail = Some(sep),
                "**" => return Err(SelectorError::DoubleStarNotLast { offset: seg_start }),
                _ => {
                    if let Some(star) = segment.find('*') {
                        return Err(SelectorError::PartialWildcard { offset: seg_start + star });
                    }
                    tokens.push(PatternToken::Literal(Box::from(&text[pos..end])));
                }
            }
            if end == bytes.len() {
                break;
            }
            pos = end;
            first = false;
        }
        if segments > MAX_WILDCARD_SEGMENTS {
            return Err(SelectorError::TooManySegments { segments, max: MAX_WILDCARD_SEGMENTS });
        }
        Ok(Self { tokens: tokens.into_boxed_slice(), tail })
    }

    /// Matches token by token; the index's trie walk applies the same rules, one level per
    /// token.
    fn matches(&self, topic: &str) -> bool {
        let bytes = topic.as_bytes();
        let mut pos = 0;
        let mut first = true;
        for token in &self.tokens {
            if !first && pos == bytes.len() {
                return false;
            }
            let (sep, seg_start, end) = token_at(bytes, pos, first);
            let ok = match token {
                PatternToken::Literal(literal) => **literal == topic[pos..end],
                PatternToken::Star(star_sep) => *star_sep == sep && seg_start < end,
            };
            if !ok {
                return false;
            }
            pos = end;
            first = false;
        }
        match self.tail {
            None => pos == bytes.len(),
            Some(sep) => tail_matches(sep, &bytes[pos..]),
        }
    }
}

/// Whether a final `**` preceded by `sep` matches `rest`, the topic after the tokens before it:
/// the same separator and at least one more byte. A selector that is only `**` (`sep` is
/// [`NO_SEP`]) matches any non-empty topic.
#[inline]
pub(crate) fn tail_matches(sep: u8, rest: &[u8]) -> bool {
    if sep == NO_SEP { !rest.is_empty() } else { rest.len() > 1 && rest[0] == sep }
}
