//! How strongly a session was authenticated, as its tokens say it: the assurance level (`aal`,
//! NIST SP 800-63B; also `acr`, for RFC 9470's step-up challenge), the methods (`amr`, RFC 8176)
//! and `auth_time`. A second factor lifts a session to `aal2`; it lapses back to `aal1` at the
//! first pair issued [`Assurance::at`] `AAL2_MAX_AGE_SECS` after it was given. Which routes demand
//! `aal2` is [`Aal2Policy`]'s, read by the edge and the origin alike.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

/// The assurance level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// A password.
    #[default]
    Aal1,
    /// A password and a second factor.
    Aal2,
}

impl Aal {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }
}

/// The second factor a session was given, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecondFactor {
    #[default]
    None,
    /// A TOTP code.
    Totp,
    /// A recovery code.
    RecoveryCode,
}

impl SecondFactor {
    /// The name sessions store.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::None, Self::Totp, Self::RecoveryCode].into_iter().find(|factor| factor.as_str() == raw)
    }
}

/// How a session was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assurance {
    pub factor: SecondFactor,
    /// When the user last authenticated (seconds since the epoch): the second factor's time, or
    /// the password's for a session without one.
    pub auth_time: u64,
}

impl Assurance {
    /// A password alone, at `auth_time`.
    #[must_use]
    pub const fn password(auth_time: u64) -> Self {
        Self { factor: SecondFactor::None, auth_time }
    }

    #[must_use]
    pub const fn aal(&self) -> Aal {
        match self.factor {
            SecondFactor::None => Aal::Aal1,
            SecondFactor::Totp | SecondFactor::RecoveryCode => Aal::Aal2,
        }
    }

    /// The methods, as RFC 8176 names them: a password (`pwd`), a one-time password (`otp`),
    /// more than one factor (`mfa`).
    #[must_use]
    pub const fn amr(&self) -> &'static [&'static str] {
        match self.factor {
            SecondFactor::None => &["pwd"],
            SecondFactor::Totp => &["pwd", "otp", "mfa"],
            SecondFactor::RecoveryCode => &["pwd", "mfa"],
        }
    }

    /// The assurance of a pair issued at `issued_at`: a second factor counts for `max_age_secs`
    /// after it was given, then the session is `aal1` again (the user logs in anew for `aal2`).
    #[must_use]
    pub const fn at(self, issued_at: u64, max_age_secs: u64) -> Self {
        if matches!(self.factor, SecondFactor::None) || issued_at < self.auth_time.saturating_add(max_age_secs) {
            self
        } else {
            Self { factor: SecondFactor::None, auth_time: self.auth_time }
        }
    }

    /// The assurance a token's claims state; `None` for claims that contradict each other. A
    /// token from before these claims has none of them and reads as `aal1`.
    #[must_use]
    pub fn from_claims(
        aal: Option<Aal>,
        amr: Option<&[String]>,
        auth_time: Option<u64>,
        issued_at: u64,
    ) -> Option<Self> {
        let auth_time = auth_time.unwrap_or(issued_at);
        let factor = match (aal.unwrap_or_default(), amr) {
            (Aal::Aal1, None) => SecondFactor::None,
            (aal, Some(amr)) => {
                let factor = [SecondFactor::None, SecondFactor::Totp, SecondFactor::RecoveryCode]
                    .into_iter()
                    .find(|factor| Self { factor: *factor, auth_time }.amr() == amr)?;
                if (Self { factor, auth_time }).aal() != aal {
                    return None;
                }
                factor
            }
            (Aal::Aal2, None) => return None,
        };
        Some(Self { factor, auth_time })
    }
}

/// `REQUIRE_AAL2`: which authenticated routes refuse an `aal1` token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aal2Policy {
    /// None (the default).
    #[default]
    Off,
    /// Every `/users/admin` route.
    Admin,
    /// Every authenticated route but the second factor's own (`/users/mfa*`), logging out and
    /// `GET /users`, so an `aal1` client can still see who it is, enrol and leave.
    All,
}

/// Why a value of `REQUIRE_AAL2` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "REQUIRE_AAL2={}: use admin, all, or leave it empty", self.0)
    }
}

impl Aal2Policy {
    /// The variable's name on every host.
    pub const VAR: &str = "REQUIRE_AAL2";

    /// # Errors
    /// A value that is none of the three.
    pub fn parse(raw: Option<&str>) -> Result<Self, PolicyError> {
        match raw.map(str::trim).unwrap_or_default() {
            "" | "none" | "off" => Ok(Self::Off),
            "admin" => Ok(Self::Admin),
            "all" => Ok(Self::All),
            other => Err(PolicyError(other.into())),
        }
    }

    /// Whether an authenticated request to `path` (gated as `access` says) needs `aal2`.
    #[must_use]
    pub fn demands(self, access: crate::contract::Access, method: &str, path: &str) -> bool {
        use crate::contract::Access;
        match (self, access) {
            (_, Access::Open) | (Self::Off, _) => false,
            (Self::Admin, access) => access == Access::Admin,
            (Self::All, _) => {
                let exempt = path == "/users/mfa"
                    || path.starts_with("/users/mfa/")
                    || path.starts_with("/auth/logout")
                    || (path == "/users" && matches!(method, "GET" | "HEAD"));
                !exempt
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Access;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    #[test]
    fn a_second_factor_lifts_to_aal2_and_lapses_after_its_max_age() {
        let totp = Assurance { factor: SecondFactor::Totp, auth_time: 1000 };
        assert_eq!((totp.aal(), totp.amr()), (Aal::Aal2, &["pwd", "otp", "mfa"][..]));
        assert_eq!(totp.at(1000 + 43_199, 43_200), totp);
        let lapsed = totp.at(1000 + 43_200, 43_200);
        assert_eq!((lapsed.aal(), lapsed.amr(), lapsed.auth_time), (Aal::Aal1, &["pwd"][..], 1000));
        let recovery = Assurance { factor: SecondFactor::RecoveryCode, auth_time: 5 };
        assert_eq!(recovery.amr(), ["pwd", "mfa"]);
        assert_eq!(Assurance::password(7).at(u64::MAX, 1), Assurance::password(7));
    }

    #[test]
    fn claims_read_back_and_contradictions_are_refused() {
        let amr = |methods: &[&str]| methods.iter().map(ToString::to_string).collect::<Vec<_>>();
        let totp = Assurance::from_claims(Some(Aal::Aal2), Some(&amr(&["pwd", "otp", "mfa"])), Some(9), 10);
        assert_eq!(totp, Some(Assurance { factor: SecondFactor::Totp, auth_time: 9 }));
        assert_eq!(Assurance::from_claims(None, None, None, 10), Some(Assurance::password(10)), "an older token");
        assert_eq!(Assurance::from_claims(Some(Aal::Aal2), Some(&amr(&["pwd"])), Some(9), 10), None);
        assert_eq!(Assurance::from_claims(Some(Aal::Aal2), None, Some(9), 10), None);
        assert_eq!(Assurance::from_claims(Some(Aal::Aal1), Some(&amr(&["pwd", "otp"])), Some(9), 10), None);
    }

    #[test]
    fn the_policy_names_the_routes_it_guards() {
        let all = Aal2Policy::parse(Some("all")).unwrap();
        assert!(all.demands(Access::Bearer, "PATCH", "/users"));
        assert!(all.demands(Access::Admin, "GET", "/users/admin"));
        assert!(!all.demands(Access::Bearer, "GET", "/users"));
        assert!(!all.demands(Access::Bearer, "POST", "/users/mfa/totp"));
        assert!(!all.demands(Access::Bearer, "POST", "/auth/logout-all"));
        assert!(!all.demands(Access::Open, "POST", "/auth/login"));
        let admin = Aal2Policy::parse(Some(" admin ")).unwrap();
        assert!(admin.demands(Access::Admin, "DELETE", "/users/admin/7"));
        assert!(!admin.demands(Access::Bearer, "PATCH", "/users"));
        assert!(!Aal2Policy::parse(None).unwrap().demands(Access::Admin, "GET", "/users/admin"));
        assert!(Aal2Policy::parse(Some("everything")).is_err());
    }
}
