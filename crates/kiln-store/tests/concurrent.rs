//! Several "builds" share one store through the narrow role traits, pulling overlapping layers
//! at the same time while garbage collection runs; nothing recorded may be lost.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use kiln_store::{
    Digest, FsckOptions, ImageStore, Ingester, LabelStore, LeaseManager, Provider, Store,
    WriterOptions, read_blob, write_blob,
};
use oci_spec::image::{Descriptor, MediaType};

fn layer(i: u64) -> Vec<u8> {
    (0..64 * 1024u64).map(|b| (b * 31 + i * 7) as u8).collect()
}

/// A pull as a registry client would do it: it only needs to ingest, label and name.
fn pull(
    ingester: &dyn Ingester,
    leases: &dyn LeaseManager,
    labels: &dyn LabelStore,
    images: &dyn ImageStore,
    build: usize,
) {
    let lease = format!("pull-{build}");
    leases.create_lease(&lease, None).unwrap();
    let mut refs = BTreeMap::new();
    // Builds share layers 0..4 and each has two of its own.
    for (j, i) in [0, 1, 2, 3, 100 + 2 * build as u64, 101 + 2 * build as u64]
        .iter()
        .enumerate()
    {
        let data = layer(*i);
        let d = Digest::sha256(&data);
        let opts = WriterOptions::new(format!("layer-{d}"))
            .expected(d.clone())
            .size(data.len() as u64)
            .lease(&lease)
            .wait(true);
        write_blob(ingester, opts, &mut Cursor::new(data)).unwrap();
        refs.insert(format!("containerd.io/gc.ref.content.l.{j}"), d.to_string());
    }
    let manifest = serde_json::to_vec(&refs).unwrap();
    let m = write_blob(
        ingester,
        WriterOptions::new(format!("manifest-{build}")).lease(&lease),
        &mut Cursor::new(&manifest),
    )
    .unwrap();
    labels.set_labels(&m.digest, &refs).unwrap();
    let target = Descriptor::new(
        MediaType::ImageManifest,
        m.size,
        m.digest
            .as_str()
            .parse::<oci_spec::image::Digest>()
            .unwrap(),
    );
    images.put_image(&format!("app:{build}"), &target).unwrap();
    leases.delete_lease(&lease).unwrap();
}

#[test]
fn overlapping_pulls_and_gc_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let (store, stop) = (store.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                store.gc().unwrap();
                thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let builds: Vec<_> = (0..4)
        .map(|b| {
            let store = store.clone();
            thread::spawn(move || pull(&store, &store, &store, &store, b))
        })
        .collect();
    for b in builds {
        b.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    gc.join().unwrap();

    store.gc().unwrap();
    let report = store.fsck(FsckOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:#?}");
    // 4 shared layers + 2 own layers and a manifest per build.
    assert_eq!(report.checked, 4 + 4 * 3);
    let provider: &dyn Provider = &store;
    for image in store.list_images().unwrap() {
        let m = Digest::try_from(image.target.digest()).unwrap();
        for d in store.labels(&m).unwrap().values() {
            let d: Digest = d.parse().unwrap();
            assert_eq!(read_blob(provider, &d, 1 << 20).unwrap().len(), 64 * 1024);
        }
    }
    assert!(
        kiln_store::IngestManager::list_ingests(&store)
            .unwrap()
            .is_empty()
    );
}
