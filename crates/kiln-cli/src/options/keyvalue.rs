//! `KEY=VALUE` lists (`--build-arg`, `--label`), with buildx's rules for a bare `KEY`.

use std::collections::BTreeMap;

use super::{Env, ValueError};

/// What a bare `KEY` (no `=`) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareKey {
    /// `--build-arg K`: the value of `$K`, or nothing at all when `$K` is unset.
    FromEnv,
    /// `--label K`: an empty value.
    Empty,
}

/// Adds one `KEY[=VALUE]` to `map` (a later key replaces an earlier one).
pub fn insert_key_value(
    map: &mut BTreeMap<String, String>,
    value: &str,
    bare: BareKey,
    env: &dyn Env,
) -> Result<(), ValueError> {
    let (key, val) = match value.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (value, None),
    };
    if key.is_empty() {
        return Err(ValueError(format!(
            "invalid key-value pair {value:?}: empty key"
        )));
    }
    match (val, bare) {
        (Some(v), _) => {
            map.insert(key.to_string(), v.to_string());
        }
        (None, BareKey::FromEnv) => {
            if let Some(v) = env.var(key) {
                map.insert(key.to_string(), v);
            }
        }
        (None, BareKey::Empty) => {
            map.insert(key.to_string(), String::new());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::MapEnv;

    #[test]
    fn build_args_from_env() {
        let env = MapEnv::new([("HTTP_PROXY", "http://p:3128"), ("EMPTY", "")]);
        let mut m = BTreeMap::new();
        for v in ["A=1", "B=", "C=x=y", "HTTP_PROXY", "UNSET", "EMPTY", "A=2"] {
            insert_key_value(&mut m, v, BareKey::FromEnv, &env).unwrap();
        }
        assert_eq!(m.get("A").map(String::as_str), Some("2"));
        assert_eq!(m.get("B").map(String::as_str), Some(""));
        assert_eq!(m.get("C").map(String::as_str), Some("x=y"));
        assert_eq!(
            m.get("HTTP_PROXY").map(String::as_str),
            Some("http://p:3128")
        );
        assert_eq!(m.get("EMPTY").map(String::as_str), Some(""));
        assert!(!m.contains_key("UNSET"));
    }

    #[test]
    fn labels_bare_key_is_empty() {
        let mut m = BTreeMap::new();
        insert_key_value(&mut m, "org.example", BareKey::Empty, &MapEnv::default()).unwrap();
        assert_eq!(m.get("org.example").map(String::as_str), Some(""));
    }

    #[test]
    fn empty_key_is_an_error() {
        let mut m = BTreeMap::new();
        let e = insert_key_value(&mut m, "=v", BareKey::Empty, &MapEnv::default()).unwrap_err();
        assert_eq!(e.to_string(), r#"invalid key-value pair "=v": empty key"#);
    }
}
