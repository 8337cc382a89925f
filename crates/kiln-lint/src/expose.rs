//! `EXPOSE` port specs (`[ip:][hostPort:]containerPort[/proto]`): the two lint rules upstream
//! checks while parsing them (`ExposeProtoCasing`, `ExposeInvalidFormat`) and the errors that
//! make the instruction fail (BuildKit's `convert_expose.go`).

/// What checking one port spec found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortCheck {
    /// The protocol is not lowercase (`80/TCP`).
    pub proto_not_lowercase: bool,
    /// The spec names an IP address or a host port (`127.0.0.1:80:80`, `80:80`).
    pub has_ip_or_host_port: bool,
}

/// Checks one expanded port spec. `Err` carries upstream's message for a spec the build would
/// reject; the lint findings of a spec that fails after its protocol was read are returned
/// with the error, since upstream reports them before failing.
pub fn check_port(raw: &str) -> (PortCheck, Result<(), String>) {
    let mut found = PortCheck::default();
    let (ip, host_port, container) = split_parts(raw);
    let (proto, container) = match split_proto_port(container) {
        Ok(v) => v,
        Err(e) => return (found, Err(format!("invalid port: {}: {e}", go_q(raw)))),
    };
    found.proto_not_lowercase = proto != proto.to_lowercase();
    found.has_ip_or_host_port = !ip.is_empty() || !host_port.is_empty();

    let mut ip = ip.to_string();
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(inner) => ip = inner.to_string(),
            None => {
                return (
                    found,
                    Err(format!(
                        "invalid IP address {ip}: address {ip}:: missing ']' in address"
                    )),
                );
            }
        }
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return (found, Err(format!("invalid IP address: {ip}")));
    }
    let Ok((start, end)) = parse_port_range(container) else {
        return (found, Err(format!("invalid containerPort: {container}")));
    };
    if !host_port.is_empty() {
        let Ok((hs, he)) = parse_port_range(host_port) else {
            return (found, Err(format!("invalid hostPort: {host_port}")));
        };
        if end - start != (he - hs) && end != start {
            return (
                found,
                Err(format!(
                    "invalid ranges specified for container and host Ports: {container} and {host_port}"
                )),
            );
        }
    }
    (found, Ok(()))
}

fn go_q(s: &str) -> String {
    crate::rules::go_quote(s)
}

fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [c] => ("", "", c),
        [h, c] => ("", h, c),
        [ip, h, c] => (ip, h, c),
        _ => {
            // More than three parts: everything before the last two is the (IPv6) address.
            let n = parts.len();
            let ip_len: usize = parts[..n - 2].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
            (&raw[..ip_len], parts[n - 2], parts[n - 1])
        }
    }
}

fn split_proto_port(raw: &str) -> Result<(&str, &str), String> {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return Err("no port specified".to_string());
    }
    match proto.to_lowercase().as_str() {
        "" => Ok(("tcp", port)),
        "tcp" | "udp" | "sctp" => Ok((proto, port)),
        _ => Err(format!("invalid proto: {proto}")),
    }
}

fn parse_port_range(ports: &str) -> Result<(u32, u32), ()> {
    if ports.is_empty() {
        return Err(());
    }
    let (start, end) = match ports.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (ports, None),
    };
    let s = parse_port_number(start)?;
    let Some(end) = end.filter(|e| *e != start) else {
        return Ok((s, s));
    };
    let e = parse_port_number(end)?;
    if e < s {
        return Err(());
    }
    Ok((s, e))
}

fn parse_port_number(raw: &str) -> Result<u32, ()> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match digits.parse::<u32>() {
        Ok(p) if p <= 65535 => Ok(p),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ports_are_clean() {
        for p in ["80", "80/tcp", "53/udp", "1000-2000/sctp", "0"] {
            let (c, r) = check_port(p);
            assert_eq!(c, PortCheck::default(), "{p}");
            assert_eq!(r, Ok(()), "{p}");
        }
    }

    #[test]
    fn proto_casing() {
        let (c, r) = check_port("80/TcP");
        assert!(c.proto_not_lowercase && !c.has_ip_or_host_port);
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn ip_and_host_port() {
        for p in [
            "127.0.0.1:80:80",
            "5000:5000",
            "5000:5000/tcp",
            "0.0.0.0:1234-1236:1234-1236/tcp",
            "[::1]:8080:8080",
        ] {
            let (c, r) = check_port(p);
            assert!(c.has_ip_or_host_port, "{p}");
            assert_eq!(r, Ok(()), "{p}");
        }
    }

    #[test]
    fn errors_use_upstream_messages() {
        assert_eq!(
            check_port("80/foo").1.unwrap_err(),
            "invalid port: \"80/foo\": invalid proto: foo"
        );
        assert_eq!(
            check_port("/tcp").1.unwrap_err(),
            "invalid port: \"/tcp\": no port specified"
        );
        assert_eq!(
            check_port("abc").1.unwrap_err(),
            "invalid containerPort: abc"
        );
        assert_eq!(
            check_port("70000").1.unwrap_err(),
            "invalid containerPort: 70000"
        );
        assert_eq!(
            check_port("1.2.3:80:80").1.unwrap_err(),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(check_port("x:80").1.unwrap_err(), "invalid hostPort: x");
        // Lint findings survive a later error.
        let (c, r) = check_port("300.0.0.1:80:80/UDP");
        assert!(c.proto_not_lowercase && c.has_ip_or_host_port);
        assert!(r.is_err());
    }

    #[test]
    fn ipv6_long_form() {
        assert_eq!(
            split_parts("2001:4860:0:2001::68::333"),
            ("2001:4860:0:2001::68", "", "333")
        );
    }
}
