//! Small formatters matching the Go output BuildKit prints: byte sizes (`tonistiigi/units`),
//! RFC 3339 timestamps with trimmed nanoseconds, base64 for `[]byte`, durations in seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A byte count as BuildKit prints it with `%.2f` of `units.Bytes`: decimal units, two
/// decimals from 1 kB on (`2B`, `1.07kB`, `52.46MB`).
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let magnitude = n.unsigned_abs();
    if magnitude < 1000 {
        return format!("{n}B");
    }
    let mut base: f64 = 1.0;
    let mut i = 0;
    while i + 1 < UNITS.len() && (magnitude as f64) >= base * 1000.0 {
        base *= 1000.0;
        i += 1;
    }
    format!("{:.2}{}", n as f64 / base, UNITS[i])
}

/// A byte count as BuildKit prints log limits with `%#g` of `units.Bytes`: binary units,
/// shortest form (`2MiB`, `200KiB`).
pub fn binary_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut base: f64 = 1.0;
    let mut i = 0;
    while i + 1 < UNITS.len() && (n as f64) >= base * 1024.0 {
        base *= 1024.0;
        i += 1;
    }
    let value = n as f64 / base;
    // `%g` prints the shortest representation: Rust's `Display` for f64 does the same.
    format!("{value}{}", UNITS[i])
}

/// `b - a` in seconds, negative when `b` is before `a` (Go's `b.Sub(a).Seconds()`).
pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The timestamp prefix of a log line: seconds since the vertex started, with 3 decimals
/// under 10 s, 2 under 100 s and 1 above (`0.123`, `71.64`, `246.4`).
pub fn log_offset(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.3}")
    } else if secs < 100.0 {
        format!("{secs:.2}")
    } else {
        format!("{secs:.1}")
    }
}

/// Go's `time.RFC3339Nano` in UTC: `2026-11-23T01:48:52.12345Z` (trailing zeros of the
/// fraction trimmed, no fraction when it is zero).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos): (i64, u32) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d: Duration = e.duration();
            let mut s = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let mut n = d.subsec_nanos();
            if n > 0 {
                s -= 1;
                n = 1_000_000_000 - n;
            }
            (s, n)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is in 1..=31 and m in 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Standard base64 with padding (Go's JSON encoding of `[]byte`).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let idx = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(idx(18));
        out.push(idx(12));
        out.push(if chunk.len() > 1 { idx(6) } else { '=' });
        out.push(if chunk.len() > 2 { idx(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_match_units_bytes() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(2), "2B");
        assert_eq!(bytes(999), "999B");
        assert_eq!(bytes(1070), "1.07kB");
        assert_eq!(bytes(52_460_000), "52.46MB");
        assert_eq!(bytes(2_000_000_000), "2.00GB");
        assert_eq!(binary_bytes(2 * 1024 * 1024), "2MiB");
        assert_eq!(binary_bytes(200 * 1024), "200KiB");
        assert_eq!(binary_bytes(1536), "1.5KiB");
    }

    #[test]
    fn log_offsets_keep_three_significant_places() {
        assert_eq!(log_offset(0.1234), "0.123");
        assert_eq!(log_offset(71.644), "71.64");
        assert_eq!(log_offset(246.44), "246.4");
    }

    #[test]
    fn timestamps_are_rfc3339_nano() {
        let t = UNIX_EPOCH + Duration::new(1_795_312_132, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2026-11-22T01:48:52.12Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        assert_eq!(rfc3339_nano(before), "1969-12-31T23:59:58.5Z");
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 1)),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc\n"), "YWJjCg==");
    }
}
