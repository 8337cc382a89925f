//! Conformance suite `reference`: distribution/reference's own test vectors, read from
//! `shared/conformance/suites/reference/*.json` (every case of every file).
//!
//! `parse.json` is run with only sha256 enabled ([`DigestAlgorithms::SHA256_ONLY`]): upstream's
//! test binary links no other hash, so it expects `sha512:` digests to be unsupported, while
//! kiln's default (like Docker's) accepts them.

use std::path::Path;

use kiln_reference::{
    AnyReference, DigestAlgorithms, DigestError, Error, Reference, familiar_match, grammar, parse,
    parse_any_reference, parse_docker_ref, parse_named, parse_normalized_named, parse_with, sort,
    with_name,
};
use kiln_testkit::Report;
use serde_json::Value;

type Outcome = Result<(), String>;

/// Runs every case of one data file.
type Runner = fn(&Value, &mut Report);

/// The upstream error variable an error stands for.
fn kind(err: &Error) -> &'static str {
    match err {
        Error::InvalidFormat => "ErrReferenceInvalidFormat",
        Error::TagInvalidFormat => "ErrTagInvalidFormat",
        Error::DigestInvalidFormat => "ErrDigestInvalidFormat",
        Error::NameContainsUppercase => "ErrNameContainsUppercase",
        Error::NameEmpty => "ErrNameEmpty",
        Error::NameTooLong => "ErrNameTooLong",
        Error::NameNotCanonical => "ErrNameNotCanonical",
        Error::Digest(DigestError::InvalidFormat) => "ErrDigestInvalidFormat",
        Error::Digest(DigestError::InvalidLength) => "ErrDigestInvalidLength",
        Error::Digest(DigestError::Unsupported) => "ErrDigestUnsupported",
        _ => "(a formatted error, no upstream variable)",
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("case has no string {key:?}"))
}

fn boolean(v: &Value, key: &str) -> Result<bool, String> {
    v.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("case has no bool {key:?}"))
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// `""` in the data means "absent".
fn optional(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn short(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Checks an `expectedError: {kind, message}` against a result.
fn expect_error<T: std::fmt::Debug>(got: Result<T, Error>, want: &Value) -> Outcome {
    match got {
        Ok(v) => Err(format!("expected an error, got {v:?}")),
        Err(err) => {
            eq("error kind", kind(&err), text(want, "kind")?)?;
            eq(
                "error message",
                err.to_string().as_str(),
                text(want, "message")?,
            )
        }
    }
}

/// Compares the fields present in `expected` with a named reference.
fn expect_fields(r: &Reference, expected: &Value) -> Outcome {
    let Some(fields) = expected.as_object() else {
        return Err("expected is not an object".into());
    };
    for (key, want) in fields {
        let want = want
            .as_str()
            .ok_or_else(|| format!("expected.{key} is not a string"))?;
        match key.as_str() {
            "string" => eq("String()", r.to_string().as_str(), want)?,
            "name" => eq("Name()", r.name().as_str(), want)?,
            "domain" => eq("Domain()", r.domain(), want)?,
            "path" => eq("Path()", r.path(), want)?,
            "tag" => eq("Tag()", r.tag(), optional(want))?,
            "digest" => eq("Digest()", r.digest(), optional(want))?,
            "familiarName" => eq("FamiliarName()", r.familiar_name().as_str(), want)?,
            "familiarString" => eq("FamiliarString()", r.familiar_string().as_str(), want)?,
            other => return Err(format!("unknown expected field {other:?}")),
        }
    }
    Ok(())
}

fn run_parse(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(format!("parse.json cases[{i}] {:?}", short(input)), || {
            let got = parse_with(input, DigestAlgorithms::SHA256_ONLY);
            if let Some(err) = case.get("expectedError") {
                return expect_error(got, err);
            }
            let r = got.map_err(|e| format!("unexpected error: {e}"))?;
            expect_fields(&r, &case["expected"])
        });
    }
    // Decoding from a JSON string field and encoding back (upstream's `Field`).
    for (i, case) in array(data, "fieldRoundTrip").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(format!("parse.json fieldRoundTrip[{i}] {input:?}"), || {
            let decoded = serde_json::from_value::<Reference>(Value::String(input.to_string()));
            if let Some(err) = case.get("expectedError") {
                let message = text(err, "message")?;
                return match decoded {
                    Ok(r) => Err(format!("expected an error, got {r:?}")),
                    Err(e) if e.to_string().contains(message) => Ok(()),
                    Err(e) => Err(format!("error {e:?} does not say {message:?}")),
                };
            }
            let r = decoded.map_err(|e| format!("unexpected error: {e}"))?;
            expect_fields(&r, &case["expected"])?;
            let encoded = serde_json::to_value(&r).map_err(|e| e.to_string())?;
            eq("re-encoded", encoded, Value::String(input.to_string()))
        });
    }
}

fn run_normalize(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(
            format!("normalize.json cases[{i}] {:?}", short(input)),
            || {
                let r =
                    parse_normalized_named(input).map_err(|e| format!("unexpected error: {e}"))?;
                expect_fields(&r, &case["expected"])
            },
        );
    }
    for (i, case) in array(data, "validity").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(
            format!("normalize.json validity[{i}] {:?}", short(input)),
            || {
                let got = parse_normalized_named(input);
                let valid = boolean(case, "valid")?;
                match (got, valid) {
                    (Ok(_), true) | (Err(_), false) => Ok(()),
                    (Ok(r), false) => Err(format!("accepted as {r}, want an error")),
                    (Err(e), true) => Err(format!("rejected ({e}), want valid")),
                }
            },
        );
    }
}

fn run_parse_any(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(
            format!("parse-any.json cases[{i}] {:?}", short(input)),
            || {
                let expected = &case["expected"];
                let r = parse_any_reference(input).map_err(|e| format!("unexpected error: {e}"))?;
                let want = text(expected, "string")?;
                eq("String()", r.to_string().as_str(), want)?;
                eq(
                    "digest only",
                    r.is_digest_only(),
                    boolean(expected, "digestOnly")?,
                )?;
                if let AnyReference::Named(named) = &r {
                    let reparsed = parse(want).map_err(|e| format!("Parse({want}): {e}"))?;
                    eq("equal to Parse(string)", named, &reparsed)?;
                }
                Ok(())
            },
        );
    }
}

fn run_parse_docker_ref(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let name = case.get("name").and_then(Value::as_str).unwrap_or_default();
        report.run(format!("parse-docker-ref.json cases[{i}] {name}"), || {
            let input = text(case, "input")?;
            let want = text(case, "expected")?;
            let r = parse_docker_ref(input).map_err(|e| format!("unexpected error: {e}"))?;
            eq("String()", r.to_string().as_str(), want)?;
            let reparsed = parse(want).map_err(|e| format!("Parse({want}): {e}"))?;
            eq("equal to Parse(expected)", &r, &reparsed)
        });
    }
}

fn run_parse_named(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(format!("parse-named.json cases[{i}] {input:?}"), || {
            let got = parse_named(input);
            if let Some(err) = case.get("expectedError") {
                return expect_error(got, err);
            }
            let r = got.map_err(|e| format!("unexpected error: {e}"))?;
            expect_fields(&r, &case["expected"])
        });
    }
}

fn run_with_name(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "withName").iter().enumerate() {
        let input = case
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(
            format!("with-name.json withName[{i}] {:?}", short(input)),
            || {
                let got = with_name(input);
                if let Some(err) = case.get("expectedError") {
                    return expect_error(got, err);
                }
                let r = got.map_err(|e| format!("unexpected error: {e}"))?;
                expect_fields(&r, &case["expected"])?;
                eq("no tag or digest", r.is_name_only(), true)
            },
        );
    }
    for (i, case) in array(data, "compose").iter().enumerate() {
        let name = case.get("name").and_then(Value::as_str).unwrap_or_default();
        report.run(format!("with-name.json compose[{i}] {name:?}"), || {
            let normalize = case.get("normalize").and_then(Value::as_bool) == Some(true);
            let start = if normalize {
                parse_normalized_named(name)
            } else {
                with_name(name)
            };
            let mut result = start.map_err(|e| format!("start {name:?}: {e}"));
            for op in array(case, "operations") {
                result = result.and_then(|r| {
                    if let Some(tag) = op.get("withTag").and_then(Value::as_str) {
                        r.with_tag(tag).map_err(|e| format!("withTag({tag}): {e}"))
                    } else if let Some(digest) = op.get("withDigest").and_then(Value::as_str) {
                        r.with_digest(digest)
                            .map_err(|e| format!("withDigest({digest}): {e}"))
                    } else {
                        Err(format!("unknown operation {op}"))
                    }
                });
            }
            if case.get("expectedError").is_some() {
                return match result {
                    Ok(r) => Err(format!("expected an error, got {r}")),
                    Err(_) => Ok(()),
                };
            }
            let r = result?;
            eq("String()", r.to_string().as_str(), text(case, "expected")?)
        });
    }
}

fn run_familiar_match(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        let reference = case
            .get("reference")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pattern = case
            .get("pattern")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.run(
            format!("familiar-match.json cases[{i}] {reference:?} ~ {pattern:?}"),
            || {
                let r = parse_any_reference(reference)
                    .map_err(|e| format!("ParseAnyReference: {e}"))?;
                let got = familiar_match(pattern, &r);
                if case.get("expectedError").is_some() {
                    return match got {
                        Err(Error::BadPattern { .. }) => Ok(()),
                        other => Err(format!("expected a pattern error, got {other:?}")),
                    };
                }
                let got = got.map_err(|e| format!("unexpected error: {e}"))?;
                eq("match", got, boolean(case, "expected")?)
            },
        );
    }
}

/// `groups`, with `""` for an absent part.
fn groups(case: &Value) -> Option<Vec<&str>> {
    case.get("groups")
        .and_then(Value::as_array)
        .map(|g| g.iter().map(|v| v.as_str().unwrap_or_default()).collect())
}

fn run_regexp(data: &Value, report: &mut Report) {
    type Production = fn(&str) -> Option<Vec<String>>;
    let productions: [(&str, Production); 4] = [
        ("domain", |s| grammar::is_domain(s).then(Vec::new)),
        ("fullName", |s| {
            grammar::split_name(s).map(|(d, p)| vec![d.to_string(), p.to_string()])
        }),
        ("reference", |s| {
            grammar::split_reference(s).map(|parts| {
                vec![
                    parts.name.to_string(),
                    parts.tag.unwrap_or_default().to_string(),
                    parts.digest.unwrap_or_default().to_string(),
                ]
            })
        }),
        ("identifier", |s| grammar::is_identifier(s).then(Vec::new)),
    ];
    for (production, matcher) in productions {
        let cases = array(data, production);
        if cases.is_empty() {
            report.case(
                format!("regexp.json {production}"),
                Err("no cases for this production".into()),
            );
        }
        for (i, case) in cases.iter().enumerate() {
            let input = case
                .get("input")
                .and_then(Value::as_str)
                .unwrap_or_default();
            report.run(
                format!("regexp.json {production}[{i}] {:?}", short(input)),
                || {
                    let got = matcher(input);
                    eq("match", got.is_some(), boolean(case, "match")?)?;
                    if let (Some(got), Some(want)) = (got, groups(case)) {
                        let got: Vec<&str> = got.iter().map(String::as_str).collect();
                        eq("groups", got, want)?;
                    }
                    Ok(())
                },
            );
        }
    }
}

fn run_sort(data: &Value, report: &mut Report) {
    for (i, case) in array(data, "cases").iter().enumerate() {
        report.run(format!("sort.json cases[{i}]"), || {
            let strings = |key: &str| -> Vec<String> {
                array(case, key)
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            };
            eq("sorted", sort(&strings("unsorted")), strings("expected"))
        });
    }
}

#[test]
fn conformance_reference() {
    let Some(dir) = kiln_testkit::suite_dir("reference") else {
        return;
    };
    let mut report = Report::new("reference");
    let runners: [(&str, Runner); 9] = [
        ("parse.json", run_parse),
        ("normalize.json", run_normalize),
        ("parse-any.json", run_parse_any),
        ("parse-docker-ref.json", run_parse_docker_ref),
        ("parse-named.json", run_parse_named),
        ("with-name.json", run_with_name),
        ("familiar-match.json", run_familiar_match),
        ("regexp.json", run_regexp),
        ("sort.json", run_sort),
    ];
    for (file, run) in runners {
        run(&kiln_testkit::load_json(&dir, file), &mut report);
    }
    // A file added to the suite later must not go unnoticed.
    for file in json_files(&dir) {
        if !runners.iter().any(|(known, _)| *known == file) {
            report.case(&file, Err("data file has no runner".into()));
        }
    }
    report.finish();
}

fn json_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
