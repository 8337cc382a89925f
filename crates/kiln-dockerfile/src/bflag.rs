//! Instruction flag validation (BuildKit's `BFlags`): each instruction declares the flags it
//! accepts, then the `--name[=value]` words from the AST are checked against them.

use crate::error::{ErrorKind, suggest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    String,
    Strings,
}

#[derive(Debug, Clone)]
struct Flag {
    name: &'static str,
    ty: FlagType,
    value: String,
    values: Vec<String>,
}

/// The declared flags of one instruction and the values given.
#[derive(Debug, Clone)]
pub(crate) struct BFlags {
    args: Vec<String>,
    flags: Vec<Flag>,
    used: Vec<&'static str>,
}

impl BFlags {
    pub(crate) fn new(args: &[String]) -> BFlags {
        BFlags {
            args: args.to_vec(),
            flags: Vec::new(),
            used: Vec::new(),
        }
    }

    fn add(&mut self, name: &'static str, ty: FlagType, value: &str) {
        self.flags.push(Flag {
            name,
            ty,
            value: value.to_string(),
            values: Vec::new(),
        });
    }

    /// Declares `--name[=true|false]`.
    pub(crate) fn add_bool(&mut self, name: &'static str, default: bool) {
        self.add(name, FlagType::Bool, if default { "true" } else { "false" });
    }

    /// Declares `--name=value`.
    pub(crate) fn add_string(&mut self, name: &'static str, default: &str) {
        self.add(name, FlagType::String, default);
    }

    /// Declares a repeatable `--name=value`.
    pub(crate) fn add_strings(&mut self, name: &'static str) {
        self.add(name, FlagType::Strings, "");
    }

    /// Checks the given flags against the declared ones and records their values. A `--`
    /// word stops flag processing.
    pub(crate) fn parse(&mut self) -> Result<(), ErrorKind> {
        let args = std::mem::take(&mut self.args);
        for a in &args {
            if a == "--" {
                return Ok(());
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(ErrorKind::Invalid(format!(
                    "arg should start with -- : {a}"
                )));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(idx) = self.flags.iter().position(|f| f.name == name) else {
                let names: Vec<&str> = self.flags.iter().map(|f| f.name).collect();
                return Err(ErrorKind::UnknownFlag {
                    flag: flag_name,
                    suggestion: suggest(name, &names, true),
                });
            };
            let flag = &mut self.flags[idx];
            if self.used.contains(&flag.name) {
                if flag.ty != FlagType::Strings {
                    return Err(ErrorKind::Invalid(format!(
                        "duplicate flag specified: {flag_name}"
                    )));
                }
            } else {
                self.used.push(flag.name);
            }
            match flag.ty {
                FlagType::Bool => {
                    if value == Some("") {
                        return Err(ErrorKind::Invalid(format!(
                            "missing a value on flag: {flag_name}"
                        )));
                    }
                    let v = value.unwrap_or_default();
                    match v.to_lowercase().as_str() {
                        "true" | "" => flag.value = "true".into(),
                        "false" => flag.value = "false".into(),
                        _ => {
                            return Err(ErrorKind::Invalid(format!(
                                "expecting boolean value for flag {flag_name}, not: {v}"
                            )));
                        }
                    }
                }
                FlagType::String | FlagType::Strings => {
                    let Some(v) = value else {
                        return Err(ErrorKind::Invalid(format!(
                            "missing a value on flag: {flag_name}"
                        )));
                    };
                    if flag.ty == FlagType::String {
                        flag.value = v.to_string();
                    } else {
                        flag.values.push(v.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The value of a string flag (its default when not given).
    pub(crate) fn string(&self, name: &str) -> String {
        self.get(name).map(|f| f.value.clone()).unwrap_or_default()
    }

    /// The value of a bool flag.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|f| f.value == "true")
    }

    /// The values of a repeatable flag.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).map(|f| f.values.clone()).unwrap_or_default()
    }

    /// Whether the flag was given.
    pub(crate) fn is_used(&self, name: &str) -> bool {
        self.used.contains(&name)
    }

    /// The names of the flags given, in order of first use.
    pub(crate) fn used(&self) -> Vec<String> {
        self.used.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> BFlags {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut b = BFlags::new(&args);
        b.add_bool("link", false);
        b.add_string("from", "");
        b.add_strings("exclude");
        b
    }

    #[test]
    fn parses() {
        let mut b = flags(&["--link", "--from=a", "--exclude=x", "--exclude=y"]);
        b.parse().unwrap();
        assert!(b.bool("link"));
        assert_eq!(b.string("from"), "a");
        assert_eq!(b.strings("exclude"), ["x", "y"]);
        assert_eq!(b.used(), ["link", "from", "exclude"]);
    }

    #[test]
    fn errors() {
        let msg = |args: &[&str]| flags(args).parse().unwrap_err().to_string();
        assert_eq!(
            msg(&["--form=a"]),
            "unknown flag: --form (did you mean from?)"
        );
        assert_eq!(
            msg(&["--from=a", "--from=b"]),
            "duplicate flag specified: --from"
        );
        assert_eq!(msg(&["--from"]), "missing a value on flag: --from");
        assert_eq!(msg(&["--link="]), "missing a value on flag: --link");
        assert_eq!(
            msg(&["--link=yes"]),
            "expecting boolean value for flag --link, not: yes"
        );
        assert!(flags(&["--", "--bogus"]).parse().is_ok());
    }
}
