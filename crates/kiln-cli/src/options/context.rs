//! `--build-context name=value`: extra named contexts (`alpine=docker-image://alpine:3.20`,
//! `src=../src`, `base=oci-layout://dir:tag`, `x=https://...`), parsed as buildx's
//! `ParseContextNames`.

use super::ValueError;

/// Where a named context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// `docker-image://ref`: an image.
    Image(String),
    /// `oci-layout://path[:tag][@digest]`: an image in a local OCI layout.
    OciLayout(String),
    /// `target:name`: another bake target (bake only; passed through).
    Target(String),
    /// A git or HTTP(S) URL.
    Remote(String),
    /// A local directory.
    Local(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedContext {
    /// The familiar name without `:latest` (`alpine`, `user/app:1`), as Dockerfiles refer to it.
    pub name: String,
    pub source: ContextSource,
}

/// True for the remote context forms buildx recognises (`IsRemoteURL`): HTTP(S) URLs and git
/// URLs (`git://`, `ssh://`, `git@host:repo`, `github.com/...`, `*.git`).
pub fn is_remote_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("git://")
        || lower.starts_with("ssh://")
        || lower.starts_with("git@")
        || lower.starts_with("github.com/")
        || (lower.contains("://") && lower.split('#').next().is_some_and(|u| u.ends_with(".git")))
}

fn classify(value: &str) -> ContextSource {
    if let Some(r) = value.strip_prefix("docker-image://") {
        ContextSource::Image(r.to_string())
    } else if let Some(p) = value.strip_prefix("oci-layout://") {
        ContextSource::OciLayout(p.to_string())
    } else if let Some(t) = value.strip_prefix("target:") {
        ContextSource::Target(t.to_string())
    } else if is_remote_url(value) {
        ContextSource::Remote(value.to_string())
    } else {
        ContextSource::Local(value.to_string())
    }
}

/// Parses one `--build-context` value.
pub fn parse_build_context(value: &str) -> Result<NamedContext, ValueError> {
    let Some((name, source)) = value.split_once('=') else {
        return Err(ValueError(format!(
            "invalid context value: {value}, expected key=value"
        )));
    };
    let named = kiln_reference::parse_normalized_named(name)
        .map_err(|e| ValueError(format!("invalid context name {name}: {e}")))?;
    let familiar = named.familiar_string();
    let name = familiar
        .strip_suffix(":latest")
        .unwrap_or(&familiar)
        .to_string();
    Ok(NamedContext {
        name,
        source: classify(source),
    })
}

/// Adds `c`, replacing an earlier context of the same name.
pub fn merge(list: &mut Vec<NamedContext>, c: NamedContext) {
    list.retain(|o| o.name != c.name);
    list.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        assert_eq!(
            classify("docker-image://alpine:3.20"),
            ContextSource::Image("alpine:3.20".into())
        );
        assert_eq!(
            classify("oci-layout:///tmp/l:tag"),
            ContextSource::OciLayout("/tmp/l:tag".into())
        );
        assert_eq!(
            classify("target:base"),
            ContextSource::Target("base".into())
        );
        assert_eq!(
            classify("https://example.com/ctx.tar"),
            ContextSource::Remote("https://example.com/ctx.tar".into())
        );
        assert_eq!(
            classify("git@github.com:o/r.git"),
            ContextSource::Remote("git@github.com:o/r.git".into())
        );
        assert_eq!(classify("../src"), ContextSource::Local("../src".into()));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_build_context("noequals").unwrap_err().to_string(),
            "invalid context value: noequals, expected key=value"
        );
        assert_eq!(
            parse_build_context("a::b=.").unwrap_err().to_string(),
            "invalid context name a::b: invalid reference format"
        );
    }

    #[test]
    fn names_are_familiar_without_latest() {
        let c = parse_build_context("docker.io/library/alpine:latest=docker-image://alpine:3.20")
            .unwrap();
        assert_eq!(c.name, "alpine");
        assert_eq!(c.source, ContextSource::Image("alpine:3.20".into()));
        let c = parse_build_context("user/app:1=../app").unwrap();
        assert_eq!(c.name, "user/app:1");
        assert_eq!(c.source, ContextSource::Local("../app".into()));
    }

    #[test]
    fn remote_urls() {
        assert!(is_remote_url("https://github.com/o/r.git#main"));
        assert!(is_remote_url("git://example.com/r"));
        assert!(is_remote_url("github.com/docker/cli"));
        assert!(!is_remote_url("."));
        assert!(!is_remote_url("./github.com"));
        assert!(!is_remote_url("dir.git"));
    }
}
