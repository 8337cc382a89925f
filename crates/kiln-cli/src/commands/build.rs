//! `kiln build [OPTIONS] PATH | URL | -`: every `docker buildx build` flag (raw, as clap parses
//! it), its validation into `BuildOptions`, and the dispatch: `--call` subrequests run here; a
//! normal build runs in-process through kiln-builder (`engine`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use kiln_subrequests::{CallInput, CallKind};

use super::go_bool;
use crate::cli::GlobalArgs;
use crate::error::exit_code;
use crate::inputs;
use crate::options::annotation::{self, parse_annotation};
use crate::options::attest::{self, AttestType, canonicalize_shorthand, parse_attest};
use crate::options::build::BuildOptions;
use crate::options::cache::parse_cache_entry;
use crate::options::call::parse_call;
use crate::options::context::{self, parse_build_context};
use crate::options::entitlement::{Entitlement, parse_entitlement, split_values};
use crate::options::host::parse_extra_host;
use crate::options::keyvalue::{BareKey, insert_key_value};
use crate::options::network::{NetworkMode, parse_network};
use crate::options::output::{apply_shorthands, check_outputs, parse_output};
use crate::options::platform::{parse_platform, push_unique, split_specs};
use crate::options::progress::{parse_progress, resolve_progress};
use crate::options::secret::parse_secret;
use crate::options::size::parse_ram_in_bytes;
use crate::options::ssh::{self, parse_ssh};
use crate::options::tag::check_tag;
use crate::options::ulimit::{self, parse_ulimit};
use crate::options::{Env, FlagError, ProcessEnv, ValueError, csv, parse_go_bool};
use crate::resolver;

mod engine;

/// The flags of `kiln build`, as typed. Names, short forms, repetition and defaults follow
/// `docker buildx build`, including the hidden `docker build` compatibility flags.
#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln build [OPTIONS] PATH | URL | -")]
pub struct BuildArgs {
    /// Add a custom host-to-IP mapping (format: "host:ip")
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// Allow extra privileged entitlement (e.g., "network.host", "security.insecure")
    #[arg(long, value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,

    /// Add annotation to the image
    #[arg(long, value_name = "ANNOTATION")]
    pub annotation: Vec<String>,

    /// Attestation parameters (format: "type=sbom,generator=image")
    #[arg(long, value_name = "PARAMS")]
    pub attest: Vec<String>,

    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,

    /// Additional build contexts (e.g., name=path)
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_context: Vec<String>,

    /// External cache sources (e.g., "user/app:cache", "type=local,src=path/to/dir")
    #[arg(long = "cache-from", value_name = "SOURCE")]
    pub cache_from: Vec<String>,

    /// Cache export destinations (e.g., "user/app:cache", "type=local,dest=path/to/dir")
    #[arg(long = "cache-to", value_name = "DEST")]
    pub cache_to: Vec<String>,

    /// Set method for evaluating build ("check", "outline", "targets")
    #[arg(long, value_name = "METHOD", default_value = "build")]
    pub call: String,

    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(long = "cgroup-parent", value_name = "CGROUP")]
    pub cgroup_parent: Option<String>,

    /// Shorthand for "--call=check"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool, value_name = "BOOL")]
    pub check: Option<bool>,

    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    /// Write the image ID to a file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Set metadata for an image
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,

    /// Shorthand for "--output=type=docker"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub load: bool,

    /// Write build result metadata to a file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// Set the networking mode for the "RUN" instructions during build
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,

    /// Do not use cache when building the image
    #[arg(long = "no-cache", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub no_cache: bool,

    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,

    /// Output destination (format: "type=local,dest=path")
    #[arg(short = 'o', long, value_name = "OUTPUT")]
    pub output: Vec<String>,

    /// Set target platform for build
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,

    /// Set type of progress output ("auto", "quiet", "plain", "tty", "rawjson"). Use plain to show container output
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: String,

    /// Shorthand for "--attest=type=provenance"
    #[arg(long, value_name = "VALUE")]
    pub provenance: Option<String>,

    /// Always attempt to pull all referenced images
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub pull: bool,

    /// Shorthand for "--output=type=registry"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub push: bool,

    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub quiet: bool,

    /// Shorthand for "--attest=type=sbom"
    #[arg(long, value_name = "VALUE")]
    pub sbom: Option<String>,

    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long, value_name = "SECRET")]
    pub secret: Vec<String>,

    /// Shared memory size for build containers
    #[arg(long = "shm-size", value_name = "BYTES")]
    pub shm_size: Option<String>,

    /// SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")
    #[arg(long, value_name = "SSH")]
    pub ssh: Vec<String>,

    /// Name and optionally a tag (format: "name:tag")
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    pub tag: Vec<String>,

    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// Ulimit options
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,

    // Hidden flags `docker build` had; buildx accepts and ignores them (some with a warning).
    /// Compress the build context using gzip
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool)]
    pub compress: Option<bool>,

    /// Container isolation technology
    #[arg(long, hide = true)]
    pub isolation: Option<String>,

    /// Security options
    #[arg(long = "security-opt", hide = true)]
    pub security_opt: Vec<String>,

    /// Squash newly built layers into a single new layer
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool)]
    pub squash: Option<bool>,

    /// Memory limit
    #[arg(short = 'm', long, hide = true)]
    pub memory: Option<String>,

    /// Swap limit equal to memory plus swap: "-1" to enable unlimited swap
    #[arg(long = "memory-swap", hide = true, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", hide = true)]
    pub cpu_shares: Option<i64>,

    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", hide = true)]
    pub cpu_period: Option<i64>,

    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", hide = true, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,

    /// CPUs in which to allow execution ("0-3", "0,1")
    #[arg(long = "cpuset-cpus", hide = true)]
    pub cpuset_cpus: Option<String>,

    /// MEMs in which to allow execution ("0-3", "0,1")
    #[arg(long = "cpuset-mems", hide = true)]
    pub cpuset_mems: Option<String>,

    /// Remove intermediate containers after a successful build
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool)]
    pub rm: Option<bool>,

    /// Always remove intermediate containers
    #[arg(long = "force-rm", hide = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub force_rm: Option<bool>,

    /// Build context: a directory, a git or HTTP(S) URL, or "-" to read a Dockerfile from stdin
    #[arg(value_name = "PATH | URL | -")]
    pub context: Vec<String>,

    /// `--check` came after `--call` on the command line (pflag: the last one wins).
    #[arg(skip)]
    pub check_after_call: bool,
}

const USAGE: &str = "kiln build [OPTIONS] PATH | URL | -";

fn value_err<'a>(flag: &'static str, value: &'a str) -> impl FnOnce(ValueError) -> FlagError + 'a {
    move |e| FlagError::value(flag, value, e)
}

impl BuildArgs {
    /// Records which of `--call` and `--check` the user gave last, from clap's matches.
    pub fn with_flag_order(mut self, matches: Option<&ArgMatches>) -> Self {
        let last = |id: &str| {
            let m = matches?;
            if m.value_source(id) != Some(ValueSource::CommandLine) {
                return None;
            }
            m.indices_of(id).and_then(|mut i| i.next_back())
        };
        self.check_after_call = match (last("check"), last("call")) {
            (Some(check), Some(call)) => check > call,
            _ => true,
        };
        self
    }

    /// The validated options (phase two of flag parsing). Every error names the flag and the
    /// value at fault.
    pub fn validate(&self, env: &dyn Env) -> Result<BuildOptions, FlagError> {
        let mut warnings = Vec::new();

        let context = match self.context.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(FlagError::Invalid(format!(
                    "\"kiln build\" requires exactly 1 argument.\nSee 'kiln build --help'.\n\nUsage:  {USAGE}\n\nStart a build"
                )));
            }
        };

        // --call / --check: the later of the two wins, as with pflag.
        let mut call = parse_call(&self.call).map_err(value_err("--call", &self.call))?;
        if self.check == Some(true) && self.check_after_call {
            call = parse_call("check").map_err(value_err("--check", "true"))?;
        }

        // -t first: the output checks need to know whether there are tags.
        let mut tags = Vec::new();
        for t in &self.tag {
            check_tag(t).map_err(FlagError::Invalid)?;
            tags.push(t.clone());
        }

        let mut add_hosts = Vec::new();
        for value in &self.add_host {
            // A string-slice flag: each value is itself a CSV list.
            let entries =
                csv::fields(value).map_err(|e| FlagError::value("--add-host", value, e.into()))?;
            for entry in entries {
                add_hosts.push(parse_extra_host(&entry).map_err(value_err("--add-host", value))?);
            }
        }

        let network =
            parse_network(&self.network).map_err(value_err("--network", &self.network))?;

        let mut allow: Vec<Entitlement> = Vec::new();
        for value in &self.allow {
            for one in split_values(value) {
                let e = parse_entitlement(one).map_err(value_err("--allow", value))?;
                if !allow.contains(&e) {
                    allow.push(e);
                }
            }
        }
        if network == NetworkMode::Host && !allow.contains(&Entitlement::NetworkHost) {
            allow.push(Entitlement::NetworkHost);
        }

        let mut annotations = Vec::new();
        for value in &self.annotation {
            for a in parse_annotation(value).map_err(value_err("--annotation", value))? {
                annotation::merge(&mut annotations, a);
            }
        }

        let mut attests = Vec::new();
        for value in &self.attest {
            attests.push(parse_attest(value).map_err(value_err("--attest", value))?);
        }
        for (flag, kind, value) in [
            ("--provenance", AttestType::Provenance, &self.provenance),
            ("--sbom", AttestType::Sbom, &self.sbom),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                let canonical = canonicalize_shorthand(kind, v);
                attests.push(parse_attest(&canonical).map_err(value_err(flag, v))?);
            }
        }
        attest::check_unique(&attests).map_err(FlagError::Invalid)?;

        let mut build_args = BTreeMap::new();
        for value in &self.build_arg {
            insert_key_value(&mut build_args, value, BareKey::FromEnv, env)
                .map_err(value_err("--build-arg", value))?;
        }
        if let Some(epoch) = env.var("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
            build_args
                .entry("SOURCE_DATE_EPOCH".to_string())
                .or_insert(epoch);
        }

        let mut build_contexts = Vec::new();
        for value in &self.build_context {
            let c = parse_build_context(value).map_err(value_err("--build-context", value))?;
            context::merge(&mut build_contexts, c);
        }

        let mut cache_from = Vec::new();
        for value in &self.cache_from {
            cache_from.push(parse_cache_entry(value).map_err(value_err("--cache-from", value))?);
        }
        let mut cache_to = Vec::new();
        for value in &self.cache_to {
            cache_to.push(parse_cache_entry(value).map_err(value_err("--cache-to", value))?);
        }

        let mut labels = BTreeMap::new();
        for value in &self.label {
            insert_key_value(&mut labels, value, BareKey::Empty, env)
                .map_err(value_err("--label", value))?;
        }

        let no_cache_filter: Vec<String> = self
            .no_cache_filter
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();

        let mut outputs = Vec::new();
        for value in self.output.iter().filter(|v| !v.is_empty()) {
            outputs.push(parse_output(value).map_err(value_err("-o, --output", value))?);
        }
        let outputs = apply_shorthands(outputs, self.push, self.load);
        check_outputs(&outputs, &tags, self.iidfile.is_some()).map_err(FlagError::Invalid)?;

        let no_default_load = match env.var("BUILDX_NO_DEFAULT_LOAD") {
            None => false,
            Some(v) => parse_go_bool(&v).unwrap_or_else(|| {
                warnings.push(format!(
                    "invalid non-bool value for BUILDX_NO_DEFAULT_LOAD: {v}"
                ));
                false
            }),
        };

        let mut platforms = Vec::new();
        if self.platform.is_empty() {
            if let Some(default) = env.var("DOCKER_DEFAULT_PLATFORM").filter(|v| !v.is_empty()) {
                for spec in split_specs([default.as_str()]) {
                    let p = parse_platform(spec).map_err(|e| {
                        FlagError::Invalid(format!(
                            "invalid platform {spec:?} in DOCKER_DEFAULT_PLATFORM: {e}"
                        ))
                    })?;
                    push_unique(&mut platforms, p);
                }
            }
        } else {
            for spec in split_specs(self.platform.iter().map(String::as_str)) {
                let p = parse_platform(spec).map_err(value_err("--platform", spec))?;
                push_unique(&mut platforms, p);
            }
        }

        let progress_flag =
            parse_progress(&self.progress).map_err(value_err("--progress", &self.progress))?;
        let progress = resolve_progress(
            progress_flag,
            self.quiet,
            env.var("BUILDKIT_PROGRESS").as_deref(),
        )
        .map_err(FlagError::Invalid)?;

        let mut secrets = Vec::new();
        for value in self.secret.iter().filter(|v| !v.is_empty()) {
            secrets.push(parse_secret(value, env).map_err(value_err("--secret", value))?);
        }

        let mut ssh_specs = Vec::new();
        for value in self.ssh.iter().filter(|v| !v.is_empty()) {
            ssh_specs.push(parse_ssh(value).map_err(value_err("--ssh", value))?);
        }
        ssh::check_unique(&ssh_specs).map_err(FlagError::Invalid)?;

        let shm_size = match &self.shm_size {
            None => 0,
            Some(v) => parse_ram_in_bytes(v).map_err(value_err("--shm-size", v))?,
        };

        let mut ulimits = Vec::new();
        for value in &self.ulimit {
            ulimit::merge(
                &mut ulimits,
                parse_ulimit(value).map_err(value_err("--ulimit", value))?,
            );
        }

        if self.isolation.is_some() {
            warnings.push("isolation flag is deprecated with BuildKit.".to_string());
        }
        if !self.security_opt.is_empty() {
            warnings.push(
                "security-opt flag is deprecated. \"RUN --security=insecure\" should be used with BuildKit."
                    .to_string(),
            );
        }
        if self.squash.is_some() {
            warnings.push(
                "experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency."
                    .to_string(),
            );
        }

        Ok(BuildOptions {
            context,
            dockerfile: self.file.clone().filter(|f| !f.is_empty()),
            call,
            add_hosts,
            allow,
            annotations,
            attests,
            build_args,
            build_contexts,
            cache_from,
            cache_to,
            cgroup_parent: self.cgroup_parent.clone().filter(|c| !c.is_empty()),
            iidfile: self.iidfile.clone(),
            labels,
            metadata_file: self.metadata_file.clone(),
            network,
            no_cache: self.no_cache,
            no_cache_filter,
            outputs,
            no_default_load,
            platforms,
            progress,
            pull: self.pull,
            secrets,
            shm_size,
            ssh: ssh_specs,
            tags,
            target: self.target.clone().filter(|t| !t.is_empty()),
            ulimits,
            warnings,
        })
    }
}

/// Runs `kiln build`: validates the flags, reads the Dockerfile and ignore file, then answers a
/// `--call` subrequest (exiting with its status) or runs the build.
pub fn run(
    args: &BuildArgs,
    global: &GlobalArgs,
    matches: Option<&ArgMatches>,
) -> anyhow::Result<ExitCode> {
    let opts = args
        .clone()
        .with_flag_order(matches)
        .validate(&ProcessEnv)?;
    {
        let mut stderr = io::stderr().lock();
        for w in &opts.warnings {
            let _ = writeln!(stderr, "WARNING: {w}");
        }
    }

    let inputs = inputs::load(
        &opts.context,
        opts.dockerfile.as_deref(),
        &mut io::stdin().lock(),
    )?;

    // Check and outline read the base images' configurations (see `resolver`); targets and
    // the stand-in for a build do not.
    let resolver = match opts.call.as_ref().map(|c| c.kind) {
        Some(CallKind::Check | CallKind::Outline) => Some(resolver::open(&global.config)?),
        _ => None,
    };
    let platforms = opts.platform_specs();
    let input = CallInput {
        dockerfile: &inputs.dockerfile,
        dockerfile_name: &inputs.dockerfile_name,
        build_args: &opts.build_args,
        target: opts.target.as_deref(),
        platforms: &platforms,
        ignore_patterns: inputs.ignore_patterns.as_deref(),
        resolver: resolver
            .as_ref()
            .map(|r| r as &dyn kiln_subrequests::ImageConfigResolver),
    };

    let Some(call) = opts.call.clone() else {
        return engine::run(&opts, &inputs, global);
    };

    let stdout = io::stdout();
    let mut out = stdout.lock();
    // buildx prints a lint result's error below its message; every other failure to evaluate
    // the Dockerfile shows the source excerpt above the `ERROR:` line.
    let excerpt_first = call.kind != CallKind::Check;
    let outcome = kiln_subrequests::run(&call, &input, &mut out)
        .map_err(|e| dockerfile_error(e, excerpt_first))?;
    out.flush()?;
    Ok(exit_code(outcome.exit_code))
}

/// Turns a subrequest error into the CLI's error. With `excerpt_first`, a Dockerfile error's
/// source excerpt (`Dockerfile:3` and the numbered lines) goes to stderr now, so it stands
/// above the `ERROR: <message>` line `main` prints, as buildx shows build errors.
fn dockerfile_error(err: kiln_subrequests::Error, excerpt_first: bool) -> anyhow::Error {
    match err {
        kiln_subrequests::Error::Dockerfile { message, excerpt } if excerpt_first => {
            if !excerpt.is_empty() {
                let mut stderr = io::stderr().lock();
                let _ = write!(stderr, "{excerpt}");
                if !excerpt.ends_with('\n') {
                    let _ = writeln!(stderr);
                }
            }
            anyhow::anyhow!(message)
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::options::MapEnv;
    use crate::options::output::{ExporterType, OutputDest};
    use crate::options::progress::ProgressMode;
    use crate::options::secret::SecretSource;
    use clap::{CommandFactory, FromArgMatches};
    use kiln_subrequests::{CallKind, OutputFormat};

    fn args(argv: &[&str]) -> BuildArgs {
        let mut full = vec!["kiln", "build"];
        full.extend_from_slice(argv);
        let matches = Cli::command().try_get_matches_from(&full).unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        match cli.command {
            Command::Build(a) => a.with_flag_order(matches.subcommand_matches("build")),
            other => panic!("not build: {other:?}"),
        }
    }

    fn validate_env(argv: &[&str], env: &MapEnv) -> Result<BuildOptions, String> {
        args(argv).validate(env).map_err(|e| e.to_string())
    }

    fn validate(argv: &[&str]) -> Result<BuildOptions, String> {
        validate_env(argv, &MapEnv::default())
    }

    #[test]
    fn minimal_build() {
        let o = validate(&["."]).unwrap();
        assert_eq!(o.context, ".");
        assert_eq!(o.dockerfile, None);
        assert_eq!(o.call, None);
        assert_eq!(o.network, NetworkMode::Default);
        assert_eq!(o.progress, ProgressMode::Auto);
        assert!(o.outputs.is_empty());
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn context_argument_count() {
        let e = validate(&[]).unwrap_err();
        assert!(
            e.starts_with("\"kiln build\" requires exactly 1 argument."),
            "{e}"
        );
        assert!(validate(&[".", "other"]).is_err());
        assert_eq!(validate(&["-"]).unwrap().context, "-");
    }

    #[test]
    fn call_and_check() {
        let o = validate(&["--call=outline,format=json", "."]).unwrap();
        let c = o.call.unwrap();
        assert_eq!(c.kind, CallKind::Outline);
        assert_eq!(c.format, OutputFormat::Json);

        assert_eq!(
            validate(&["--check", "."]).unwrap().call.unwrap().kind,
            CallKind::Check
        );
        assert_eq!(validate(&["--check=false", "."]).unwrap().call, None);
        // The later flag wins.
        assert_eq!(
            validate(&["--call=targets", "--check", "."])
                .unwrap()
                .call
                .unwrap()
                .kind,
            CallKind::Check
        );
        assert_eq!(
            validate(&["--check", "--call=targets", "."])
                .unwrap()
                .call
                .unwrap()
                .kind,
            CallKind::Targets
        );
        assert_eq!(
            validate(&["--call", "nope", "."]).unwrap_err(),
            r#"invalid argument "nope" for "--call" flag: unknown method "nope" (supported: build, check, outline, targets)"#
        );
    }

    #[test]
    fn outputs_and_shorthands() {
        let o = validate(&["-o", "out", "--output", "type=tar,dest=x.tar", "."]).unwrap();
        assert_eq!(o.outputs.len(), 2);
        assert_eq!(o.outputs[0].exporter, ExporterType::Local);
        assert_eq!(o.outputs[1].dest, Some(OutputDest::File("x.tar".into())));

        let o = validate(&["--load", "."]).unwrap();
        assert_eq!(o.outputs[0].exporter, ExporterType::Docker);

        assert_eq!(
            validate(&["--push", "."]).unwrap_err(),
            "tag is needed when pushing to registry"
        );
        assert!(validate(&["--push=false", "."]).unwrap().outputs.is_empty());
    }

    #[test]
    fn bad_output_names_flag_and_value() {
        assert_eq!(
            validate(&["-o", "type=foo", "."]).unwrap_err(),
            r#"invalid argument "type=foo" for "-o, --output" flag: unknown output type "foo" (supported: image, registry, local, tar, oci, docker, cacheonly)"#
        );
        let e = validate(&["--output", r#"type=local,"dest=out"#, "."]).unwrap_err();
        assert!(
            e.starts_with(
                r#"invalid argument "type=local,\"dest=out" for "-o, --output" flag: parse error"#
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_platform_names_the_value() {
        let e = validate(&["--platform", "linux/amd64,linux/am d64", "."]).unwrap_err();
        assert!(
            e.starts_with(r#"invalid argument "linux/am d64" for "--platform" flag: "#),
            "{e}"
        );
        let o = validate(&[
            "--platform",
            "linux/amd64,linux/arm64",
            "--platform",
            "linux/arm/v7",
            "--platform",
            "linux/amd64",
            ".",
        ])
        .unwrap();
        assert_eq!(
            o.platform_specs(),
            ["linux/amd64", "linux/arm64", "linux/arm/v7"]
        );
    }

    #[test]
    fn bad_tag() {
        assert_eq!(
            validate(&["-t", "app::1", "."]).unwrap_err(),
            r#"invalid tag "app::1": invalid reference format"#
        );
        let o = validate(&["-t", "reg.example/app:1", "--tag", "app", "."]).unwrap();
        assert_eq!(o.tags, ["reg.example/app:1", "app"]);
    }

    #[test]
    fn build_args_and_env() {
        let env = MapEnv::new([("FROM_ENV", "v"), ("SOURCE_DATE_EPOCH", "1700000000")]);
        let o = validate_env(
            &[
                "--build-arg",
                "A=1",
                "--build-arg",
                "FROM_ENV",
                "--build-arg",
                "UNSET",
                ".",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(o.build_args.get("A").map(String::as_str), Some("1"));
        assert_eq!(o.build_args.get("FROM_ENV").map(String::as_str), Some("v"));
        assert!(!o.build_args.contains_key("UNSET"));
        assert_eq!(
            o.build_args.get("SOURCE_DATE_EPOCH").map(String::as_str),
            Some("1700000000")
        );
        let o = validate_env(&["--build-arg", "SOURCE_DATE_EPOCH=1", "."], &env).unwrap();
        assert_eq!(
            o.build_args.get("SOURCE_DATE_EPOCH").map(String::as_str),
            Some("1")
        );
        assert_eq!(
            validate(&["--build-arg", "=x", "."]).unwrap_err(),
            r#"invalid argument "=x" for "--build-arg" flag: invalid key-value pair "=x": empty key"#
        );
    }

    #[test]
    fn progress_quiet_and_env() {
        let env = MapEnv::new([("BUILDKIT_PROGRESS", "plain")]);
        assert_eq!(
            validate_env(&["."], &env).unwrap().progress,
            ProgressMode::Plain
        );
        assert_eq!(
            validate_env(&["-q", "."], &env).unwrap().progress,
            ProgressMode::Quiet
        );
        assert_eq!(
            validate(&["--progress=tty", "-q", "."]).unwrap_err(),
            "progress=tty and quiet cannot be used together"
        );
        assert!(
            validate(&["--progress", "fancy", "."])
                .unwrap_err()
                .starts_with(r#"invalid argument "fancy" for "--progress" flag"#)
        );
    }

    #[test]
    fn no_default_load_env() {
        let env = MapEnv::new([("BUILDX_NO_DEFAULT_LOAD", "1")]);
        assert!(validate_env(&["."], &env).unwrap().no_default_load);
        let env = MapEnv::new([("BUILDX_NO_DEFAULT_LOAD", "maybe")]);
        let o = validate_env(&["."], &env).unwrap();
        assert!(!o.no_default_load);
        assert_eq!(
            o.warnings,
            ["invalid non-bool value for BUILDX_NO_DEFAULT_LOAD: maybe"]
        );
    }

    #[test]
    fn secrets_ssh_cache_attest() {
        let o = validate(&[
            "--secret",
            "id=npm,src=/run/npmrc",
            "--ssh",
            "default",
            "--cache-from",
            "user/app:cache",
            "--cache-to",
            "type=local,dest=/tmp/c,mode=max",
            "--sbom=true",
            "--provenance",
            "mode=max",
            ".",
        ])
        .unwrap();
        assert_eq!(o.secrets[0].source, SecretSource::File("/run/npmrc".into()));
        assert_eq!(o.ssh[0].id, "default");
        assert_eq!(o.cache_from.len(), 1);
        assert_eq!(o.cache_to.len(), 1);
        assert_eq!(o.attests.len(), 2);

        assert_eq!(
            validate(&["--secret", "id=a,bogus=1", "."]).unwrap_err(),
            r#"invalid argument "id=a,bogus=1" for "--secret" flag: unexpected key 'bogus' in 'bogus=1'"#
        );
        assert_eq!(
            validate(&["--attest", "type=sbom", "--sbom=false", "."]).unwrap_err(),
            "duplicate attestation field sbom"
        );
        assert_eq!(
            validate(&["--ssh", "a", "--ssh", "a=/x", "."]).unwrap_err(),
            "invalid duplicate ID a"
        );
    }

    #[test]
    fn hosts_ulimits_shm_network_allow() {
        let o = validate(&[
            "--add-host",
            "a:10.0.0.1,b=10.0.0.2",
            "--add-host",
            "c:::1",
            "--ulimit",
            "nofile=1024:2048",
            "--shm-size",
            "64m",
            "--network=host",
            "--allow",
            "security.insecure",
            ".",
        ])
        .unwrap();
        assert_eq!(o.add_hosts.len(), 3);
        assert_eq!(o.ulimits[0].hard, 2048);
        assert_eq!(o.shm_size, 64 << 20);
        assert_eq!(o.network, NetworkMode::Host);
        assert_eq!(
            o.allow,
            [Entitlement::SecurityInsecure, Entitlement::NetworkHost]
        );

        assert_eq!(
            validate(&["--add-host", "nohost", "."]).unwrap_err(),
            r#"invalid argument "nohost" for "--add-host" flag: invalid host nohost"#
        );
        assert_eq!(
            validate(&["--shm-size", "lots", "."]).unwrap_err(),
            r#"invalid argument "lots" for "--shm-size" flag: invalid size: 'lots'"#
        );
        assert_eq!(
            validate(&["--ulimit", "bogus=1", "."]).unwrap_err(),
            r#"invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus"#
        );
        assert!(
            validate(&["--allow", "root", "."])
                .unwrap_err()
                .starts_with(
                    r#"invalid argument "root" for "--allow" flag: unknown entitlement root"#
                )
        );
    }

    #[test]
    fn labels_filters_target() {
        let o = validate(&[
            "--label",
            "a=b",
            "--label",
            "c",
            "--no-cache-filter",
            "base,deps",
            "--no-cache-filter",
            "final",
            "--target",
            "prod",
            "-f",
            "app.Dockerfile",
            ".",
        ])
        .unwrap();
        assert_eq!(o.labels.get("c").map(String::as_str), Some(""));
        assert_eq!(o.no_cache_filter, ["base", "deps", "final"]);
        assert_eq!(o.target.as_deref(), Some("prod"));
        assert_eq!(o.dockerfile.as_deref(), Some("app.Dockerfile"));
    }

    #[test]
    fn hidden_compat_flags_are_accepted() {
        let o = validate(&[
            "--compress",
            "--force-rm",
            "--rm=false",
            "-m",
            "1g",
            "--memory-swap",
            "-1",
            "-c",
            "512",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpuset-cpus",
            "0-3",
            "--cpuset-mems",
            "0",
            "--isolation",
            "default",
            "--security-opt",
            "seccomp=unconfined",
            "--squash",
            ".",
        ])
        .unwrap();
        assert_eq!(o.warnings.len(), 3);
    }

    #[test]
    fn repeated_scalar_flags_last_wins() {
        let o = validate(&["--target", "a", "--target", "b", "."]).unwrap();
        assert_eq!(o.target.as_deref(), Some("b"));
    }
}
