//! The `SecretsUsedInArgOrEnv` key test: a key whose first or last `_`-separated word (or the
//! whole key) is a secret-like token, unless such a word is an allowed token (BuildKit's
//! `getSecretsRegex` / `validateNoSecretKey`, without a regex engine).

/// Words that mark a key as holding a secret (compared case-insensitively).
const SECRET_TOKENS: &[&str] = &[
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
];

/// Words that make a key acceptable even when it contains a secret token.
const ALLOW_TOKENS: &[&str] = &["public", "file", "version"];

/// Whether `key` (an `ARG` or `ENV` name) looks like it holds sensitive data.
///
/// Upstream matches `(?i)(?:_|^)(?:token...)(?:_|$)` anywhere in the key: a token that is a
/// whole `_`-delimited word of the key, at any position. The allow list uses the same shape.
pub fn is_secret_key(key: &str) -> bool {
    has_word(key, SECRET_TOKENS) && !has_word(key, ALLOW_TOKENS)
}

fn has_word(key: &str, tokens: &[&str]) -> bool {
    key.split('_')
        .any(|w| tokens.iter().any(|t| w.eq_ignore_ascii_case(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_like_keys() {
        for k in [
            "api_key",
            "DATABASE_PASSWORD",
            "GITHUB_TOKEN",
            "secret_MESSAGE",
            "AUTH",
            "passwd",
            "AWS_SECRET_ACCESS_KEY",
            "my_apikey_here",
            "_token_",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn harmless_keys() {
        for k in [
            "PASSWORDS",
            "KEYS",
            "monkey",
            "tokenizer",
            "PUBLIC_KEY",
            "KEY_FILE",
            "TOKEN_VERSION",
            "GPG_KEY_version",
            "HOME",
            "",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
