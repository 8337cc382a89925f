//! The outputs of a build (`-o type=…`): image assembly per output, then the layout tarball or
//! directory, the image store record and push, or the root filesystem.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use kiln_exporter::{
    BlobDescriptor, CommittedImage, ImageOptions, LayoutKind, LayoutOptions, OutputKind,
    OutputOptions, PlatformImage,
};
use kiln_frontend::ConvertResult;
use kiln_registry::{BlobData, PushBlobOptions};
use kiln_store::Store;
use kiln_worker::{ReadonlyMount, SnapshotRef, Worker};
use time::OffsetDateTime;

use crate::build::BuildResult;
use crate::error::{Error, Result};
use crate::progress::Step;

/// Whether an output needs the image (manifest, config, layers).
pub(crate) fn needs_image(o: &OutputOptions) -> bool {
    !matches!(o.kind, OutputKind::Local | OutputKind::Tar)
}

/// The progress name BuildKit gives the output's step.
pub(crate) fn step_name(o: &OutputOptions) -> &'static str {
    match o.kind {
        OutputKind::Image | OutputKind::Registry => "exporting to image",
        OutputKind::Oci => "exporting to oci image format",
        OutputKind::Docker => "exporting to docker image format",
        OutputKind::Local => "exporting to client directory",
        OutputKind::Tar => "exporting to client tarball",
    }
}

fn dest<'a>(o: &'a OutputOptions, kind: &str) -> Result<&'a str> {
    o.dest.as_deref().filter(|d| !d.is_empty()).ok_or_else(|| {
        Error::Invalid(format!(
            "output type {kind} needs a destination: add dest=<path> (or dest=- for standard \
             output)"
        ))
    })
}

/// Opens `dest` for writing (`-` is standard output).
fn open_dest(dest: &str) -> Result<Box<dyn Write + Send>> {
    if dest == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let path = Path::new(dest);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    }
    let f = File::create(path).map_err(Error::io("creating", path))?;
    Ok(Box::new(io::BufWriter::new(f)))
}

/// Commits the image and reports its manifest(s) and config as BuildKit's image exporters do.
async fn commit(
    worker: &Worker,
    step: &Step<'_>,
    o: &OutputOptions,
    images: &[PlatformImage],
    epoch: Option<i64>,
    lease: &str,
) -> Result<CommittedImage> {
    let store = worker.store().clone();
    let mut images = images.to_vec();
    let opts = ImageOptions {
        // Current BuildKit defaults every image exporter, the Docker tarball included, to OCI
        // media types (moby/buildkit#6824, #6844).
        oci_mediatypes: o.oci_mediatypes.unwrap_or(true),
        annotations: o.annotations.clone(),
        epoch: o
            .epoch
            .or_else(|| epoch.and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())),
        force_index: images.len() > 1,
        lease: Some(lease.to_string()),
    };
    let compression = o.compression;
    let lease = lease.to_string();
    let started = SystemTime::now();
    let image = tokio::task::spawn_blocking(move || -> Result<CommittedImage> {
        for img in &mut images {
            for l in &mut img.layers {
                *l = kiln_exporter::convert_layer(&store, l, &compression, Some(&lease))?;
            }
        }
        let oci = opts.effective_oci(compression.compression);
        Ok(kiln_exporter::commit_image(&store, &images, &opts, oci)?)
    })
    .await
    .map_err(Error::task("committing the image"))??;
    for m in &image.manifests {
        step.status(
            &format!("exporting manifest {}", m.descriptor.digest),
            0,
            started,
        );
        step.status(&format!("exporting config {}", m.config.digest), 0, started);
    }
    if image.is_index {
        step.status(
            &format!("exporting manifest list {}", image.root.digest),
            0,
            started,
        );
    }
    Ok(image)
}

fn record_result(result: &mut BuildResult, image: &CommittedImage, names: &[String]) -> Result<()> {
    let meta = kiln_exporter::metadata(image, &image.root, names)?;
    result.image_id = Some(
        image
            .config_digest()
            .map(|d| d.to_string())
            .unwrap_or_else(|| image.root.digest.to_string()),
    );
    result.metadata.extend(meta);
    result.image = Some(image.clone());
    Ok(())
}

/// Carries out one output.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_output(
    worker: &Worker,
    step: &Step<'_>,
    o: &OutputOptions,
    images: &[PlatformImage],
    convs: &[ConvertResult],
    roots: &[Option<SnapshotRef>],
    epoch: Option<i64>,
    lease: &str,
    result: &mut BuildResult,
) -> Result<()> {
    match o.kind {
        OutputKind::Oci | OutputKind::Docker => {
            let oci = o.kind == OutputKind::Oci;
            if !oci && images.len() > 1 {
                return Err(Error::Invalid(
                    "docker exporter does not currently support exporting manifest lists; use \
                     type=oci or build one platform"
                        .into(),
                ));
            }
            let image = commit(worker, step, o, images, epoch, lease).await?;
            let created = o
                .epoch
                .or_else(|| epoch.and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok()))
                .unwrap_or_else(OffsetDateTime::now_utc);
            let layout = LayoutOptions {
                kind: if oci {
                    LayoutKind::Oci
                } else {
                    LayoutKind::Docker
                },
                names: o.names.clone(),
                created,
            };
            let store = worker.store().clone();
            let img = image.clone();
            if !oci && o.dest.is_none() {
                // `--load`: into the Docker engine (buildx shows it as its own vertex).
                let socket = kiln_exporter::docker_socket()?;
                let started = SystemTime::now();
                let importing = Step::start(
                    step.sender(),
                    "importing to docker",
                    &format!("{lease}:importing to docker"),
                );
                let loaded = tokio::task::spawn_blocking(move || {
                    kiln_exporter::load_image(&store, &img, &layout, &socket)
                })
                .await
                .map_err(Error::task("loading the image into Docker"))
                .and_then(|r| r.map_err(Error::from));
                let loaded = match loaded {
                    Ok(lines) => lines,
                    Err(e) => {
                        importing.fail(&e.to_string());
                        return Err(e);
                    }
                };
                step.status("sending tarball", 0, started);
                for line in loaded {
                    tracing::info!("{line}");
                }
                importing.done();
                return record_result(result, &image, &o.names);
            }
            let dest = dest(o, if oci { "oci" } else { "docker" })?.to_string();
            let tar = o.tar;
            let started = SystemTime::now();
            tokio::task::spawn_blocking(move || -> Result<()> {
                if tar {
                    let w = open_dest(&dest)?;
                    let mut w = kiln_exporter::write_layout_tar(&store, &img, &layout, w)?;
                    w.flush().map_err(Error::io("writing", &dest))?;
                } else {
                    kiln_exporter::write_layout_dir(&store, &img, &layout, Path::new(&dest))?;
                }
                Ok(())
            })
            .await
            .map_err(Error::task("writing the image layout"))??;
            if tar {
                step.status("sending tarball", 0, started);
            }
            record_result(result, &image, &o.names)
        }
        OutputKind::Image | OutputKind::Registry => {
            let image = commit(worker, step, o, images, epoch, lease).await?;
            let store = worker.store().clone();
            let names = o.names.clone();
            let img = image.clone();
            let started = SystemTime::now();
            tokio::task::spawn_blocking(move || kiln_exporter::record_image(&store, &img, &names))
                .await
                .map_err(Error::task("recording the image"))??;
            for name in &o.names {
                step.status(&format!("naming to {}", shown_name(name)), 0, started);
            }
            if o.push || o.kind == OutputKind::Registry {
                push(worker, step, &image, &o.names).await?;
            }
            record_result(result, &image, &o.names)
        }
        OutputKind::Local | OutputKind::Tar => {
            let mut mounts: Vec<ReadonlyMount> = Vec::with_capacity(roots.len());
            for r in roots {
                mounts.push(worker.mount_readonly(r.as_ref()).await?);
            }
            let platforms: Vec<_> = convs.iter().map(|c| c.platform.clone()).collect();
            let split = o.platform_split.unwrap_or(mounts.len() > 1);
            let dest = dest(
                o,
                if o.kind == OutputKind::Local {
                    "local"
                } else {
                    "tar"
                },
            )?
            .to_string();
            let local = o.kind == OutputKind::Local;
            let started = SystemTime::now();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let trees: Vec<(kiln_platforms::Platform, &Path)> = platforms
                    .iter()
                    .cloned()
                    .zip(mounts.iter().map(|m| m.path()))
                    .collect();
                if local {
                    kiln_exporter::export_local_multi(&trees, &PathBuf::from(&dest), split)?;
                } else if split {
                    let w = open_dest(&dest)?;
                    let mut w = kiln_exporter::write_multi_platform_tar(&trees, w)?;
                    w.flush().map_err(Error::io("writing", &dest))?;
                } else if let Some((_, root)) = trees.first() {
                    let w = open_dest(&dest)?;
                    let mut w = kiln_exporter::write_rootfs_tar(root, "", w)?;
                    w.flush().map_err(Error::io("writing", &dest))?;
                }
                drop(mounts);
                Ok(())
            })
            .await
            .map_err(Error::task("exporting the root filesystem"))??;
            step.status(
                if local {
                    "copying files"
                } else {
                    "sending tarball"
                },
                0,
                started,
            );
            Ok(())
        }
    }
}

/// An image name as BuildKit's `naming to` shows it: normalized (`docker.io/library/foo:latest`).
fn shown_name(name: &str) -> String {
    kiln_reference::parse_normalized_named(name)
        .map(|r| r.tag_name_only().to_string())
        .unwrap_or_else(|_| name.to_string())
}

fn is_manifest(media_type: &str) -> bool {
    media_type.contains("manifest") || media_type.contains("image.index")
}

fn read_blob(store: &Store, d: &BlobDescriptor) -> Result<Bytes> {
    let bytes = kiln_store::read_blob(store, &d.digest, d.size)
        .map_err(Error::store(format!("reading blob {}", d.digest)))?;
    Ok(Bytes::from(bytes))
}

/// Pushes `image` to every name through the worker's registry client.
async fn push(
    worker: &Worker,
    step: &Step<'_>,
    image: &CommittedImage,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Err(Error::Invalid(
            "push needs an image name: add -t NAME or name=NAME to the output".into(),
        ));
    }
    let plan = kiln_exporter::push_plan(image, names);
    let client = worker.registry();
    let store = worker.store().clone();
    for name in &plan.names {
        let reference = kiln_reference::parse_normalized_named(name)
            .map_err(|e| Error::Invalid(format!("invalid image name {name:?} to push: {e}")))?;
        let perr = |source| Error::Push {
            name: name.clone(),
            source: Box::new(source),
        };
        let started = SystemTime::now();
        for d in &plan.blobs {
            let s = store.clone();
            let dd = d.clone();
            let data = tokio::task::spawn_blocking(move || read_blob(&s, &dd))
                .await
                .map_err(Error::task("reading a blob to push"))??;
            if is_manifest(&d.media_type) {
                if d.digest == plan.root.digest {
                    continue;
                }
                let by_digest = reference
                    .with_digest(d.digest.as_str())
                    .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
                client
                    .push_manifest(&by_digest, &d.media_type, data)
                    .await
                    .map_err(perr)?;
            } else {
                let desc = kiln_registry::Descriptor::of(&d.media_type, &data);
                client
                    .push_blob(
                        &reference,
                        &desc,
                        BlobData::Bytes(data),
                        &PushBlobOptions::default(),
                    )
                    .await
                    .map_err(perr)?;
            }
        }
        step.status("pushing layers", 0, started);
        let started = SystemTime::now();
        let s = store.clone();
        let root = plan.root.clone();
        let data = tokio::task::spawn_blocking(move || read_blob(&s, &root))
            .await
            .map_err(Error::task("reading the manifest to push"))??;
        client
            .push_manifest(&reference, &plan.root.media_type, data)
            .await
            .map_err(perr)?;
        step.status(
            &format!(
                "pushing manifest for {}@{}",
                reference.clone().tag_name_only(),
                plan.root.digest
            ),
            0,
            started,
        );
    }
    Ok(())
}
