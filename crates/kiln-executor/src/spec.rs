//! OCI runtime spec generation (pure): what BuildKit's `executor/oci.GenerateSpec` produces on
//! top of containerd's default Linux spec, without touching the filesystem.

use std::collections::HashSet;
use std::path::{Component, Path};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount as OciMount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder,
};

use crate::error::{Error, Result};
use crate::types::{ExecUser, Mount, MountSource, NetworkMode, ProcessSpec, SecurityMode};

/// `PATH` given to processes whose environment has none (BuildKit/Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Open-files limit (soft and hard) of every process: what buildkitd's own limit is under its
/// systemd unit, which BuildKit's containers inherit (it clears containerd's 1024). Capped at the
/// executor's own hard limit (see [`nofile_limit`]): raising it needs `CAP_SYS_RESOURCE`.
pub const NOFILE_LIMIT: u64 = 1_048_576;

/// [`NOFILE_LIMIT`], capped at this process's hard `RLIMIT_NOFILE` (what BuildKit's containers
/// get by inheriting buildkitd's limits).
pub fn nofile_limit() -> u64 {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    hard.map_or(NOFILE_LIMIT, |h| h.min(NOFILE_LIMIT))
}

/// Docker's (and containerd's, and so BuildKit's) default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the kernel knows (up to `CAP_CHECKPOINT_RESTORE`), for `--security=insecure`.
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Paths masked in `/proc` and `/sys` (containerd's defaults, as Docker).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// Paths made read-only in `/proc` (containerd's defaults, as Docker).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything [`generate_spec`] needs; all of it already resolved (user, generated files).
#[derive(Debug, Clone)]
pub struct SpecPlan<'a> {
    /// Container id (names the cgroup `/kiln/<id>`).
    pub container_id: &'a str,
    /// Host path of the (already mounted) root filesystem.
    pub rootfs: &'a Path,
    /// The process.
    pub process: &'a ProcessSpec,
    /// The resolved user (see [`crate::resolve_user`]).
    pub user: &'a ExecUser,
    /// Extra mounts.
    pub mounts: &'a [Mount],
    /// Network mode.
    pub network: NetworkMode,
    /// The network namespace to join (the sandbox network's); `None`: a new one.
    pub netns: Option<&'a Path>,
    /// Security mode.
    pub security: SecurityMode,
    /// Container hostname.
    pub hostname: &'a str,
    /// Host path of the generated hosts file, bound read-only on `/etc/hosts`.
    pub hosts_file: &'a Path,
    /// Host path of the generated resolv.conf, bound read-only on `/etc/resolv.conf`.
    pub resolv_conf: &'a Path,
    /// `RLIMIT_NOFILE` (soft and hard); usually [`nofile_limit()`].
    pub nofile: u64,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidProcess(msg.into())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn mount(dest: &str, typ: &str, source: &Path, options: &[&str]) -> Result<OciMount> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(strings(options))
        .build()?)
}

/// Checks a mount destination: absolute, no `..`, no NUL. (The runtime resolves it beneath the
/// rootfs; refusing `..` keeps plans readable and intent obvious.)
fn check_destination(dest: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidMount {
        destination: dest.to_string(),
        reason: reason.to_string(),
    };
    if !dest.starts_with('/') {
        return Err(bad("destination must be an absolute path"));
    }
    if dest.contains('\0') {
        return Err(bad("destination contains a NUL byte"));
    }
    if Path::new(dest)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(bad("destination must not contain `..`"));
    }
    Ok(())
}

/// The runtime mounts for one extra mount, like BuildKit's mountables produce them.
fn extra_mount(m: &Mount) -> Result<OciMount> {
    check_destination(&m.destination)?;
    let dest = m.destination.as_str();
    match &m.source {
        MountSource::Bind { source, readonly }
        | MountSource::Cache {
            dir: source,
            readonly,
        } => {
            let opts: &[&str] = if *readonly {
                &["rbind", "ro"]
            } else {
                &["rbind"]
            };
            mount(dest, "bind", source, opts)
        }
        MountSource::Tmpfs { size } => {
            let mut opts = vec!["nosuid".to_string()];
            if let Some(size) = size {
                opts.push(format!("size={size}"));
            }
            Ok(MountBuilder::default()
                .destination(dest)
                .typ("tmpfs")
                .source("tmpfs")
                .options(opts)
                .build()?)
        }
        MountSource::Secret { file } => mount(
            dest,
            "bind",
            file,
            &["ro", "rbind", "nodev", "nosuid", "noexec"],
        ),
        MountSource::Snapshot(raw) => {
            if raw.options.iter().any(|o| o.contains('\0')) || raw.typ.contains('\0') {
                return Err(Error::InvalidMount {
                    destination: dest.to_string(),
                    reason: "option contains a NUL byte".to_string(),
                });
            }
            Ok(MountBuilder::default()
                .destination(dest)
                .typ(raw.typ.as_str())
                .source(raw.source.as_path())
                .options(raw.options.clone())
                .build()?)
        }
    }
}

/// The default mounts of every container (containerd's list without `/run`, as BuildKit), the
/// generated `/etc` files and the cgroup filesystem.
fn default_mounts(plan: &SpecPlan<'_>) -> Result<Vec<OciMount>> {
    let insecure = plan.security == SecurityMode::Insecure;
    let sys_opts: &[&str] = if insecure {
        &["nosuid", "noexec", "nodev", "rw"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_opts: &[&str] = if insecure {
        &["nosuid", "noexec", "nodev", "rw"]
    } else {
        &["ro", "nosuid", "noexec", "nodev"]
    };
    Ok(vec![
        mount(
            "/proc",
            "proc",
            Path::new("proc"),
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev",
            "tmpfs",
            Path::new("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            Path::new("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            Path::new("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            Path::new("mqueue"),
            &["nosuid", "noexec", "nodev"],
        )?,
        mount("/sys", "sysfs", Path::new("sysfs"), sys_opts)?,
        mount(
            "/etc/resolv.conf",
            "bind",
            plan.resolv_conf,
            &["rbind", "ro"],
        )?,
        mount("/etc/hosts", "bind", plan.hosts_file, &["rbind", "ro"])?,
        mount("/sys/fs/cgroup", "cgroup", Path::new("cgroup"), cgroup_opts)?,
    ])
}

/// A later mount on the same destination replaces an earlier one in place (BuildKit's
/// `dedupMounts`), so parents stay before their children.
fn dedup_mounts(mounts: Vec<OciMount>) -> Vec<OciMount> {
    let mut out: Vec<OciMount> = Vec::with_capacity(mounts.len());
    for m in mounts {
        match out.iter().position(|o| o.destination() == m.destination()) {
            Some(i) => out[i] = m,
            None => out.push(m),
        }
    }
    out
}

fn process_env(env: &[String]) -> Result<Vec<String>> {
    for e in env {
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() && !e.contains('\0') => {}
            _ => return Err(invalid(format!("invalid environment variable {e:?}"))),
        }
    }
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    Ok(env)
}

/// Generates the runtime spec of one container run. Pure: reads and writes nothing.
pub fn generate_spec(plan: &SpecPlan<'_>) -> Result<Spec> {
    let p = plan.process;
    if p.args.is_empty() {
        return Err(invalid("no command given"));
    }
    if p.args.iter().any(|a| a.contains('\0')) {
        return Err(invalid("argument contains a NUL byte"));
    }
    if p.tty {
        return Err(invalid("tty is not supported"));
    }
    let cwd = if p.cwd.is_empty() {
        "/"
    } else {
        p.cwd.as_str()
    };
    if !cwd.starts_with('/') || cwd.contains('\0') {
        return Err(invalid(format!(
            "working directory {cwd:?} is not an absolute path"
        )));
    }
    let insecure = plan.security == SecurityMode::Insecure;

    let caps: HashSet<Capability> = if insecure {
        ALL_CAPABILITIES.into_iter().collect()
    } else {
        DEFAULT_CAPABILITIES.into_iter().collect()
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()?;
    let user = UserBuilder::default()
        .uid(plan.user.uid)
        .gid(plan.user.gid)
        .additional_gids(plan.user.additional_gids.clone())
        .build()?;
    let rlimit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(plan.nofile)
        .hard(plan.nofile)
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(p.args.clone())
        .env(process_env(&p.env)?)
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(vec![rlimit])
        .no_new_privileges(false)
        .build()?;

    let mut ns_types = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if plan.network != NetworkMode::Host {
        ns_types.push(LinuxNamespaceType::Network);
    }
    let namespaces = ns_types
        .into_iter()
        .map(|t| {
            let mut b = LinuxNamespaceBuilder::default().typ(t);
            if let (LinuxNamespaceType::Network, Some(path)) = (t, plan.netns) {
                b = b.path(path);
            }
            b.build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let devices = LinuxDeviceCgroupBuilder::default()
        .allow(insecure)
        .access("rwm")
        .build()?;
    let resources = LinuxResourcesBuilder::default()
        .devices(vec![devices])
        .build()?;
    let (masked, readonly) = if insecure {
        (Vec::new(), Vec::new())
    } else {
        (strings(&MASKED_PATHS), strings(&READONLY_PATHS))
    };
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources)
        .cgroups_path(format!("/kiln/{}", plan.container_id))
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()?;

    let mut mounts = default_mounts(plan)?;
    for m in plan.mounts {
        mounts.push(extra_mount(m)?);
    }

    let root = RootBuilder::default()
        .path(plan.rootfs)
        .readonly(false)
        .build()?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2-dev")
        .root(root)
        .hostname(plan.hostname)
        .mounts(dedup_mounts(mounts))
        .process(process)
        .linux(linux)
        .build()?;
    spec.set_annotations(None);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RawMount;
    use std::path::PathBuf;

    fn process(args: &[&str]) -> ProcessSpec {
        ProcessSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["FOO=bar".into()],
            cwd: "/work".into(),
            user: String::new(),
            tty: false,
        }
    }

    fn plan<'a>(
        p: &'a ProcessSpec,
        user: &'a ExecUser,
        mounts: &'a [Mount],
        network: NetworkMode,
        security: SecurityMode,
    ) -> SpecPlan<'a> {
        SpecPlan {
            container_id: "abc",
            rootfs: Path::new("/bundle/rootfs"),
            process: p,
            user,
            mounts,
            network,
            netns: None,
            security,
            hostname: "buildkitsandbox",
            hosts_file: Path::new("/bundle/hosts"),
            resolv_conf: Path::new("/bundle/resolv.conf"),
            nofile: NOFILE_LIMIT,
        }
    }

    fn gen_spec(mounts: &[Mount], network: NetworkMode, security: SecurityMode) -> Spec {
        let p = process(&["/bin/sh", "-c", "true"]);
        let u = ExecUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10, 29],
        };
        generate_spec(&plan(&p, &u, mounts, network, security)).unwrap()
    }

    fn namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
        spec.linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect()
    }

    fn mount_of<'a>(spec: &'a Spec, dest: &str) -> Option<&'a OciMount> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
    }

    #[test]
    fn sandbox_namespaces_and_caps() {
        let spec = gen_spec(&[], NetworkMode::Sandbox, SecurityMode::Sandbox);
        use LinuxNamespaceType::*;
        assert_eq!(namespaces(&spec), vec![Pid, Ipc, Uts, Mount, Network]);
        let proc = spec.process().as_ref().unwrap();
        let caps = proc.capabilities().as_ref().unwrap();
        let want: HashSet<_> = DEFAULT_CAPABILITIES.into_iter().collect();
        assert_eq!(caps.bounding().as_ref(), Some(&want));
        assert_eq!(caps.effective().as_ref(), Some(&want));
        assert_eq!(caps.permitted().as_ref(), Some(&want));
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        assert!(!want.contains(&Capability::SysAdmin));
        assert_eq!(proc.no_new_privileges(), Some(false));
        let linux = spec.linux().as_ref().unwrap();
        assert!(
            linux
                .masked_paths()
                .as_ref()
                .unwrap()
                .contains(&"/proc/kcore".to_string())
        );
        assert!(
            linux
                .readonly_paths()
                .as_ref()
                .unwrap()
                .contains(&"/proc/sys".to_string())
        );
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(json["linux"]["cgroupsPath"], "/kiln/abc");
        assert_eq!(json["hostname"], "buildkitsandbox");
        assert_eq!(json["root"]["path"], "/bundle/rootfs");
        assert!(json["linux"].get("uidMappings").is_none());
    }

    #[test]
    fn host_network_shares_netns_and_insecure_has_all_caps() {
        let spec = gen_spec(&[], NetworkMode::Host, SecurityMode::Insecure);
        assert!(!namespaces(&spec).contains(&LinuxNamespaceType::Network));
        assert!(!namespaces(&spec).contains(&LinuxNamespaceType::User));
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert!(
            caps.bounding()
                .as_ref()
                .unwrap()
                .contains(&Capability::SysAdmin)
        );
        assert_eq!(caps.effective().as_ref().unwrap().len(), 41);
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
        let sys = mount_of(&spec, "/sys").unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"rw".to_string()));
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);

        let spec = gen_spec(&[], NetworkMode::None, SecurityMode::Sandbox);
        assert!(namespaces(&spec).contains(&LinuxNamespaceType::Network));
    }

    #[test]
    fn process_user_env_cwd_rlimits() {
        let spec = gen_spec(&[], NetworkMode::Sandbox, SecurityMode::Sandbox);
        let proc = spec.process().as_ref().unwrap();
        assert_eq!(proc.user().uid(), 1000);
        assert_eq!(proc.user().gid(), 1000);
        assert_eq!(
            proc.user().additional_gids().as_ref().unwrap(),
            &vec![10, 29]
        );
        assert_eq!(
            proc.env().as_ref().unwrap(),
            &vec![format!("PATH={DEFAULT_PATH}"), "FOO=bar".to_string()]
        );
        assert_eq!(proc.cwd(), Path::new("/work"));
        assert_eq!(proc.terminal(), Some(false));
        let rl = &proc.rlimits().as_ref().unwrap()[0];
        assert_eq!(rl.typ(), PosixRlimitType::RlimitNofile);
        assert_eq!((rl.soft(), rl.hard()), (NOFILE_LIMIT, NOFILE_LIMIT));

        let mut p = process(&["env"]);
        p.env = vec!["PATH=/bin".into()];
        p.cwd = String::new();
        let u = ExecUser::default();
        let spec = generate_spec(&plan(
            &p,
            &u,
            &[],
            NetworkMode::Sandbox,
            SecurityMode::Sandbox,
        ))
        .unwrap();
        let proc = spec.process().as_ref().unwrap();
        assert_eq!(proc.env().as_ref().unwrap(), &vec!["PATH=/bin".to_string()]);
        assert_eq!(proc.cwd(), Path::new("/"));
    }

    #[test]
    fn bad_processes_are_refused() {
        let u = ExecUser::default();
        let check = |p: ProcessSpec| {
            generate_spec(&plan(
                &p,
                &u,
                &[],
                NetworkMode::Sandbox,
                SecurityMode::Sandbox,
            ))
            .unwrap_err()
            .to_string()
        };
        assert_eq!(check(process(&[])), "invalid process: no command given");
        let mut p = process(&["x"]);
        p.cwd = "rel".into();
        assert!(check(p).contains("not an absolute path"));
        let mut p = process(&["x"]);
        p.env = vec!["NOEQUALS".into()];
        assert!(check(p).contains("invalid environment variable"));
        let mut p = process(&["x"]);
        p.tty = true;
        assert!(check(p).contains("tty"));
    }

    #[test]
    fn default_mounts_like_buildkit() {
        let spec = gen_spec(&[], NetworkMode::Sandbox, SecurityMode::Sandbox);
        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/etc/resolv.conf",
                "/etc/hosts",
                "/sys/fs/cgroup"
            ]
        );
        assert!(mount_of(&spec, "/run").is_none());
        let hosts = mount_of(&spec, "/etc/hosts").unwrap();
        assert_eq!(hosts.source().as_deref(), Some(Path::new("/bundle/hosts")));
        assert_eq!(hosts.options().as_ref().unwrap(), &vec!["rbind", "ro"]);
        let sys = mount_of(&spec, "/sys").unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"ro".to_string()));
    }

    #[test]
    fn extra_mounts() {
        let mounts = vec![
            Mount {
                destination: "/src".into(),
                source: MountSource::Bind {
                    source: PathBuf::from("/host/src"),
                    readonly: true,
                },
            },
            Mount {
                destination: "/tmp".into(),
                source: MountSource::Tmpfs {
                    size: Some(1 << 20),
                },
            },
            Mount {
                destination: "/root/.cache".into(),
                source: MountSource::Cache {
                    dir: PathBuf::from("/var/lib/kiln/cache/mounts/x"),
                    readonly: false,
                },
            },
            Mount {
                destination: "/run/secrets/token".into(),
                source: MountSource::Secret {
                    file: PathBuf::from("/tmp/s/token"),
                },
            },
            Mount {
                destination: "/other".into(),
                source: MountSource::Snapshot(RawMount {
                    typ: "overlay".into(),
                    source: PathBuf::from("overlay"),
                    options: vec!["lowerdir=/a:/b".into()],
                }),
            },
            Mount {
                destination: "/etc/hosts".into(),
                source: MountSource::Bind {
                    source: PathBuf::from("/my/hosts"),
                    readonly: true,
                },
            },
        ];
        let spec = gen_spec(&mounts, NetworkMode::Sandbox, SecurityMode::Sandbox);
        let opts = |d: &str| mount_of(&spec, d).unwrap().options().clone().unwrap();
        assert_eq!(opts("/src"), vec!["rbind", "ro"]);
        assert_eq!(opts("/tmp"), vec!["nosuid", "size=1048576"]);
        assert_eq!(opts("/root/.cache"), vec!["rbind"]);
        assert_eq!(
            opts("/run/secrets/token"),
            vec!["ro", "rbind", "nodev", "nosuid", "noexec"]
        );
        assert_eq!(
            mount_of(&spec, "/other").unwrap().typ().as_deref(),
            Some("overlay")
        );
        // The user's /etc/hosts replaces the generated one, in place.
        let all = spec.mounts().as_ref().unwrap();
        let hosts: Vec<_> = all
            .iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].source().as_deref(), Some(Path::new("/my/hosts")));
        assert_eq!(all[7].destination(), Path::new("/etc/hosts"));
    }

    #[test]
    fn bad_mount_destinations() {
        let p = process(&["x"]);
        let u = ExecUser::default();
        for dest in ["relative", "/a/../../etc", "/a\0b"] {
            let mounts = vec![Mount {
                destination: dest.into(),
                source: MountSource::Tmpfs { size: None },
            }];
            let err = generate_spec(&plan(
                &p,
                &u,
                &mounts,
                NetworkMode::Sandbox,
                SecurityMode::Sandbox,
            ))
            .unwrap_err();
            assert!(matches!(err, Error::InvalidMount { .. }), "{dest}: {err}");
        }
    }
}
