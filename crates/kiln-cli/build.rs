//! Build script: records the git commit `kiln version` prints (`KILN_GIT_COMMIT` wins, then
//! `git rev-parse HEAD`, then `unknown`), as buildx embeds its revision at build time.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn is_commit_id(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KILN_GIT_COMMIT");

    let commit = match std::env::var("KILN_GIT_COMMIT") {
        Ok(c) if c.split_whitespace().next().is_some() => {
            c.split_whitespace().next().unwrap_or("unknown").to_string()
        }
        _ => {
            // Rebuild when HEAD moves, so `kiln version` does not go stale.
            if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                let git_dir = Path::new(&git_dir);
                println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
                if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    let ref_file = git_dir.join(&head_ref);
                    if ref_file.exists() {
                        println!("cargo:rerun-if-changed={}", ref_file.display());
                    }
                }
                let packed = git_dir.join("packed-refs");
                if packed.exists() {
                    println!("cargo:rerun-if-changed={}", packed.display());
                }
            }
            git(&["rev-parse", "HEAD"])
                .filter(|c| is_commit_id(c))
                .unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=KILN_COMMIT={commit}");
}
