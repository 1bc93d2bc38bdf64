//! The files `lanterne check` reads: the reviewers' keys, the data dir's permissions, the
//! pinned KDF parameters, and the onion key. Each check reuses the code `serve` itself runs
//! (the keys loader, the pinned comparison, arti's key location), so the check cannot pass
//! where the box would refuse.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{error_chain, Finding};
use crate::code::ListVersion;
use crate::config::{Config, KdfConfig};
use crate::pinned::{self, Compared, PinError};
use crate::seal::{Recipients, RecipientsError};

/// The reviewers' keys, loaded as `serve` loads them.
pub(super) fn keys(dir: &Path) -> Finding {
    let new_key = format!(
        "make a reviewer key on the offline machine (`lanterne keys new --out reviewer.key \
         --public NAME.card`) and copy NAME.card into {}",
        dir.display()
    );
    match Recipients::load_dir(dir) {
        Ok(r) => Finding::info(format!(
            "reviewer keys: {} recipient(s) in {}",
            r.names().len(),
            dir.display()
        )),
        Err(RecipientsError::None(_)) => Finding::error(
            format!("no reviewer key in {} (no *.card or *.txt)", dir.display()),
            new_key,
        ),
        Err(RecipientsError::Missing(_)) => Finding::error(
            format!("no keys folder at {}", dir.display()),
            format!(
                "create it, then {new_key}; or set keys_dir in the config (--keys-dir) to the \
                 folder that holds the cards"
            ),
        ),
        Err(RecipientsError::SecretKey { path, kind }) => Finding::error(
            format!(
                "{} holds a SECRET KEY on the server: {kind}",
                path.display()
            ),
            "remove that file from the server and treat the key as exposed: make a new key on \
             the offline machine (`lanterne keys new`), put its card here in place of the old \
             one, and stop using the old key",
        ),
        Err(e @ RecipientsError::ReadDir { .. }) => Finding::error(
            format!("no reviewer key: {}", error_chain(&e)),
            format!("create the folder, then {new_key}"),
        ),
        Err(e @ RecipientsError::Incompatible(_)) => Finding::error(
            error_chain(&e),
            "keep either only post-quantum (age1pq1…) or only X25519 (age1…) reviewer keys",
        ),
        Err(e) => Finding::error(
            format!(
                "a key file is not a valid recipient or card: {}",
                error_chain(&e)
            ),
            format!(
                "replace it with the reviewer's card from `lanterne keys new`, or move it out of \
                 {}",
                dir.display()
            ),
        ),
    }
}

/// Run as root, the check reads what the box's user might not: the keys folder and each key
/// file must be readable by the data dir's owner (uid `uid`, group `gid`), or `serve` fails to
/// start. Supplementary groups are not looked at, so this is a warning.
pub(super) fn keys_readable_by(dir: &Path, uid: u32, gid: u32) -> Option<Finding> {
    let can = |m: &fs::Metadata, bits: u32| {
        let mode = m.mode();
        let shift = if m.uid() == uid {
            6
        } else if m.gid() == gid {
            3
        } else {
            0
        };
        (mode >> shift) & bits == bits
    };
    let mut unreadable = Vec::new();
    if fs::metadata(dir).is_ok_and(|m| !can(&m, 0o5)) {
        unreadable.push(dir.to_owned());
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for path in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            let key = crate::seal::is_key_file_name(&path);
            if key && fs::metadata(&path).is_ok_and(|m| m.is_file() && !can(&m, 0o4)) {
                unreadable.push(path);
            }
        }
    }
    if unreadable.is_empty() {
        return None;
    }
    unreadable.sort();
    let list: Vec<String> = unreadable.iter().map(|p| p.display().to_string()).collect();
    Some(Finding::warning(
        format!(
            "the box's user (uid {uid}, the data dir's owner) may not be able to read {}",
            list.join(", ")
        ),
        "make the keys folder 0755 and each card 0644 (they are public keys), or give them to \
         the box's user",
    ))
}

/// The data dir must be 0700 and owned by whoever runs the box (this check's user, unless it
/// runs as root); each entry in it (the instance secret, `params`, `sequence`, the lock…) and
/// each onion key in arti's keystore must be private to that owner: no group or other
/// permission.
pub(super) fn data_dir(dir: &Path, me: u32) -> Vec<Finding> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Finding::info(format!(
                "data dir {}: not made yet (the first start makes it, 0700)",
                dir.display()
            ))];
        }
        Err(e) => {
            return vec![Finding::error(
                format!("cannot read the data dir {}: {e}", dir.display()),
                "run `lanterne check` as the box's user (or root)",
            )]
        }
    };
    if !meta.is_dir() {
        return vec![Finding::error(
            format!("the data dir {} is not a folder", dir.display()),
            "point data_dir at a folder (or a path that does not exist yet)",
        )];
    }
    let owner = meta.uid();
    let mut out = Vec::new();
    let mode = meta.mode() & 0o7777;
    if mode != 0o700 {
        out.push(Finding::error(
            format!(
                "the data dir {} is mode {mode:04o}; it must be 0700 (only the box's user)",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        ));
    }
    if me != 0 && owner != me {
        out.push(Finding::error(
            format!(
                "the data dir {} is owned by uid {owner}, not by the user running this check \
                 (uid {me})",
                dir.display()
            ),
            format!(
                "run the box and this check as the data dir's owner, or `chown -R` {} to the \
                 box's user",
                dir.display()
            ),
        ));
    }
    let mut entries = Vec::new();
    private_entries(dir, &mut entries);
    // arti's keystore holds the onion keys; the rest of `tor/` is the public directory cache
    // and empty lock files, which arti itself makes 0644 (inside this 0700 folder).
    private_entries_under(&crate::onion::keystore_dir(dir), 3, &mut entries);
    for path in entries {
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = m.mode() & 0o7777;
        let shown = path.display();
        if mode & 0o077 != 0 {
            let want = if m.is_dir() { "700" } else { "600" };
            out.push(Finding::error(
                format!(
                    "{shown} is mode {mode:04o}: other users may read or change it; it must be \
                     0{want}"
                ),
                format!("chmod {want} {shown}"),
            ));
        }
        if m.uid() != owner {
            out.push(Finding::error(
                format!(
                    "{shown} is owned by uid {}, not by the data dir's owner (uid {owner})",
                    m.uid()
                ),
                format!("chown {owner} {shown} (as root)"),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::info(format!(
            "data dir {}: 0700, owned by uid {owner}, every secret in it private",
            dir.display()
        )));
    }
    out
}

/// The entries of `dir` (not below), sorted.
fn private_entries(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        out.extend(v);
    }
}

/// Every entry under `dir`, `depth` folders down (arti's keystore).
fn private_entries_under(dir: &Path, depth: u32, out: &mut Vec<std::path::PathBuf>) {
    let mut here = Vec::new();
    private_entries(dir, &mut here);
    for path in here {
        if depth > 0 && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            private_entries_under(&path, depth - 1, out);
        }
        out.push(path);
    }
}

/// The config's `[kdf]` against what the box was made with (`DATA/params`).
pub(super) fn kdf(dir: &Path, kdf: &KdfConfig) -> Finding {
    match pinned::compare(dir, kdf) {
        Ok(Compared::Same(version)) if version == ListVersion::CURRENT => {
            Finding::info("[kdf] and word lists: as this box was made with")
        }
        Ok(Compared::Same(version)) => Finding::info(format!(
            "[kdf]: as this box was made with; word lists: made with version {}, whose codes \
             still log in; new codes come from version {}",
            version.number(),
            ListVersion::CURRENT.number()
        )),
        Ok(Compared::NotRecorded) => Finding::info(
            "[kdf] and word lists: not recorded yet (the first start records them in DATA/params)",
        ),
        Err(PinError::Mismatch(diff)) => Finding::error(
            format!(
                "[kdf] or the word lists differ from what this box was made with; `serve` \
                 refuses to start, as every source would be locked out:\n{diff}"
            ),
            "put the values above back in the config, or run the lanterne version named above",
        ),
        Err(e @ PinError::Damaged { .. }) => {
            Finding::error(error_chain(&e), "restore DATA/params from a backup")
        }
        Err(e) => Finding::error(
            error_chain(&e),
            "run `lanterne check` as the box's user (or root)",
        ),
    }
}

/// The sources' onion key: without it the first start makes one, and a new address.
pub(super) fn onion_key(config: &Config) -> Option<Finding> {
    if !config.onion.enabled {
        return None;
    }
    let nickname = &config.onion.nickname;
    if crate::onion::has_identity_key(&config.data_dir, nickname) {
        return Some(Finding::info(format!(
            "onion key of `{nickname}`: present (its address stays the same)"
        )));
    }
    Some(Finding::warning(
        format!(
            "no onion key yet for the onion service `{nickname}` in {}: the first start makes \
             one, and with it the address sources will use",
            crate::onion::key_dir(&config.data_dir, nickname).display()
        ),
        "run `lanterne onion-address` with the same --config (as the box's user) to make it \
         now and learn the address before you publish it",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// An empty keys folder, a missing one, and a file that is not a key are errors, each
    /// naming the problem; a card from `keys new` passes.
    #[test]
    fn keys_missing_bad_and_good() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        let f = keys(&kdir);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.what.starts_with("no keys folder at "), "{f}");
        assert!(f.to_string().contains("create it") && f.to_string().contains("keys_dir"));
        fs::create_dir(&kdir).unwrap();
        let f = keys(&kdir);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.what.starts_with("no reviewer key in "), "{f}");
        assert!(f.to_string().contains("lanterne keys new"), "{f}");

        fs::write(kdir.join("alice.txt"), "age1notarecipient\n").unwrap();
        let f = keys(&kdir);
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.what
                .starts_with("a key file is not a valid recipient or card: "),
            "{f}"
        );
        assert!(f.what.contains("alice.txt"), "{f}");

        let identity = age::x25519::Identity::generate();
        fs::write(
            kdir.join("alice.txt"),
            format!("# alice\n{}\n", identity.to_public()),
        )
        .unwrap();
        let f = keys(&kdir);
        assert_eq!(f.severity, Severity::Info, "{f}");
        assert!(f.what.starts_with("reviewer keys: 1 recipient(s)"), "{f}");
    }

    /// A root-only card would stop the box's user from starting: the check, run as root, warns.
    #[test]
    fn keys_unreadable_by_the_box_user_warn() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        fs::create_dir(&kdir).unwrap();
        chmod(&kdir, 0o755);
        fs::write(kdir.join("alice.card"), "age1…\n").unwrap();
        fs::write(kdir.join("notes"), "").unwrap();
        chmod(&kdir.join("alice.card"), 0o644);
        chmod(&kdir.join("notes"), 0o600);
        let me = crate::check::system::uid();
        let other = me + 4242;
        assert_eq!(keys_readable_by(&kdir, other, other), None);
        chmod(&kdir.join("alice.card"), 0o600);
        let f = keys_readable_by(&kdir, other, other).unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.what.ends_with("alice.card"), "{f}");
        assert_eq!(
            keys_readable_by(&kdir, me, other),
            None,
            "the owner reads it"
        );
        chmod(&kdir, 0o700);
        let f = keys_readable_by(&kdir, other, other).unwrap();
        assert!(f.what.contains(&format!("{}, ", kdir.display())), "{f}");
    }

    /// A 0755 data dir, a 0644 secret, a loose onion key and a secret owned by another user
    /// are each an error naming the path; a private data dir passes; a missing one is only
    /// information.
    #[test]
    fn data_dir_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let me = crate::check::system::uid();
        assert_eq!(data_dir(&data, me)[0].severity, Severity::Info);
        fs::create_dir(&data).unwrap();
        chmod(&data, 0o700);
        fs::write(data.join("instance.key"), [7u8; 32]).unwrap();
        chmod(&data.join("instance.key"), 0o600);
        let ok = data_dir(&data, me);
        assert_eq!(ok.len(), 1, "{ok:?}");
        assert_eq!(ok[0].severity, Severity::Info, "{:?}", ok);

        chmod(&data, 0o755);
        let f = data_dir(&data, me);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].what.contains("is mode 0755; it must be 0700"),
            "{}",
            f[0]
        );
        assert_eq!(
            f[0].fix.as_deref(),
            Some(format!("chmod 700 {}", data.display()).as_str())
        );
        chmod(&data, 0o700);

        chmod(&data.join("instance.key"), 0o644);
        let f = data_dir(&data, me);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].what.contains("instance.key is mode 0644"), "{}", f[0]);
        chmod(&data.join("instance.key"), 0o600);

        let key = crate::onion::key_dir(&data, "lanterne");
        fs::create_dir_all(&key).unwrap();
        fs::write(key.join("ks_hs_id.ed25519_expanded_private"), "k").unwrap();
        for d in [
            data.join("tor"),
            data.join("tor/state"),
            data.join("tor/state/keystore"),
            data.join("tor/state/keystore/hss"),
            key.clone(),
        ] {
            chmod(&d, 0o700);
        }
        chmod(&key.join("ks_hs_id.ed25519_expanded_private"), 0o640);
        let f = data_dir(&data, me);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].what.contains("ks_hs_id"), "{}", f[0]);
        chmod(&key.join("ks_hs_id.ed25519_expanded_private"), 0o600);
        assert_eq!(data_dir(&data, me)[0].severity, Severity::Info);

        // Owned by someone else than the user running the check (who is not root).
        let f = data_dir(&data, me + 1);
        assert!(f.iter().any(|f| f.what.contains("not by the user running")));
        if me == 0 {
            std::os::unix::fs::chown(data.join("instance.key"), Some(4242), None).unwrap();
            let f = data_dir(&data, me);
            assert_eq!(f.len(), 1, "{f:?}");
            assert!(f[0].what.contains("owned by uid 4242"), "{}", f[0]);
        }
    }

    /// The config's [kdf] against DATA/params: nothing recorded, the same, and a mismatch
    /// that names the value to put back.
    #[test]
    fn kdf_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let kdf_cfg = KdfConfig::default();
        assert!(kdf(dir.path(), &kdf_cfg).what.contains("not recorded yet"));
        assert!(!dir.path().join(pinned::FILE_NAME).exists(), "check wrote");
        pinned::check_or_record(dir.path(), &kdf_cfg).unwrap();
        assert_eq!(kdf(dir.path(), &kdf_cfg).severity, Severity::Info);
        let mut other = kdf_cfg.clone();
        other.memory_kib *= 2;
        let f = kdf(dir.path(), &other);
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.what
                .contains(&format!("put `memory_kib = {}` back", kdf_cfg.memory_kib)),
            "{f}"
        );
    }

    /// No onion key: a warning saying how to make one; after `onion-address`'s own code made
    /// it (offline), it is found where arti keeps it.
    #[test]
    fn missing_onion_key_warns_until_made() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let f = onion_key(&config).unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.to_string().contains("lanterne onion-address"), "{f}");
        crate::onion::address(&config.onion, &config.data_dir).unwrap();
        let f = onion_key(&config).unwrap();
        assert_eq!(f.severity, Severity::Info, "{f}");
        // And arti made every entry private, as the permission check wants.
        let perms = data_dir(&config.data_dir, crate::check::system::uid());
        assert_eq!(perms.len(), 1, "{perms:?}");
        assert_eq!(perms[0].severity, Severity::Info, "{perms:?}");
        let off = Config {
            onion: crate::config::OnionConfig {
                enabled: false,
                ..Default::default()
            },
            ..config
        };
        assert!(onion_key(&off).is_none());
    }
}
