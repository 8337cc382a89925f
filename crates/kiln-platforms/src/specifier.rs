//! The specifier syntax `os[(version+feature...)][/arch[/variant]]`: parsing with normalisation,
//! and the two formatters (`format`, `format_all`) with `%XX` escaping of OS options.

use crate::Platform;
use crate::database::{is_known_arch, is_known_os, normalize_arch, normalize_os};
use crate::error::{Error, OsOptionError};

/// Parses a platform specifier, filling a missing OS or architecture from the host
/// ([`crate::default_platform`]).
///
/// Accepted forms (case-insensitive names, aliases normalised):
/// * `os/arch` and `os/arch/variant` — taken as given, whether or not the names are known;
///   `arm/v7` is shown as `arm`, and a bare `arm64` given with an empty variant stays as is.
/// * `os` alone — a known OS (`linux`, `windows`, `macOS`, ...); the architecture is the host's
///   (and on a 32-bit ARM host, its variant unless it is `v7`).
/// * `arch` alone — a known architecture (`arm64`, `x86_64`, `armhf`, ...); the OS is the host's.
/// * The OS may carry options: `windows(10.0.17763)`, `windows(10.0.17763+win32k)`,
///   `linux(+gpu+simd)`. The first item is the OS version, each `+item` an OS feature (kept in
///   the order written); `%XX` escapes are decoded in both.
///
/// Fails on wildcards, empty components, characters outside `[A-Za-z0-9_.-]`, more than three
/// components, and a lone name that is neither a known OS nor a known architecture. The error
/// messages are containerd's.
pub fn parse(specifier: &str) -> Result<Platform, Error> {
    parse_with_host(specifier, crate::host::default_platform())
}

/// [`parse`] with an explicit host platform for the parts the specifier leaves out: `host.os`
/// for a lone architecture, `host.architecture` (and `host.variant` when that architecture is
/// `arm` and the variant is not `v7`) for a lone OS. Useful for tests and for resolving
/// specifiers on behalf of a remote builder whose platform differs from this machine's.
pub fn parse_with_host(specifier: &str, host: &Platform) -> Result<Platform, Error> {
    if specifier.contains('*') {
        return Err(Error::Wildcard(specifier.to_string()));
    }

    // At most 4 pieces, so a long chain of `/` cannot make us allocate without bound.
    let parts: Vec<&str> = specifier.splitn(4, '/').collect();
    let mut platform = Platform::default();
    let mut first = "";
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            first = part;
            let Some(os_options) = split_os_component(part) else {
                return Err(Error::InvalidOsComponent {
                    specifier: specifier.to_string(),
                    component: part.to_string(),
                });
            };
            platform.os = normalize_os(os_options.name);
            platform.os_version =
                decode_os_option(os_options.version).map_err(|source| Error::InvalidOsVersion {
                    specifier: specifier.to_string(),
                    version: os_options.version.to_string(),
                    source,
                })?;
            for raw in os_options.features {
                let feature = decode_os_option(raw).map_err(|source| Error::InvalidOsFeature {
                    specifier: specifier.to_string(),
                    feature: raw.to_string(),
                    source,
                })?;
                if !feature.is_empty() {
                    platform.os_features.push(feature);
                }
            }
        } else if !is_component(part) {
            return Err(Error::InvalidComponent {
                specifier: specifier.to_string(),
                component: part.to_string(),
            });
        }
    }

    match parts.as_slice() {
        [_] => {
            if is_known_os(&platform.os) {
                platform.architecture = host.architecture.clone();
                if platform.architecture == "arm" && host.variant != "v7" {
                    platform.variant = host.variant.clone();
                }
                return Ok(platform);
            }
            let (architecture, variant) = normalize_arch(first, "");
            platform.architecture = architecture;
            platform.variant = if platform.architecture == "arm" && variant == "v7" {
                String::new()
            } else {
                variant
            };
            if is_known_arch(&platform.architecture) {
                platform.os = host.os.clone();
                return Ok(platform);
            }
            Err(Error::UnknownOsOrArch(specifier.to_string()))
        }
        [_, arch] => {
            let (architecture, variant) = normalize_arch(arch, "");
            platform.variant = if architecture == "arm" && variant == "v7" {
                String::new()
            } else {
                variant
            };
            platform.architecture = architecture;
            Ok(platform)
        }
        [_, arch, variant] => {
            let (architecture, variant) = normalize_arch(arch, variant);
            platform.variant = if architecture == "arm64" && variant.is_empty() {
                "v8".to_string()
            } else {
                variant
            };
            platform.architecture = architecture;
            Ok(platform)
        }
        _ => Err(Error::TooManyComponents(specifier.to_string())),
    }
}

/// Parses every specifier of a list (e.g. the comma-separated values of `--platform`); the
/// first failure is returned wrapped as [`Error::InList`] naming the entry.
pub fn parse_all<S: AsRef<str>>(specifiers: &[S]) -> Result<Vec<Platform>, Error> {
    specifiers
        .iter()
        .map(|s| {
            let s = s.as_ref();
            parse(s).map_err(|e| Error::InList {
                specifier: s.to_string(),
                source: Box::new(e),
            })
        })
        .collect()
}

/// Formats `os/arch[/variant]`, leaving out OS version and features; `unknown` when the OS is
/// empty. Empty parts are skipped and the result is cleaned like Go's `path.Join`.
pub fn format(p: &Platform) -> String {
    if p.os.is_empty() {
        return "unknown".to_string();
    }
    go_path_join(&[&p.os, &p.architecture, &p.variant])
}

/// Like [`format()`], but with the OS options after the OS: `windows(10.0.17763+win32k)/amd64`.
///
/// Features are sorted, empty and duplicate ones skipped; in the version and in each feature
/// `%`, `+`, `(`, `)` and `/` are percent-encoded, so [`parse`] gives the values back.
pub fn format_all(p: &Platform) -> String {
    if p.os.is_empty() {
        return "unknown".to_string();
    }
    let version = encode_os_option(&p.os_version);
    let features = format_os_features(&p.os_features);
    if version.is_empty() && features.is_empty() {
        return go_path_join(&[&p.os, &p.architecture, &p.variant]);
    }
    let mut os = String::with_capacity(p.os.len() + version.len() + features.len() + 3);
    os.push_str(&p.os);
    os.push('(');
    os.push_str(&version);
    if !features.is_empty() {
        os.push('+');
        os.push_str(&features);
    }
    os.push(')');
    go_path_join(&[&os, &p.architecture, &p.variant])
}

fn format_os_features(features: &[String]) -> String {
    let mut sorted: Vec<&str> = features.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(encode_os_option)
        .collect::<Vec<_>>()
        .join("+")
}

/// The pieces of an OS component `name(version+feature+...)`.
struct OsOptions<'a> {
    name: &'a str,
    version: &'a str,
    features: Vec<&'a str>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_option_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%' | '-')
}

fn is_component(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Splits `name[(version(+feature)*)]`; `None` when the text does not have that shape
/// (containerd's `osRe`).
fn split_os_component(part: &str) -> Option<OsOptions<'_>> {
    let (name, options) = match part.split_once('(') {
        None => (part, None),
        Some((name, rest)) => (name, Some(rest.strip_suffix(')')?)),
    };
    if name.is_empty() || !name.chars().all(is_name_char) {
        return None;
    }
    let Some(options) = options else {
        return Some(OsOptions {
            name,
            version: "",
            features: Vec::new(),
        });
    };
    let (version, features) = match options.split_once('+') {
        None => (options, Vec::new()),
        Some((version, features)) => (version, features.split('+').collect::<Vec<_>>()),
    };
    let valid = version.chars().all(is_option_char)
        && features
            .iter()
            .all(|f| !f.is_empty() && f.chars().all(is_option_char));
    valid.then_some(OsOptions {
        name,
        version,
        features,
    })
}

/// Percent-encodes the characters that would be ambiguous inside `os(...)`.
fn encode_os_option(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '%' => out.push_str("%25"),
            '+' => out.push_str("%2B"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes `%XX` escapes like Go's `url.PathUnescape` (a `+` stays a `+`).
fn decode_os_option(v: &str) -> Result<String, OsOptionError> {
    if !v.contains('%') {
        return Ok(v.to_string());
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
        let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
        match (hi, lo) {
            (Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            _ => {
                let bad: String = v.get(i..).unwrap_or("").chars().take(3).collect();
                return Err(OsOptionError::BadEscape(bad));
            }
        }
    }
    String::from_utf8(out).map_err(|_| OsOptionError::NotUtf8(v.to_string()))
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `path.Join`: joins the non-empty elements with `/` and cleans the result.
fn go_path_join(elements: &[&str]) -> String {
    let joined = elements
        .iter()
        .filter(|e| !e.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    if joined.is_empty() {
        return joined;
    }
    go_path_clean(&joined)
}

/// Go's `path.Clean`: collapses `//`, `.` and `..` lexically.
fn go_path_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: "v6".into(),
            ..Platform::default()
        }
    }

    #[test]
    fn lone_os_takes_host_arm_variant() {
        let p = parse_with_host("linux", &host()).unwrap();
        assert_eq!(format(&p), "linux/arm/v6");
        let v7 = Platform {
            variant: "v7".into(),
            ..host()
        };
        assert_eq!(format(&parse_with_host("linux", &v7).unwrap()), "linux/arm");
    }

    #[test]
    fn lone_arch_takes_host_os_and_keeps_os_options_out() {
        let freebsd = Platform {
            os: "freebsd".into(),
            ..host()
        };
        assert_eq!(
            format(&parse_with_host("arm64", &freebsd).unwrap()),
            "freebsd/arm64"
        );
        assert!(matches!(
            parse_with_host("amd64(1.0)", &freebsd),
            Err(Error::UnknownOsOrArch(_))
        ));
    }

    #[test]
    fn explicit_arm64_variant_is_kept() {
        let p = parse_with_host("linux/aarch64/8", &host()).unwrap();
        assert_eq!(format(&p), "linux/arm64/v8");
    }

    #[test]
    fn error_kinds() {
        let h = host();
        assert!(matches!(parse_with_host("*", &h), Err(Error::Wildcard(_))));
        assert!(matches!(
            parse_with_host("linux/", &h),
            Err(Error::InvalidComponent { .. })
        ));
        assert!(matches!(
            parse_with_host("linux(", &h),
            Err(Error::InvalidOsComponent { .. })
        ));
        assert!(matches!(
            parse_with_host("linux(1)x", &h),
            Err(Error::InvalidOsComponent { .. })
        ));
        assert!(matches!(
            parse_with_host("linux(+)", &h),
            Err(Error::InvalidOsComponent { .. })
        ));
        assert!(matches!(
            parse_with_host("a/b/c/d", &h),
            Err(Error::TooManyComponents(_))
        ));
        assert!(matches!(
            parse_with_host("nonsense", &h),
            Err(Error::UnknownOsOrArch(_))
        ));
        let e = parse_with_host("windows(10%zz)", &h).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""windows(10%zz)" has an invalid OS version "10%zz": invalid URL escape "%zz""#
        );
        let e = parse_with_host("linux(+a%2)/amd64", &h).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""linux(+a%2)/amd64" has invalid OS features: invalid os feature "a%2": invalid URL escape "%2""#
        );
        assert!(matches!(
            parse_with_host("linux(%ff)/amd64", &h),
            Err(Error::InvalidOsVersion {
                source: OsOptionError::NotUtf8(_),
                ..
            })
        ));
    }

    #[test]
    fn format_cleans_like_path_join() {
        let p = parse_with_host("linux/./arm", &host()).unwrap();
        assert_eq!(format(&p), "linux/arm");
        let p = parse_with_host("linux/..", &host()).unwrap();
        assert_eq!(format(&p), ".");
        assert_eq!(format(&Platform::default()), "unknown");
        assert_eq!(go_path_clean("/../a//b/./c/.."), "/a/b");
        assert_eq!(go_path_clean("../../a"), "../../a");
    }

    #[test]
    fn format_all_skips_empty_and_duplicate_features() {
        let p = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            os_features: vec!["".into()],
            ..Platform::default()
        };
        assert_eq!(format_all(&p), "linux/amd64");
        let p = Platform {
            os_features: vec!["b".into(), "a".into(), "b".into()],
            ..p
        };
        assert_eq!(format_all(&p), "linux(+a+b)/amd64");
    }

    #[test]
    fn parse_all_names_the_entry() {
        let e = parse_all(&["linux/amd64", "linux/&"]).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid platform linux/&: "),
            "{e}"
        );
    }
}
