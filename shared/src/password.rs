//! PBKDF2-HMAC-SHA256 password hashes as PHC strings that carry their own parameters
//! (`$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`, unpadded standard base64), so raising the
//! iteration count never breaks a stored hash: `needs_rehash` says when a login should replace it.
//! Verification compares in constant time, and `dummy_verify` does the same work for a user that
//! does not exist, so a login cannot tell the two apart by its cost.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::policy::Password;

const SCHEME: &str = "pbkdf2-sha256";
pub const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// How much work one hash costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPolicy {
    iterations: u32,
}

impl HashPolicy {
    /// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
    pub const DEFAULT_ITERATIONS: u32 = 600_000;
    /// Tests run with few iterations; nothing may run with fewer than this.
    pub const MIN_ITERATIONS: u32 = 1_000;
    /// A stored hash asking for more than this is treated as corrupt rather than computed.
    pub const MAX_ITERATIONS: u32 = 10_000_000;

    /// # Errors
    /// Fewer iterations than the floor, or more than [`Self::MAX_ITERATIONS`].
    pub fn new(iterations: u32) -> Result<Self, &'static str> {
        if !(Self::MIN_ITERATIONS..=Self::MAX_ITERATIONS).contains(&iterations) {
            return Err("PBKDF2_ITERATIONS must be between 1000 and 10000000");
        }
        Ok(Self { iterations })
    }

    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for HashPolicy {
    fn default() -> Self {
        Self { iterations: Self::DEFAULT_ITERATIONS }
    }
}

/// The PHC string of `password` under `policy`, with the given salt (`no_std` callers bring their
/// own randomness; with the `hashing` feature, [`hash`] draws one).
#[must_use]
pub fn hash_with_salt(password: &Password, salt: &[u8; SALT_LEN], policy: &HashPolicy) -> String {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), salt, policy.iterations, &mut out);
    alloc::format!(
        "${SCHEME}$i={},l={HASH_LEN}${}${}",
        policy.iterations,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

/// The PHC string of `password` with a fresh random salt.
///
/// # Panics
/// When the operating system has no random source: no hash may be made without a salt.
#[cfg(feature = "hashing")]
#[must_use]
pub fn hash(password: &Password, policy: &HashPolicy) -> String {
    let mut salt = [0u8; SALT_LEN];
    #[allow(clippy::expect_used, reason = "without a random source no salt, and no safe hash, can be made")]
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    hash_with_salt(password, &salt, policy)
}

/// Whether `password` matches the stored PHC string. A malformed string matches nothing.
#[must_use]
pub fn verify(password: &Password, phc: &str) -> bool {
    let Some(stored) = Phc::parse(phc) else {
        return false;
    };
    let mut out = vec![0u8; stored.hash.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), &stored.salt, stored.iterations, &mut out);
    out.ct_eq(&stored.hash).into()
}

/// The same work as [`verify`] against a hash made under `policy`, for a user that does not exist.
pub fn dummy_verify(password: &Password, policy: &HashPolicy) {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), &[0u8; SALT_LEN], policy.iterations, &mut out);
    // Compare as verify does, so nothing is left out of the work.
    let _: bool = out.ct_eq(&[0u8; HASH_LEN]).into();
}

/// The iteration count a stored PHC string asks for, if it is well-formed.
#[must_use]
pub fn stored_iterations(phc: &str) -> Option<u32> {
    Phc::parse(phc).map(|stored| stored.iterations)
}

/// Whether a stored hash is weaker than `policy` and should be replaced at the next login.
#[must_use]
pub fn needs_rehash(phc: &str, policy: &HashPolicy) -> bool {
    Phc::parse(phc).is_none_or(|stored| stored.iterations < policy.iterations || stored.hash.len() < HASH_LEN)
}

struct Phc {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Phc {
    /// RustCrypto's and the PHC format's `i=N,l=N` parameters, and passlib's bare iteration count
    /// with its adapted base64 (`.` for `+`).
    fn parse(phc: &str) -> Option<Self> {
        let mut fields = phc.split('$');
        if fields.next() != Some("") || fields.next() != Some(SCHEME) {
            return None;
        }
        let params = fields.next()?;
        let salt = fields.next()?;
        let hash = fields.next()?;
        if fields.next().is_some() {
            return None;
        }
        let (iterations, passlib) = if params.bytes().all(|b| b.is_ascii_digit()) {
            (params.parse().ok()?, true)
        } else {
            let mut iterations = None;
            for param in params.split(',') {
                match param.split_once('=')? {
                    ("i", n) => iterations = Some(n.parse().ok()?),
                    ("l", n) => {
                        let _: usize = n.parse().ok()?;
                    }
                    _ => return None,
                }
            }
            (iterations?, false)
        };
        if !(1..=HashPolicy::MAX_ITERATIONS).contains(&iterations) {
            return None;
        }
        let decode = |text: &str| -> Option<Vec<u8>> {
            if passlib {
                STANDARD_NO_PAD.decode(text.replace('.', "+")).ok()
            } else {
                STANDARD_NO_PAD.decode(text).ok()
            }
        };
        let salt = decode(salt)?;
        let hash = decode(hash)?;
        if salt.is_empty() || !(16..=64).contains(&hash.len()) {
            return None;
        }
        Some(Self { iterations, salt, hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(text: &str) -> Password {
        Password::candidate(text).unwrap()
    }

    fn cheap() -> HashPolicy {
        HashPolicy::new(1_000).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let phc = hash_with_salt(&pw("velvet-otter-signs"), &[7; SALT_LEN], &cheap());
        assert!(phc.starts_with("$pbkdf2-sha256$i=1000,l=32$"));
        assert!(verify(&pw("velvet-otter-signs"), &phc));
        assert!(!verify(&pw("velvet-otter-signz"), &phc));
    }

    #[test]
    fn malformed_hashes_match_nothing() {
        for bad in [
            "",
            "plain",
            "$pbkdf2-sha256$i=x$AAAA$AAAA",
            "$pbkdf2-sha512$i=1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=0,l=32$c2FsdA$aGFzaA",
        ] {
            assert!(!verify(&pw("x"), bad), "{bad}");
            assert!(needs_rehash(bad, &cheap()));
        }
    }

    #[test]
    fn a_weaker_hash_needs_a_rehash() {
        let phc = hash_with_salt(&pw("velvet-otter-signs"), &[7; SALT_LEN], &cheap());
        assert!(!needs_rehash(&phc, &cheap()));
        assert!(needs_rehash(&phc, &HashPolicy::new(2_000).unwrap()));
    }
}
