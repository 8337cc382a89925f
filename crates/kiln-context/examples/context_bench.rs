//! Times scanning and hashing a large build context: cold (nothing cached), warm (no-op
//! rebuild: stats only), one file changed, and the transfer into a snapshot directory.
//!
//! `cargo run --release -p kiln-context --example context_bench [FILES]` (default 20000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::time::{Duration, Instant};

use kiln_context::{HashCache, Hasher, ScanOptions, Selector, Tree};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let ctx = tempfile::tempdir()?;
    let state = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    for i in 0..files {
        let dir = ctx.path().join(format!("pkg{}/sub{}", i % 50, i % 7));
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join(format!("file{i}.txt")),
            format!("{i}\n").repeat(100),
        )?;
    }
    fs::write(ctx.path().join(".dockerignore"), "**/*.log\n")?;
    std::thread::sleep(Duration::from_millis(50));
    let opts = ScanOptions {
        excludes: vec!["**/*.log".into()],
        includes: Vec::new(),
    };
    let cache_file = HashCache::file_for(state.path(), ctx.path());
    let run = |label: &str| -> Result<(), Box<dyn std::error::Error>> {
        let t = Instant::now();
        let tree = Tree::scan(ctx.path(), &opts)?;
        let scanned = t.elapsed();
        let mut hasher = Hasher::new(&tree, HashCache::open(&cache_file)?);
        let digest = hasher.checksum(&Selector::copy_source("."))?;
        let stats = hasher.stats();
        let mut cache = hasher.into_cache();
        cache.retain_present(&tree);
        cache.save()?;
        println!(
            "{label:<12} {:>8.1} ms (scan {:>6.1} ms)  read {:>6} files {:>9} bytes, {:>6} cached  {digest}",
            t.elapsed().as_secs_f64() * 1e3,
            scanned.as_secs_f64() * 1e3,
            stats.files_hashed,
            stats.bytes_read,
            stats.cache_hits,
        );
        Ok(())
    };
    println!("context: {files} files in {}", ctx.path().display());
    for (label, o) in [
        ("no ignore", ScanOptions::default()),
        ("ignore", opts.clone()),
    ] {
        let t = Instant::now();
        let tree = Tree::scan(ctx.path(), &o)?;
        println!(
            "scan only ({label:<9}) {:>6.1} ms, {} entries",
            t.elapsed().as_secs_f64() * 1e3,
            tree.len()
        );
    }
    run("cold")?;
    run("warm no-op")?;
    run("warm no-op")?;
    fs::write(ctx.path().join("pkg23/sub3/file73.txt"), "changed\n")?;
    std::thread::sleep(Duration::from_millis(50));
    run("one changed")?;
    let tree = Tree::scan(ctx.path(), &opts)?;
    let t = Instant::now();
    let s = tree.sync_to(out.path())?;
    println!(
        "sync cold    {:>8.1} ms  {} files written",
        t.elapsed().as_secs_f64() * 1e3,
        s.files_written
    );
    let t = Instant::now();
    let s = tree.sync_to(out.path())?;
    println!(
        "sync no-op   {:>8.1} ms  {} files written, {} unchanged",
        t.elapsed().as_secs_f64() * 1e3,
        s.files_written,
        s.unchanged
    );
    Ok(())
}
