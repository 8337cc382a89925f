//! Test helpers shared by every crate's tests: where the conformance data lives, and a
//! reporter that prints `conformance <suite>: N passed, M failed` and fails the test on any
//! failure (or on a data directory that holds no cases).
//!
//! The conformance data is not part of this repository: it sits in the steering checkout
//! beside it (`../shared/conformance/suites/<suite>`). `KILN_SHARED_DIR` overrides the
//! location. When it is absent, [`suite_dir`] prints a skip message and returns `None`, so a
//! plain clone still passes its tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod images;
pub mod registry;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The `shared/` directory beside the work tree, if there is one.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KILN_SHARED_DIR") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared"))
        .find(|p| p.join("conformance").join("suites").is_dir())
}

/// The directory of one conformance suite (`parser`, `shell`, ...), or `None` after printing
/// a skip message when the shared data is absent.
pub fn suite_dir(suite: &str) -> Option<PathBuf> {
    match shared_dir() {
        Some(shared) => {
            let dir = shared.join("conformance").join("suites").join(suite);
            if dir.is_dir() {
                Some(dir)
            } else {
                say(&format!(
                    "conformance {suite}: skipped ({} is absent)",
                    dir.display()
                ));
                None
            }
        }
        None => {
            say(&format!(
                "conformance {suite}: skipped (../shared/conformance is absent; set KILN_SHARED_DIR to run it)"
            ));
            None
        }
    }
}

/// Reads and parses a JSON file of a suite; panics (test failure) with the path on error.
pub fn load_json(dir: &Path, file: &str) -> serde_json::Value {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Prints a line to the real stderr, bypassing libtest's output capture so the counts show
/// in `cargo test` output without `--nocapture`.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Collects the results of a data-driven suite.
#[derive(Debug)]
pub struct Report {
    suite: String,
    passed: usize,
    failures: Vec<String>,
    skipped: Vec<String>,
}

impl Report {
    pub fn new(suite: &str) -> Self {
        Report {
            suite: suite.to_string(),
            passed: 0,
            failures: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Records one case: `Ok(())` passes, `Err(why)` fails with a description.
    pub fn case(&mut self, name: impl AsRef<str>, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push(format!("{}: {why}", name.as_ref())),
        }
    }

    /// Runs one case, turning a panic inside it into a failure (so one bad case cannot hide
    /// the others).
    pub fn run(&mut self, name: impl AsRef<str>, f: impl FnOnce() -> Result<(), String>) {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".to_string());
                Err(format!("panicked: {msg}"))
            });
        self.case(name, result);
    }

    /// Records a case that does not apply here (e.g. Windows-only), with the reason.
    pub fn skip(&mut self, name: impl AsRef<str>, why: &str) {
        self.skipped.push(format!("{}: {why}", name.as_ref()));
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    /// Prints the summary line and fails the test when a case failed or none ran.
    pub fn finish(self) {
        for s in &self.skipped {
            say(&format!("conformance {}: skipped case {s}", self.suite));
        }
        for f in &self.failures {
            say(&format!("conformance {}: FAILED {f}", self.suite));
        }
        let line = if self.skipped.is_empty() {
            format!(
                "conformance {}: {} passed, {} failed",
                self.suite,
                self.passed,
                self.failures.len()
            )
        } else {
            format!(
                "conformance {}: {} passed, {} failed, {} skipped",
                self.suite,
                self.passed,
                self.failures.len(),
                self.skipped.len()
            )
        };
        say(&line);
        assert!(
            self.failures.is_empty(),
            "conformance {}: {} case(s) failed (see above)",
            self.suite,
            self.failures.len()
        );
        assert!(
            self.passed > 0,
            "conformance {}: the data directory is present but no case ran",
            self.suite
        );
    }
}
