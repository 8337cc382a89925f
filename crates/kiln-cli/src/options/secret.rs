//! `--secret`: secrets exposed to `RUN --mount=type=secret` (`id=a,src=file`, `id=a,env=VAR`,
//! `type=env,id=a`), parsed as buildx's `ParseSecretSpecs` and resolved as BuildKit's store does.

use std::path::PathBuf;

use super::{Env, ValueError, csv};

/// Where a secret's value comes from. Only the name is kept here; the value is read at build
/// time and never stored in options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

/// Parses one `--secret` value. Without `src`/`env`, the secret comes from the environment
/// variable named like the id if it is set, else from the file named like the id (BuildKit).
pub fn parse_secret(value: &str, env: &dyn Env) -> Result<SecretSpec, ValueError> {
    let fields =
        csv::fields(value).map_err(|e| ValueError(format!("failed to parse csv secret: {e}")))?;
    let mut typ = None;
    let mut id = String::new();
    let mut file = String::new();
    let mut env_name = String::new();
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            return Err(ValueError(format!(
                "invalid field '{field}' must be a key=value pair"
            )));
        };
        let key = key.to_lowercase();
        match key.as_str() {
            "type" => {
                if val != "file" && val != "env" {
                    return Err(ValueError(format!("unsupported secret type {val:?}")));
                }
                typ = Some(val.to_string());
            }
            "id" => id = val.to_string(),
            "source" | "src" => file = val.to_string(),
            "env" => env_name = val.to_string(),
            _ => {
                return Err(ValueError(format!("unexpected key '{key}' in '{field}'")));
            }
        }
    }
    if typ.as_deref() == Some("env") && env_name.is_empty() {
        env_name = std::mem::take(&mut file);
    }
    if id.is_empty() {
        return Err(ValueError::new("secret ID missing"));
    }
    let source = match (file.is_empty(), env_name.is_empty()) {
        (false, false) => {
            return Err(ValueError::new(
                "a secret comes from a file (src) or an environment variable (env), not both",
            ));
        }
        (false, true) => SecretSource::File(PathBuf::from(file)),
        (true, false) => SecretSource::Env(env_name),
        (true, true) => {
            if env.var(&id).is_some() {
                SecretSource::Env(id.clone())
            } else {
                SecretSource::File(PathBuf::from(&id))
            }
        }
    };
    Ok(SecretSpec { id, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::MapEnv;

    fn parse(s: &str) -> Result<SecretSpec, String> {
        parse_secret(s, &MapEnv::new([("TOKEN", "x")])).map_err(|e| e.to_string())
    }

    #[test]
    fn file_sources() {
        let s = parse("id=a,src=/run/a").unwrap();
        assert_eq!(s.id, "a");
        assert_eq!(s.source, SecretSource::File("/run/a".into()));
        let s = parse("id=a,source=f,type=file").unwrap();
        assert_eq!(s.source, SecretSource::File("f".into()));
    }

    #[test]
    fn env_sources() {
        let s = parse("id=a,env=HOME").unwrap();
        assert_eq!(s.source, SecretSource::Env("HOME".into()));
        // type=env takes the variable name from src when env= is absent.
        let s = parse("type=env,id=a,src=MYVAR").unwrap();
        assert_eq!(s.source, SecretSource::Env("MYVAR".into()));
    }

    #[test]
    fn bare_id_prefers_a_set_variable_then_a_file() {
        assert_eq!(
            parse("id=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
        assert_eq!(
            parse("id=other").unwrap().source,
            SecretSource::File("other".into())
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("id=a,src").unwrap_err(),
            "invalid field 'src' must be a key=value pair"
        );
        assert_eq!(
            parse("id=a,type=vault").unwrap_err(),
            r#"unsupported secret type "vault""#
        );
        assert_eq!(
            parse("id=a,foo=bar").unwrap_err(),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(parse("src=/x").unwrap_err(), "secret ID missing");
        assert!(parse("id=a,src=f,env=E").unwrap_err().contains("not both"));
        assert!(
            parse(r#"id="a"#)
                .unwrap_err()
                .starts_with("failed to parse csv secret: ")
        );
    }
}
