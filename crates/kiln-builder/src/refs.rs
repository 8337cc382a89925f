//! What the [`ResultRef`] ids the builder hands the solver mean.
//!
//! - `scratch`: the empty tree (an image without layers, `FROM scratch`);
//! - `local:<session>:<name>`: the local context `<name>` of build session `<session>`, not
//!   materialised (checksummed from its scan, synced only when a step reads it);
//! - anything else: a committed snapshot of the worker, by name (chain ID or `snap-…`).

use kiln_solver::ResultRef;
use kiln_worker::SnapshotRef;

/// The id of the empty tree.
pub(crate) const SCRATCH: &str = "scratch";

/// A decoded [`ResultRef`] id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefKind<'a> {
    /// The empty tree.
    Scratch,
    /// A local context of a session.
    Local { session: &'a str, name: &'a str },
    /// A committed snapshot.
    Snapshot(&'a str),
}

/// Decodes `r`'s id.
pub(crate) fn kind_of(r: &ResultRef) -> RefKind<'_> {
    if r.id == SCRATCH {
        return RefKind::Scratch;
    }
    if let Some(rest) = r.id.strip_prefix("local:") {
        if let Some((session, name)) = rest.split_once(':') {
            return RefKind::Local { session, name };
        }
    }
    RefKind::Snapshot(&r.id)
}

/// The ref of snapshot `s` (`None`: scratch).
pub(crate) fn snapshot_ref(s: Option<&SnapshotRef>) -> ResultRef {
    match s {
        Some(s) => ResultRef::new(s.name()),
        None => ResultRef::new(SCRATCH),
    }
}

/// The ref of a local context.
pub(crate) fn local_ref(session: &str, name: &str) -> ResultRef {
    ResultRef::new(format!("local:{session}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        assert_eq!(kind_of(&snapshot_ref(None)), RefKind::Scratch);
        let s = SnapshotRef::new("sha256:abc");
        assert_eq!(
            kind_of(&snapshot_ref(Some(&s))),
            RefKind::Snapshot("sha256:abc")
        );
        assert_eq!(
            kind_of(&local_ref("42-7", "context")),
            RefKind::Local {
                session: "42-7",
                name: "context"
            }
        );
        // A snapshot name that merely starts like a local ref stays a snapshot.
        assert_eq!(
            kind_of(&ResultRef::new("local:nocolon")),
            RefKind::Snapshot("local:nocolon")
        );
    }
}
