//! Cross-checks the hand-written matchers in `kiln_reference::grammar` against regular
//! expressions assembled from upstream's grammar productions, on a large generated corpus of
//! reference-like strings (including the captured parts).

// Test-only code: the patterns are constants, a failure to compile them is a test failure.
#![allow(clippy::unwrap_used)]

use kiln_reference::grammar;
use regex::Regex;

struct Patterns {
    domain: Regex,
    name: Regex,
    reference: Regex,
    tag: Regex,
    digest: Regex,
    identifier: Regex,
    path_component: Regex,
}

fn patterns() -> Patterns {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let path_component = format!("{alnum}(?:{separator}{alnum})*");
    let remote = format!("{path_component}(?:/{path_component})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain_name = format!(r"{domain_component}(?:\.{domain_component})*");
    let ipv6 = r"\[(?:[a-fA-F0-9:]+)\]";
    let domain = format!("(?:{domain_name}|{ipv6})(?::[0-9]+)?");
    // Go's `\w` is ASCII-only; spell it out.
    let tag = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
    let name = format!("(?:{domain}/)?{remote}");
    let re = |p: String| Regex::new(&p).unwrap();
    Patterns {
        domain: re(format!("^{domain}$")),
        name: re(format!("^(?:({domain})/)?({remote})$")),
        reference: re(format!("^({name})(?::({tag}))?(?:@({digest}))?$")),
        tag: re(format!("^{tag}$")),
        digest: re(format!("^{digest}$")),
        identifier: re("^[a-f0-9]{64}$".to_string()),
        path_component: re(format!("^{path_component}$")),
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "a",
    "b",
    "z",
    "0",
    "9",
    "f",
    "A",
    "F",
    "Z",
    ".",
    "..",
    "_",
    "__",
    "-",
    "--",
    "/",
    "//",
    ":",
    "@",
    "[",
    "]",
    "::",
    "localhost",
    "docker.io",
    "8080",
    "sha256",
    "+",
    "é",
    "%",
    "lib",
    "0123456789abcdef0123456789abcdef",
    "0123456789ABCDEF0123456789abcdef",
];

fn corpus() -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for _ in 0..60_000 {
        let len = 1 + rng.below(8);
        let s: String = (0..len).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        out.push(s);
    }
    // Structured shapes, so that valid references are common too.
    let parts = [
        "a", "a.b", "a-b", "A.b", "[::1]", "x:5", "a_b", "a__b", "a..b", "[f:", "",
    ];
    let tags = ["", ":t", ":T.1", ":-x", ":_", ":a/b", ":"];
    let digests = [
        "",
        "@sha256:0123456789abcdef0123456789abcdef",
        "@Sha.x+y:0123456789abcdef0123456789ABCDEF00",
        "@sha256:0123",
        "@:0123456789abcdef0123456789abcdef",
        "@a@b",
    ];
    for d in parts {
        for p in parts {
            for t in tags {
                for g in digests {
                    out.push(format!("{d}/{p}{t}{g}"));
                    out.push(format!("{d}{t}{g}"));
                }
            }
        }
    }
    out
}

#[test]
fn matchers_agree_with_the_upstream_regular_expressions() {
    let re = patterns();
    let mut checked = 0usize;
    for s in corpus() {
        let s = s.as_str();
        assert_eq!(grammar::is_domain(s), re.domain.is_match(s), "domain {s:?}");
        assert_eq!(grammar::is_tag(s), re.tag.is_match(s), "tag {s:?}");
        assert_eq!(grammar::is_digest(s), re.digest.is_match(s), "digest {s:?}");
        assert_eq!(
            grammar::is_identifier(s),
            re.identifier.is_match(s),
            "identifier {s:?}"
        );
        assert_eq!(
            grammar::is_path_component(s),
            re.path_component.is_match(s),
            "path component {s:?}"
        );

        let want_name = re.name.captures(s).map(|c| {
            (
                c.get(1).map_or("", |m| m.as_str()),
                c.get(2).map_or("", |m| m.as_str()),
            )
        });
        assert_eq!(grammar::split_name(s), want_name, "name {s:?}");

        let want_ref = re.reference.captures(s).map(|c| {
            (
                c.get(1).map_or("", |m| m.as_str()),
                c.get(2).map(|m| m.as_str()),
                c.get(3).map(|m| m.as_str()),
            )
        });
        let got_ref = grammar::split_reference(s).map(|p| (p.name, p.tag, p.digest));
        assert_eq!(got_ref, want_ref, "reference {s:?}");
        checked += 1;
    }
    assert!(checked > 60_000);
}
