//! `--add-host host:ip` (or `host=ip`): extra `/etc/hosts` entries for `RUN`, validated as
//! buildx's `toBuildkitExtraHosts` does (IPv6 may be bracketed; `host-gateway` is special).

use std::net::IpAddr;

use super::ValueError;

/// The address half of an `--add-host` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddr {
    Ip(IpAddr),
    /// `host-gateway`: the builder's gateway address, resolved at build time.
    HostGateway,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub host: String,
    pub addr: HostAddr,
}

/// Parses one `--add-host` entry. `host=ip` is tried before `host:ip`, so IPv6 addresses work
/// with either form (`myhost:::1`, `myhost=[::1]`).
pub fn parse_extra_host(value: &str) -> Result<ExtraHost, ValueError> {
    let invalid = || ValueError(format!("invalid host {value}"));
    let (host, ip) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .ok_or_else(invalid)?;
    if host.is_empty() || ip.is_empty() {
        return Err(invalid());
    }
    let addr = if ip == "host-gateway" {
        HostAddr::HostGateway
    } else {
        let ip = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .filter(|i| !i.is_empty())
            .unwrap_or(ip);
        HostAddr::Ip(ip.parse().map_err(|_| invalid())?)
    };
    Ok(ExtraHost {
        host: host.to_string(),
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let h = parse_extra_host("db:10.0.0.5").unwrap();
        assert_eq!(h.host, "db");
        assert_eq!(h.addr, HostAddr::Ip("10.0.0.5".parse().unwrap()));
        let h = parse_extra_host("db=10.0.0.5").unwrap();
        assert_eq!(h.addr, HostAddr::Ip("10.0.0.5".parse().unwrap()));
        let h = parse_extra_host("v6:::1").unwrap();
        assert_eq!(h.addr, HostAddr::Ip("::1".parse().unwrap()));
        let h = parse_extra_host("v6=[fe80::1]").unwrap();
        assert_eq!(h.addr, HostAddr::Ip("fe80::1".parse().unwrap()));
        let h = parse_extra_host("gw:host-gateway").unwrap();
        assert_eq!(h.addr, HostAddr::HostGateway);
    }

    #[test]
    fn errors() {
        for bad in ["db", "db:", ":1.2.3.4", "db:not-an-ip", "db:1.2.3", "db=[]"] {
            assert_eq!(
                parse_extra_host(bad).unwrap_err().to_string(),
                format!("invalid host {bad}"),
                "{bad}"
            );
        }
    }
}
