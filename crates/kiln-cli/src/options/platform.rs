//! `--platform`: target platforms, as comma lists and/or repeated flags
//! (`--platform linux/amd64,linux/arm64 --platform linux/arm/v7`), validated with
//! `kiln_platforms::parse`.

use kiln_platforms::Platform;

use super::ValueError;

/// One requested platform: the specifier as the user wrote it and its parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPlatform {
    pub spec: String,
    pub platform: Platform,
}

/// Splits repeated, comma-separated values into specifiers (trimmed, empties dropped).
pub fn split_specs<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses one specifier. `local` is the host's platform, as in buildx.
pub fn parse_platform(spec: &str) -> Result<TargetPlatform, ValueError> {
    let platform = if spec == "local" {
        kiln_platforms::normalize(kiln_platforms::default_platform())
    } else {
        kiln_platforms::parse(spec).map_err(|e| ValueError(e.to_string()))?
    };
    Ok(TargetPlatform {
        spec: spec.to_string(),
        platform,
    })
}

/// Adds `p` unless an equal platform is already requested (buildx dedupes platforms).
pub fn push_unique(list: &mut Vec<TargetPlatform>, p: TargetPlatform) {
    if !list.iter().any(|o| o.platform == p.platform) {
        list.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_comma_lists_and_repetition() {
        assert_eq!(
            split_specs(["linux/amd64,linux/arm64", "linux/arm/v7"]),
            ["linux/amd64", "linux/arm64", "linux/arm/v7"]
        );
        assert_eq!(split_specs(["a, b,", ""]), ["a", "b"]);
    }

    #[test]
    fn error_names_the_specifier() {
        let e = parse_platform("linux/am d64").unwrap_err().to_string();
        assert!(e.contains("linux/am d64"), "{e}");
    }

    #[test]
    fn parses_and_keeps_the_spec() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(p.spec, "linux/arm64/v8");
        assert_eq!(p.platform.architecture, "arm64");
        let local = parse_platform("local").unwrap();
        assert_eq!(local.spec, "local");
        assert!(!local.platform.os.is_empty());
    }

    #[test]
    fn dedupes_equal_platforms() {
        let p = |s: &str| TargetPlatform {
            spec: s.to_string(),
            platform: Platform {
                os: "linux".into(),
                architecture: s.into(),
                ..Platform::default()
            },
        };
        let mut list = Vec::new();
        push_unique(&mut list, p("amd64"));
        push_unique(&mut list, p("arm64"));
        push_unique(&mut list, p("amd64"));
        assert_eq!(list.len(), 2);
    }
}
