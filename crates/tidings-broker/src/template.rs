//! RFC 6570 URI templates used as topic selectors, matched the way Mercure hubs match them.
//!
//! Mercure's reference hub turns a template into a regular expression and asks whether the
//! whole topic matches it. We accept the same language differently: the template's literal
//! prefix and suffix are compared directly, and only the variable part between them is run
//! through a small Thompson automaton compiled from the expressions. A match therefore costs
//! O(variable part x automaton size) with no backtracking, whatever a subscriber writes. It
//! allocates nothing for automata of up to [`INLINE_INSTS`] instructions, and for those of up to
//! 64 (a few expressions) each byte is a handful of bit operations on one word.
//!
//! What each expression `{op var1,var2,...}` matches, in that regular-expression reading:
//!
//! - The whole expression is optional (an undefined variable expands to nothing).
//! - When present it is the operator's first string (`#`, `.`, `/`, `;`, `?`, `&`, or nothing
//!   for simple and `+` expressions), then a value, then for lists (several variables or an
//!   explode modifier `*`) further values each after the operator's separator: at most one per
//!   extra variable, or any number when a variable is exploded.
//! - A value is any run of allowed characters and `%XX` escapes. `+` and `#` allow unreserved
//!   and reserved characters (so `{+path}` crosses `/`); the others allow unreserved characters
//!   and `,`, plus `=` for the named operators `;`, `?`, `&` and after an explode.
//! - Variable names are not checked in the topic (`{?q}` also matches `?page=2`) and prefix
//!   modifiers (`{var:3}`) do not limit the length, exactly as in Mercure.
//!
//! Only the matcher lives here; [`crate::Selector`] decides when text is a template.
//!
//! ```
//! use tidings_broker::Selector;
//!
//! let reviews = Selector::parse("https://example.com/books/{id}/reviews{?page}")?;
//! assert!(reviews.matches("https://example.com/books/1/reviews"));
//! assert!(reviews.matches("https://example.com/books/1/reviews?page=2"));
//! assert!(!reviews.matches("https://example.com/books/1/2/reviews"));
//!
//! let anything_below = Selector::parse("https://example.com/{+path}")?;
//! assert!(anything_below.matches("https://example.com/books/1/reviews"));
//! # Ok::<(), tidings_broker::SelectorError>(())
//! ```

use std::sync::Arc;

use crate::selector::{MAX_TEMPLATE_LEN, SelectorError, is_sep};

/// Programs up to this many instructions are simulated with state sets on the stack.
const INLINE_INSTS: usize = 256;
const INLINE_WORDS: usize = INLINE_INSTS / 64;

/// A set of ASCII bytes. Non-ASCII bytes are never in a character class: expressions match
/// only ASCII (as in Mercure), while literal text may hold any UTF-8.
#[derive(Clone, Copy, PartialEq, Eq)]
struct AsciiSet(u128);

impl AsciiSet {
    const fn of(bytes: &[u8]) -> Self {
        let mut bits = 0u128;
        let mut i = 0;
        while i < bytes.len() {
            bits |= 1 << bytes[i];
            i += 1;
        }
        Self(bits)
    }

    const fn range(lo: u8, hi: u8) -> Self {
        let mut bits = 0u128;
        let mut b = lo;
        while b <= hi {
            bits |= 1 << b;
            b += 1;
        }
        Self(bits)
    }

    const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    #[inline]
    fn contains(self, b: u8) -> bool {
        b < 128 && self.0 & (1 << b) != 0
    }
}

const ALPHA: AsciiSet = AsciiSet::range(b'A', b'Z').union(AsciiSet::range(b'a', b'z'));
const DIGIT: AsciiSet = AsciiSet::range(b'0', b'9');
const HEX: AsciiSet = DIGIT.union(AsciiSet::range(b'A', b'F')).union(AsciiSet::range(b'a', b'f'));
/// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
const UNRESERVED: AsciiSet = ALPHA.union(DIGIT).union(AsciiSet::of(b"-._~"));
/// RFC 3986 reserved: gen-delims and sub-delims.
const RESERVED: AsciiSet = AsciiSet::of(b":/?#[]@!$&'()*+,;=");
/// RFC 6570 varchar without pct-encoded, which the parser handles separately.
const VARCHAR: AsciiSet = ALPHA.union(DIGIT).union(AsciiSet::of(b"_"));
/// ASCII characters RFC 6570 section 2.1 allows in literals (`%` only as pct-encoded).
const LITERAL_ASCII: AsciiSet = AsciiSet::of(b"!#$&=]_~")
    .union(AsciiSet::range(0x28, 0x3B))
    .union(AsciiSet::range(0x3F, 0x5B))
    .union(AsciiSet::range(0x61, 0x7A));

/// Whether a non-ASCII character may appear in a literal: RFC 6570's ucschar and iprivate.
fn is_literal_non_ascii(c: char) -> bool {
    let c = u32::from(c);
    matches!(c, 0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFEF)
        || (c >= 0x1_0000 && c & 0xFFFF <= 0xFFFD && !(0xE_0000..0xE_1000).contains(&c))
}

/// An expression operator's expansion rules, as far as matching needs them.
#[derive(Clone, Copy)]
struct Operator {
    first: &'static [u8],
    sep: &'static [u8],
    named: bool,
    allow_reserved: bool,
}

impl Operator {
    fn from_byte(b: u8) -> Option<Self> {
        let (first, sep, named, allow_reserved): (&'static [u8], &'static [u8], bool, bool) =
            match b {
                b'+' => (b"", b",", false, true),
                b'#' => (b"#", b",", false, true),
                b'.' => (b".", b".", false, false),
                b'/' => (b"/", b"/", false, false),
                b';' => (b";", b";", true, false),
                b'?' => (b"?", b"&", true, false),
                b'&' => (b"&", b"&", true, false),
                _ => return None,
            };
        Some(Self { first, sep, named, allow_reserved })
    }

    const SIMPLE: Self = Self { first: b"", sep: b",", named: false, allow_reserved: false };

    /// The characters a value may contain besides `%XX` escapes. Without reserved characters,
    /// `,` is allowed because list values expand comma-separated, and `=` when the value may be
    /// a `name=value` pair (named operators, or an exploded map).
    fn value_class(self, pairs: bool) -> AsciiSet {
        if self.allow_reserved {
            UNRESERVED.union(RESERVED)
        } else if pairs {
            UNRESERVED.union(AsciiSet::of(b",="))
        } else {
            UNRESERVED.union(AsciiSet::of(b","))
        }
    }
}

#[derive(Clone, Copy)]
enum Inst {
    /// Consume this byte.
    Byte(u8),
    /// Consume one byte of the class at this index in [`Template::classes`].
    Class(u8),
    /// Continue at both.
    Split(u16, u16),
    Jmp(u16),
    /// The whole topic matched. Always the last instruction, and the only one.
    Match,
}

/// A compiled URI template.
pub(crate) struct Template {
    source: Arc<str>,
    program: Box<[Inst]>,
    classes: Box<[AsciiSet]>,
    /// Length of the literal text before the first expression: every match starts with it.
    prefix_len: usize,
    /// Start of the literal text after the last expression: every match ends with it.
    suffix_start: usize,
    /// For programs of at most 64 instructions: `after[pc]` is the set of instructions a
    /// topic can be at once `pc` has consumed a byte (see [`Template::precompute_small`]).
    after: Option<Box<[u64]>>,
    /// With `after`: the instructions a match can be at before reading anything.
    start: u64,
}

impl Template {
    /// Parses and compiles `source`, which must be a template (it contains `{` or `}`).
    pub(crate) fn parse(source: Arc<str>) -> Result<Self, SelectorError> {
        let text: &str = &source;
        if text.len() > MAX_TEMPLATE_LEN {
            return Err(SelectorError::TooLong { len: text.len(), max: MAX_TEMPLATE_LEN });
        }
        reject_wildcard_segments(text)?;
        let mut compiler = Compiler::default();
        let bytes = text.as_bytes();
        let mut prefix_len = None;
        let mut suffix_start = 0;
        // Program length before the latest literal, while that literal is the last part.
        let mut trailing_literal = None;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => {
                    prefix_len.get_or_insert(i);
                    i = compiler.expression(text, i)?;
                    suffix_start = i;
                    trailing_literal = None;
                }
                b'}' => return Err(SelectorError::UnopenedBrace { offset: i }),
                _ => {
                    // The literal ends are compared directly (see `matches`); only literals
                    // between expressions become instructions.
                    let is_prefix = prefix_len.is_none();
                    trailing_literal = Some(compiler.program.len());
                    i = compiler.literal(text, i, !is_prefix)?;
                }
            }
        }
        if let Some(len) = trailing_literal {
            // Nothing jumps past the suffix's bytes: expressions' exits point at its first
            // byte, which `Match` now takes over.
            compiler.program.truncate(len);
        }
        let program = compiler.finish()?;
        let mut template = Self {
            prefix_len: prefix_len.unwrap_or(bytes.len()),
            suffix_start,
            program,
            classes: compiler.classes.into_boxed_slice(),
            after: None,
            start: 0,
            source,
        };
        template.precompute_small();
        Ok(template)
    }

    /// For programs of at most 64 instructions, stores for each instruction the set of
    /// byte-consuming instructions (and `Match`) reachable from the one after it without
    /// consuming a byte. A step of [`Template::run_small`] is then a few bit operations.
    fn precompute_small(&mut self) {
        let n = self.program.len();
        if n > 64 {
            return;
        }
        let consuming: u64 = self
            .program
            .iter()
            .enumerate()
            .filter(|(_, inst)| matches!(inst, Inst::Byte(_) | Inst::Class(_) | Inst::Match))
            .fold(0, |set, (pc, _)| set | 1 << pc);
        let mut stack = [0u16; 64];
        let mut closure = |pc: usize| {
            let mut set = [0u64; 1];
            if pc < n {
                self.add(&mut set, &mut stack, pc);
            }
            set[0] & consuming
        };
        let start = closure(0);
        let after: Box<[u64]> = (0..n).map(|pc| closure(pc + 1)).collect();
        self.start = start;
        self.after = Some(after);
    }

    /// Where the literal text before the first expression ends with a separator, the byte
    /// offset of the last such separator: every matching topic has the same tokens before it.
    /// The index files the template under those tokens so that topics elsewhere never try it.
    pub(crate) fn prefix_cut(&self) -> Option<usize> {
        self.source.as_bytes()[..self.prefix_len].iter().rposition(|&b| is_sep(b))
    }

    /// Whether the whole `topic` is in the template's language. (The exact-text rule is
    /// [`crate::Selector::matches`]'s.)
    pub(crate) fn matches(&self, topic: &str) -> bool {
        let source = self.source.as_bytes();
        let topic = topic.as_bytes();
        let prefix = &source[..self.prefix_len];
        let suffix = &source[self.suffix_start..];
        // The template is prefix · expressions · suffix with literal ends, so a topic matches
        // exactly when it has both ends and what lies between matches the expressions. That
        // rejects most topics cheaply and leaves the automaton only the variable part.
        if topic.len() < prefix.len() + suffix.len()
            || !topic.starts_with(prefix)
            || !topic.ends_with(suffix)
        {
            return false;
        }
        let middle = &topic[prefix.len()..topic.len() - suffix.len()];
        if let Some(after) = &self.after {
            return self.run_small(middle, after);
        }
        // The program covers only the variable middle and ends in `Match`.
        let n = self.program.len();
        let words = n.div_ceil(64);
        if n <= INLINE_INSTS {
            let mut current = [0u64; INLINE_WORDS];
            let mut next = [0u64; INLINE_WORDS];
            let mut stack = [0u16; INLINE_INSTS];
            self.run(middle, &mut current[..words], &mut next[..words], &mut stack)
        } else {
            self.run(middle, &mut vec![0; words], &mut vec![0; words], &mut vec![0; n])
        }
    }

    /// [`Template::run`] for programs of at most 64 instructions, with the ε-closures
    /// precomputed: the state set is one word.
    fn run_small(&self, input: &[u8], after: &[u64]) -> bool {
        let mut current = self.start;
        for &byte in input {
            let mut next = 0;
            let mut bits = current;
            while bits != 0 {
                let pc = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.consumes(pc, byte) {
                    next |= after.get(pc).copied().unwrap_or(0);
                }
            }
            if next == 0 {
                return false;
            }
            current = next;
        }
        let accept = self.program.len() - 1;
        current & (1 << accept) != 0
    }

    /// Whether instruction `pc` consumes `byte`.
    #[inline]
    fn consumes(&self, pc: usize, byte: u8) -> bool {
        match self.program.get(pc) {
            Some(Inst::Byte(b)) => *b == byte,
            Some(Inst::Class(c)) => {
                self.classes.get(usize::from(*c)).is_some_and(|set| set.contains(byte))
            }
            _ => false,
        }
    }

    /// Thompson simulation: `current` holds every instruction reachable after the bytes read
    /// so far. Each instruction enters a set at most once per step, so a step costs
    /// O(program). Matches when `Match`, the last instruction, is reachable at the end.
    fn run(&self, input: &[u8], current: &mut [u64], next: &mut [u64], stack: &mut [u16]) -> bool {
        let (mut current, mut next) = (current, next);
        current.fill(0);
        self.add(current, stack, 0);
        for &byte in input {
            next.fill(0);
            let mut any = false;
            for (w, &word) in current.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let pc = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if self.consumes(pc, byte) {
                        self.add(next, stack, pc + 1);
                        any = true;
                    }
                }
            }
            if !any {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
        }
        let accept = self.program.len() - 1;
        current[accept / 64] & (1 << (accept % 64)) != 0
    }

    /// Adds `pc` and everything reachable from it without consuming a byte.
    fn add(&self, set: &mut [u64], stack: &mut [u16], pc: usize) {
        let mut depth = 0;
        mark(set, stack, &mut depth, pc);
        while depth > 0 {
            depth -= 1;
            match self.program.get(usize::from(stack[depth])) {
                Some(Inst::Split(a, b)) => {
                    mark(set, stack, &mut depth, usize::from(*b));
                    mark(set, stack, &mut depth, usize::from(*a));
                }
                Some(Inst::Jmp(a)) => mark(set, stack, &mut depth, usize::from(*a)),
                _ => {}
            }
        }
    }
}

/// Puts `pc` in `set` and on the stack unless it is already in `set`. Marking on push means an
/// instruction is pushed at most once per step, so the stack never outgrows the program.
#[inline]
fn mark(set: &mut [u64], stack: &mut [u16], depth: &mut usize, pc: usize) {
    let (word, bit) = (pc / 64, 1u64 << (pc % 64));
    if set[word] & bit == 0 {
        set[word] |= bit;
        // `pc` fits: programs are at most u16::MAX long (`Compiler::finish`).
        stack[*depth] = pc as u16;
        *depth += 1;
    }
}

/// Refuses `*` and `**` segments in a template: in Mercure they would be literal stars, while
/// here they read as wildcards, so accepting them would surprise one group of users or the
/// other.
fn reject_wildcard_segments(text: &str) -> Result<(), SelectorError> {
    let mut start = 0;
    for piece in text.split(['/', '.']) {
        if piece == "*" || piece == "**" {
            return Err(SelectorError::WildcardInTemplate { offset: start });
        }
        start += piece.len() + 1;
    }
    Ok(())
}

/// Builds the program. Jump targets are `u16`; [`MAX_TEMPLATE_LEN`] keeps programs far below
/// that, and [`Compiler::finish`] checks anyway.
#[derive(Default)]
struct Compiler {
    program: Vec<Inst>,
    classes: Vec<AsciiSet>,
}

impl Compiler {
    fn pc(&self) -> u16 {
        u16::try_from(self.program.len()).unwrap_or(u16::MAX)
    }

    fn push(&mut self, inst: Inst) -> usize {
        self.program.push(inst);
        self.program.len() - 1
    }

    fn class(&mut self, set: AsciiSet) -> u8 {
        let index = match self.classes.iter().position(|c| *c == set) {
            Some(index) => index,
            None => {
                self.classes.push(set);
                self.classes.len() - 1
            }
        };
        // At most a handful of distinct classes exist (see `Operator::value_class`).
        u8::try_from(index).unwrap_or(u8::MAX)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(Inst::Byte(b));
        }
    }

    /// A value: any run of `class` bytes and `%XX` escapes, possibly empty.
    fn value(&mut self, class: AsciiSet) {
        let class = self.class(class);
        let hex = self.class(HEX);
        let top = self.pc();
        let split = self.push(Inst::Split(0, 0));
        let either = self.push(Inst::Split(0, 0));
        let plain = self.pc();
        self.push(Inst::Class(class));
        self.push(Inst::Jmp(top));
        let escaped = self.pc();
        self.push(Inst::Byte(b'%'));
        self.push(Inst::Class(hex));
        self.push(Inst::Class(hex));
        self.push(Inst::Jmp(top));
        let out = self.pc();
        self.program[split] = Inst::Split(either as u16, out);
        self.program[either] = Inst::Split(plain, escaped);
    }

    /// Validates literal text from `start` up to the next brace, and compiles it when `emit`;
    /// returns where it stopped.
    fn literal(&mut self, text: &str, start: usize, emit: bool) -> Result<usize, SelectorError> {
        let bytes = text.as_bytes();
        let mut i = start;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'{' || b == b'}' {
                break;
            }
            if b == b'%' {
                percent_encoded(bytes, i)?;
                i += 3;
            } else if LITERAL_ASCII.contains(b) {
                i += 1;
            } else {
                let c = text[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                if b < 0x80 || !is_literal_non_ascii(c) {
                    return Err(SelectorError::InvalidLiteral { offset: i, found: c });
                }
                i += c.len_utf8();
            }
        }
        if emit {
            // Literal text matches itself byte for byte, escapes included (`%20` is not a
            // space).
            self.bytes(&bytes[start..i]);
        }
        Ok(i)
    }

    /// The expression whose `{` is at `open`; returns the offset after its `}`.
    fn expression(&mut self, text: &str, open: usize) -> Result<usize, SelectorError> {
        let bytes = text.as_bytes();
        let mut i = open + 1;
        let op = match bytes.get(i) {
            None => return Err(SelectorError::UnclosedBrace { offset: open }),
            Some(b'}') => return Err(SelectorError::EmptyExpression { offset: open }),
            Some(&b @ (b'=' | b',' | b'!' | b'@' | b'|')) => {
                return Err(SelectorError::ReservedOperator { offset: i, operator: char::from(b) });
            }
            Some(&b) => match Operator::from_byte(b) {
                Some(op) => {
                    i += 1;
                    op
                }
                None => Operator::SIMPLE,
            },
        };
        if bytes.get(i) == Some(&b'}') {
            return Err(SelectorError::EmptyExpression { offset: open });
        }
        let mut vars = 0usize;
        let mut exploded = false;
        let mut first_exploded = false;
        loop {
            i = varname(text, open, i)?;
            match bytes.get(i) {
                Some(b':') => i = prefix_length(bytes, i + 1)?,
                Some(b'*') => {
                    i += 1;
                    exploded = true;
                    first_exploded |= vars == 0;
                }
                _ => {}
            }
            vars += 1;
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => break,
                Some(b'{') | None => return Err(SelectorError::UnclosedBrace { offset: open }),
                Some(_) => return Err(unexpected(text, i)),
            }
        }
        self.compile_expression(op, vars, exploded, first_exploded);
        Ok(i + 1)
    }

    /// `( first value ( sep value ){0,vars-1 or unbounded} )?`
    fn compile_expression(&mut self, op: Operator, vars: usize, exploded: bool, first: bool) {
        let mut to_end = vec![self.push(Inst::Split(0, 0))];
        self.bytes(op.first);
        self.value(op.value_class(op.named || first));
        if vars > 1 || exploded {
            let class = op.value_class(op.named || exploded);
            if exploded {
                let top = self.pc();
                to_end.push(self.push(Inst::Split(0, 0)));
                self.bytes(op.sep);
                self.value(class);
                self.push(Inst::Jmp(top));
            } else {
                for _ in 1..vars {
                    to_end.push(self.push(Inst::Split(0, 0)));
                    self.bytes(op.sep);
                    self.value(class);
                }
            }
        }
        let end = self.pc();
        for split in to_end {
            // Each split either enters what follows it or skips to the end.
            self.program[split] = Inst::Split(split as u16 + 1, end);
        }
    }

    fn finish(&mut self) -> Result<Box<[Inst]>, SelectorError> {
        self.push(Inst::Match);
        if self.program.len() > usize::from(u16::MAX) {
            // Unreachable within MAX_TEMPLATE_LEN, but a wrong jump would be worse than a
            // refusal.
            return Err(SelectorError::TooLong { len: self.program.len(), max: MAX_TEMPLATE_LEN });
        }
        Ok(std::mem::take(&mut self.program).into_boxed_slice())
    }
}

/// A variable name from `start`: varchar *( ["."] varchar ), varchar being ALPHA, DIGIT, `_`
/// or `%XX`. Returns the offset after it.
fn varname(text: &str, open: usize, start: usize) -> Result<usize, SelectorError> {
    let bytes = text.as_bytes();
    let mut i = start;
    loop {
        match bytes.get(i) {
            Some(&b) if VARCHAR.contains(b) => i += 1,
            Some(b'%') => {
                percent_encoded(bytes, i)?;
                i += 3;
            }
            // A dot joins two varchars; it cannot start or end a name or follow another dot.
            Some(b'.')
                if i > start
                    && bytes.get(i + 1).is_some_and(|&n| n == b'%' || VARCHAR.contains(n)) =>
            {
                i += 1
            }
            None if i == start => return Err(SelectorError::UnclosedBrace { offset: open }),
            _ if i == start => return Err(unexpected(text, i)),
            _ => return Ok(i),
        }
    }
}

/// `max-length = %x31-39 0*3DIGIT`, starting after the `:`. Returns the offset after it.
fn prefix_length(bytes: &[u8], start: usize) -> Result<usize, SelectorError> {
    let digits = bytes[start.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 4 || bytes[start] == b'0' {
        return Err(SelectorError::InvalidPrefixLength { offset: start });
    }
    Ok(start + digits)
}

fn percent_encoded(bytes: &[u8], at: usize) -> Result<(), SelectorError> {
    let ok = bytes.get(at + 1).is_some_and(|&b| HEX.contains(b))
        && bytes.get(at + 2).is_some_and(|&b| HEX.contains(b));
    if ok { Ok(()) } else { Err(SelectorError::InvalidPercentEncoding { offset: at }) }
}

fn unexpected(text: &str, at: usize) -> SelectorError {
    let found = text.get(at..).and_then(|rest| rest.chars().next()).unwrap_or('\u{FFFD}');
    SelectorError::InvalidExpression { offset: at, found }
}
