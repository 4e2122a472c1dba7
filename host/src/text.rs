//! Text from outside (a peer's RFC 9003 shutdown communication, a plugin's log lines, its
//! stdout) reaches terminals (`show`), text logs and JSON logs. Shown raw, a control character
//! can clear an operator's screen or forge a log line; [`Escaped`] shows each control character
//! (and the backslash, so escapes stay unambiguous) as a Rust escape instead.

use std::fmt;

/// Displays a string with its control characters escaped (`\n`, `\u{1b}`, `\\`).
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || c == '\\' || is_bidi_control(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// `escape` as an owned string, for fields that outlive the text they escape.
pub fn escape(s: &str) -> String {
    Escaped(s).to_string()
}

/// The Unicode bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) reorder
/// what a terminal shows, so a line could read other than it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_backslash_and_bidi_are_escaped_other_text_kept() {
        assert_eq!(escape("plain, é ✓"), "plain, é ✓");
        assert_eq!(escape("a\nb\x1b[31m\t\\"), "a\\nb\\u{1b}[31m\\t\\\\");
        assert_eq!(escape("x\u{202e}y\u{7f}"), "x\\u{202e}y\\u{7f}");
    }
}
