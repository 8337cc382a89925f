//! `--ulimit name=soft[:hard]`: resource limits for `RUN` containers, parsed as Docker's
//! `units.ParseUlimit`.

use super::ValueError;

/// The limits Docker accepts (`as` is deliberately absent, as in Docker).
const NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    /// Equal to `soft` when not given; `-1` is unlimited.
    pub hard: i64,
}

fn parse_limit(s: &str) -> Result<i64, ValueError> {
    s.parse::<i64>()
        .map_err(|_| ValueError(format!("strconv.ParseInt: parsing {s:?}: invalid syntax")))
}

/// Parses one `--ulimit` value.
pub fn parse_ulimit(value: &str) -> Result<Ulimit, ValueError> {
    let Some((name, limits)) = value.split_once('=') else {
        return Err(ValueError(format!("invalid ulimit argument: {value}")));
    };
    if !NAMES.contains(&name) {
        return Err(ValueError(format!("invalid ulimit type: {name}")));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => {
            let soft = parse_limit(soft)?;
            (soft, soft)
        }
        [soft, hard] => (parse_limit(soft)?, parse_limit(hard)?),
        _ => {
            return Err(ValueError(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            )));
        }
    };
    if hard != -1 && soft > hard {
        return Err(ValueError(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Adds `u`, replacing an earlier limit of the same name (Docker's `UlimitOpt`).
pub fn merge(list: &mut Vec<Ulimit>, u: Ulimit) {
    list.retain(|o| o.name != u.name);
    list.push(u);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_and_hard() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = parse_ulimit("nproc=512").unwrap();
        assert_eq!((u.soft, u.hard), (512, 512));
        let u = parse_ulimit("core=100:-1").unwrap();
        assert_eq!((u.soft, u.hard), (100, -1));
    }

    #[test]
    fn errors() {
        let e = |s| parse_ulimit(s).unwrap_err().to_string();
        assert_eq!(e("nofile"), "invalid ulimit argument: nofile");
        assert_eq!(e("as=1"), "invalid ulimit type: as");
        assert_eq!(
            e("nofile=2:1"),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1"
        );
        assert_eq!(
            e("nofile=1:2:3"),
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"
        );
        assert_eq!(
            e("nofile=lots"),
            r#"strconv.ParseInt: parsing "lots": invalid syntax"#
        );
    }

    #[test]
    fn later_limit_replaces_earlier() {
        let mut list = Vec::new();
        merge(&mut list, parse_ulimit("nofile=1").unwrap());
        merge(&mut list, parse_ulimit("nproc=1").unwrap());
        merge(&mut list, parse_ulimit("nofile=2").unwrap());
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].name, "nofile");
        assert_eq!(list[1].soft, 2);
    }
}
