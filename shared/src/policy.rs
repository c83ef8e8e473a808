//! Password policy after NIST SP 800-63B rev. 4: length, not composition. A password that is the
//! only factor needs at least 15 characters (configurable), at most 128 are accepted (the
//! guideline asks for at least 64), Unicode is NFKC-normalised and never truncated, and commonly
//! used, repetitive or sequential passwords and ones built from the user's own name are refused
//! (the blocklist is compiled in with the `hashing` feature, on the origin only).

use alloc::string::String;
use core::fmt;

use crate::domain::{Invalid, normalise_text};

/// The rules a new password must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl PasswordPolicy {
    /// NIST SP 800-63B rev. 4, for a password used as the only factor.
    pub const DEFAULT_MIN_LENGTH: usize = 15;
    /// Longest password accepted anywhere, login included: long enough for passphrases and
    /// password managers, short enough that hashing it costs nothing extra.
    pub const MAX_LENGTH: usize = 128;
    /// No configuration may go below this.
    pub const FLOOR_MIN_LENGTH: usize = 8;

    /// # Errors
    /// A minimum below [`Self::FLOOR_MIN_LENGTH`] or above the longest password taken.
    pub fn new(min_length: usize) -> Result<Self, &'static str> {
        if !(Self::FLOOR_MIN_LENGTH..=64).contains(&min_length) {
            return Err("PASSWORD_MIN_LENGTH must be between 8 and 64");
        }
        Ok(Self { min_length })
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: Self::DEFAULT_MIN_LENGTH }
    }
}

/// A password, NFKC-normalised. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A password offered at login: normalised like a new one, so that the same keystrokes hash
    /// the same on any keyboard, and bounded, but held to no policy (the policy may have changed).
    ///
    /// # Errors
    /// An empty or over-long password.
    pub fn candidate(raw: &str) -> Result<Self, Invalid> {
        let text = normalise_text(raw)?;
        let n = text.chars().count();
        if n == 0 {
            return Err(Invalid::too_short(1));
        }
        if n > PasswordPolicy::MAX_LENGTH {
            return Err(Invalid::too_long(PasswordPolicy::MAX_LENGTH));
        }
        Ok(Self(text))
    }

    /// A password chosen at sign-up or on a change. `context` holds words the password must not
    /// be built from: the username and the email address.
    ///
    /// # Errors
    /// The first rule of the policy it breaks.
    pub fn new_password(raw: &str, policy: &PasswordPolicy, context: &[&str]) -> Result<Self, Invalid> {
        let Self(text) = Self::candidate(raw)?;
        if text.chars().count() < policy.min_length {
            return Err(Invalid::too_short(policy.min_length));
        }
        #[cfg(feature = "hashing")]
        if let Some(reason) = crate::blocklist::refusal(&text, context) {
            return Err(Invalid::new("value_error", alloc::format!("Value error, {reason}")));
        }
        #[cfg(not(feature = "hashing"))]
        let _ = context;
        Ok(Self(text))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_example_password_is_too_short() {
        let err = Password::new_password("123456", &PasswordPolicy::default(), &[]).unwrap_err();
        assert_eq!(err.kind, "string_too_short");
        assert_eq!(err.msg, "String should have at least 15 characters");
    }

    #[test]
    fn length_counts_characters_after_nfkc_not_bytes() {
        // 15 characters, 45 bytes.
        let pw = "ねこがすきですいぬもすきですよ";
        assert!(Password::new_password(pw, &PasswordPolicy::default(), &[]).is_ok());
        // A fullwidth letter becomes ASCII, so both spellings hash alike.
        assert_eq!(Password::candidate("Ａbc").unwrap().expose(), "Abc");
    }

    #[test]
    fn long_passwords_are_refused_not_truncated() {
        let long = "correct horse battery staple ".repeat(5);
        let err = Password::new_password(&long, &PasswordPolicy::default(), &[]).unwrap_err();
        assert_eq!(err.kind, "string_too_long");
    }

    #[test]
    fn debug_hides_the_password() {
        let pw = Password::candidate("hunter2hunter2").unwrap();
        assert_eq!(alloc::format!("{pw:?}"), "Password(***)");
    }

    #[test]
    fn policy_refuses_a_minimum_below_the_floor() {
        assert!(PasswordPolicy::new(6).is_err());
        assert_eq!(PasswordPolicy::new(20).unwrap().min_length, 20);
    }
}
