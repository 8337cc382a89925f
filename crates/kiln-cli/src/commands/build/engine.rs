//! A normal `kiln build`: the validated options become a `kiln_builder::BuildRequest`, the
//! build runs in-process on the state root (`--root`/`KILN_ROOT`) with the registry settings of
//! `--config`, progress is displayed on stderr, and the results land where buildx puts them
//! (`--iidfile`, `--metadata-file`, the image ID on stdout with `--quiet`, the warnings summary,
//! the failing step's Dockerfile excerpt above `ERROR:`).

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use kiln_builder::{BuildRequest, Builder, MemorySecrets, WorkerConfig};
use kiln_exporter::{OutputKind, OutputOptions};
use kiln_progress::{
    FixedSize, PrinterOptions, Resolved, SystemClock, WarningsStyle, print_warnings,
};
use kiln_registry::CredentialStore;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;
use crate::inputs::{ContextLocation, Inputs};
use crate::options::build::BuildOptions;
use crate::options::host::HostAddr;
use crate::options::network::NetworkMode;
use crate::options::output::{ExporterType, Output, OutputDest};
use crate::options::progress::ProgressMode;
use crate::options::secret::SecretSource;

/// The exporter options of one `-o`, with the `-t` names buildx puts on image outputs.
fn output_options(o: &Output, tags: &[String]) -> anyhow::Result<Option<OutputOptions>> {
    let kind = match o.exporter {
        ExporterType::Image => OutputKind::Image,
        ExporterType::Local => OutputKind::Local,
        ExporterType::Tar => OutputKind::Tar,
        ExporterType::Oci => OutputKind::Oci,
        ExporterType::Docker => OutputKind::Docker,
        ExporterType::CacheOnly => return Ok(None),
    };
    let mut attrs: BTreeMap<String, String> = o.attrs.clone();
    match &o.dest {
        Some(OutputDest::Stdout) => {
            attrs.insert("dest".into(), "-".into());
        }
        Some(OutputDest::File(p) | OutputDest::Dir(p)) => {
            attrs.insert("dest".into(), p.to_string_lossy().into_owned());
        }
        None => {}
    }
    if !tags.is_empty()
        && matches!(
            kind,
            OutputKind::Image | OutputKind::Oci | OutputKind::Docker
        )
    {
        attrs.insert("name".into(), tags.join(","));
    }
    let opts =
        OutputOptions::from_attrs(kind, attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if !opts.unknown.is_empty() {
        let keys: Vec<&str> = opts.unknown.keys().map(String::as_str).collect();
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "WARNING: unknown exporter attributes ignored: {}",
            keys.join(", ")
        );
    }
    Ok(Some(opts))
}

fn secrets(opts: &BuildOptions) -> anyhow::Result<MemorySecrets> {
    let mut map = BTreeMap::new();
    for s in &opts.secrets {
        let value = match &s.source {
            SecretSource::File(p) => std::fs::read(p)
                .with_context(|| format!("reading secret {:?} from {}", s.id, p.display()))?,
            SecretSource::Env(name) => match std::env::var_os(name) {
                Some(v) => v.into_encoded_bytes(),
                None => continue,
            },
        };
        map.insert(s.id.clone(), value);
    }
    Ok(MemorySecrets(map))
}

fn printer_mode(mode: ProgressMode) -> anyhow::Result<Resolved> {
    let tty = io::stderr().is_terminal();
    Ok(match mode {
        ProgressMode::Auto if tty => Resolved::Tty,
        ProgressMode::Auto | ProgressMode::Plain => Resolved::Plain,
        ProgressMode::Tty if tty => Resolved::Tty,
        ProgressMode::Tty => anyhow::bail!("failed to get console: not a terminal"),
        ProgressMode::Quiet => Resolved::Quiet,
        ProgressMode::RawJson => Resolved::RawJson,
    })
}

/// Builds the request of a normal build.
fn request(opts: &BuildOptions, inputs: &Inputs) -> anyhow::Result<BuildRequest> {
    let context = match &inputs.context {
        ContextLocation::Dir(d) => Some(
            std::fs::canonicalize(d)
                .with_context(|| format!("unable to prepare context: path {:?} not found", d))?,
        ),
        ContextLocation::Empty => None,
        ContextLocation::Remote(url) => {
            return Err(NotImplemented(format!(
                "building from a remote context ({url}) is not supported yet; clone it and \
                 build the directory"
            ))
            .into());
        }
    };
    let mut outputs = Vec::new();
    for o in &opts.outputs {
        if let Some(out) = output_options(o, &opts.tags)? {
            outputs.push(out);
        }
    }
    let mut extra_hosts = Vec::new();
    for h in &opts.add_hosts {
        match &h.addr {
            HostAddr::Ip(ip) => extra_hosts.push((h.host.clone(), ip.to_string())),
            HostAddr::HostGateway => {
                return Err(NotImplemented(format!(
                    "--add-host {}=host-gateway is not supported yet; give the address",
                    h.host
                ))
                .into());
            }
        }
    }
    let mut req = BuildRequest::new(inputs.dockerfile.clone(), context);
    req.dockerfile_name = Path::new(&inputs.dockerfile_name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    req.ignore_patterns = inputs.ignore_patterns.clone().unwrap_or_default();
    req.ignore_file_len = inputs
        .ignore_file
        .as_ref()
        .and_then(|f| std::fs::metadata(f).ok())
        .map(|m| m.len());
    req.target = opts.target.clone();
    req.build_args = opts.build_args.clone();
    req.labels = opts.labels.clone();
    req.platforms = opts.platforms.iter().map(|p| p.platform.clone()).collect();
    req.no_cache = opts.no_cache;
    req.no_cache_filter = opts.no_cache_filter.clone();
    req.extra_hosts = extra_hosts;
    req.network = match opts.network {
        NetworkMode::Default => String::new(),
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
    };
    req.secrets = Arc::new(secrets(opts)?);
    req.outputs = outputs;
    Ok(req)
}

/// Prints a failed build's Dockerfile excerpt as buildx does (the progress printer has shown
/// the failing step's box); `main` prints the `ERROR:` line after it.
fn print_failure(err: &kiln_builder::Error, inputs: &Inputs) {
    let mut stderr = io::stderr().lock();
    let ranges: Vec<kiln_subrequests::Range> = err
        .locations()
        .iter()
        .map(|l| kiln_subrequests::Range {
            start: kiln_subrequests::Position {
                line: l.start,
                character: 0,
            },
            end: kiln_subrequests::Position {
                line: l.end,
                character: 0,
            },
        })
        .collect();
    if !ranges.is_empty() {
        let name = Path::new(&inputs.dockerfile_name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let _ =
            kiln_subrequests::print_source_excerpt(&mut stderr, &name, &inputs.dockerfile, &ranges);
    }
}

/// How buildx words a failed build: everything the builder did ran inside BuildKit's solve
/// (`failed to build: failed to solve: <cause>`).
fn build_error_message(err: &kiln_builder::Error) -> String {
    let msg = err.to_string();
    if msg.starts_with("failed to solve: ") {
        format!("failed to build: {msg}")
    } else {
        format!("failed to build: failed to solve: {msg}")
    }
}

fn write_file(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// Runs a normal build.
pub fn run(opts: &BuildOptions, inputs: &Inputs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let req = request(opts, inputs)?;
    // `--load` needs a running engine: find out before building, not after.
    if req
        .outputs
        .iter()
        .any(|o| o.kind == kiln_exporter::OutputKind::Docker && o.dest.is_none())
    {
        let socket = kiln_exporter::docker_socket()?;
        kiln_exporter::check_docker_engine(&socket)?;
    }
    let mode = printer_mode(opts.progress)?;
    if req.outputs.is_empty() && !opts.no_default_load {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "WARNING: No output specified with the kiln builder. Build result will only remain \
             in the build cache. To push result image into registry use --push, to load image \
             into docker use --load, to write it to a file use -o type=oci,dest=FILE"
        );
    }
    // buildx removes a stale ID file before building.
    if let Some(p) = &opts.iidfile {
        let _ = std::fs::remove_file(p);
    }

    let named = (global.config != Path::new(kiln_config::DEFAULT_CONFIG_PATH))
        .then_some(global.config.as_path());
    let config = kiln_config::load(named)?;
    let mut wc = WorkerConfig::new(Arc::new(config));
    match kiln_registry::DockerConfig::load_default() {
        Ok(docker) => wc.credentials = Arc::new(docker) as Arc<dyn CredentialStore>,
        Err(e) => {
            let _ = writeln!(
                io::stderr().lock(),
                "WARNING: reading Docker credentials: {e}; images are pulled anonymously"
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let root = global.root.clone();
    let outcome = runtime.block_on(async move {
        let builder = Builder::open(root, wc).await?;
        let (tx, rx) = kiln_progress::channel();
        let display = tokio::spawn(async move {
            let mut printer = kiln_progress::new_printer(
                mode,
                Box::new(io::stderr()),
                PrinterOptions {
                    text_description: None,
                    console_description: Some("kiln".into()),
                    color: false,
                    size: Box::new(FixedSize {
                        width: 80,
                        height: 24,
                    }),
                    clock: Arc::new(SystemClock),
                },
            );
            kiln_progress::display(rx, &mut *printer).await
        });
        let result = builder.build(req, &tx).await;
        drop(tx);
        let warnings = match display.await {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                let _ = writeln!(io::stderr().lock(), "WARNING: progress display: {e}");
                Vec::new()
            }
            Err(e) => {
                let _ = writeln!(io::stderr().lock(), "WARNING: progress display: {e}");
                Vec::new()
            }
        };
        Ok::<_, kiln_builder::Error>((result, warnings))
    });
    let (result, warnings) = match outcome {
        Ok(v) => v,
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    {
        let mut stderr = io::stderr().lock();
        let _ = print_warnings(&mut stderr, &warnings, mode, WarningsStyle::default());
    }
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            print_failure(&e, inputs);
            return Err(anyhow::anyhow!("{}", build_error_message(&e)));
        }
    };
    if let (Some(p), Some(id)) = (&opts.iidfile, &result.image_id) {
        write_file(p, id.as_bytes())?;
    }
    if let Some(p) = &opts.metadata_file {
        let json = serde_json::to_vec_pretty(&serde_json::Value::Object(result.metadata.clone()))?;
        write_file(p, &json)?;
    }
    if mode == Resolved::Quiet {
        if let Some(id) = &result.image_id {
            let mut stdout = io::stdout().lock();
            writeln!(stdout, "{id}")?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
