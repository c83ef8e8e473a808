//! Random secrets a client holds and the origin knows only by digest: device tokens (what a
//! successful login answers beside the pair, so the device is known at its next login), and the
//! one-time tokens of a password reset or an email verification, which travel only in a mail.
//! 256 random bits as 64 lowercase hex digits, made by [`crate::token::TokenService::random_secret`];
//! the origin stores only their SHA-256 digest, so no stored value works as a secret.

use sha2::{Digest, Sha256};

/// The length of every secret.
pub const LEN: usize = 64;

/// How long a password reset token works: 30 minutes (OWASP's forgot-password guidance; NIST
/// SP 800-63B allows a mailed code at most 24 hours).
pub const RESET_TTL_SECS: u64 = 30 * 60;
/// How long an email verification token works.
pub const VERIFY_TTL_SECS: u64 = 24 * 3600;

/// The digest a secret is stored and looked up by; `None` for a string that no secret can be (so
/// it is never looked up).
#[must_use]
pub fn digest(token: &str) -> Option<[u8; 32]> {
    let well_formed = token.len() == LEN && token.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    well_formed.then(|| Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_have_a_digest() {
        let token = "0123456789abcdef".repeat(4);
        assert!(digest(&token).is_some());
        assert_ne!(digest(&token), digest(&"f".repeat(64)));
        for bad in ["", "abc", &"0123456789ABCDEF".repeat(4), &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(digest(bad), None, "{bad}");
        }
    }
}
