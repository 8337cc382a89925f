//! `USER name[:group]` / `uid[:gid]` resolution against a rootfs's `/etc/passwd` and `/etc/group`,
//! with runc's `GetExecUser` semantics (which BuildKit uses).

use crate::error::{Error, Result};
use crate::types::ExecUser;

/// The highest uid/gid runc accepts (`2^31 - 1`).
const MAX_ID: i64 = (1 << 31) - 1;

#[derive(Debug)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
}

#[derive(Debug)]
struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Numeric fields parse like Go's `strconv.Atoi` with the error ignored: junk is 0.
fn atoi(s: &str) -> i64 {
    s.trim().parse().unwrap_or(0)
}

fn lines(data: &str) -> impl Iterator<Item = &str> {
    data.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn parse_passwd(data: &str) -> Vec<PasswdEntry<'_>> {
    lines(data)
        .map(|line| {
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let uid = f.next().map(atoi).unwrap_or(0);
            let gid = f.next().map(atoi).unwrap_or(0);
            PasswdEntry { name, uid, gid }
        })
        .collect()
}

fn parse_group(data: &str) -> Vec<GroupEntry<'_>> {
    lines(data)
        .map(|line| {
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let gid = f.next().map(atoi).unwrap_or(0);
            let members = f
                .next()
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            GroupEntry { name, gid, members }
        })
        .collect()
}

fn to_id(v: i64) -> Result<u32> {
    if (0..=MAX_ID).contains(&v) {
        u32::try_from(v).map_err(|_| Error::IdOutOfRange)
    } else {
        Err(Error::IdOutOfRange)
    }
}

/// Resolves a `USER` value against the contents of `/etc/passwd` and `/etc/group`
/// (`None` when the file does not exist in the rootfs).
///
/// - empty user: root (`0:0`), or the passwd entry with uid 0;
/// - a numeric user matches by uid, and may be absent from passwd (gid then 0);
/// - a name must be in passwd: `unable to find user foo: no matching entries in passwd file`;
/// - `:group` by name must be in `/etc/group`; a numeric gid may be absent;
/// - supplementary groups come from `/etc/group` membership, only when no group was named,
///   and always start with the primary group (unless membership already lists it).
pub fn resolve_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_num: Option<i64> = user_arg.parse().ok();
    let gid_num: Option<i64> = group_arg.parse().ok();

    let mut uid: i64 = 0;
    let mut gid: i64 = 0;
    let mut matched_name: Option<&str> = None;

    let users = passwd.map(parse_passwd).unwrap_or_default();
    let found = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    if let Some(u) = found {
        matched_name = Some(u.name);
        uid = u.uid;
        gid = u.gid;
    } else if !user_arg.is_empty() {
        match uid_num {
            Some(n) => uid = n,
            None => return Err(Error::UnknownUser(user_arg.to_string())),
        }
    }
    let uid = to_id(uid)?;

    let mut additional_gids = Vec::new();
    if !group_arg.is_empty() || matched_name.is_some() {
        let groups = group.map(parse_group).unwrap_or_default();
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_num {
                Some(n) => g.gid == n,
                None => g.name == group_arg,
            });
            match (found, gid_num) {
                (Some(g), _) => gid = g.gid,
                (None, Some(n)) => gid = n,
                (None, None) => return Err(Error::UnknownGroup(group_arg.to_string())),
            }
        } else if let Some(name) = matched_name {
            for g in groups.iter().filter(|g| g.members.contains(&name)) {
                additional_gids.push(to_id(g.gid)?);
            }
        }
    }
    // As current BuildKit (containerd's ensureAdditionalGids): the primary group is always one
    // of the supplementary groups, so `id` in a RUN step lists it under `groups=`.
    let gid = to_id(gid)?;
    if !additional_gids.contains(&gid) {
        additional_gids.insert(0, gid);
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\naudio:x:29:app\n\
        nogroup:x:65534:\napp:x:1000:\n";

    fn resolve(spec: &str) -> Result<ExecUser> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_is_root_with_its_groups() {
        let u = resolve("").unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![0, 10]);
    }

    #[test]
    fn name_takes_passwd_gid_and_membership_groups() {
        let u = resolve("app").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000, 10, 29]);
    }

    #[test]
    fn explicit_group_drops_supplementary_groups() {
        let u = resolve("app:audio").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        assert_eq!(u.additional_gids, vec![29]);
        let u = resolve("app:4242").unwrap();
        assert_eq!(u.gid, 4242);
    }

    #[test]
    fn numeric_uid_without_entry_is_fine() {
        let u = resolve("4242").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        let u = resolve("65534").unwrap();
        assert_eq!((u.uid, u.gid), (65534, 65534));
        let u = resolve("4242:4343").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 4343));
    }

    #[test]
    fn unknown_names_give_buildkit_errors() {
        let err = resolve("foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        let err = resolve("app:bar").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group bar: no matching entries in group file"
        );
    }

    #[test]
    fn missing_files() {
        assert!(matches!(
            resolve_user("app", None, None),
            Err(Error::UnknownUser(_))
        ));
        let u = resolve_user("12:34", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (12, 34));
        let root = resolve_user("", None, None).unwrap();
        assert_eq!((root.uid, root.gid, root.additional_gids), (0, 0, vec![0]));
    }

    #[test]
    fn out_of_range_ids() {
        assert!(matches!(resolve("-1"), Err(Error::IdOutOfRange)));
        assert!(matches!(resolve("4294967295"), Err(Error::IdOutOfRange)));
        assert!(matches!(resolve("0:-5"), Err(Error::IdOutOfRange)));
    }
}
