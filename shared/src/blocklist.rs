//! Commonly used, repetitive and sequential passwords, and ones made of the user's own name
//! (NIST SP 800-63B rev. 4, 3.1.1.2). With a 15-character minimum, the short favourites of leaked
//! lists are already refused by length; what is left are long keyboard walks, counting, repeated
//! words and well-known phrases. Compiled in on the origin only (feature `hashing`).

use alloc::string::String;

/// Well-known long passwords and phrases, lowercase, spaces removed; also the bases that people
/// repeat or pad with digits ("passwordpassword", "iloveyou12345678").
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "qwerty",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertyuiopasdfghjklzxcvbnm",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1qaz2wsx3edc4rfv",
    "1q2w3e4r5t6y7u8i9o0p",
    "zaq12wsxcde34rfv",
    "iloveyou",
    "letmein",
    "welcome",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "superman",
    "batman",
    "trustno1",
    "sunshine",
    "princess",
    "starwars",
    "whatever",
    "shadow",
    "master",
    "michael",
    "jennifer",
    "abc123",
    "admin",
    "administrator",
    "changeme",
    "default",
    "secret",
    "login",
    "guest",
    "root",
    "toor",
    "test",
    "testing",
    "hello",
    "helloworld",
    "welcometo",
    "iloveyoutoo",
    "ilovemyself",
    "thequickbrownfox",
    "thequickbrownfoxjumpsoverthelazydog",
    "correcthorsebatterystaple",
    "lorem",
    "loremipsum",
    "loremipsumdolorsitamet",
    "mypassword",
    "mysecretpassword",
    "yourpassword",
    "newpassword",
    "changemeplease",
    "pleaseletmein",
    "opensesame",
    "maythefourcebewithyou",
    "maytheforcebewithyou",
    "donaldtrump",
    "blink182",
    "jesus",
    "jesuschrist",
    "godisgood",
    "chocolate",
    "computer",
    "internet",
    "samsung",
    "google",
    "facebook",
    "linkedin",
    "twitter",
    "football123",
    "liverpool",
    "chelsea",
    "arsenal",
    "manchesterunited",
    "pokemon",
    "minecraft",
    "fortnite",
    "naruto",
    "qwerty123456789",
    "password123456789",
    "passwordpassword",
];

/// Keyboard rows and counting, for runs inside a password ("xx1234567890123", "asdfghjklasdfgh").
const SEQUENCES: &[&str] = &[
    "01234567890123456789",
    "98765432109876543210",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "qwertyuiopasdfghjklzxcvbnm",
    "mnbvcxzlkjhgfdsapoiuytrewq",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
];

/// Why `password` (NFKC-normalised) is refused, or `None`. `context` holds the username and email.
pub(crate) fn refusal(password: &str, context: &[&str]) -> Option<&'static str> {
    let folded: String = password.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
    let core = folded.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let core = core.trim_start_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if COMMON.contains(&folded.as_str()) || COMMON.contains(&core) {
        return Some("this password is commonly used; choose a longer, less common one");
    }
    if repeats_a_short_unit(&folded) || COMMON.iter().any(|w| w.len() >= 4 && is_repetition_of(&folded, w)) {
        return Some("this password repeats a short pattern");
    }
    if folded.chars().count() >= 8 && SEQUENCES.iter().any(|s| sequence_share(&folded, s) * 4 >= folded.len() * 3) {
        return Some("this password is mostly a keyboard or counting sequence");
    }
    for word in context {
        let word: String = word.split('@').next().unwrap_or("").chars().flat_map(char::to_lowercase).collect();
        // What is left once the name is taken out must be a password of its own.
        if word.chars().count() >= 3 && folded.contains(&word) && folded.replace(&word, "").chars().count() < 8 {
            return Some("this password is built from your username or email");
        }
    }
    None
}

/// "aaaaaaaaaaaaaaa", "abababababababab", "abcabcabcabcabc": a unit of up to 4 characters repeated.
fn repeats_a_short_unit(text: &str) -> bool {
    let chars: alloc::vec::Vec<char> = text.chars().collect();
    (1..=4).any(|unit| chars.len() >= unit * 3 && chars.iter().enumerate().all(|(i, c)| *c == chars[i % unit]))
}

/// `text` is `word` repeated, maybe cut short at the end ("passwordpasswordpa").
fn is_repetition_of(text: &str, word: &str) -> bool {
    text.len() >= word.len() * 2 && text.as_bytes().iter().zip(word.as_bytes().iter().cycle()).all(|(a, b)| a == b)
}

/// How many bytes of `text` lie in runs of at least 4 that also appear in `sequence`.
fn sequence_share(text: &str, sequence: &str) -> usize {
    let bytes = text.as_bytes();
    let mut covered = 0;
    let mut i = 0;
    while i < bytes.len() {
        let mut best = 0;
        for len in (4..=bytes.len() - i).rev() {
            if let Ok(run) = core::str::from_utf8(&bytes[i..i + len])
                && sequence.contains(run)
            {
                best = len;
                break;
            }
        }
        if best > 0 {
            covered += best;
            i += best;
        } else {
            i += 1;
        }
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn refuses_common_repeated_and_sequential_passwords() {
        for bad in [
            "passwordpassword",
            "Password123456789",
            "qwertyuiopasdfghjklzxcvbnm",
            "123456789012345",
            "aaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabc",
            "The quick brown fox jumps over the lazy dog",
            "correct horse battery staple",
            "iloveyouiloveyou",
            "98765432109876543",
        ] {
            assert!(refusal(bad, &[]).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn refuses_the_users_own_name() {
        assert!(refusal("JohnSmith1985!!!", &["johnsmith1985"]).is_some());
        assert!(refusal("margarethamilton", &["margarethamilton", "mh@example.com"]).is_some());
    }

    #[test]
    fn accepts_an_ordinary_passphrase() {
        for good in ["velvet-otter-signs-14-contracts", "purple tractor under the harbour", "Zq8#mW2!rT9$kL4%"] {
            assert_eq!(refusal(good, &["alice", "alice@example.com"]), None, "{good}");
        }
    }
}
