//! Known operating systems and architectures (Go's `syslist`) and name normalisation
//! (`Aarch64` → `arm64`, `armhf` → `arm/v7`, `macOS` → `darwin`, ...).

use crate::Platform;

/// Whether `os` (already normalised) is an operating system Go knows (`GOOS` values).
pub(crate) fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

/// Whether `arch` (already normalised) is an architecture Go knows (`GOARCH` values).
pub(crate) fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

/// Lower-cases an OS name and maps `macos` to `darwin`; an empty name becomes the host's OS,
/// as in containerd.
pub(crate) fn normalize_os(os: &str) -> String {
    if os.is_empty() {
        return crate::host::host_os().to_string();
    }
    let os = os.to_ascii_lowercase();
    if os == "macos" {
        "darwin".to_string()
    } else {
        os
    }
}

/// Lower-cases architecture and variant and maps their aliases to canonical values.
pub(crate) fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let variant = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            (arch, variant)
        }
        _ => (arch, variant),
    }
}

/// Translates a platform to its canonical form, as containerd's `Normalize`.
///
/// OS and architecture names are lower-cased and aliases resolved (`Aarch64` → `arm64`,
/// `x86_64` → `amd64`, `i386` → `386`, `armhf` → `arm` + `v7`, `armel` → `arm` + `v6`,
/// `macOS` → `darwin`; an empty OS becomes the host's); the canonical default variants are made explicit or dropped the way
/// containerd does it (`arm` → `arm/v7`, `arm64/v8` → `arm64`, `amd64/v1` → `amd64`); OS
/// features are sorted and de-duplicated. The OS version is kept as it is.
///
/// Note that the canonical form of `linux/arm` is `linux/arm/v7`, while [`crate::parse`]
/// returns the *display* form `linux/arm`: compare platforms through a [`crate::Matcher`] or
/// after normalising both sides, never with `==` on one normalised and one parsed value.
pub fn normalize(platform: &Platform) -> Platform {
    let (architecture, variant) = normalize_arch(&platform.architecture, &platform.variant);
    let mut os_features = platform.os_features.clone();
    os_features.sort();
    os_features.dedup();
    Platform {
        os: normalize_os(&platform.os),
        architecture,
        variant,
        os_version: platform.os_version.clone(),
        os_features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_aliases() {
        let n = |a: &str, v: &str| normalize_arch(a, v);
        assert_eq!(n("Aarch64", ""), ("arm64".into(), "".into()));
        assert_eq!(n("arm64", "V8"), ("arm64".into(), "".into()));
        assert_eq!(n("arm64", "v8.2"), ("arm64".into(), "v8.2".into()));
        assert_eq!(n("x86-64", "v1"), ("amd64".into(), "".into()));
        assert_eq!(n("amd64", "v3"), ("amd64".into(), "v3".into()));
        assert_eq!(n("i386", "whatever"), ("386".into(), "".into()));
        assert_eq!(n("armhf", ""), ("arm".into(), "v7".into()));
        assert_eq!(n("armel", "v7"), ("arm".into(), "v6".into()));
        assert_eq!(n("arm", ""), ("arm".into(), "v7".into()));
        assert_eq!(n("arm", "6"), ("arm".into(), "v6".into()));
        assert_eq!(n("arm", "v4"), ("arm".into(), "v4".into()));
        assert_eq!(n("S390X", ""), ("s390x".into(), "".into()));
    }

    #[test]
    fn normalize_sorts_and_dedups_features() {
        let p = Platform {
            os: "MacOS".into(),
            architecture: "x86_64".into(),
            os_features: vec!["b".into(), "a".into(), "b".into()],
            ..Platform::default()
        };
        let n = normalize(&p);
        assert_eq!(n.os, "darwin");
        assert_eq!(n.architecture, "amd64");
        assert_eq!(n.os_features, vec!["a".to_string(), "b".to_string()]);
    }
}
