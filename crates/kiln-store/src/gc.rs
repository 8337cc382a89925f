//! Garbage collection (mark from the roots through `gc.ref.content` labels, sweep the rest) and
//! the `du`-style usage report behind `kiln du` / `kiln prune`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::content::{Info, Manager};
use crate::digest::Digest;
use crate::error::Result;
use crate::fsutil::sync_dir;
use crate::store::Store;

/// Grace period before GC removes an ingest that has no `meta` or `data` yet.
const DEAD_INGEST_GRACE: Duration = Duration::from_secs(60);

/// A GC root: what keeps blobs alive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    /// An image record, by name.
    Image(String),
    /// A cache record, by key.
    Cache(String),
    /// An unexpired lease, by id.
    Lease(String),
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Root::Image(n) => write!(f, "image {n:?}"),
            Root::Cache(k) => write!(f, "cache record {k:?}"),
            Root::Lease(id) => write!(f, "lease {id:?}"),
        }
    }
}

/// What [`Store::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The blobs removed.
    pub removed: Vec<Info>,
    /// Their total size.
    pub bytes_freed: u64,
    /// Expired leases deleted.
    pub expired_leases: Vec<String>,
    /// Digests whose labels were dropped because nothing reaches them.
    pub labels_dropped: usize,
    /// Stale ingests removed, and their bytes (also counted in `bytes_freed`).
    pub ingests_removed: usize,
}

/// Disk usage of one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordUsage {
    /// The root.
    pub root: Root,
    /// Bytes of the present blobs it reaches.
    pub size: u64,
    /// Bytes of the present blobs only it reaches: what deleting it (then GC) frees.
    pub exclusive: u64,
    /// How many present blobs it reaches.
    pub blobs: usize,
    /// How many blobs it reaches that are not in the store.
    pub missing: usize,
}

/// The store's disk usage (see [`Store::usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of blobs.
    pub blob_count: usize,
    /// Bytes of all blobs.
    pub total_bytes: u64,
    /// Bytes of blobs no root reaches: what [`Store::gc`] would free now.
    pub reclaimable_bytes: u64,
    /// Number of those blobs.
    pub reclaimable_count: usize,
    /// Bytes held by in-progress and resumable ingests.
    pub ingest_bytes: u64,
    /// Per root, sorted by root.
    pub records: Vec<RecordUsage>,
}

/// Everything reachable from `start` through `children`.
fn reachable<'a>(
    start: impl IntoIterator<Item = &'a Digest>,
    children: &HashMap<Digest, Vec<Digest>>,
) -> HashSet<Digest> {
    let mut seen = HashSet::new();
    let mut stack: Vec<&Digest> = start.into_iter().collect();
    while let Some(d) = stack.pop() {
        if seen.insert(d.clone()) {
            if let Some(kids) = children.get(d) {
                stack.extend(kids.iter().filter(|k| !seen.contains(*k)));
            }
        }
    }
    seen
}

impl Store {
    fn all_blobs(&self) -> Result<Vec<Info>> {
        let mut blobs = Vec::new();
        self.walk(&mut |info| {
            blobs.push(info);
            Ok(())
        })?;
        Ok(blobs)
    }

    /// Collects garbage: deletes expired leases, every blob no root reaches, the labels of
    /// digests no root reaches, and stale ingests.
    ///
    /// Roots are image records, cache records and unexpired leases; see [`crate::meta`]. Runs
    /// exclusively: commits with a lease and metadata updates wait until it is done, so a blob is
    /// never removed between its commit and the record that names it (if a lease holds it).
    /// Reads are not blocked; a blob removed while open stays readable through its handle.
    /// Crash-safe at any point: what is left is collected by the next run.
    pub fn gc(&self) -> Result<GcReport> {
        let _gc = self.gc_exclusive();
        let now = SystemTime::now();
        // Nothing else writes metadata while we hold the lock, so what a view finds is still
        // true in the write that follows. Writes are skipped when there is nothing to change:
        // each costs an fsync.
        let expired = self.view(|v| v.expired_leases(now))?;
        if !expired.is_empty() {
            self.inner.meta.write(now, |tx| {
                expired.iter().try_for_each(|id| tx.delete_lease(id))
            })?;
        }
        let mut report = GcReport {
            expired_leases: expired,
            ..GcReport::default()
        };
        let (roots, children) = self.view(|v| Ok((v.roots(now)?, v.gc_children()?)))?;
        let live = reachable(roots.iter().flat_map(|(_, ds)| ds), &children);

        let mut touched = HashSet::new();
        for info in self.all_blobs()? {
            if live.contains(&info.digest) {
                continue;
            }
            match self.delete(&info.digest) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
            touched.insert(info.digest.algorithm());
            report.bytes_freed += info.size;
            report.removed.push(info);
        }
        for alg in touched {
            sync_dir(&self.alg_dir(alg))?;
        }
        let dead_labels = self.view(|v| v.labels_except(&live))?;
        if !dead_labels.is_empty() {
            self.inner
                .meta
                .write(now, |tx| tx.drop_labels(&dead_labels))?;
        }
        report.labels_dropped = dead_labels.len();
        let (n, bytes) = self.remove_stale_ingests(now, DEAD_INGEST_GRACE)?;
        report.ingests_removed = n;
        report.bytes_freed += bytes;
        Ok(report)
    }

    /// Reports disk usage: totals, what GC would reclaim, and per root its size and the part only
    /// it holds (`docker buildx du` style). Read-only; safe concurrently with everything. Expired
    /// leases count as gone, as GC would treat them.
    pub fn usage(&self) -> Result<Usage> {
        let now = SystemTime::now();
        let (roots, children) = self.view(|v| Ok((v.roots(now)?, v.gc_children()?)))?;
        let sizes: HashMap<Digest, u64> = self
            .all_blobs()?
            .into_iter()
            .map(|i| (i.digest, i.size))
            .collect();

        let per_root: Vec<(Root, HashSet<Digest>)> = roots
            .into_iter()
            .map(|(root, start)| {
                let set = reachable(&start, &children);
                (root, set)
            })
            .collect();
        let mut holders: HashMap<&Digest, usize> = HashMap::new();
        for (_, set) in &per_root {
            for d in set {
                *holders.entry(d).or_default() += 1;
            }
        }

        let mut usage = Usage {
            blob_count: sizes.len(),
            total_bytes: sizes.values().sum(),
            ..Usage::default()
        };
        for (digest, size) in &sizes {
            if !holders.contains_key(digest) {
                usage.reclaimable_bytes += size;
                usage.reclaimable_count += 1;
            }
        }
        for (root, set) in &per_root {
            let mut rec = RecordUsage {
                root: root.clone(),
                size: 0,
                exclusive: 0,
                blobs: 0,
                missing: 0,
            };
            for d in set {
                match sizes.get(d) {
                    Some(size) => {
                        rec.size += size;
                        rec.blobs += 1;
                        if holders.get(d) == Some(&1) {
                            rec.exclusive += size;
                        }
                    }
                    None => rec.missing += 1,
                }
            }
            usage.records.push(rec);
        }
        usage.records.sort_by(|a, b| a.root.cmp(&b.root));
        usage.ingest_bytes = crate::content::IngestManager::list_ingests(self)?
            .iter()
            .map(|s| s.offset)
            .sum();
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use oci_spec::image::{Descriptor, MediaType};

    use super::*;
    use crate::content::{WriterOptions, write_blob};
    use crate::meta::{CacheIndex, ImageStore, LabelStore, LeaseManager};

    fn put(store: &Store, data: &[u8]) -> Digest {
        write_blob(store, WriterOptions::new("r"), &mut Cursor::new(data))
            .unwrap()
            .digest
    }

    fn manifest(store: &Store, name: &str, children: &[&Digest]) -> Digest {
        let m = put(store, format!("manifest {name}").as_bytes());
        let labels: BTreeMap<String, String> = children
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("containerd.io/gc.ref.content.l.{i}"), d.to_string()))
            .collect();
        store.set_labels(&m, &labels).unwrap();
        let d: oci_spec::image::Digest = m.as_str().parse().unwrap();
        store
            .put_image(name, &Descriptor::new(MediaType::ImageManifest, 1, d))
            .unwrap();
        m
    }

    fn present(store: &Store) -> HashSet<Digest> {
        store
            .all_blobs()
            .unwrap()
            .into_iter()
            .map(|i| i.digest)
            .collect()
    }

    #[test]
    fn sweeps_what_no_root_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layer = put(&store, b"layer");
        let shared = put(&store, b"shared layer");
        let cached = put(&store, b"cache blob");
        let leased = put(&store, b"leased");
        let garbage = put(&store, b"garbage");
        let m = manifest(&store, "app:1", &[&layer, &shared]);
        store
            .put_cache_record("k", b"r", std::slice::from_ref(&cached))
            .unwrap();
        store.create_lease("build", None).unwrap();
        store.add_lease_content("build", &leased).unwrap();
        // Labels on a dead digest go with it.
        store
            .set_label(&garbage, "org.example/x", Some("y"))
            .unwrap();

        let report = store.gc().unwrap();
        assert_eq!(report.removed.len(), 1);
        assert_eq!(report.removed[0].digest, garbage);
        assert_eq!(report.bytes_freed, 7);
        assert_eq!(report.labels_dropped, 1);
        assert_eq!(
            present(&store),
            HashSet::from([
                layer.clone(),
                shared.clone(),
                cached.clone(),
                leased.clone(),
                m.clone()
            ])
        );

        store.delete_image("app:1").unwrap();
        store.delete_cache_record("k").unwrap();
        store.delete_lease("build").unwrap();
        let report = store.gc().unwrap();
        assert_eq!(report.removed.len(), 5);
        assert!(present(&store).is_empty());
        assert!(store.labels(&m).unwrap().is_empty());
    }

    #[test]
    fn expired_leases_are_deleted_and_stop_protecting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = put(&store, b"x");
        store.create_lease("short", Some(Duration::ZERO)).unwrap();
        store.add_lease_content("short", &d).unwrap();
        store
            .create_lease("long", Some(Duration::from_secs(3600)))
            .unwrap();
        let report = store.gc().unwrap();
        assert_eq!(report.expired_leases, ["short"]);
        assert_eq!(report.removed.len(), 1);
        assert_eq!(store.list_leases().unwrap().len(), 1);
    }

    #[test]
    fn usage_splits_shared_and_exclusive_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base = put(&store, &[0u8; 1000]);
        let a = put(&store, &[1u8; 100]);
        let b = put(&store, &[2u8; 10]);
        put(&store, &[3u8; 5]); // garbage
        let ma = manifest(&store, "a", &[&base, &a]);
        let mb = manifest(&store, "b", &[&base, &b]);
        let missing = Digest::sha256(b"not pulled");
        store.put_cache_record("k", b"", &[missing]).unwrap();

        let u = store.usage().unwrap();
        let ma_len = store.info(&ma).unwrap().size;
        let mb_len = store.info(&mb).unwrap().size;
        assert_eq!(u.blob_count, 6);
        assert_eq!(u.total_bytes, 1000 + 100 + 10 + 5 + ma_len + mb_len);
        assert_eq!((u.reclaimable_bytes, u.reclaimable_count), (5, 1));
        let by_root: HashMap<Root, RecordUsage> =
            u.records.into_iter().map(|r| (r.root.clone(), r)).collect();
        let ra = &by_root[&Root::Image("a".into())];
        assert_eq!(
            (ra.size, ra.exclusive, ra.blobs),
            (1000 + 100 + ma_len, 100 + ma_len, 3)
        );
        let rb = &by_root[&Root::Image("b".into())];
        assert_eq!((rb.size, rb.exclusive), (1000 + 10 + mb_len, 10 + mb_len));
        let rc = &by_root[&Root::Cache("k".into())];
        assert_eq!((rc.size, rc.missing), (0, 1));
    }

    #[test]
    fn gc_never_sweeps_a_leased_commit_racing_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut runs = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.gc().unwrap();
                    runs += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                runs
            })
        };
        for i in 0..60u32 {
            let lease = format!("build-{i}");
            store.create_lease(&lease, None).unwrap();
            let data = i.to_le_bytes().repeat(1000);
            let info = write_blob(
                &store,
                WriterOptions::new(format!("w-{i}")).lease(&lease),
                &mut Cursor::new(&data),
            )
            .unwrap();
            store
                .put_cache_record(&format!("k-{i}"), b"", std::slice::from_ref(&info.digest))
                .unwrap();
            store.delete_lease(&lease).unwrap();
            assert!(
                store.exists(&info.digest).unwrap(),
                "blob {i} was collected"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(collector.join().unwrap() > 0);
        assert_eq!(store.all_blobs().unwrap().len(), 60);
    }

    #[test]
    fn reachable_follows_chains_and_tolerates_cycles() {
        let [a, b, c, d] = [b"a", b"b", b"c", b"d"].map(|x| Digest::sha256(x));
        let children = HashMap::from([
            (a.clone(), vec![b.clone()]),
            (b.clone(), vec![c.clone(), a.clone()]),
        ]);
        let got = reachable([&a], &children);
        assert_eq!(got, HashSet::from([a.clone(), b.clone(), c.clone()]));
        assert!(!got.contains(&d));
    }
}
