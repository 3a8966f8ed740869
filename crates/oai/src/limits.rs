//! Length bounds on the strings a repository sends, and [`cut`], which
//! shortens a value for a message or a stored error.
//!
//! OAI-PMH sets no length on any of its strings, so a hostile or broken
//! repository can send a resumption token or an identifier of many
//! megabytes. Such a value must not reach the store, a URL or a log line:
//! a 10 MB token, checkpointed, made every later run fail, and its error
//! message (which quoted the URL twice) was 63 MB. The bounds below are
//! generous (real tokens and identifiers are well under 200 bytes), so
//! they only ever stop what no real repository sends.
//!
//! This module only measures and cuts; what an over-long value means (an
//! unusable page, a quarantined record, a value treated as absent) is
//! decided where it is parsed.

use std::borrow::Cow;

/// The longest `resumptionToken` accepted, in bytes. A longer one fails
/// its page with [`OaiError::TooLong`](crate::OaiError::TooLong), which is
/// not transient.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The longest identifier, datestamp, setSpec or responseDate accepted, in
/// bytes. A record whose header has a longer one is rejected (and
/// quarantined by the shell); a longer responseDate is treated as absent.
pub const MAX_FIELD_BYTES: usize = 4 * 1024;

/// How much of a repository's free text (an `<error>` text, an `Identify`
/// field) is kept; the rest is cut with [`cut`].
pub const MAX_TEXT_BYTES: usize = 2 * 1024;

/// `s` if it is at most `max` bytes long; otherwise its first `max` bytes
/// (shortened to a character boundary) followed by `… (N bytes cut)`, so a
/// reader sees both what the value looked like and that it was long.
///
/// ```
/// assert_eq!(unicat_oai::cut("short", 10), "short");
/// assert_eq!(unicat_oai::cut("abcdefghij", 4), "abcd… (6 bytes cut)");
/// ```
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes cut)", &s[..end], s.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cut never splits a character and says how much it left out.
    #[test]
    fn cut_keeps_characters_whole() {
        // "ə" is two bytes: a cut after three bytes keeps "aə".
        assert_eq!(cut("aəəə", 4), "aə… (4 bytes cut)");
        assert_eq!(cut("aəəə", 7), "aəəə");
        assert_eq!(cut("", 0), "");
        assert_eq!(cut("ab", 0), "… (2 bytes cut)");
    }
}
