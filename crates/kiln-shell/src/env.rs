//! Where variable values come from: the [`EnvGetter`] role trait, its impls for the std
//! collections, and [`Env`], an environment built from a `["NAME=value", "NAME"]` list.

use std::collections::{BTreeMap, HashMap};

/// A read-only source of variable values for the lexer.
///
/// Names are compared exactly (case-sensitively): kiln builds Linux images, where environment
/// variable names are case-sensitive. Implementations must be cheap to query: the lexer calls
/// [`get`](EnvGetter::get) once per variable reference.
pub trait EnvGetter {
    /// The value of `name`: `Some("")` when it is defined but empty, `None` when it is unset.
    fn get(&self, name: &str) -> Option<String>;

    /// The names this environment defines, in a stable order, for "did you mean" suggestions.
    /// The default returns none; every impl in this crate overrides it.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<T: EnvGetter + ?Sized> EnvGetter for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }

    fn keys(&self) -> Vec<String> {
        (**self).keys()
    }
}

/// An ordered list of `(name, value)` pairs; the last pair for a name wins.
impl EnvGetter for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for (k, _) in self {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

/// An ordered list of `(name, value)` pairs; the last pair for a name wins.
impl EnvGetter for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        EnvGetter::get(self.as_slice(), name)
    }

    fn keys(&self) -> Vec<String> {
        EnvGetter::keys(self.as_slice())
    }
}

impl EnvGetter for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }

    fn keys(&self) -> Vec<String> {
        BTreeMap::keys(self).cloned().collect()
    }
}

impl<S: std::hash::BuildHasher> EnvGetter for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }

    /// Sorted, so the order does not depend on the hasher.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = HashMap::keys(self).cloned().collect();
        keys.sort();
        keys
    }
}

/// An environment built from `NAME=value` strings (the form of `ENV`/`ARG` lists and of a
/// container's `Env`), as BuildKit's `EnvsFromSlice` builds it.
///
/// Each entry is split at its first `=`; an entry without `=` defines `NAME` with an empty
/// value; when a name appears more than once, the last entry wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    values: BTreeMap<String, String>,
    /// Distinct names in the order they first appeared.
    order: Vec<String>,
}

impl Env {
    /// Builds the environment from `NAME=value` / `NAME` entries (see the type docs).
    pub fn from_list<I, S>(list: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut env = Env::default();
        for entry in list {
            let entry = entry.as_ref();
            let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
            env.set(name, value);
        }
        env
    }

    /// Defines `name` as `value`, replacing any earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        if self
            .values
            .insert(name.to_string(), value.to_string())
            .is_none()
        {
            self.order.push(name.to_string());
        }
    }

    /// The value of `name`, `None` when unset.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The defined names, in the order they first appeared.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// The number of distinct names.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no name is defined.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Env {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Env::from_list(iter)
    }
}

impl EnvGetter for Env {
    fn get(&self, name: &str) -> Option<String> {
        self.value(name).map(str::to_string)
    }

    fn keys(&self) -> Vec<String> {
        self.order.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_split_at_first_equals_and_last_wins() {
        let env = Env::from_list(["A=1", "B", "C=x=y", "A=2", "=empty"]);
        assert_eq!(env.value("A"), Some("2"));
        assert_eq!(env.value("B"), Some(""));
        assert_eq!(env.value("C"), Some("x=y"));
        assert_eq!(env.value(""), Some("empty"));
        assert_eq!(env.value("D"), None);
        assert_eq!(env.names(), ["A", "B", "C", ""]);
    }

    #[test]
    fn pair_list_last_wins() {
        let env = vec![
            ("A".to_string(), "1".to_string()),
            ("A".to_string(), "2".to_string()),
        ];
        assert_eq!(EnvGetter::get(&env, "A").as_deref(), Some("2"));
        assert_eq!(EnvGetter::keys(&env), ["A"]);
    }
}
