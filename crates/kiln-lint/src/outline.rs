//! What a build target takes, for `--call=outline` (BuildKit's `dockerfile2llb.Outline`):
//! the build args its stages use, and the secrets and SSH agents their `RUN --mount`s need.

use std::collections::BTreeSet;

use crate::engine::{self, CheckOptions, Mode, StageState};
use crate::warning::{BuildError, Range};

/// The outline of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOutline {
    /// The target stage's name (empty for an unnamed stage).
    pub name: String,
    /// The target stage's description comment.
    pub description: String,
    /// The build args used by the target and the stages it needs, sorted by line.
    pub args: Vec<OutlineArg>,
    /// Secret mounts, sorted by line.
    pub secrets: Vec<OutlineMount>,
    /// SSH mounts, sorted by line.
    pub ssh: Vec<OutlineMount>,
}

/// A build arg in an outline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlineArg {
    /// The name.
    pub name: String,
    /// The doc comment of the `ARG` that defines it for this build.
    pub description: String,
    /// The value for this build.
    pub value: String,
    /// The lines of that `ARG`.
    pub location: Vec<Range>,
}

/// A secret or SSH mount in an outline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlineMount {
    /// The id.
    pub name: String,
    /// Whether the mount is `required`.
    pub required: bool,
    /// The lines of the first `RUN` using it.
    pub location: Vec<Range>,
}

/// Computes the outline of the target (`CheckOptions::target`, else the last stage).
///
/// Fails with upstream's message on anything that would stop the build before it starts
/// (parse errors, an unknown target, invalid instructions).
pub fn outline(dockerfile: &[u8], opts: &CheckOptions<'_>) -> Result<TargetOutline, BuildError> {
    let w = engine::walk(dockerfile, opts, Mode::Outline);
    if let Some(e) = w.error {
        return Err(e);
    }
    let Some(target) = w.target else {
        return Err(BuildError {
            message: "dockerfile contains no stages to build".into(),
            location: Vec::new(),
        });
    };
    let mut states = w.states;
    let mut args = collect_args(&mut states, target);
    args.sort_by_key(|a| a.location.first().map_or(0, |r| r.start.line));
    let mut secrets = collect_mounts(&states, target, false);
    secrets.sort_by_key(|m| m.location.first().map_or(0, |r| r.start.line));
    let mut ssh = collect_mounts(&states, target, true);
    ssh.sort_by_key(|m| m.location.first().map_or(0, |r| r.start.line));
    let (name, description) = states[target]
        .stage_index()
        .and_then(|i| w.stages.get(i))
        .map(|s| (s.name.clone(), s.comment.clone()))
        .unwrap_or_default();
    Ok(TargetOutline {
        name,
        description,
        args,
        secrets,
        ssh,
    })
}

/// Upstream's `markAllUsed`: an arg used marks the args its default referenced.
fn mark_all_used(state: &mut StageState) {
    let mut todo: Vec<String> = state.outline.used_args.iter().cloned().collect();
    let mut seen = BTreeSet::new();
    while let Some(k) = todo.pop() {
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(a) = state.outline.all_args.get(&k) {
            todo.extend(a.deps.iter().cloned());
        }
        state.outline.used_args.insert(k);
    }
}

/// The stages the outline looks at, in upstream's order: the stage itself, then (depth
/// first) its base, then the stages it reads from. Each stage once; iterative.
fn traversal(states: &[StageState], start: usize) -> Vec<usize> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(s) = stack.pop() {
        if s >= states.len() || !seen.insert(s) {
            continue;
        }
        order.push(s);
        let st = &states[s];
        stack.extend(st.deps.iter().rev().copied());
        if let Some(b) = st.base {
            stack.push(b);
        }
    }
    order
}

/// Upstream's `dispatchState.args`: the used args of every stage in the traversal, each name
/// once (the first stage reached defines it).
fn collect_args(states: &mut [StageState], target: usize) -> Vec<OutlineArg> {
    let mut visited = BTreeSet::new();
    let mut out = Vec::new();
    for si in traversal(states, target) {
        mark_all_used(&mut states[si]);
        let st = &states[si];
        for k in &st.outline.used_args {
            if let Some(a) = st.outline.all_args.get(k) {
                if visited.insert(k.clone()) {
                    out.push(OutlineArg {
                        name: a.key.clone(),
                        description: a.comment.clone(),
                        value: a.value.clone(),
                        location: a.location.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Upstream's `dispatchState.secrets` / `.ssh`.
fn collect_mounts(states: &[StageState], target: usize, ssh: bool) -> Vec<OutlineMount> {
    let mut visited = BTreeSet::new();
    let mut out = Vec::new();
    for si in traversal(states, target) {
        let st = &states[si];
        let map = if ssh {
            &st.outline.ssh
        } else {
            &st.outline.secrets
        };
        for (k, v) in map {
            if visited.insert(k.clone()) {
                out.push(OutlineMount {
                    name: k.clone(),
                    required: v.required,
                    location: v.location.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_platforms::Platform;
    use std::collections::BTreeMap;

    fn opts(target: Option<&str>, args: &[(&str, &str)]) -> CheckOptions<'static> {
        CheckOptions {
            target: target.map(str::to_string),
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            target_platform: Some(Platform::new("linux", "amd64")),
            build_platform: Some(Platform::new("linux", "amd64")),
            ..CheckOptions::default()
        }
    }

    const BUILDX_CASE: &str = "
FROM busybox AS first
RUN --mount=type=secret,target=/etc/passwd,required=true --mount=type=ssh true

FROM alpine AS second
RUN --mount=type=secret,id=unused --mount=type=ssh,id=ssh2 true

FROM scratch AS third
ARG BAR
RUN --mount=type=secret,id=second${BAR} true

FROM third AS target
COPY --from=first /foo /
RUN --mount=type=ssh,id=ssh3,required true

FROM second
";

    #[test]
    fn buildx_outline_case() {
        let o = outline(
            BUILDX_CASE.as_bytes(),
            &opts(Some("target"), &[("BAR", "678")]),
        )
        .unwrap();
        assert_eq!(o.name, "target");
        let args: Vec<(&str, &str)> = o
            .args
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(args, [("BAR", "678")]);
        let secrets: Vec<(&str, bool)> = o
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), s.required))
            .collect();
        assert_eq!(secrets, [("passwd", true), ("second678", false)]);
        let ssh: Vec<(&str, bool)> = o
            .ssh
            .iter()
            .map(|s| (s.name.as_str(), s.required))
            .collect();
        assert_eq!(ssh, [("default", false), ("ssh3", true)]);
    }

    #[test]
    fn default_target_is_the_last_stage() {
        let o = outline(BUILDX_CASE.as_bytes(), &opts(None, &[])).unwrap();
        assert_eq!(o.name, "");
        let secrets: Vec<&str> = o.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(secrets, ["unused"]);
        let ssh: Vec<&str> = o.ssh.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(ssh, ["ssh2"]);
    }

    #[test]
    fn global_args_keep_their_description_and_dependencies() {
        let src = "# REGISTRY is where images come from\nARG REGISTRY=docker.io\nARG IMAGE=${REGISTRY}/library/busybox\n# VERSION of the app\nARG VERSION=1.0\nARG UNUSED=x\n\n# app is the app\nFROM ${IMAGE} AS app\nARG VERSION\n";
        let o = outline(src.as_bytes(), &opts(None, &[])).unwrap();
        assert_eq!(o.name, "app");
        assert_eq!(o.description, "is the app");
        let args: Vec<(&str, &str, &str, usize)> = o
            .args
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.value.as_str(),
                    a.description.as_str(),
                    a.location[0].start.line,
                )
            })
            .collect();
        assert_eq!(
            args,
            [
                ("REGISTRY", "docker.io", "is where images come from", 2),
                ("IMAGE", "docker.io/library/busybox", "", 3),
                ("VERSION", "1.0", "of the app", 5),
            ]
        );
    }

    #[test]
    fn errors_are_returned() {
        let e = outline(b"FROM scratch\n", &opts(Some("x"), &[])).unwrap_err();
        assert_eq!(e.message, "target stage \"x\" could not be found");
        assert!(outline(b"FORM x\n", &opts(None, &[])).is_err());
    }
}
