//! `--network`: the network mode of `RUN` steps (`default`, `host`, `none`), as buildx accepts.

use super::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The builder's sandboxed network.
    #[default]
    Default,
    /// The host's network; implies the `network.host` entitlement.
    Host,
    /// No network at all.
    None,
}

pub fn parse_network(value: &str) -> Result<NetworkMode, ValueError> {
    match value {
        "" | "default" => Ok(NetworkMode::Default),
        "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        other => Err(ValueError(format!(
            "network mode {other:?} not supported (supported: default, host, none)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_network("default").unwrap(), NetworkMode::Default);
        assert_eq!(parse_network("").unwrap(), NetworkMode::Default);
        assert_eq!(parse_network("host").unwrap(), NetworkMode::Host);
        assert_eq!(parse_network("none").unwrap(), NetworkMode::None);
        assert_eq!(
            parse_network("bridge").unwrap_err().to_string(),
            r#"network mode "bridge" not supported (supported: default, host, none)"#
        );
    }
}
