//! Secrets the origin must read back (a TOTP factor's secret) are stored sealed: AES-256-GCM under
//! a key from `MFA_ENCRYPTION_KEYS`, with a fresh 96-bit nonce each time and associated data that
//! binds the sealed bytes to their row (a sealed secret copied to another user's row does not open).
//! The keys are `kid:64-hex-digit-key` pairs: the first seals, all open, so a key is rotated as
//! `JWT_KEYS` is: add the new one first, keep the old until every secret sealed under it is gone.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const NONCE_BYTES: usize = 12;

/// The keys of `MFA_ENCRYPTION_KEYS`.
#[derive(Clone)]
pub struct SealingKeys {
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        write!(f, "SealingKeys({kids:?})")
    }
}

/// A sealed secret: the key's id, then nonce and ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub kid: String,
    pub bytes: Vec<u8>,
}

impl SealingKeys {
    pub const VAR: &str = "MFA_ENCRYPTION_KEYS";

    /// Parses `kid:hex,kid:hex`.
    ///
    /// # Errors
    /// A malformed pair, a key that is not 64 hex digits, a repeated kid, or the example's
    /// placeholder, naming the variable (never a key).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (kid, hex) = pair.split_once(':').ok_or_else(|| {
                format!("{}: each key is kid:64-hex-digits, e.g. k1:$(openssl rand -hex 32)", Self::VAR)
            })?;
            let (kid, hex) = (kid.trim(), hex.trim());
            let valid_kid = !kid.is_empty()
                && kid.len() <= 64
                && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid_kid {
                return Err(format!("{}: a kid is 1 to 64 letters, digits, '-', '_' or '.'", Self::VAR));
            }
            if keys.iter().any(|(seen, _): &(String, Aes256Gcm)| seen == kid) {
                return Err(format!("{}: the kid {kid} is given twice", Self::VAR));
            }
            let key = shared::keys::hex_seed(hex).ok_or_else(|| {
                format!("{}: the key of {kid} must be 64 hex digits (openssl rand -hex 32)", Self::VAR)
            })?;
            if key.iter().all(|byte| *byte == key[0]) {
                return Err(format!("{}: the key of {kid} is not random", Self::VAR));
            }
            let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| format!("{}: bad key length", Self::VAR))?;
            keys.push((kid.to_owned(), cipher));
        }
        if keys.is_empty() {
            return Err(format!("{} holds no key", Self::VAR));
        }
        Ok(Self { keys })
    }

    /// Seals `secret` for the row `context` names, under the first key.
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Sealed {
        let (kid, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        // The OS's generator failing leaves nothing sensible to do but stop.
        #[allow(clippy::expect_used, reason = "no entropy is a broken machine, not a request's failure")]
        getrandom::fill(&mut nonce).expect("the operating system's random generator");
        // AES-GCM encrypts any message this short.
        let sealed = cipher.encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: context }).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Sealed { kid: kid.clone(), bytes }
    }

    /// The secret `sealed` holds, if a key of ours sealed it for `context` and nothing changed it.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Option<Vec<u8>> {
        let (_, cipher) = self.keys.iter().find(|(kid, _)| *kid == sealed.kid)?;
        let (nonce, ciphertext) = sealed.bytes.split_at_checked(NONCE_BYTES)?;
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: context }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    #[test]
    fn the_first_key_seals_every_key_opens_and_the_context_must_match() {
        let old = SealingKeys::parse(&format!("k1:{A}")).unwrap();
        let rotated = SealingKeys::parse(&format!("k2:{B}, k1:{A}")).unwrap();
        let sealed = old.seal(b"totp secret", b"user 7 factor f");
        assert_eq!(sealed.kid, "k1");
        assert!(!sealed.bytes.windows(11).any(|w| w == b"totp secret"), "the secret is not in the clear");
        assert_eq!(rotated.open(&sealed, b"user 7 factor f").as_deref(), Some(&b"totp secret"[..]));
        assert_eq!(rotated.open(&sealed, b"user 8 factor f"), None, "another row");
        let resealed = rotated.seal(b"totp secret", b"ctx");
        assert_eq!(resealed.kid, "k2");
        assert_eq!(old.open(&resealed, b"ctx"), None, "a key it does not have");
        let mut tampered = sealed.clone();
        let last = tampered.bytes.len() - 1;
        tampered.bytes[last] ^= 1;
        assert_eq!(old.open(&tampered, b"user 7 factor f"), None);
        assert_ne!(old.seal(b"x", b"c").bytes, old.seal(b"x", b"c").bytes, "a fresh nonce each time");
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        for bad in [
            "",
            "k1",
            &format!("k1:{}", &A[..62]),
            &format!("k1:{A},k1:{B}"),
            &format!(":{A}"),
            &format!("k1:{}", "0".repeat(64)),
        ] {
            let err = SealingKeys::parse(bad).unwrap_err();
            assert!(err.starts_with("MFA_ENCRYPTION_KEYS") && !err.contains(A), "{err}");
        }
        assert!(!format!("{:?}", SealingKeys::parse(&format!("k1:{A}")).unwrap()).contains(A));
    }
}
