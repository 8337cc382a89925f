//! `--chmod` values: octal (`0640`, `4755`) or symbolic like chmod(1) (`u+x,g-w`, `a=rX`,
//! `go=u`), as current BuildKit accepts both.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Permission and special bits a mode may set.
const ALL_BITS: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// An octal mode: replaces the permission bits and the setuid/setgid/sticky bits.
    Octal(u32),
    /// A symbolic mode: clauses applied in order to each entry's current mode.
    Symbolic(Vec<Clause>),
}

/// One clause of a symbolic mode: `who` then one or more `op perms` actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Bits of `u` (0o4700), `g` (0o2070), `o` (0o1007); all of them for `a` or nothing.
    who: u32,
    actions: Vec<(Op, Perms)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Set,
}

/// What an action sets: literal letters or a copy of another class's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perms {
    /// `r`, `w`, `x`, `s`, `t` as bits over all classes; `cond_x` for `X`.
    Letters { bits: u32, cond_x: bool },
    /// `u`, `g` or `o`: the rwx bits of that class in the current mode.
    Copy(u32),
}

impl Chmod {
    /// Parses a `--chmod` value: all octal digits is an octal mode (at most `7777`),
    /// anything else must be a symbolic mode.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidMode {
            value: value.to_string(),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("empty mode"));
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            let mode = u32::from_str_radix(value, 8).map_err(|_| invalid("not an octal number"))?;
            if mode > ALL_BITS {
                return Err(invalid("octal mode above 7777"));
            }
            return Ok(Chmod::Octal(mode));
        }
        let mut clauses = Vec::new();
        for clause in value.split(',') {
            clauses.push(parse_clause(clause).map_err(invalid)?);
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode (permission and special bits) an entry gets, from its current `mode` (any
    /// `st_mode`; only the low 12 bits are read).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(m) => *m & ALL_BITS,
            Chmod::Symbolic(clauses) => {
                let mut cur = mode & ALL_BITS;
                for clause in clauses {
                    for (op, perms) in &clause.actions {
                        let bits = match *perms {
                            Perms::Letters { bits, cond_x } => {
                                let x = cond_x && (is_dir || cur & 0o111 != 0);
                                bits | if x { 0o111 } else { 0 }
                            }
                            Perms::Copy(class) => {
                                let rwx = match class {
                                    0o4700 => (cur >> 6) & 7,
                                    0o2070 => (cur >> 3) & 7,
                                    _ => cur & 7,
                                };
                                rwx * 0o111
                            }
                        } & clause.who;
                        cur = match op {
                            Op::Add => cur | bits,
                            Op::Remove => cur & !bits,
                            Op::Set => (cur & !clause.who) | bits,
                        };
                    }
                }
                cur
            }
        }
    }

    /// The mode a directory created on the way to a copy destination gets: an octal mode
    /// as is (current BuildKit applies `--chmod` to the parents it creates), a symbolic
    /// mode applied to `0755`.
    pub fn parent_dir_mode(&self) -> u32 {
        match self {
            Chmod::Octal(m) => *m & 0o777,
            Chmod::Symbolic(_) => self.apply(0o755, true) & 0o777,
        }
    }
}

fn parse_clause(clause: &str) -> Result<Clause, &'static str> {
    let mut chars = clause.chars().peekable();
    let mut who = 0;
    while let Some(&c) = chars.peek() {
        who |= match c {
            'u' => 0o4700,
            'g' => 0o2070,
            'o' => 0o1007,
            'a' => ALL_BITS,
            _ => break,
        };
        chars.next();
    }
    if who == 0 {
        who = ALL_BITS;
    }
    let mut actions = Vec::new();
    while let Some(c) = chars.next() {
        let op = match c {
            '+' => Op::Add,
            '-' => Op::Remove,
            '=' => Op::Set,
            _ => return Err("expected an operator (+, - or =) after who letters"),
        };
        let perms = match chars.peek() {
            Some(&c @ ('u' | 'g' | 'o')) => {
                chars.next();
                Perms::Copy(match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    _ => 0o1007,
                })
            }
            _ => {
                let mut bits = 0;
                let mut cond_x = false;
                while let Some(&c) = chars.peek() {
                    match c {
                        'r' => bits |= 0o444,
                        'w' => bits |= 0o222,
                        'x' => bits |= 0o111,
                        'X' => cond_x = true,
                        's' => bits |= 0o6000,
                        't' => bits |= 0o1000,
                        _ => break,
                    }
                    chars.next();
                }
                Perms::Letters { bits, cond_x }
            }
        };
        actions.push((op, perms));
    }
    if actions.is_empty() {
        return Err("a symbolic clause needs an operator (+, - or =)");
    }
    Ok(Clause { who, actions })
}

impl FromStr for Chmod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Chmod::parse(s)
    }
}

impl fmt::Display for Chmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chmod::Octal(m) => write!(f, "{m:04o}"),
            Chmod::Symbolic(_) => f.write_str("symbolic mode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s)
            .map(|c| c.apply(mode, dir))
            .unwrap_or(u32::MAX)
    }

    #[test]
    fn octal() {
        assert_eq!(Chmod::parse("600").ok(), Some(Chmod::Octal(0o600)));
        assert_eq!(sym("4755", 0o644, false), 0o4755);
        assert_eq!(sym("0640", 0o4755, false), 0o640);
        assert!(Chmod::parse("8").is_err());
        assert!(Chmod::parse("17777").is_err());
        assert!(Chmod::parse("").is_err());
    }

    #[test]
    fn symbolic() {
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("u+x,g-w", 0o664, false), 0o744);
        assert_eq!(sym("a=r", 0o777, false), 0o444);
        assert_eq!(sym("go=", 0o755, false), 0o700);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("g=u", 0o640, false), 0o660);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("g+s,o+t", 0o755, true), 0o3755);
        assert_eq!(sym("u=rw,go=r", 0o777, false), 0o644);
        assert_eq!(sym("u+x-w", 0o644, false), 0o544);
        for bad in ["u", "z+x", "u+x,", "u!x", "+q"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
