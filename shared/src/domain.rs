//! Parsed domain values: the only way in is `parse`, so a value that exists is valid.
//! Every parse error names what is wrong in pydantic's vocabulary (`type`, `msg`); the caller
//! adds the field (`loc`).

use alloc::format;
use alloc::string::{String, ToString};
#[cfg(feature = "openapi")]
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Why a value was refused: pydantic's error `type` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: &'static str,
    pub msg: String,
}

impl Invalid {
    pub fn new(kind: &'static str, msg: impl Into<String>) -> Self {
        Self { kind, msg: msg.into() }
    }

    #[must_use]
    pub fn too_short(min: usize) -> Self {
        let unit = if min == 1 { "character" } else { "characters" };
        Self::new("string_too_short", format!("String should have at least {min} {unit}"))
    }

    #[must_use]
    pub fn too_long(max: usize) -> Self {
        Self::new("string_too_long", format!("String should have at most {max} characters"))
    }

    /// Into the 422 element for a body field.
    #[must_use]
    pub fn at(self, field: &str) -> crate::error::FieldError {
        crate::error::FieldError::body(field, self.kind, self.msg)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// NFKC, so that visually identical input compares equal, and refuse control and format
/// characters (NUL, bidi overrides, zero-width joiners...) that make two names look alike.
pub(crate) fn normalise_text(raw: &str) -> Result<String, Invalid> {
    let text: String = raw.nfkc().collect();
    if text.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Err(Invalid::new("value_error", "Value error, must not contain control or invisible characters"));
    }
    Ok(text)
}

fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}' | '\u{FFF9}'..='\u{FFFB}')
}

fn check_length(text: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = text.chars().count();
    if n < min {
        return Err(Invalid::too_short(min));
    }
    if n > max {
        return Err(Invalid::too_long(max));
    }
    Ok(())
}

/// A login name: letters, digits and `. _ - @ +`, 1 to 64 characters after NFKC.
/// Unique without regard to case (the database compares `lower(username)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX: usize = 64;

    /// # Errors
    /// What is wrong with it, for the 422.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = normalise_text(raw)?;
        check_length(&text, 1, Self::MAX)?;
        if !text.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')) {
            return Err(Invalid::new("value_error", "Value error, may hold only letters, digits and . _ - @ +"));
        }
        Ok(Self(text))
    }
}

/// An email address: one `@`, a local part of at most 64 characters, a dotted domain; at most
/// 254 characters. Unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    /// # Errors
    /// What is wrong with it, for the 422.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("value_error", "value is not a valid email address");
        let text = normalise_text(raw)?;
        check_length(&text, 3, Self::MAX).map_err(|_| bad())?;
        let (local, domain) = text.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !labels_ok {
            return Err(bad());
        }
        Ok(Self(text))
    }
}

/// A person's first or last name: at most 100 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX: usize = 100;

    /// # Errors
    /// What is wrong with it, for the 422.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = normalise_text(raw)?;
        check_length(&text, 0, Self::MAX)?;
        Ok(Self(text))
    }
}

macro_rules! text_newtype {
    ($($name:ident),*) => {$(
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    )*};
}
text_newtype!(Username, Email, PersonName);

/// What a user may do. Sign-up always makes a `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// # Errors
    /// Any name but `user` and `admin`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(Invalid::new("enum", "Input should be 'user' or 'admin'")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the pair a token is. One is never accepted as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// A user's database id, carried in tokens as the decimal string `sub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl UserId {
    /// `sub` as the tokens carry it: a positive decimal integer, no sign, no leading zeros.
    pub fn parse_subject(sub: &str) -> Option<Self> {
        let digits_only = !sub.is_empty() && sub.len() <= 18 && sub.bytes().all(|b| b.is_ascii_digit());
        if !digits_only || sub.starts_with('0') {
            return None;
        }
        sub.parse().ok().map(Self)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_limited() {
        assert_eq!(Username::parse("ｕｓｅｒ").unwrap().as_ref(), "user");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("nul\0byte").is_err());
        assert!(Username::parse("bidi\u{202E}name").is_err());
        assert!(Username::parse("zero\u{200B}width").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Username::parse("jöhn.doe-42").is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("user@test.com").is_ok());
        for bad in ["user", "@test.com", "user@", "user@localhost", "a b@test.com", "a..b@test.com", "u@-x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn subjects_are_canonical_positive_integers() {
        assert_eq!(UserId::parse_subject("42"), Some(UserId(42)));
        for bad in ["", "0", "042", "-1", "+1", "1e3", "9999999999999999999", " 1"] {
            assert_eq!(UserId::parse_subject(bad), None, "{bad}");
        }
    }
}
