//! Byte sizes with units (`--shm-size 64m`, `1.5GB`, `128MiB`), parsed as Docker's
//! `units.RAMInBytes`: binary multipliers, case-insensitive suffixes.

use super::ValueError;

/// Parses a human size into bytes (`k`=1024, `m`=1024², ... `p`=1024⁵).
pub fn parse_ram_in_bytes(value: &str) -> Result<u64, ValueError> {
    let invalid = || ValueError(format!("invalid size: '{value}'"));
    let Some(sep) = value.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(invalid());
    };
    let (num, suffix) = if value.as_bytes()[sep] == b' ' {
        (&value[..sep], &value[sep + 1..])
    } else {
        (&value[..=sep], &value[sep + 1..])
    };
    // Go's ParseFloat also takes exponents and signs; sizes are plain decimals.
    if num.is_empty()
        || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || !num.bytes().any(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let size: f64 = num.parse().map_err(|_| invalid())?;

    let suffix = suffix.to_ascii_lowercase();
    let mul: u64 = match suffix.as_bytes() {
        [] => 1,
        [b'b'] => 1,
        [u, rest @ ..] => {
            let shift = match u {
                b'k' => 10,
                b'm' => 20,
                b'g' => 30,
                b't' => 40,
                b'p' => 50,
                _ => return Err(ValueError(format!("invalid suffix: '{suffix}'"))),
            };
            if !matches!(rest, [] | [b'b'] | [b'i', b'b']) {
                return Err(ValueError(format!("invalid suffix: '{suffix}'")));
            }
            1u64 << shift
        }
    };
    let bytes = size * mul as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    // Truncation toward zero, as Go's int64(float) conversion.
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let p = |s| parse_ram_in_bytes(s).unwrap();
        assert_eq!(p("0"), 0);
        assert_eq!(p("100"), 100);
        assert_eq!(p("100b"), 100);
        assert_eq!(p("64m"), 64 << 20);
        assert_eq!(p("64M"), 64 << 20);
        assert_eq!(p("64mb"), 64 << 20);
        assert_eq!(p("64MiB"), 64 << 20);
        assert_eq!(p("1g"), 1 << 30);
        assert_eq!(p("1.5k"), 1536);
        assert_eq!(p("2 kb"), 2048);
        assert_eq!(p("1t"), 1 << 40);
    }

    #[test]
    fn errors() {
        let e = |s| parse_ram_in_bytes(s).unwrap_err().to_string();
        assert_eq!(e("abc"), "invalid size: 'abc'");
        assert_eq!(e(""), "invalid size: ''");
        assert_eq!(e("-1"), "invalid size: '-1'");
        assert_eq!(e("1x"), "invalid suffix: 'x'");
        assert_eq!(e("1kbb"), "invalid suffix: 'kbb'");
        assert_eq!(e("1bb"), "invalid suffix: 'bb'");
        assert_eq!(e("99999999999p"), "invalid size: '99999999999p'");
    }
}
