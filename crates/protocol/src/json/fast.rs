//! The fast path of [`super::decode`]: a hand-written JSON parser that builds a [`JsonValue`] directly, and gives up on anything it is not sure of.
//!
//! serde_json stays the authority on what is valid JSON, on its error messages and on how
//! numbers and escapes decode; this parser only has to be right when it succeeds. It returns
//! `None` for invalid input, for input that is not UTF-8, for nesting deeper than
//! [`MAX_DEPTH`] and for any escape it does not check the way serde_json does, and the caller
//! then decodes the input again with serde_json. What it does itself is the common case: it
//! validates UTF-8 once for the whole input (serde_json checks each string), borrows every
//! string without escapes, reads small integers, and collects the entries of objects and lists
//! on shared stacks so that each one is allocated once, at its final size. Escaped strings and
//! all other numbers are handed to serde_json one token at a time, so they decode exactly as in
//! a `Value`.

use std::borrow::Cow;

use serde_json::Number;

use super::{JsonValue, Object, Skip};

/// Deeper nesting is left to serde_json (which stops at 128 levels for decoded values, and
/// has no limit for skipped ones): below its limit, giving up costs only time.
const MAX_DEPTH: usize = 100;

/// Parses `bytes` as one JSON document; `None` when serde_json must decide.
pub(super) fn parse<S: Skip>(bytes: &[u8], skip: S) -> Option<JsonValue<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parser = Parser {
        text,
        bytes,
        position: 0,
        depth: 0,
        // Room for the nesting of a typical event, so the stacks rarely grow.
        entries: Vec::with_capacity(64),
        values: Vec::with_capacity(64),
    };
    let value = parser.value(skip)?;
    parser.skip_whitespace();
    (parser.position == bytes.len()).then_some(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
    depth: usize,
    /// Entries of the objects being parsed, innermost last.
    entries: Vec<(Cow<'a, str>, JsonValue<'a>)>,
    /// Elements of the lists being parsed, innermost last.
    values: Vec<JsonValue<'a>>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.position += 1;
        }
    }

    /// Consumes `expected` (after whitespace), or gives up.
    fn expect(&mut self, expected: u8) -> Option<()> {
        self.skip_whitespace();
        if self.peek() == Some(expected) {
            self.position += 1;
            Some(())
        } else {
            None
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.position + word.len();
        if self.bytes.get(self.position..end) == Some(word) {
            self.position = end;
            Some(())
        } else {
            None
        }
    }

    /// After an object's or list's entry: `Some(false)` past a comma (another entry follows),
    /// `Some(true)` past the `close` bracket, `None` for anything else.
    fn entries_end(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        if byte != b',' && byte != close {
            return None;
        }
        self.position += 1;
        Some(byte == close)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    // ---- decoded values ----

    fn value<S: Skip>(&mut self, skip: S) -> Option<JsonValue<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(JsonValue::String),
            b'{' => self.object(skip),
            b'[' => self.array(skip),
            b'-' | b'0'..=b'9' => self.number().map(JsonValue::Number),
            b'n' => self.literal(b"null").map(|()| JsonValue::Null),
            b't' => self.literal(b"true").map(|()| JsonValue::Bool(true)),
            b'f' => self.literal(b"false").map(|()| JsonValue::Bool(false)),
            _ => None,
        }
    }

    fn object<S: Skip>(&mut self, skip: S) -> Option<JsonValue<'a>> {
        self.enter()?;
        self.position += 1;
        let base = self.entries.len();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let key = self.string()?;
                self.expect(b':')?;
                match skip.child_of_object(&key) {
                    Some(child) => {
                        let value = self.value(child)?;
                        self.entries.push((key, value));
                    }
                    None => self.skip_value()?,
                }
                if self.entries_end(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let entries = self.entries.drain(base..).collect();
        Some(JsonValue::Object(Object::from_entries(entries)))
    }

    fn array<S: Skip>(&mut self, skip: S) -> Option<JsonValue<'a>> {
        self.enter()?;
        self.position += 1;
        let base = self.values.len();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.position += 1;
        } else {
            let child = skip.child_of_list();
            loop {
                let value = self.value(child)?;
                self.values.push(value);
                if self.entries_end(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(JsonValue::Array(self.values.drain(base..).collect()))
    }

    /// A string (the cursor is on its opening quote): borrowed when it has no escapes,
    /// decoded by serde_json when it has.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.position + 1;
        let position = self.plain_run(start);
        match *self.bytes.get(position)? {
            b'"' => {
                self.position = position + 1;
                self.text.get(start..position).map(Cow::Borrowed)
            }
            b'\\' => self.escaped_string(position),
            _ => None,
        }
    }

    /// The rest of a string with an escape at `position`. Escapes (and which of them
    /// serde_json accepts, e.g. surrogate pairs) are serde_json's business: this finds where
    /// the string ends and lets it decode the whole token. Kept out of line, as most strings
    /// have no escapes.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, position: usize) -> Option<Cow<'a, str>> {
        let end = self.string_end(position)?;
        let token = self.text.get(self.position..end)?;
        let decoded: String = serde_json::from_str(token).ok()?;
        self.position = end;
        Some(Cow::Owned(decoded))
    }

    /// The first position from `position` on that holds a quote, a backslash or a control
    /// character (or the end of the input), found eight bytes at a time.
    fn plain_run(&self, mut position: usize) -> usize {
        while let Some(chunk) = self.bytes.get(position..position + 8) {
            let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
                break;
            };
            let special = special_bytes(u64::from_le_bytes(chunk));
            if special != 0 {
                // Little-endian: the lowest marked bit belongs to the first special byte.
                return position + (special.trailing_zeros() / 8) as usize;
            }
            position += 8;
        }
        while let Some(&byte) = self.bytes.get(position) {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                break;
            }
            position += 1;
        }
        position
    }

    /// The position just after the closing quote of the string whose escape starts at
    /// `position`. A backslash hides the byte after it; a valid `\u` escape holds only hex
    /// digits, and an invalid one is rejected by whoever decodes or validates the token.
    fn string_end(&self, mut position: usize) -> Option<usize> {
        loop {
            position = self.plain_run(position);
            match *self.bytes.get(position)? {
                b'"' => return Some(position + 1),
                b'\\' => position += 2,
                _ => return None,
            }
        }
    }

    /// A number: small integers are read here, anything else by serde_json from its token
    /// (so floats round exactly as in a `Value`, and `-0` stays a float).
    fn number(&mut self) -> Option<Number> {
        let token = self.number_token()?;
        let (negative, digits) = match token.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, token),
        };
        // 18 digits always fit an i64; a leading zero is only ever "0" here.
        if digits.len() <= 18 && digits.bytes().all(|byte| byte.is_ascii_digit()) {
            let magnitude = digits
                .bytes()
                .fold(0i64, |sum, digit| sum * 10 + i64::from(digit - b'0'));
            if !negative {
                return Some(Number::from(magnitude.unsigned_abs()));
            }
            if magnitude != 0 {
                return Some(Number::from(-magnitude));
            }
        }
        serde_json::from_str(token).ok()
    }

    /// Consumes a number with JSON's grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`)
    /// and returns its text.
    fn number_token(&mut self) -> Option<&'a str> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek()? {
            b'0' => self.position += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            self.at_least_one_digit()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.position += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.position += 1;
            }
            self.at_least_one_digit()?;
        }
        // "01" is not a number, and neither is "1x": the byte after a number must end it.
        match self.peek() {
            None | Some(b' ' | b'\n' | b'\t' | b'\r' | b',' | b']' | b'}') => {
                self.text.get(start..self.position)
            }
            Some(_) => None,
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.position += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        match self.peek()? {
            b'0'..=b'9' => {
                self.digits();
                Some(())
            }
            _ => None,
        }
    }

    // ---- skipped values: validated, never built ----

    fn skip_value(&mut self) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                self.enter()?;
                self.position += 1;
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.position += 1;
                } else {
                    loop {
                        self.skip_whitespace();
                        if self.peek() != Some(b'"') {
                            return None;
                        }
                        self.skip_string()?;
                        self.expect(b':')?;
                        self.skip_value()?;
                        if self.entries_end(b'}')? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b'[' => {
                self.enter()?;
                self.position += 1;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.position += 1;
                } else {
                    loop {
                        self.skip_value()?;
                        if self.entries_end(b']')? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b'-' | b'0'..=b'9' => self.number_token().map(|_| ()),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            _ => None,
        }
    }

    /// A string that is validated but not decoded, with the checks serde_json makes when it
    /// skips one: no control characters, and only `\" \\ \/ \b \f \n \r \t \uXXXX` escapes.
    fn skip_string(&mut self) -> Option<()> {
        let mut position = self.position + 1;
        loop {
            position = self.plain_run(position);
            match *self.bytes.get(position)? {
                b'"' => {
                    self.position = position + 1;
                    return Some(());
                }
                b'\\' => match *self.bytes.get(position + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => position += 2,
                    b'u' => {
                        let hex = self.bytes.get(position + 2..position + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        position += 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }
}

/// Marks (with its high bit) each of the eight bytes of `word` that is a quote, a backslash or
/// below 0x20, by the usual SWAR tests: subtracting 1 from each byte borrows into its high bit
/// where the byte was 0 (after XOR with the byte looked for), subtracting 0x20 where it was
/// below 0x20. A borrow can also mark a byte above a marked one, never below: the lowest mark
/// is exact, and that is the one used.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGH_BITS;
    let quote = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    quote | backslash | control
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_special(word: [u8; 8]) -> Option<usize> {
        word.iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    }

    #[test]
    fn the_first_special_byte_is_found_exactly() {
        let fillers = [b'a', 0xff, 0x20, 0x80, b'"' + 1, b'\\' - 1];
        for byte in 0..=u8::MAX {
            for position in 0..8 {
                for filler in fillers {
                    // Alone, then followed by special bytes (which borrows must not hide).
                    for later in [filler, b'"', 0x00, b'\\', 0x1f] {
                        let mut word = [filler; 8];
                        word[position] = byte;
                        for slot in word.iter_mut().skip(position + 1) {
                            *slot = later;
                        }
                        let special = special_bytes(u64::from_le_bytes(word));
                        let found = (special != 0).then(|| (special.trailing_zeros() / 8) as usize);
                        assert_eq!(found, first_special(word), "{word:?}");
                    }
                }
            }
        }
    }
}
