//! Device tokens: what a successful login answers beside the token pair, so that the device is
//! known at its next login and gets through locks that strangers' failures put on the account.
//! 256 random bits as 64 lowercase hex digits, made by [`crate::token::TokenService::device_token`];
//! the origin stores only their SHA-256 digest, so no stored value works as a token.

use sha2::{Digest, Sha256};

/// The length of every device token.
pub const LEN: usize = 64;

/// The digest a device token is stored and looked up by; `None` for a string that no device token
/// can be (so it is never looked up).
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
