//! Entitlements: what a build may ask of the executor beyond the sandbox (`--allow`).

use crate::error::{Error, Result};
use crate::types::{NetworkMode, RunRequest, SecurityMode};

/// The entitlements granted to a build (BuildKit's `network.host` and `security.insecure`).
/// Nothing is granted by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entitlements {
    /// `network.host`: `RUN --network=host`.
    pub network_host: bool,
    /// `security.insecure`: `RUN --security=insecure`.
    pub security_insecure: bool,
}

impl Entitlements {
    /// Grants everything (tests, trusted callers).
    pub fn all() -> Self {
        Self {
            network_host: true,
            security_insecure: true,
        }
    }

    /// Checks that `req` asks for nothing beyond these entitlements.
    pub fn check(&self, req: &RunRequest) -> Result<()> {
        if req.network == NetworkMode::Host && !self.network_host {
            return Err(Error::EntitlementNotAllowed("network.host"));
        }
        if req.security == SecurityMode::Insecure && !self.security_insecure {
            return Err(Error::EntitlementNotAllowed("security.insecure"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_granted_by_default() {
        let none = Entitlements::default();
        assert!(none.check(&RunRequest::default()).is_ok());
        let host = RunRequest {
            network: NetworkMode::Host,
            ..RunRequest::default()
        };
        assert_eq!(
            none.check(&host).unwrap_err().to_string(),
            "granting entitlement network.host is not allowed by build daemon configuration"
        );
        let insecure = RunRequest {
            security: SecurityMode::Insecure,
            ..RunRequest::default()
        };
        assert!(matches!(
            none.check(&insecure),
            Err(Error::EntitlementNotAllowed("security.insecure"))
        ));
        assert!(Entitlements::all().check(&host).is_ok());
        assert!(Entitlements::all().check(&insecure).is_ok());
    }
}
