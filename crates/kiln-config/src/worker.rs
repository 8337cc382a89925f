//! `[worker.oci]`: parallelism and the garbage-collection policy of the local cache, with
//! buildkitd's value syntax for sizes (`512000000`, `"512MB"`, `"10%"`) and durations
//! (`172800`, `"48h"`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `[worker]`: kiln has one worker kind, the OCI one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// `[worker.oci]`.
    pub oci: OciWorkerConfig,
}

/// `[worker.oci]` (buildkitd's `OCIConfig`, the keys kiln uses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OciWorkerConfig {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `platforms`: the platforms the worker builds for (detected when empty).
    pub platforms: Vec<String>,
    /// `snapshotter`: `auto`, `overlayfs` or `native`.
    pub snapshotter: Option<String>,
    /// `labels`: worker labels shown by `kiln inspect`.
    pub labels: BTreeMap<String, String>,
    /// `max-parallelism`: how many build steps may run at once; unset or 0 means no limit
    /// beyond the machine's, as in buildkitd.
    #[serde(rename = "max-parallelism")]
    pub max_parallelism: Option<usize>,
    /// `gc`: whether the cache is garbage-collected.
    pub gc: Option<bool>,
    /// `gckeepstorage` (deprecated in buildkitd for `reservedSpace`).
    #[serde(deserialize_with = "de_disk_space_opt")]
    pub gckeepstorage: Option<DiskSpace>,
    /// `reservedSpace`: usage below this is never collected.
    #[serde(rename = "reservedSpace", deserialize_with = "de_disk_space_opt")]
    pub reserved_space: Option<DiskSpace>,
    /// `maxUsedSpace`: usage above this is always collected.
    #[serde(rename = "maxUsedSpace", deserialize_with = "de_disk_space_opt")]
    pub max_used_space: Option<DiskSpace>,
    /// `minFreeSpace`: free disk space the collector tries to leave.
    #[serde(rename = "minFreeSpace", deserialize_with = "de_disk_space_opt")]
    pub min_free_space: Option<DiskSpace>,
    /// `[[worker.oci.gcpolicy]]`, applied in order.
    pub gcpolicy: Vec<GcPolicy>,
}

/// One `[[worker.oci.gcpolicy]]` entry (buildkitd's `GCPolicy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GcPolicy {
    /// `all`: also collect internal and shared records.
    pub all: bool,
    /// `filters`: which records the policy applies to (`type==source.local`, ...).
    pub filters: Vec<String>,
    /// `keepDuration`: records used more recently than this are kept.
    #[serde(rename = "keepDuration", deserialize_with = "de_duration_opt")]
    pub keep_duration: Option<Duration>,
    /// `keepBytes` (deprecated in buildkitd for `reservedSpace`).
    #[serde(rename = "keepBytes", deserialize_with = "de_disk_space_opt")]
    pub keep_bytes: Option<DiskSpace>,
    /// `reservedSpace`.
    #[serde(rename = "reservedSpace", deserialize_with = "de_disk_space_opt")]
    pub reserved_space: Option<DiskSpace>,
    /// `maxUsedSpace`.
    #[serde(rename = "maxUsedSpace", deserialize_with = "de_disk_space_opt")]
    pub max_used_space: Option<DiskSpace>,
    /// `minFreeSpace`.
    #[serde(rename = "minFreeSpace", deserialize_with = "de_disk_space_opt")]
    pub min_free_space: Option<DiskSpace>,
}

/// A disk-space amount: bytes, or a percentage of the disk holding kiln's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskSpace {
    Bytes(u64),
    /// 0–100.
    Percent(u8),
}

impl DiskSpace {
    /// The amount in bytes on a disk of `disk_size` bytes.
    pub fn as_bytes(self, disk_size: u64) -> u64 {
        match self {
            DiskSpace::Bytes(b) => b,
            DiskSpace::Percent(p) => disk_size / 100 * u64::from(p),
        }
    }
}

/// Parses a size as buildkitd does (docker/go-units `RAMInBytes`): a number with an optional
/// binary unit, `k`/`m`/`g`/`t`/`p` optionally followed by `i` and/or `b`, any case, an optional
/// space before it (`512MB` = 512 MiB, `1.5g`, `1024`), or a percentage (`10%`).
pub fn parse_disk_space(text: &str) -> Result<DiskSpace, String> {
    let text = strip_quotes(text.trim());
    if let Some(pct) = text.strip_suffix('%') {
        let p: u64 = pct.trim().parse().map_err(|_| {
            format!("invalid disk space {text:?}: a percentage is a whole number such as \"10%\"")
        })?;
        return u8::try_from(p)
            .ok()
            .filter(|p| *p <= 100)
            .map(DiskSpace::Percent)
            .ok_or_else(|| {
                format!("invalid disk space {text:?}: a percentage must be at most 100%")
            });
    }
    let bad = || {
        format!(
            "invalid disk space {text:?}: write bytes (512000000), a size (\"512MB\", \"2GiB\") or a percentage (\"10%\")"
        )
    };
    let num_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let mut unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    if unit.ends_with('b') {
        unit.pop();
    }
    if unit.ends_with('i') {
        unit.pop();
    }
    let multiplier: f64 = match unit.as_str() {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return Err(bad()),
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("invalid disk space {text:?}: too large"));
    }
    Ok(DiskSpace::Bytes(bytes as u64))
}

/// Parses a duration as buildkitd does: a Go duration (`48h`, `1h30m`, `1.5h`, `300ms`) or a
/// whole number of seconds (`172800`). Negative durations are rejected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = strip_quotes(text.trim());
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    go_duration(text).ok_or_else(|| {
        format!("invalid duration {text:?}: write seconds (172800) or a duration such as \"48h\" or \"1h30m\"")
    })
}

/// Go's `time.ParseDuration` for non-negative values.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let nanos: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos;
        rest = next;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

fn strip_quotes(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// A TOML value that may be an integer or a string.
enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        expecting: &'static str,
    ) -> Result<Self, D::Error> {
        struct V(&'static str);
        impl serde::de::Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i64::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_string()))
            }
        }
        d.deserialize_any(V(expecting))
    }
}

const EXPECT_SPACE: &str = "bytes (512000000), a size (\"512MB\") or a percentage (\"10%\")";
const EXPECT_DURATION: &str = "seconds (172800) or a duration (\"48h\")";

fn de_disk_space_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DiskSpace>, D::Error> {
    match IntOrString::deserialize(d, EXPECT_SPACE)? {
        IntOrString::Int(i) => u64::try_from(i)
            .map(|b| Some(DiskSpace::Bytes(b)))
            .map_err(|_| {
                serde::de::Error::custom(format!("invalid disk space {i}: must not be negative"))
            }),
        IntOrString::String(s) if s.trim().is_empty() => Ok(None),
        IntOrString::String(s) => parse_disk_space(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn de_duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match IntOrString::deserialize(d, EXPECT_DURATION)? {
        IntOrString::Int(i) => u64::try_from(i)
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|_| {
                serde::de::Error::custom(format!("invalid duration {i}: must not be negative"))
            }),
        IntOrString::String(s) if s.trim().is_empty() => Ok(None),
        IntOrString::String(s) => parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}
