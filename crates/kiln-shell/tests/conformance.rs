//! Runs the `shell` conformance suite (BuildKit's lexer tests as data) against `kiln-shell`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use kiln_shell::{Env, EnvGetter, Lex, pattern};
use kiln_testkit::Report;
use serde_json::Value;

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("case has no string {key:?}"))
}

fn escape_token(file: &Value) -> char {
    file.get("escapeToken")
        .and_then(Value::as_str)
        .and_then(|s| s.chars().next())
        .unwrap_or('\\')
}

/// `[[name, value], ...]` as an ordered pair list.
fn pair_env(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| {
                    let k = p.get(0)?.as_str()?;
                    let v = p.get(1)?.as_str()?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn string_set(v: &Value) -> Option<BTreeSet<String>> {
    string_list(v).map(|l| l.into_iter().collect())
}

fn expects_error(case: &Value) -> bool {
    case.get("expectedError").and_then(Value::as_bool) == Some(true)
}

fn check_word(lex: &Lex, case: &Value, env: &dyn EnvGetter) -> Result<(), String> {
    let input = str_of(case, "input")?;
    let got = lex.process_word(input, env);
    if expects_error(case) {
        return match got {
            Err(_) => Ok(()),
            Ok(w) => Err(format!("{input:?}: expected an error, got {w:?}")),
        };
    }
    let expected = str_of(case, "expected")?;
    match got {
        Ok(w) if w == expected => Ok(()),
        Ok(w) => Err(format!("{input:?}: expected {expected:?}, got {w:?}")),
        Err(e) => Err(format!("{input:?}: expected {expected:?}, got error: {e}")),
    }
}

fn env_var_test(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "env-var-test.json");
    let lex = Lex::new(escape_token(&file));
    let env = pair_env(file.get("env"));
    for case in file["cases"].as_array().expect("cases") {
        let name = format!("env-var-test.json line {}", case["line"]);
        if case.get("platform").and_then(Value::as_str) == Some("W") {
            report.skip(
                name,
                "Windows-only (case-insensitive env names); kiln builds Linux images",
            );
            continue;
        }
        report.run(name, || check_word(&lex, case, &env));
    }
}

fn words_test(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "words-test.json");
    let lex = Lex::new(escape_token(&file));
    for case in file["cases"].as_array().expect("cases") {
        let name = format!("words-test.json line {}", case["line"]);
        report.run(name, || {
            let input = str_of(case, "input")?;
            let env = pair_env(case.get("env"));
            let got = lex.process_words(input, &env);
            if expects_error(case) {
                return match got {
                    Err(_) => Ok(()),
                    Ok(w) => Err(format!("{input:?}: expected an error, got {w:?}")),
                };
            }
            let expected = string_list(&case["expected"]).ok_or("no expected list")?;
            match got {
                Ok(w) if w == expected => Ok(()),
                Ok(w) => Err(format!("{input:?}: expected {expected:?}, got {w:?}")),
                Err(e) => Err(format!("{input:?}: expected {expected:?}, got error: {e}")),
            }
        });
    }
}

fn process_word_with_matches(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "process-word-with-matches.json");
    let lex = Lex::new(escape_token(&file));
    for (i, case) in file["cases"].as_array().expect("cases").iter().enumerate() {
        let name = format!(
            "process-word-with-matches.json #{i} {:?}",
            case["input"].as_str().unwrap_or_default()
        );
        report.run(name, || {
            let input = str_of(case, "input")?;
            let env: BTreeMap<String, String> = case["env"]
                .as_object()
                .ok_or("no env map")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let got = lex.process_word_with_matches(input, &env);
            if expects_error(case) {
                return match got {
                    Err(_) => Ok(()),
                    Ok(r) => Err(format!("expected an error, got {r:?}")),
                };
            }
            let got = got.map_err(|e| format!("unexpected error: {e}"))?;
            let expected = str_of(case, "expected")?;
            if got.result != expected {
                return Err(format!("expected {expected:?}, got {:?}", got.result));
            }
            for (key, actual) in [("matched", &got.matched), ("unmatched", &got.unmatched)] {
                if let Some(want) = case.get(key) {
                    let want = string_set(want).ok_or("bad set")?;
                    if &want != actual {
                        return Err(format!("{key}: expected {want:?}, got {actual:?}"));
                    }
                }
            }
            Ok(())
        });
    }
}

fn mandatory_vars(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "mandatory-vars.json");
    let lex = Lex::new(escape_token(&file));
    for (i, case) in file["cases"].as_array().expect("cases").iter().enumerate() {
        report.run(format!("mandatory-vars.json #{i}"), || {
            let input = str_of(case, "input")?;
            let env = pair_env(case.get("env"));
            let got = lex.process_word(input, &env);
            if let Some(want) = case.get("expectedErrorContains").and_then(Value::as_str) {
                return match got {
                    Err(e) if e.to_string().contains(want) => Ok(()),
                    Err(e) => Err(format!("error {e:?} does not contain {want:?}")),
                    Ok(w) => Err(format!("expected an error, got {w:?}")),
                };
            }
            check_word(&lex, case, &env)
        });
    }
}

fn env_lookup(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "env-lookup.json");
    for (i, case) in file["cases"].as_array().expect("cases").iter().enumerate() {
        report.run(format!("env-lookup.json #{i}"), || {
            let list = string_list(&case["envList"]).ok_or("no envList")?;
            let env = Env::from_list(&list);
            let name = str_of(case, "name")?;
            let expected = str_of(case, "expected")?;
            let got = env.get(name).unwrap_or_default();
            if got == expected {
                Ok(())
            } else {
                Err(format!(
                    "{list:?} [{name}]: expected {expected:?}, got {got:?}"
                ))
            }
        });
    }
}

fn internal_helpers(dir: &std::path::Path, report: &mut Report) {
    let file = kiln_testkit::load_json(dir, "internal-helpers.json");
    let to_regex = &file["shellPatternToRegex"];
    for case in to_regex["valid"].as_array().expect("valid") {
        let pat = case["pattern"].as_str().unwrap_or_default();
        report.run(format!("internal-helpers.json regex {pat:?}"), || {
            let want = str_of(case, "expectedRegex")?;
            match pattern::shell_pattern_to_regex(pat, true, true) {
                Ok(got) if got == want => Ok(()),
                Ok(got) => Err(format!("expected {want:?}, got {got:?}")),
                Err(e) => Err(format!("unexpected error: {e}")),
            }
        });
    }
    for case in to_regex["invalid"].as_array().expect("invalid") {
        let pat = case.as_str().unwrap_or_default();
        report.run(
            format!("internal-helpers.json invalid regex {pat:?}"),
            || match pattern::shell_pattern_to_regex(pat, true, true) {
                Err(_) => Ok(()),
                Ok(got) => Err(format!("expected an error, got {got:?}")),
            },
        );
    }
    for case in file["reversePattern"].as_array().expect("reversePattern") {
        let pat = case["pattern"].as_str().unwrap_or_default();
        report.run(
            format!("internal-helpers.json reversePattern {pat:?}"),
            || {
                let want = str_of(case, "expected")?;
                let got = pattern::reverse_pattern(pat);
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want:?}, got {got:?}"))
            },
        );
    }
    for case in file["reverseString"].as_array().expect("reverseString") {
        let input = case["input"].as_str().unwrap_or_default();
        report.run(
            format!("internal-helpers.json reverseString {input:?}"),
            || {
                let want = str_of(case, "expected")?;
                let got = pattern::reverse_string(input);
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want:?}, got {got:?}"))
            },
        );
    }
}

#[test]
fn conformance_shell() {
    let Some(dir) = kiln_testkit::suite_dir("shell") else {
        return;
    };
    let mut report = Report::new("shell");
    env_var_test(&dir, &mut report);
    words_test(&dir, &mut report);
    process_word_with_matches(&dir, &mut report);
    mandatory_vars(&dir, &mut report);
    env_lookup(&dir, &mut report);
    internal_helpers(&dir, &mut report);
    report.finish();
}
