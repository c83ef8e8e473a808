//! The second factor's rules: TOTP as every authenticator app reads it (RFC 6238: SHA-1, 6 digits,
//! 30-second steps, one step of drift either way, a 160-bit secret), the step-up of a login (an
//! `mfa_token` that lives 5 minutes and dies at the 5th wrong code), and recovery codes (ten,
//! 115 random bits each, shown in groups, stored as SHA-256, each spent once).

use alloc::string::String;

use sha2::{Digest, Sha256};

/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Seconds of a time step.
pub const STEP_SECS: u64 = 30;
/// Steps of drift accepted on either side of the current one.
pub const SKEW_STEPS: u8 = 1;
/// Bytes of a TOTP secret (RFC 4226 4: 160 bits recommended).
pub const SECRET_BYTES: usize = 20;
/// How long an enrolment waits for its first code before it is dropped.
pub const ENROLMENT_TTL_SECS: u64 = 10 * 60;
/// How long a login's `mfa_token` waits for the second factor.
pub const MFA_TOKEN_TTL_SECS: u64 = 5 * 60;
/// Wrong codes an `mfa_token` survives; the next one ends it.
pub const MAX_WRONG_CODES: u32 = 5;
/// Recovery codes a confirmation (or a regeneration) gives.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes behind a recovery code: 15 bytes, of which its 23 base32 characters carry 115
/// bits (NIST and ASVS ask at least 112 for a plain hash at rest).
pub const RECOVERY_CODE_BYTES: usize = 15;
const RECOVERY_CODE_CHARS: usize = 23;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `otpauth://` issuer: the name an authenticator app shows.
pub const ISSUER: &str = "jwt-auth";

/// A recovery code from `random` bytes, as shown: `XXXXX-XXXXX-XXXXX-XXXXX-XXX`.
#[must_use]
pub fn recovery_code(random: &[u8; RECOVERY_CODE_BYTES]) -> String {
    let mut code = String::with_capacity(RECOVERY_CODE_CHARS + 4);
    let mut bits: u64 = 0;
    let mut held = 0;
    let mut written = 0;
    for byte in random {
        bits = (bits << 8) | u64::from(*byte);
        held += 8;
        while held >= 5 && written < RECOVERY_CODE_CHARS {
            held -= 5;
            if written > 0 && written % 5 == 0 {
                code.push('-');
            }
            code.push(char::from(BASE32[usize::try_from((bits >> held) & 31).unwrap_or(0)]));
            written += 1;
        }
    }
    code
}

/// The digest a recovery code is stored and looked up by, however it was typed (any case, with or
/// without its dashes and spaces); `None` for what no recovery code can be.
#[must_use]
pub fn recovery_code_digest(typed: &str) -> Option<[u8; 32]> {
    let mut canonical = String::with_capacity(RECOVERY_CODE_CHARS);
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let upper = c.to_ascii_uppercase();
        if !BASE32.contains(&u8::try_from(upper).ok()?) {
            return None;
        }
        canonical.push(upper);
    }
    (canonical.len() == RECOVERY_CODE_CHARS).then(|| Sha256::digest(canonical.as_bytes()).into())
}

/// Whether `typed` has the shape of a TOTP code (six digits, spaces allowed between).
#[must_use]
pub fn totp_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| *c != ' ').collect();
    (code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_code_carries_115_bits_in_groups_and_reads_back_however_typed() {
        let code = recovery_code(&[0xff; RECOVERY_CODE_BYTES]);
        assert_eq!(code, "77777-77777-77777-77777-777");
        let other =
            recovery_code(&[0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf, 0x84, 0x65, 0x3a, 0x56, 0xd7]);
        assert_eq!(other, "ABCDE-FGHIJ-KLMNO-PQRST-UVW");
        let digest = recovery_code_digest(&other);
        assert!(digest.is_some());
        assert_eq!(recovery_code_digest("abcde fghij klmno pqrst uvw"), digest);
        assert_eq!(recovery_code_digest("ABCDEFGHIJKLMNOPQRSTUVW"), digest);
        assert_eq!(recovery_code_digest("ABCDE-FGHIJ-KLMNO-PQRST-UV"), None, "too short");
        assert_eq!(recovery_code_digest("ABCDE-FGHIJ-KLMNO-PQRST-UV1"), None, "not base32");
        assert_eq!(recovery_code_digest("ÄBCDE-FGHIJ-KLMNO-PQRST-UVW"), None);
    }

    #[test]
    fn a_totp_code_is_six_digits() {
        assert_eq!(totp_code("123 456").as_deref(), Some("123456"));
        for bad in ["12345", "1234567", "12345a", "", "١٢٣٤٥٦"] {
            assert_eq!(totp_code(bad), None, "{bad}");
        }
    }
}
