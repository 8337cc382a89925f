//! The host's default platform: Go-style OS/architecture names of the build target, and the ARM
//! variant detected from `/proc/cpuinfo` (with the kernel's machine name as fallback).

use std::sync::OnceLock;

use crate::Platform;
use crate::compare::{Ordered, only};
use crate::error::Error;

/// The host OS under its Go (`GOOS`) name.
pub(crate) fn host_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The host architecture under its Go (`GOARCH`) name.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "loongarch64" => "loong64",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "sparc64" => "sparc64",
        "wasm32" => "wasm",
        other => other,
    }
}

/// The platform of the machine this process runs on, as containerd's `DefaultSpec`: Go names
/// for OS and architecture, and on ARM the CPU variant (`v6`, `v7`, `v8`, ...) read once from
/// `/proc/cpuinfo` and cached. Other architectures have no variant.
///
/// The value is *not* normalised (an arm64 host reports `arm64` + `v8`); call
/// [`crate::normalize`] for the canonical form. Safe to call from any thread; detection runs
/// at most once per process and never fails (an undetectable variant is left empty).
pub fn default_platform() -> &'static Platform {
    static DEFAULT: OnceLock<Platform> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let architecture = host_arch().to_string();
        let variant = if architecture == "arm" || architecture == "arm64" {
            detect_arm_variant(&architecture)
        } else {
            String::new()
        };
        Platform {
            os: host_os().to_string(),
            architecture,
            variant,
            ..Platform::default()
        }
    })
}

/// The default matcher and preference order for this host: [`only`] of [`default_platform`]
/// (e.g. on linux/amd64 it also accepts linux/386, preferring amd64).
pub fn default_matcher() -> Ordered {
    only(default_platform())
}

/// Maps the kernel's machine name or `/proc/cpuinfo` architecture (`aarch64`, `armv7l`,
/// `ARMv8`, ...) to an ARM version number: `aarch64`/`armv8…` → `8`, `armv7…` … `armv3…` →
/// `7` … `3`, any other `armvN…` → `unknown`.
///
/// Fails with [`Error::InvalidCpuArch`] for a name that is not `aarch64` and does not start
/// with `armv` followed by at least one character (case-insensitive).
pub fn cpu_variant_from_arch(arch: &str) -> Result<&'static str, Error> {
    let lower = arch.to_ascii_lowercase();
    if lower == "aarch64" {
        return Ok("8");
    }
    if lower.starts_with("armv") && lower.len() >= 5 {
        return Ok(match lower.get(3..5) {
            Some("v8") => "8",
            Some("v7") => "7",
            Some("v6") => "6",
            Some("v5") => "5",
            Some("v4") => "4",
            Some("v3") => "3",
            _ => "unknown",
        });
    }
    Err(Error::InvalidCpuArch(arch.to_string()))
}

/// The value of the first `/proc/cpuinfo` line whose key equals `key` (case-insensitive).
fn cpuinfo_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let value = fields.next()?;
        name.trim().eq_ignore_ascii_case(key).then(|| value.trim())
    })
}

/// The ARM variant (`v3` … `v8`, or `unknown`) from `/proc/cpuinfo` text, falling back to the
/// kernel's machine name (`uname -m`) when the "CPU architecture" line is missing (as under
/// emulation). `goarch` is the architecture this process was built for: on 32-bit `arm`,
/// Raspberry Pi ARMv6 boards that misreport `7` are recognised by their model name.
/// `None` when neither source names a variant.
pub(crate) fn arm_variant_from_cpuinfo(
    cpuinfo: Option<&str>,
    machine: Option<&str>,
    goarch: &str,
) -> Option<String> {
    let from_cpuinfo = cpuinfo.and_then(|c| cpuinfo_field(c, "Cpu architecture"));
    let mut variant = match from_cpuinfo {
        Some(v) => v.to_string(),
        None => cpu_variant_from_arch(machine?.trim()).ok()?.to_string(),
    };
    if goarch == "arm" && variant == "7" {
        let model = cpuinfo.and_then(|c| cpuinfo_field(c, "model name"));
        if model.is_some_and(|m| m.to_ascii_lowercase().starts_with("armv6-compatible")) {
            variant = "6".to_string();
        }
    }
    let variant = match variant.to_ascii_lowercase().as_str() {
        "8" | "aarch64" => "v8",
        "7" | "7m" | "?(12)" | "?(13)" | "?(14)" | "?(15)" | "?(16)" | "?(17)" => "v7",
        "6" | "6tej" => "v6",
        "5" | "5t" | "5te" | "5tej" => "v5",
        "4" | "4t" => "v4",
        "3" => "v3",
        _ => "unknown",
    };
    Some(variant.to_string())
}

/// Detects the ARM variant of this machine; empty when it cannot be told.
fn detect_arm_variant(goarch: &str) -> String {
    match host_os() {
        "linux" | "android" => {
            let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
            let machine = std::fs::read_to_string("/proc/sys/kernel/arch").ok();
            arm_variant_from_cpuinfo(cpuinfo.as_deref(), machine.as_deref(), goarch)
                .unwrap_or_default()
        }
        // These only run v7 on 32-bit ARM and v8 on 64-bit ARM.
        "windows" | "darwin" => if goarch == "arm64" { "v8" } else { "v7" }.to_string(),
        "freebsd" => if goarch == "arm64" { "v8" } else { "unknown" }.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_platform_has_go_names() {
        let p = default_platform();
        assert!(!p.os.is_empty());
        assert!(crate::database::is_known_arch(&p.architecture), "{p:?}");
        if p.architecture != "arm" && p.architecture != "arm64" {
            assert!(p.variant.is_empty());
        }
    }

    #[test]
    fn cpuinfo_variants() {
        let arm64 = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU architecture: 8\n";
        assert_eq!(
            arm_variant_from_cpuinfo(Some(arm64), None, "arm64").as_deref(),
            Some("v8")
        );
        let pi = "model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
        assert_eq!(
            arm_variant_from_cpuinfo(Some(pi), None, "arm").as_deref(),
            Some("v6")
        );
        assert_eq!(
            arm_variant_from_cpuinfo(Some(pi), None, "arm64").as_deref(),
            Some("v7")
        );
        let odd = "CPU architecture: 5TEJ\n";
        assert_eq!(
            arm_variant_from_cpuinfo(Some(odd), None, "arm").as_deref(),
            Some("v5")
        );
        // Emulated: no CPU architecture line, fall back to the machine name.
        let qemu = "processor\t: 0\n";
        assert_eq!(
            arm_variant_from_cpuinfo(Some(qemu), Some("armv7l\n"), "arm").as_deref(),
            Some("v7")
        );
        assert_eq!(arm_variant_from_cpuinfo(None, Some("x86_64"), "arm"), None);
        assert_eq!(arm_variant_from_cpuinfo(None, None, "arm"), None);
    }

    #[test]
    fn cpu_variant_from_short_names_does_not_panic() {
        for arch in ["", "a", "arm", "armv", "ärmv7", "armvé"] {
            let _ = cpu_variant_from_arch(arch);
        }
        assert_eq!(cpu_variant_from_arch("armv7l").ok(), Some("7"));
    }
}
