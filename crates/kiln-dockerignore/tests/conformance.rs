//! Runs the `dockerignore` conformance suite (moby/patternmatcher test tables) from
//! `shared/conformance/suites/dockerignore/`. `build-context.json` needs a builder and is run
//! by the integration tests, not here.

use kiln_dockerignore::{MatchInfo, PatternMatcher, matches, path, read_ignore_file};
use kiln_testkit::Report;
use serde_json::Value;

/// The case array of a suite file.
fn cases(dir: &std::path::Path, file: &str) -> Vec<Value> {
    match kiln_testkit::load_json(dir, file).get("cases") {
        Some(Value::Array(cases)) => cases.clone(),
        _ => panic!("{file}: no `cases` array"),
    }
}

fn string_list(value: Option<&Value>) -> Result<Vec<String>, String> {
    value
        .and_then(Value::as_array)
        .ok_or("missing string array")?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or("non-string entry"))
        .collect::<Result<_, _>>()
        .map_err(str::to_string)
}

fn str_field<'a>(case: &'a Value, key: &str) -> Result<&'a str, String> {
    case.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field `{key}`"))
}

fn bool_field(case: &Value, key: &str) -> Result<bool, String> {
    case.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("missing bool field `{key}`"))
}

fn unix_only(case: &Value) -> bool {
    case.get("unixOnly").and_then(Value::as_bool) == Some(true)
}

fn new_matcher(patterns: &[String]) -> Result<PatternMatcher, String> {
    PatternMatcher::new(patterns).map_err(|e| format!("new({patterns:?}) failed: {e}"))
}

/// Upstream's incremental check: feed each parent directory of `path` (Go `filepath.Dir`,
/// split at `/`) to `matches_using_parent_results`, then `path` itself.
fn incremental(matcher: &PatternMatcher, path: &str) -> Result<bool, String> {
    let parent = path::dir(path);
    let mut info = MatchInfo::default();
    if parent != "." {
        let dirs: Vec<&str> = parent.split('/').collect();
        for depth in 1..=dirs.len() {
            let prefix = dirs.get(..depth).unwrap_or_default().join("/");
            info = matcher
                .matches_using_parent_results(&prefix, &info)
                .map_err(|e| format!("incremental on parent {prefix:?}: {e}"))?
                .1;
        }
    }
    matcher
        .matches_using_parent_results(path, &info)
        .map(|(m, _)| m)
        .map_err(|e| format!("incremental: {e}"))
}

fn run_matches(case: &Value) -> Result<(), String> {
    let patterns = string_list(case.get("patterns"))?;
    let path = str_field(case, "path")?;
    let want = bool_field(case, "expectedMatch")?;
    let matcher = new_matcher(&patterns)?;
    let whole = matcher
        .matches_or_parent_matches(path)
        .map_err(|e| format!("matches_or_parent_matches: {e}"))?;
    if whole != want {
        return Err(format!("matches_or_parent_matches = {whole}, want {want}"));
    }
    let walked = incremental(&matcher, path)?;
    if walked != want {
        return Err(format!(
            "matches_using_parent_results (parents first) = {walked}, want {want}"
        ));
    }
    let (cold, _) = matcher
        .matches_using_parent_results(path, &MatchInfo::default())
        .map_err(|e| format!("matches_using_parent_results (no parent info): {e}"))?;
    if cold != want {
        return Err(format!(
            "matches_using_parent_results (no parent info) = {cold}, want {want}"
        ));
    }
    Ok(())
}

fn run_legacy(case: &Value) -> Result<(), String> {
    let patterns = string_list(case.get("patterns"))?;
    let path = str_field(case, "path")?;
    let got = matches(path, &patterns);
    match case.get("expectedError").and_then(Value::as_str) {
        Some(want) => match got {
            Err(e) if e.to_string() == want => Ok(()),
            Err(e) => Err(format!("error {e:?}, want {want:?}")),
            Ok(m) => Err(format!("matched = {m}, want error {want:?}")),
        },
        None => {
            let want = bool_field(case, "expectedMatch")?;
            match got {
                Ok(m) if m == want => Ok(()),
                Ok(m) => Err(format!("matched = {m}, want {want}")),
                Err(e) => Err(format!("unexpected error: {e}")),
            }
        }
    }
}

fn run_new_matcher(case: &Value) -> Result<(), String> {
    let patterns = string_list(case.get("patterns"))?;
    let built = PatternMatcher::new(&patterns);
    if let Some(want) = case.get("expectedError").and_then(Value::as_str) {
        return match built {
            Err(e) if e.to_string() == want => Ok(()),
            Err(e) => Err(format!("error {e:?}, want {want:?}")),
            Ok(_) => Err(format!("built a matcher, want error {want:?}")),
        };
    }
    let matcher = built.map_err(|e| format!("new failed: {e}"))?;
    let expected = case.get("expected").ok_or("missing `expected`")?;
    if let Some(count) = expected.get("patternCount").and_then(Value::as_u64) {
        let got = matcher.patterns().len();
        if u64::try_from(got).ok() != Some(count) {
            return Err(format!("{got} patterns kept, want {count}"));
        }
    }
    if let Some(want) = expected.get("exclusions").and_then(Value::as_bool) {
        if matcher.exclusions() != want {
            return Err(format!(
                "exclusions() = {}, want {want}",
                matcher.exclusions()
            ));
        }
    }
    if let Some(errors) = expected.get("matchErrors").and_then(Value::as_array) {
        for check in errors {
            let path = str_field(check, "path")?;
            let want = str_field(check, "expectedError")?;
            let repeat = check.get("repeat").and_then(Value::as_u64).unwrap_or(1);
            for attempt in 1..=repeat {
                match matcher.matches_or_parent_matches(path) {
                    Err(e) if e.to_string() == want => {}
                    Err(e) => return Err(format!("attempt {attempt}: error {e:?}, want {want:?}")),
                    Ok(m) => {
                        return Err(format!("attempt {attempt}: matched = {m}, want {want:?}"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn run_ignorefile(case: &Value) -> Result<(), String> {
    let want = string_list(case.get("expectedPatterns"))?;
    let got = match case.get("fileText") {
        // No file: nothing is ignored.
        Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => read_ignore_file(text).map_err(|e| e.to_string())?,
        _ => return Err("`fileText` must be a string or null".to_string()),
    };
    if got != want {
        return Err(format!("patterns {got:?}, want {want:?}"));
    }
    Ok(())
}

fn run_compile(case: &Value) -> Result<(), String> {
    let pattern = str_field(case, "pattern")?;
    let want_type = str_field(case, "matchType")?;
    let matcher = new_matcher(&[pattern.to_string()])?;
    let compiled = matcher.patterns().first().ok_or("pattern was dropped")?;
    let got_type = compiled
        .match_type()
        .map(|t| t.to_string())
        .ok_or("pattern did not compile")?;
    if got_type != want_type {
        return Err(format!("match type {got_type}, want {want_type}"));
    }
    // `windowsRegexp` is the Windows-separator variant; this crate only uses `/`.
    let want_regex = case.get("regexp").and_then(Value::as_str);
    if compiled.regex_source() != want_regex {
        return Err(format!(
            "regexp {:?}, want {want_regex:?}",
            compiled.regex_source()
        ));
    }
    Ok(())
}

#[test]
fn conformance_dockerignore() {
    let Some(dir) = kiln_testkit::suite_dir("dockerignore") else {
        return;
    };
    let mut report = Report::new("dockerignore");
    let unix_skip = "relies on `\\` being an escape, which it is not on Windows";

    for (i, case) in cases(&dir, "matches.json").iter().enumerate() {
        let name = format!("matches.json #{i} {case}");
        if unix_only(case) && cfg!(windows) {
            report.skip(name, unix_skip);
            continue;
        }
        report.run(name, || run_matches(case));
    }
    for (i, case) in cases(&dir, "legacy-matches.json").iter().enumerate() {
        let name = format!("legacy-matches.json #{i} {case}");
        if unix_only(case) && cfg!(windows) {
            report.skip(name, unix_skip);
            continue;
        }
        report.run(name, || run_legacy(case));
    }
    for (i, case) in cases(&dir, "new-matcher.json").iter().enumerate() {
        report.run(format!("new-matcher.json #{i} {case}"), || {
            run_new_matcher(case)
        });
    }
    for (i, case) in cases(&dir, "ignorefile.json").iter().enumerate() {
        report.run(format!("ignorefile.json #{i} {case}"), || {
            run_ignorefile(case)
        });
    }
    for (i, case) in cases(&dir, "compile.json").iter().enumerate() {
        report.run(format!("compile.json #{i} {case}"), || run_compile(case));
    }
    report.finish();
}
