//! `config/.env`: the local configuration of `cargo xtask run`, in the seed's convention.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::random;

/// Keys that hold a secret. JWT_SECRET is always replaced in a new file; the others only while
/// they still hold the example's `change-me…` placeholder.
const GENERATED_SECRETS: &[&str] = &["JWT_SECRET", "EDGE_SERVICE_TOKEN"];
/// Keys the example leaves empty (the feature is off until set) that the dev loop fills, with the
/// prefix their format wants: the key that seals TOTP secrets, as `kid:hex`.
const GENERATED_WHEN_EMPTY: &[(&str, &str)] = &[("MFA_ENCRYPTION_KEYS", "dev1:")];
const PLACEHOLDER_PREFIX: &str = "change-me";
/// 32 bytes: HS256's key should be at least as long as its 256-bit output.
const SECRET_BYTES: usize = 32;

/// Writes `target` from `example` with fresh secrets, unless `target` exists: a developer's own
/// settings are never overwritten. Returns the keys it generated, or `None` if it wrote nothing.
pub fn create_from_example(target: &Path, example: &Path) -> Result<Option<Vec<String>>> {
    if target.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(example)
        .context(|| format!("cannot read {} to create {}", example.display(), target.display()))?;
    let mut generated = Vec::new();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        match parse_line(line) {
            Some((key, value)) if needs_secret(&key, &value) => {
                out.push_str(&format!("{key}={}\n", random::hex(SECRET_BYTES)?));
                generated.push(key);
            }
            Some((key, value)) if value.is_empty() && GENERATED_WHEN_EMPTY.iter().any(|(name, _)| *name == key) => {
                let prefix = GENERATED_WHEN_EMPTY.iter().find(|(name, _)| *name == key).map_or("", |(_, p)| *p);
                out.push_str(&format!("{key}={prefix}{}\n", random::hex(SECRET_BYTES)?));
                generated.push(key);
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    write_private(target, &out)?;
    Ok(Some(generated))
}

fn needs_secret(key: &str, value: &str) -> bool {
    GENERATED_SECRETS.contains(&key) && (key == "JWT_SECRET" || value.starts_with(PLACEHOLDER_PREFIX))
}

/// `path` replaced by a new file, readable by its owner only, holding `text`: a file that
/// existed keeps its mode when written over, so it goes first.
pub fn replace_private(path: &Path, text: &str) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::failed(format!("cannot replace {}: {error}", path.display())));
        }
        _ => {}
    }
    write_private(path, text)
}

/// The file holds secrets: readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .context(|| format!("cannot write {}", path.display()))
}

pub fn load(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).context(|| format!("cannot read {}", path.display()))?;
    Ok(parse(&text))
}

pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(parse_line).collect()
}

/// `KEY=value`, `export KEY=value`, `KEY="value"` or `KEY='value'`; `#` starts a comment line.
/// No interpolation or escapes: the example file needs none, and a value is taken as written.
fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some((key.to_owned(), unquote(value.trim()).to_owned()))
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

/// The value a child will see: the real environment wins over the file, so a one-off
/// `DATABASE_URL=... cargo xtask run` needs no edit of `config/.env`.
pub fn lookup(file: &BTreeMap<String, String>, key: &str) -> Option<String> {
    std::env::var(key).ok().or_else(|| file.get(key).cloned()).filter(|value| !value.is_empty())
}

/// The file's variables that the real environment does not already set.
pub fn missing_from_env(file: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    file.iter()
        .filter(|(key, _)| std::env::var_os(key).is_none())
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_comments_and_blank_lines_and_strips_quotes() {
        let vars = parse("# comment\n\nA=1\nexport B = \"two words\"\nC='x=y'\nD=\nnot a line\n  # indented\n");
        let expected: BTreeMap<String, String> = [("A", "1"), ("B", "two words"), ("C", "x=y"), ("D", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn a_new_file_gets_fresh_secrets_and_keeps_everything_else() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-env-test-{}", random::hex(8)?));
        std::fs::create_dir(&dir)?;
        let example = dir.join(".env.example");
        let target = dir.join(".env");
        std::fs::write(
            &example,
            "# settings\nJWT_SECRET=change-me-to-a-long-random-secret-of-at-least-32-bytes\n\
             EDGE_SERVICE_TOKEN=change-me-too\nJWT_ISSUER=jwt-auth\nMFA_ENCRYPTION_KEYS=\n",
        )?;
        let generated = create_from_example(&target, &example)?;
        let written = std::fs::read_to_string(&target)?;
        let again = create_from_example(&target, &example)?;
        std::fs::remove_dir_all(&dir)?;

        let names = ["JWT_SECRET", "EDGE_SERVICE_TOKEN", "MFA_ENCRYPTION_KEYS"];
        assert_eq!(generated, Some(names.map(str::to_owned).to_vec()));
        assert_eq!(again, None, "an existing file is never rewritten");
        let vars = parse(&written);
        assert_eq!(vars["JWT_SECRET"].len(), 64);
        assert!(vars["JWT_SECRET"].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(vars["JWT_SECRET"], vars["EDGE_SERVICE_TOKEN"]);
        assert_eq!(vars["JWT_ISSUER"], "jwt-auth");
        let mfa = vars["MFA_ENCRYPTION_KEYS"].strip_prefix("dev1:").expect("a kid");
        assert!(mfa.len() == 64 && mfa.chars().all(|c| c.is_ascii_hexdigit()), "{mfa}");
        assert!(written.starts_with("# settings\n"));
        Ok(())
    }

    #[test]
    fn a_secret_the_example_already_sets_is_kept() {
        assert!(!needs_secret("EDGE_SERVICE_TOKEN", "a-real-token"));
        assert!(needs_secret("JWT_SECRET", "anything"));
        assert!(!needs_secret("JWT_ISSUER", "change-me"));
    }
}
