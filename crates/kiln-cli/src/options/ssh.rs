//! `--ssh`: SSH agent sockets or keys exposed to `RUN --mount=type=ssh`
//! (`default`, `id=/path/to/socket`, `id=key1,key2`), parsed as buildx's `ParseSSHSpecs`.

use std::path::PathBuf;

use super::ValueError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    pub id: String,
    /// Agent socket or key files; empty means the agent at `$SSH_AUTH_SOCK`.
    pub paths: Vec<PathBuf>,
}

/// Parses one `--ssh` value.
pub fn parse_ssh(value: &str) -> Result<SshSpec, ValueError> {
    let (id, paths) = match value.split_once('=') {
        Some((id, rest)) => (
            id,
            rest.split(',')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
        ),
        None => (value, Vec::new()),
    };
    if id.is_empty() {
        return Err(ValueError::new(
            "missing ID (format: default|<id>[=<socket>|<key>[,<key>]])",
        ));
    }
    Ok(SshSpec {
        id: id.to_string(),
        paths,
    })
}

/// Rejects two specs with one id, as BuildKit's SSH provider does.
pub fn check_unique(specs: &[SshSpec]) -> Result<(), String> {
    for (i, s) in specs.iter().enumerate() {
        if specs[..i].iter().any(|o| o.id == s.id) {
            return Err(format!("invalid duplicate ID {}", s.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_agent() {
        let s = parse_ssh("default").unwrap();
        assert_eq!(s.id, "default");
        assert!(s.paths.is_empty());
    }

    #[test]
    fn id_with_paths() {
        let s = parse_ssh("gh=/home/u/.ssh/id_ed25519,/home/u/.ssh/id_rsa").unwrap();
        assert_eq!(s.id, "gh");
        assert_eq!(
            s.paths,
            [
                PathBuf::from("/home/u/.ssh/id_ed25519"),
                PathBuf::from("/home/u/.ssh/id_rsa")
            ]
        );
        let s = parse_ssh("default=$SSH_AUTH_SOCK").unwrap();
        assert_eq!(s.paths, [PathBuf::from("$SSH_AUTH_SOCK")]);
        assert!(parse_ssh("default=").unwrap().paths.is_empty());
    }

    #[test]
    fn errors() {
        assert!(
            parse_ssh("=/tmp/sock")
                .unwrap_err()
                .0
                .starts_with("missing ID")
        );
        assert!(parse_ssh("").is_err());
        let dup = vec![
            parse_ssh("default").unwrap(),
            parse_ssh("default=/s").unwrap(),
        ];
        assert_eq!(
            check_unique(&dup).unwrap_err(),
            "invalid duplicate ID default"
        );
    }
}
