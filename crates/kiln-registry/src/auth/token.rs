//! Bearer tokens (Docker's token authentication): the token server's answer, scopes and the
//! per-scope cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::secret::Secret;

/// The token server's JSON answer: `token` or its OAuth2 alias `access_token`.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens live at least this long when the server does not say (the spec's default).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are renewed this long before they expire.
const MARGIN: Duration = Duration::from_secs(5);

impl TokenResponse {
    /// The token and how long it may be used, or `None` when the answer has no token.
    pub(crate) fn into_token(self) -> Option<(Secret, Duration)> {
        let value = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let lifetime = self
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME)
            .max(DEFAULT_LIFETIME);
        Some((Secret::new(value), lifetime))
    }
}

/// The scopes a request needs: `repository:<path>:pull` or `repository:<path>:pull,push`.
pub(crate) fn repository_scope(path: &str, push: bool) -> String {
    if push {
        format!("repository:{path}:pull,push")
    } else {
        format!("repository:{path}:pull")
    }
}

/// Tokens by (realm, service, scopes).
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (Secret, Instant)>>,
}

/// The cache key of a token request; scopes are sorted and deduplicated.
pub(crate) fn cache_key(realm: &str, service: &str, scopes: &BTreeSet<String>) -> String {
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    format!("{realm}\n{service}\n{}", scopes.join(" "))
}

impl TokenCache {
    pub(crate) fn get(&self, key: &str) -> Option<Secret> {
        let tokens = self.tokens.lock().ok()?;
        let (token, expires) = tokens.get(key)?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    pub(crate) fn put(&self, key: String, token: Secret, lifetime: Duration) {
        if let Ok(mut tokens) = self.tokens.lock() {
            let expires = Instant::now() + lifetime.saturating_sub(MARGIN);
            tokens.insert(key, (token, expires));
        }
    }

    pub(crate) fn remove(&self, key: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_or_access_token() {
        let r: TokenResponse = serde_json::from_str(r#"{"token":"t","expires_in":300}"#).unwrap();
        let (t, life) = r.into_token().unwrap();
        assert_eq!((t.expose(), life), ("t", Duration::from_secs(300)));
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":3}"#).unwrap();
        let (t, life) = r.into_token().unwrap();
        assert_eq!((t.expose(), life), ("a", DEFAULT_LIFETIME));
        let r: TokenResponse = serde_json::from_str(r#"{"token":"","details":"x"}"#).unwrap();
        assert!(r.into_token().is_none());
    }

    #[test]
    fn cache_by_sorted_scopes() {
        let c = TokenCache::default();
        let a: BTreeSet<String> = ["b".to_string(), "a".to_string()].into();
        let b: BTreeSet<String> = ["a".to_string(), "b".to_string(), "a".to_string()].into();
        c.put(
            cache_key("r", "s", &a),
            Secret::new("x"),
            Duration::from_secs(60),
        );
        assert_eq!(c.get(&cache_key("r", "s", &b)).unwrap().expose(), "x");
        assert!(c.get(&cache_key("r", "other", &b)).is_none());
        c.put("k".into(), Secret::new("y"), Duration::from_secs(1));
        assert!(
            c.get("k").is_none(),
            "a token within the margin of expiry is not used"
        );
        assert_eq!(
            repository_scope("library/busybox", true),
            "repository:library/busybox:pull,push"
        );
    }
}
