//! Contents of the generated `/etc/hosts` and `/etc/resolv.conf` (pure; BuildKit's rules).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::types::{HostIp, NetworkMode};

/// BuildKit's container hostname when none is given.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";

/// Nameservers used when filtering leaves none (Docker's defaults, IPv6 included as BuildKit
/// filters with IPv6 enabled).
const DEFAULT_NAMESERVERS: [&str; 4] = [
    "8.8.8.8",
    "8.8.4.4",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
];

/// Refuses names that would break (or inject lines into) `/etc/hosts`: empty, longer than 253
/// bytes, or containing whitespace, control characters or `#`.
pub fn check_host_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 253
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#');
    if bad {
        return Err(Error::InvalidHostName(name.to_string()));
    }
    Ok(())
}

/// `/etc/hosts`: localhost lines naming the container's hostname, then one `ip\thost` line per
/// `--add-host` entry, in order. Every name is checked with [`check_host_name`].
pub fn hosts_file(hostname: &str, extra_hosts: &[HostIp]) -> Result<String> {
    check_host_name(hostname)?;
    for h in extra_hosts {
        check_host_name(&h.host)?;
    }
    let mut out =
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for h in extra_hosts {
        out.push_str(&format!("{}\t{}\n", h.ip, h.host));
    }
    Ok(out)
}

/// The nameserver address of a `nameserver ADDR` line, if the line is one.
fn nameserver(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("nameserver"), Some(addr)) => Some(addr),
        _ => None,
    }
}

/// Whether a nameserver cannot work from another network namespace: loopback addresses, and
/// IPv6 link-local ones with a zone (`fe80::1%eth0`: the zone names a host interface).
fn unreachable_from_netns(addr: &str) -> bool {
    if addr.contains('%') {
        return true;
    }
    match addr.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `/etc/resolv.conf` from the host's: in a new network namespace, loopback (and zoned link-local)
/// nameservers are dropped; when no nameserver is left (in any mode), Google's public servers are
/// appended. Everything else (search, options, comments) is kept as is.
pub fn resolv_conf(host: &str, network: NetworkMode) -> String {
    let filter = network != NetworkMode::Host;
    let mut out = String::with_capacity(host.len() + 96);
    let mut kept = 0usize;
    for line in host.lines() {
        if let Some(addr) = nameserver(line.trim_start()) {
            if filter && unreachable_from_netns(addr) {
                continue;
            }
            kept += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if kept == 0 {
        for ns in DEFAULT_NAMESERVERS {
            out.push_str("nameserver ");
            out.push_str(ns);
            out.push('\n');
        }
    }
    out
}

/// Which host file to take DNS settings from: `/etc/resolv.conf`, unless it points only at
/// systemd-resolved's stub (127.0.0.53), in which case the real upstream list is used when present.
pub fn host_resolv_conf_path(main: &Path, main_content: &str) -> PathBuf {
    const RESOLVED: &str = "/run/systemd/resolve/resolv.conf";
    let servers: Vec<&str> = main_content
        .lines()
        .filter_map(|l| nameserver(l.trim_start()))
        .collect();
    if servers == ["127.0.0.53"] && Path::new(RESOLVED).exists() {
        PathBuf::from(RESOLVED)
    } else {
        main.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_hostname_and_extra_hosts() {
        let extra = [
            HostIp {
                host: "db".into(),
                ip: "10.0.0.5".parse().unwrap(),
            },
            HostIp {
                host: "v6".into(),
                ip: "fd00::1".parse().unwrap(),
            },
        ];
        assert_eq!(
            hosts_file("box", &extra).unwrap(),
            "127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             10.0.0.5\tdb\nfd00::1\tv6\n"
        );
    }

    #[test]
    fn bad_host_names_are_refused() {
        let inject = [HostIp {
            host: "x\n1.2.3.4 evil".into(),
            ip: "10.0.0.5".parse().unwrap(),
        }];
        assert_eq!(
            hosts_file("box", &inject).unwrap_err().to_string(),
            "invalid host name \"x\\n1.2.3.4 evil\""
        );
        assert!(hosts_file("", &[]).is_err());
        assert!(hosts_file("a b", &[]).is_err());
    }

    #[test]
    fn resolv_drops_loopback_in_sandbox() {
        let host = "search example.com\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.1.1.1\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, NetworkMode::Sandbox),
            "search example.com\nnameserver 10.1.1.1\noptions ndots:2\n"
        );
    }

    #[test]
    fn resolv_falls_back_to_public_servers() {
        let out = resolv_conf(
            "nameserver 127.0.0.1\nnameserver fe80::1%eth0\n",
            NetworkMode::None,
        );
        assert_eq!(
            out,
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\n\
             nameserver 2001:4860:4860::8844\n"
        );
        assert!(resolv_conf("", NetworkMode::Sandbox).contains("nameserver 8.8.8.8\n"));
    }

    #[test]
    fn resolv_host_network_keeps_loopback() {
        let host = "nameserver 127.0.0.53\n";
        assert_eq!(resolv_conf(host, NetworkMode::Host), host);
        assert!(resolv_conf("# empty\n", NetworkMode::Host).contains("8.8.4.4"));
    }
}
