//! `-t/--tag` values: validated with `kiln_reference` as buildx does
//! (`invalid tag "X": invalid reference format`).

/// Validates one `-t` value, worded like buildx: `invalid tag "X": <reference error>`.
pub fn check_tag(tag: &str) -> Result<kiln_reference::Reference, String> {
    kiln_reference::parse_normalized_named(tag).map_err(|e| format!("invalid tag {tag:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_tags_are_worded_like_buildx() {
        assert_eq!(
            check_tag("app::1").unwrap_err(),
            r#"invalid tag "app::1": invalid reference format"#
        );
        assert_eq!(
            check_tag("Bad:1").unwrap_err(),
            r#"invalid tag "Bad:1": invalid reference format: repository name (library/Bad) must be lowercase"#
        );
    }

    #[test]
    fn valid_tags() {
        for t in [
            "busybox",
            "user/app:1",
            "registry.example:5000/team/app:v1.2",
        ] {
            assert!(check_tag(t).is_ok(), "{t}");
        }
    }
}
