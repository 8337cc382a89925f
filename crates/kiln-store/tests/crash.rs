//! Crash safety for real: a child process fills the store in a loop and is SIGKILLed at random
//! moments, again and again; after every kill the store must open, verify clean, and work.
//!
//! The child is this test binary re-executed with `KILN_STORE_CRASH_CHILD=<root>`, running only
//! the `crash_child` test (which returns at once in a normal run).

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_store::{
    CacheIndex, Digest, FsckOptions, ImageStore, IngestManager, LabelStore, Provider, Store,
    StoreOptions, WriterOptions, read_blob, write_blob,
};
use oci_spec::image::{Descriptor, MediaType};

const CHILD_ENV: &str = "KILN_STORE_CRASH_CHILD";
const ROUNDS: u64 = 12;

/// xorshift64*: deterministic bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// The content of layer `j` of image `k`: the same in every process, so that a child restarting
/// at image `k` resumes the ingest its killed predecessor left.
fn layer(k: u64, j: u64) -> Vec<u8> {
    let mut rng = Rng::new(k * 31 + j);
    // Big enough that kills land mid-write, small enough for debug-build hashing (~12 MB/s).
    let len = 4 * 1024 + rng.below(768 * 1024) as usize;
    rng.bytes(len)
}

fn oci(d: &Digest) -> oci_spec::image::Digest {
    d.as_str().parse().unwrap()
}

/// One image: two layers (resumable, verified), a config (digest computed at commit), a manifest,
/// then in one transaction its labels, image record and cache record; the lease goes last.
fn write_image(store: &Store, k: u64) {
    let lease = format!("crash-{k}");
    match store.update(|tx| tx.create_lease(&lease, Some(Duration::from_secs(600)))) {
        Ok(_) => {}
        Err(e) if e.is_already_exists() => {} // left by a killed predecessor
        Err(e) => panic!("{e}"),
    }
    let mut layers = Vec::new();
    for j in 0..2 {
        let data = layer(k, j);
        let d = Digest::sha256(&data);
        let opts = WriterOptions::new(format!("layer-{d}"))
            .expected(d.clone())
            .size(data.len() as u64)
            .lease(&lease);
        write_blob(store, opts, &mut Cursor::new(&data)).unwrap();
        layers.push(d);
    }
    let config = format!(r#"{{"image":{k}}}"#);
    let config = write_blob(
        store,
        WriterOptions::new(format!("config-{k}")).lease(&lease),
        &mut Cursor::new(config.as_bytes()),
    )
    .unwrap()
    .digest;
    let manifest = format!(
        r#"{{"config":"{config}","layers":["{}","{}"]}}"#,
        layers[0], layers[1]
    );
    let m = Digest::sha256(manifest.as_bytes());
    write_blob(
        store,
        WriterOptions::new(format!("manifest-{m}"))
            .expected(m.clone())
            .lease(&lease),
        &mut Cursor::new(manifest.as_bytes()),
    )
    .unwrap();
    let mut labels = BTreeMap::from([(
        "containerd.io/gc.ref.content.config".to_string(),
        config.to_string(),
    )]);
    for (j, l) in layers.iter().enumerate() {
        labels.insert(format!("containerd.io/gc.ref.content.l.{j}"), l.to_string());
    }
    let target = Descriptor::new(MediaType::ImageManifest, manifest.len() as u64, oci(&m));
    store
        .update(|tx| {
            tx.set_labels(&m, &labels)?;
            tx.put_image(&format!("img-{k}"), &target)?;
            tx.put_cache_record(&format!("key-{k}"), k.to_string().as_bytes(), &layers[..1])?;
            tx.delete_lease(&lease)
        })
        .unwrap();
}

#[test]
fn crash_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open_with(&root, StoreOptions::default().wait_for_lock(true)).unwrap();
    // Cache records are never deleted here: their count is the number of finished images.
    let mut k = store.list_cache_records().unwrap().len() as u64;
    println!("crash-child: ready");
    loop {
        write_image(&store, k);
        if k % 4 == 3 {
            // Make garbage and collect it while being killable.
            store.delete_image(&format!("img-{}", k - 2)).unwrap();
            store.gc().unwrap();
        }
        k += 1;
    }
}

/// Everything a killed child may leave must still be a healthy store. Returns the number of
/// finished images and the offsets of the ingests left behind (for the log).
fn check(root: &Path, round: u64, seed: u64) -> (usize, Vec<u64>) {
    let store =
        Store::open(root).unwrap_or_else(|e| panic!("round {round} (seed {seed}): open: {e}"));
    let report = store.fsck(FsckOptions::default()).unwrap();
    assert!(
        report.is_clean(),
        "round {round} (seed {seed}): {report:#?}"
    );
    for image in store.list_images().unwrap() {
        let m = Digest::try_from(image.target.digest()).unwrap();
        let manifest = read_blob(&store, &m, 1 << 20).unwrap();
        assert_eq!(manifest.len() as u64, image.target.size());
        // Labels and record landed in one transaction.
        assert_eq!(store.labels(&m).unwrap().len(), 3, "{}", image.name);
    }
    for rec in store.list_cache_records().unwrap() {
        for d in &rec.blobs {
            assert!(store.open(d).is_ok(), "cache record {} lost {d}", rec.key);
        }
    }
    // Ingests are listable; whatever is there is resumable or will be cleaned.
    let ingests = store
        .list_ingests()
        .unwrap()
        .iter()
        .map(|s| s.offset)
        .collect();
    (store.list_cache_records().unwrap().len(), ingests)
}

#[test]
fn survives_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let mut progressed = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if round % 4 == 3 {
            // Sometimes kill early, possibly while the store is being opened.
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        } else {
            // libtest prints "test crash_child ... " on the same line, hence `contains`.
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let ready = BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .any(|l| l.contains("crash-child: ready"));
                let _ = tx.send(ready);
            });
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    let _ = child.kill();
                    let mut err = String::new();
                    child
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut err)
                        .unwrap();
                    panic!("round {round} (seed {seed}): child never got ready:\n{err}");
                }
            }
            std::thread::sleep(Duration::from_millis(50 + rng.below(1200)));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("round {round} (seed {seed}): child exited by itself ({status}):\n{err}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (images, ingests) = check(&root, round, seed);
        eprintln!("round {round}: {images} images done, ingests left: {ingests:?}");
        progressed = progressed.max(images);
    }
    assert!(
        progressed > 0,
        "the children never finished an image (seed {seed})"
    );

    // After all that: collect, verify every byte, and keep working.
    let store = Store::open(&root).unwrap();
    store.gc().unwrap();
    let report = store.fsck(FsckOptions::default()).unwrap();
    assert!(report.is_clean(), "seed {seed}: {report:#?}");
    write_image(&store, 10_000);
    let image = store.image("img-10000").unwrap();
    let m = Digest::try_from(image.target.digest()).unwrap();
    assert!(read_blob(&store, &m, 1 << 20).is_ok());
    assert!(store.gc().unwrap().removed.is_empty());
    assert!(store.fsck(FsckOptions::default()).unwrap().is_clean());
}
