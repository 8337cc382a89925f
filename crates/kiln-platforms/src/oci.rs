//! Conversions between [`Platform`] and `oci_spec::image::Platform`, so image code can use the
//! OCI types while matching and formatting go through this crate.

use oci_spec::image::{Arch, Os, Platform as OciPlatform};

use crate::Platform;

/// `oci_spec`'s `Arch::from("armbe")` yields `ARM64be`; map that name ourselves.
fn oci_arch(arch: &str) -> Arch {
    match arch {
        "armbe" => Arch::ARMbe,
        other => Arch::from(other),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl From<&Platform> for OciPlatform {
    /// Empty variant, OS version and feature list become absent fields; names are carried over
    /// as they are (unknown ones as `Other`).
    fn from(p: &Platform) -> Self {
        let mut oci = OciPlatform::default();
        oci.set_os(Os::from(p.os.as_str()));
        oci.set_architecture(oci_arch(&p.architecture));
        oci.set_variant(non_empty(&p.variant));
        oci.set_os_version(non_empty(&p.os_version));
        oci.set_os_features((!p.os_features.is_empty()).then(|| p.os_features.clone()));
        oci
    }
}

impl From<Platform> for OciPlatform {
    fn from(p: Platform) -> Self {
        OciPlatform::from(&p)
    }
}

impl From<&OciPlatform> for Platform {
    /// Absent optional fields become empty; the reserved `features` field is dropped.
    fn from(oci: &OciPlatform) -> Self {
        Platform {
            os: oci.os().to_string(),
            architecture: oci.architecture().to_string(),
            variant: oci.variant().clone().unwrap_or_default(),
            os_version: oci.os_version().clone().unwrap_or_default(),
            os_features: oci.os_features().clone().unwrap_or_default(),
        }
    }
}

impl From<OciPlatform> for Platform {
    fn from(oci: OciPlatform) -> Self {
        Platform::from(&oci)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for spec in [
            "linux/amd64",
            "linux/arm/v7",
            "linux/armbe",
            "windows(10.0.17763+win32k)/amd64",
            "plan9/weird",
        ] {
            let p = crate::parse(spec).unwrap();
            let oci = OciPlatform::from(&p);
            assert_eq!(Platform::from(&oci), p, "{spec}");
        }
        let oci = OciPlatform::from(crate::parse("linux/arm64").unwrap());
        assert_eq!(oci.variant(), &None);
        assert_eq!(oci.os_features(), &None);
        assert_eq!(*oci.architecture(), Arch::ARM64);
    }
}
