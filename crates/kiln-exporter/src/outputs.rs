//! The `image` output and what the others report: names recorded in kiln's image store, the
//! blobs a push must upload, and the `--metadata-file` keys BuildKit returns.

use kiln_store::ImageStore;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::image::{BlobDescriptor, CommittedImage};

/// Points every name at the image's root in the store (`type=image,name=…` / `-t`): the image
/// becomes a GC root. Content must already be committed (it is, after [`crate::commit_image`]).
pub fn record_image(
    store: &dyn ImageStore,
    image: &CommittedImage,
    names: &[String],
) -> Result<()> {
    let target = image.root.to_oci()?;
    for name in names {
        store.put_image(name, &target)?;
    }
    Ok(())
}

/// What a push of the image needs (`push=true`, `--push`): the names to push to, the root, and
/// every blob in upload order (children first). The registry client reads the blobs from the
/// content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPlan {
    /// Normalized names (`docker.io/library/app:1`).
    pub names: Vec<String>,
    /// The root descriptor (manifest or index) to tag.
    pub root: BlobDescriptor,
    /// Blobs to upload, children before parents, ending with the root.
    pub blobs: Vec<BlobDescriptor>,
}

/// The push plan of `image` for `names`.
pub fn push_plan(image: &CommittedImage, names: &[String]) -> PushPlan {
    PushPlan {
        names: names.to_vec(),
        root: image.root.clone(),
        blobs: image.blobs(),
    }
}

/// The exporter's response as buildx writes it to `--metadata-file`:
/// `containerimage.digest`, `containerimage.config.digest` (single platform),
/// `containerimage.descriptor` (the root descriptor as a JSON object) and `image.name`
/// (comma-joined, when named). buildx adds its own `buildx.build.ref`; that is the caller's.
///
/// `descriptor` is the root as the output reports it (for `oci`/`docker`, with the created
/// annotation: see [`crate::layout::exported_root`]).
pub fn metadata(
    image: &CommittedImage,
    descriptor: &BlobDescriptor,
    names: &[String],
) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    m.insert(
        "containerimage.digest".into(),
        Value::String(image.root.digest.to_string()),
    );
    if let Some(cfg) = image.config_digest() {
        m.insert(
            "containerimage.config.digest".into(),
            Value::String(cfg.to_string()),
        );
    }
    let desc: Value =
        serde_json::from_slice(&descriptor.to_json()?).map_err(Error::json("descriptor"))?;
    m.insert("containerimage.descriptor".into(), desc);
    if !names.is_empty() {
        m.insert("image.name".into(), Value::String(names.join(",")));
    }
    Ok(m)
}
