//! Sessions (token families) and the rule of refresh-token rotation.
//!
//! A login starts a session; each refresh moves it one generation on and spends the refresh token
//! of the generation before. Every token names its place in the family through its `sid` and its
//! `jti` (`{sid}.{generation}.{a|r}`), and a pair is a pure function of the user, the [`Ticket`]
//! and the key: whoever signs the same ticket again gets the very same strings. That is what lets
//! two tabs that refresh at once both get the pair the winner got, without the origin ever storing
//! a token.

use alloc::format;
use alloc::string::String;

use crate::assurance::Assurance;
use crate::domain::TokenKind;

/// A session's place in its rotation: which pair to sign, and when it was first issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub sid: String,
    /// 0 at login, one more at each rotation.
    pub generation: u32,
    /// When this generation was issued (seconds since the epoch): its tokens' `iat` and `nbf`.
    pub issued_at: u64,
    /// How strongly the session was authenticated, as of this generation.
    pub assurance: Assurance,
}

impl Ticket {
    /// The `jti` of this generation's token of `kind`: unique across every family and kind.
    #[must_use]
    pub fn jti(&self, kind: TokenKind) -> String {
        format!("{}.{}.{}", self.sid, self.generation, kind_letter(kind))
    }
}

const fn kind_letter(kind: TokenKind) -> char {
    match kind {
        TokenKind::Access => 'a',
        TokenKind::Refresh => 'r',
    }
}

/// The generation a token of `kind` in session `sid` claims through its `jti`, if it is of the
/// form [`Ticket::jti`] makes.
#[must_use]
pub fn generation_of(jti: &str, sid: &str, kind: TokenKind) -> Option<u32> {
    let rest = jti.strip_prefix(sid)?.strip_prefix('.')?;
    let (number, letter) = rest.split_once('.')?;
    let canonical =
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && (number == "0" || !number.starts_with('0'));
    if !canonical || letter.len() != 1 || !letter.starts_with(kind_letter(kind)) {
        return None;
    }
    number.parse().ok()
}

/// What a presented refresh token does to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The live generation: spend it, issue the next.
    Rotate,
    /// The generation just before the live one, inside the grace window: a second tab, a retried
    /// request. It gets the live pair again, the same strings.
    Repeat,
    /// Spent: a token replayed after the grace window, or two or more rotations back. Whoever holds
    /// it, the family is no longer trusted: the whole session ends.
    Reuse,
}

/// The rotation rule. `live` is the session's current generation, issued at `live_issued_at`;
/// `presented` is the generation of the refresh token offered at `now`.
#[must_use]
pub fn judge(live: u32, live_issued_at: u64, presented: u32, now: u64, grace_secs: u64) -> Verdict {
    if presented == live {
        Verdict::Rotate
    } else if presented.checked_add(1) == Some(live) && now.saturating_sub(live_issued_at) <= grace_secs {
        Verdict::Repeat
    } else {
        Verdict::Reuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_jti_names_the_generation_and_kind_of_one_family() {
        let ticket = Ticket { sid: SID.into(), generation: 12, issued_at: 0, assurance: Assurance::password(0) };
        let jti = ticket.jti(TokenKind::Refresh);
        assert_eq!(generation_of(&jti, SID, TokenKind::Refresh), Some(12));
        assert_eq!(generation_of(&jti, SID, TokenKind::Access), None, "another kind");
        assert_eq!(generation_of(&jti, "another-session", TokenKind::Refresh), None, "another family");
        for odd in [
            "",
            SID,
            &format!("{SID}.01.r"),
            &format!("{SID}..r"),
            &format!("{SID}.1.rr"),
            &format!("{SID}.+5.r"),
            "4f2a9c",
        ] {
            assert_eq!(generation_of(odd, SID, TokenKind::Refresh), None, "{odd}");
        }
    }

    #[test]
    fn only_the_live_generation_rotates_and_the_one_before_repeats_for_a_grace_window() {
        assert_eq!(judge(3, 100, 3, 500, 5), Verdict::Rotate);
        assert_eq!(judge(3, 100, 2, 105, 5), Verdict::Repeat);
        assert_eq!(judge(3, 100, 2, 106, 5), Verdict::Reuse, "after the window");
        assert_eq!(judge(3, 100, 1, 100, 5), Verdict::Reuse, "two rotations back");
        assert_eq!(judge(3, 100, 4, 100, 5), Verdict::Reuse, "a generation never issued");
        assert_eq!(judge(0, 100, u32::MAX, 100, 5), Verdict::Reuse);
    }
}
