//! Credentials and client keys: formats read by arti and C tor, modes, all-or-nothing writes.

use super::*;
use std::os::unix::fs::PermissionsExt;

const NICK: &str = "lanterne-reviewers";

fn reviewer_onion(cfg: &OnionConfig) -> ReviewerOnion<'_> {
    ReviewerOnion {
        onion: cfg,
        nickname: NICK,
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`, as paths relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn add_verify_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OnionConfig::default();
    let out = dir.path().join("alice.cred");
    add(dir.path(), "alice", &out, reviewer_onion(&cfg)).unwrap();
    let c = Credential::read(&out).unwrap();
    assert_eq!(c.name, "alice");
    assert!(verify(dir.path(), "alice", &c.token));
    assert!(!verify(dir.path(), "alice", "00"));
    assert!(!verify(dir.path(), "bob", &c.token));
    assert!(!verify(dir.path(), "../alice", &c.token));
    let stored = fs::read_to_string(dir.path().join("reviewers/alice")).unwrap();
    assert!(!stored.contains(&c.token));
    assert!(matches!(
        add(
            dir.path(),
            "alice",
            &dir.path().join("x"),
            reviewer_onion(&cfg)
        ),
        Err(CredentialError::Exists(_))
    ));
    remove(dir.path(), "alice").unwrap();
    assert!(!verify(dir.path(), "alice", &c.token));
    assert!(matches!(
        remove(dir.path(), "alice"),
        Err(CredentialError::Unknown(_))
    ));
}

/// The reviewer onion's placeholder client: one key file arti reads, made once, whose name
/// no reviewer can take or remove.
#[test]
fn the_placeholder_client_is_made_once_and_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let clients = onion_clients_dir(dir.path());
    ensure_placeholder_client(&clients).unwrap();
    let path = clients.join("_nobody.auth");
    let first = fs::read_to_string(&path).unwrap();
    tor_hscrypto::pk::HsClientDescEncKey::from_str(first.trim()).unwrap();
    HsClientNickname::from_str(PLACEHOLDER).unwrap();
    ensure_placeholder_client(&clients).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), first, "made once");
    assert_eq!(fs::read_dir(&clients).unwrap().count(), 1);
    let cfg = OnionConfig::default();
    let out = dir.path().join("x.cred");
    assert!(matches!(
        add(dir.path(), PLACEHOLDER, &out, reviewer_onion(&cfg)),
        Err(CredentialError::BadName)
    ));
    assert!(matches!(
        remove(dir.path(), PLACEHOLDER),
        Err(CredentialError::BadName)
    ));
    assert!(path.is_file());
}

/// The server's `.auth` is what arti's restricted discovery reads (its own parsers of the
/// file's name and content), the workstation's `.auth_private` is what arti's C tor client
/// keystore reads, for the reviewer onion's address, and the two halves are one key.
#[test]
fn client_key_files_are_byte_exact_and_read_by_arti() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = dir.path().join("workstation");
    fs::create_dir(&ws).unwrap();
    let cfg = OnionConfig::default();
    let out = ws.join("alice.cred");
    let issued = add(&data, "alice", &out, reviewer_onion(&cfg)).unwrap();
    let clients = onion_clients_dir(&data);
    assert_eq!(issued.client_key, clients.join("alice.auth"));
    assert_eq!(issued.auth_private, ws.join("alice.cred.auth_private"));

    // The server side, as tor-hsservice's DirectoryKeyProvider reads it.
    let auth = fs::read_to_string(&issued.client_key).unwrap();
    let public_b32 = auth
        .strip_prefix("descriptor:x25519:")
        .and_then(|r| r.strip_suffix('\n'))
        .expect("descriptor:x25519:<key>\\n");
    assert_eq!(public_b32.len(), 52);
    assert!(public_b32
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    HsClientNickname::from_str("alice").unwrap();
    let parsed = tor_hscrypto::pk::HsClientDescEncKey::from_str(auth.trim()).unwrap();
    assert_eq!(format!("{parsed}\n"), auth);

    // The workstation side: `<56>:descriptor:x25519:<secret>` for the reviewer onion.
    let url = onion::address_of(
        &cfg,
        &data,
        onion::Service::Reviewers {
            nickname: NICK,
            clients_dir: &clients,
        },
    )
    .unwrap();
    let private = fs::read_to_string(&issued.auth_private).unwrap();
    let fields: Vec<&str> = private.trim_end_matches('\n').split(':').collect();
    assert_eq!(fields.len(), 4, "{private}");
    assert_eq!(format!("http://{}.onion", fields[0]), url);
    assert_eq!(fields[0].len(), 56);
    assert_eq!(&fields[1..3], ["descriptor", "x25519"]);
    assert_eq!(fields[3].len(), 52);
    assert!(private.ends_with('\n') && private.matches('\n').count() == 1);
    let secret: [u8; 32] = BASE32_NOPAD
        .decode(fields[3].as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    let public = x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES);
    assert_eq!(BASE32_NOPAD.encode(&public), public_b32);

    // arti's own reader of ClientOnionAuthDir accepts the file, for this onion.
    use tor_keymgr::{CTorPath, KeyPath, Keystore};
    let store = tor_keymgr::CTorClientKeystore::from_path_and_mistrust(
        &ws,
        &fs_mistrust::Mistrust::new_dangerously_trust_everyone(),
        tor_keymgr::KeystoreId::from_str("ctor").unwrap(),
    )
    .unwrap();
    let want = tor_hscrypto::pk::HsId::from_str(&format!("{}.onion", fields[0])).unwrap();
    let found: Vec<KeyPath> = store
        .list()
        .unwrap()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.key_path().clone())
        .collect();
    assert_eq!(
        found,
        [KeyPath::CTor(CTorPath::HsClientDescEncKeypair {
            hs_id: want
        })]
    );

    // Private files in private folders.
    for f in [&out, &issued.auth_private, &issued.client_key] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&clients), 0o700);
}

#[test]
fn remove_deletes_the_token_and_the_client_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OnionConfig::default();
    let out = dir.path().join("alice.cred");
    let issued = add(dir.path(), "alice", &out, reviewer_onion(&cfg)).unwrap();
    remove(dir.path(), "alice").unwrap();
    assert!(!dir.path().join("reviewers/alice").exists());
    assert!(!issued.client_key.exists());
    assert_eq!(tree(&onion_clients_dir(dir.path())), Vec::<PathBuf>::new());
    // A client key left without its token (an interrupted add) is removed too, and
    // blocks the name until then.
    fs::write(&issued.client_key, "descriptor:x25519:AA\n").unwrap();
    assert!(matches!(
        add(
            dir.path(),
            "alice",
            &dir.path().join("y"),
            reviewer_onion(&cfg)
        ),
        Err(CredentialError::Exists(_))
    ));
    remove(dir.path(), "alice").unwrap();
    assert!(!issued.client_key.exists());
}

/// A refused name writes nothing at all: no folder, no onion key, no file.
#[test]
fn a_bad_name_writes_nothing() {
    let cfg = OnionConfig::default();
    for bad in ["Alice!", "retention", "-alice", "", "../x", "a/b"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = dir.path().join("y");
        assert!(
            matches!(
                add(&data, bad, &out, reviewer_onion(&cfg)),
                Err(CredentialError::BadName)
            ),
            "{bad:?}"
        );
        assert_eq!(tree(dir.path()), Vec::<PathBuf>::new(), "{bad:?}");
    }
}

/// Adding an existing name leaves every file of the first credential as it was.
#[test]
fn add_over_an_existing_name_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OnionConfig::default();
    let out = dir.path().join("alice.cred");
    add(dir.path(), "alice", &out, reviewer_onion(&cfg)).unwrap();
    let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        tree(d)
            .into_iter()
            .filter(|p| d.join(p).is_file())
            .map(|p| (p.clone(), fs::read(d.join(&p)).unwrap()))
            .collect()
    };
    let before = snapshot(dir.path());
    // Same name to another file, and to the same file.
    for o in [dir.path().join("again.cred"), out.clone()] {
        assert!(matches!(
            add(dir.path(), "alice", &o, reviewer_onion(&cfg)),
            Err(CredentialError::Exists(_))
        ));
        assert_eq!(snapshot(dir.path()), before);
    }
}

/// When a later write fails, the files written before it are removed: no credential
/// without its key, no key without its credential.
#[test]
fn a_failed_add_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OnionConfig::default();
    let out = dir.path().join("bob.cred");
    // The secret key's file is taken: the credential file written before it must go.
    fs::write(auth_private_path(&out), "someone else's").unwrap();
    assert!(matches!(
        add(dir.path(), "bob", &out, reviewer_onion(&cfg)),
        Err(CredentialError::Io { .. })
    ));
    assert!(!out.exists());
    assert!(!dir.path().join("reviewers/bob").exists());
    assert!(!onion_clients_dir(dir.path()).join("bob.auth").exists());
    assert_eq!(
        fs::read_to_string(auth_private_path(&out)).unwrap(),
        "someone else's"
    );
    // An onion config that cannot make the address: nothing written either.
    let bad = OnionConfig {
        tor_network: Some(dir.path().join("missing.toml")),
        ..OnionConfig::default()
    };
    let out = dir.path().join("carol.cred");
    assert!(matches!(
        add(dir.path(), "carol", &out, reviewer_onion(&bad)),
        Err(CredentialError::Onion(_))
    ));
    assert!(!out.exists() && !auth_private_path(&out).exists());
    assert!(!dir.path().join("reviewers/carol").exists());
}

/// Enrolments and revocations are not dated on the server's disk: after `add` and `remove`,
/// the token hashes, client keys and their folders (and the data dir) keep epoch times, as the
/// rest of the data dir does (`store::normalize_times`).
#[test]
fn enrolment_files_keep_epoch_times() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    durable::create_private_dir_all(&data).unwrap();
    let cfg = OnionConfig::default();
    let out = dir.path().join("alice.cred");
    add(&data, "alice", &out, reviewer_onion(&cfg)).unwrap();
    add(
        &data,
        "bob",
        &dir.path().join("bob.cred"),
        reviewer_onion(&cfg),
    )
    .unwrap();
    ensure_placeholder_client(&onion_clients_dir(&data)).unwrap();
    // The credentials' and client keys' files and folders, and the data dir, whose time is not
    // the epoch. (arti's own key store, made on the first `add`, is arti's and not checked.)
    let dated = || -> Vec<PathBuf> {
        tree(&data)
            .into_iter()
            .filter(|p| p.starts_with(DIR) || p.starts_with("reviewer-onion-clients"))
            .map(|p| data.join(p))
            .chain([data.clone()])
            .filter(|p| fs::metadata(p).unwrap().modified().unwrap() != std::time::UNIX_EPOCH)
            .collect()
    };
    assert_eq!(dated(), Vec::<PathBuf>::new(), "after add");
    remove(&data, "alice").unwrap();
    assert_eq!(dated(), Vec::<PathBuf>::new(), "after remove");
}
