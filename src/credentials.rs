//! Reviewer workstations' fetch credentials and reviewer-onion client keys: made by
//! `lanterne reviewers add`, checked by the reviewer API and by the reviewer onion.
//!
//! A credential is a name and a random 256-bit token. The workstation keeps both in a file
//! (mode 0600); the server keeps only SHA-256 of the token in `DATA/reviewers/<name>`, which
//! cannot be replayed into access. (A plain hash is enough: the token is random and long, so
//! there is nothing for a slow hash to protect.) Removing the file revokes the credential at
//! once: the server reads it on every request.
//!
//! Each credential comes with a client-authorization key (x25519) for the reviewer onion:
//! the public part goes to `DATA/reviewer-onion-clients/<name>.auth`, which the reviewer
//! onion's restricted discovery watches; the secret part goes beside the credential file as
//! `<out>.auth_private`, in C tor's `ClientOnionAuthDir` format, for the workstation's tor.
//! Without it a client cannot even decrypt the onion's descriptor. That hides the onion and
//! keeps unknown clients from loading it; it is not access control: the bearer token still is.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use data_encoding::BASE32_NOPAD;
use lanterne_core::durable;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::str::FromStr;
use subtle::ConstantTimeEq;
use tor_hsservice::config::restricted_discovery::HsClientNickname;
use zeroize::{Zeroize, Zeroizing};

use crate::config::OnionConfig;
use crate::onion::{self, OnionError};

const DIR: &str = "reviewers";

/// Where the reviewer onion's authorized clients live: one `<name>.auth` file per workstation
/// (`descriptor:x25519:<base32 public key>`, the format arti and C tor read). The reviewer
/// onion's restricted discovery watches this folder.
pub fn onion_clients_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("reviewer-onion-clients")
}

pub use lanterne_core::credential::Credential;

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "a reviewer name is 1 to 32 characters of a-z, 0-9, - and _, does not start with - \
         (arti would not read its onion client key), and is not `retention` (the deletion \
         records use that name for the retention sweep) nor `_nobody` (the reviewer onion's \
         placeholder client)"
    )]
    BadName,
    #[error("reviewer {0} already exists; remove it first to issue a new credential")]
    Exists(String),
    #[error("no reviewer named {0}")]
    Unknown(String),
    #[error(
        "cannot make the reviewer onion's address for the client key (check the [onion] and \
         [reviewer] settings of --config, and that the data folder is writable); nothing was \
         written"
    )]
    Onion(#[source] Box<OnionError>),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn valid_name(name: &str) -> bool {
    lanterne_core::api::is_credential_name(name)
}

/// Whether `name` can be issued now: a credential name, not the retention sweep's nor the
/// reviewer onion's placeholder client, and a client nickname arti accepts for `<name>.auth`
/// (it ignores a key file whose name it refuses).
fn valid_new_name(name: &str) -> bool {
    valid_name(name)
        && name != "retention"
        && name != PLACEHOLDER
        && HsClientNickname::from_str(name).is_ok()
}

/// The reviewer onion's client that no workstation is: see [`ensure_placeholder_client`].
const PLACEHOLDER: &str = "_nobody";

/// Makes sure the reviewer onion's clients folder holds, besides the workstations' keys, one
/// key whose secret half was never kept. arti stops a restricted-discovery service for good
/// when its last client goes, and cannot launch it again in the same process (its state stays
/// locked); with this key the service stays up, unreadable to all, until a workstation is
/// added. Its descriptor then carries one more client entry, which nobody can open.
pub fn ensure_placeholder_client(clients_dir: &Path) -> Result<(), CredentialError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(clients_dir)
        .map_err(io_err(clients_dir))?;
    let path = clients_dir.join(format!("{PLACEHOLDER}.auth"));
    if path.is_file() {
        return Ok(());
    }
    let key = ClientKey::generate();
    durable::create_atomic(&path, key.auth_line().as_bytes()).map_err(io_err(&path))
    // `key` is dropped here: its secret is zeroized, never written.
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CredentialError + '_ {
    move |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The reviewer onion whose address goes into each workstation's `.auth_private` file: the
/// box's onion settings and the reviewer onion's nickname (`[reviewer] onion_nickname`).
#[derive(Debug, Clone, Copy)]
pub struct ReviewerOnion<'a> {
    pub onion: &'a OnionConfig,
    pub nickname: &'a str,
}

/// Where `reviewers add` wrote the credential and the client key.
#[derive(Debug)]
pub struct Issued {
    pub credential: PathBuf,
    /// The public part, on the server: `DATA/reviewer-onion-clients/<name>.auth`.
    pub client_key: PathBuf,
    /// The secret part, for the workstation: `<out>.auth_private`.
    pub auth_private: PathBuf,
}

impl std::fmt::Display for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "credential written to {}\n\
             reviewer onion client key: public part {} (stays on the server), secret part {}\n\
             Carry the credential and the secret part to the workstation (both mode 0600). The \
             secret part lets the workstation's tor find the reviewer onion (once \
             `serve --reviewer-onion` publishes it):\n\
             - C tor: put it in the folder torrc names with `ClientOnionAuthDir` and reload \
             tor, then `lanterne fetch --socks 127.0.0.1:9050 --server http://<the file's first field>.onion …`;\n\
             - Tor Browser: about:preferences#privacy → Onion Services Authentication → Saved \
             Keys → Add, with the address and the key (the text after `x25519:`);\n\
             - Tails: the same Tor Browser dialog.",
            self.credential.display(),
            self.client_key.display(),
            self.auth_private.display(),
        )
    }
}

/// Creates a credential and its reviewer-onion client key: the token's hash and the public
/// key under `data_dir`, the credential file to `out` and the secret key to
/// `<out>.auth_private`. All or nothing: on any error, whatever was written is removed.
pub fn add(
    data_dir: &Path,
    name: &str,
    out: &Path,
    reviewer_onion: ReviewerOnion<'_>,
) -> Result<Issued, CredentialError> {
    if !valid_new_name(name) {
        return Err(CredentialError::BadName);
    }
    let dir = data_dir.join(DIR);
    let clients = onion_clients_dir(data_dir);
    let stored = dir.join(name);
    let client_key = clients.join(format!("{name}.auth"));
    // A client key without its token (left by an interrupted `add`) counts as the name being
    // taken too: `remove` clears either.
    if stored.symlink_metadata().is_ok() || client_key.symlink_metadata().is_ok() {
        return Err(CredentialError::Exists(name.to_owned()));
    }
    // The address first: if the onion key cannot be made, nothing is written.
    let address = onion::address_of(
        reviewer_onion.onion,
        data_dir,
        onion::Service::Reviewers {
            nickname: reviewer_onion.nickname,
            clients_dir: &clients,
        },
    )
    .map_err(|e| CredentialError::Onion(Box::new(e)))?;
    let host = onion_host(&address);
    for d in [&dir, &clients] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(d)
            .map_err(io_err(d))?;
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let credential = Credential {
        name: name.to_owned(),
        token: hex::encode(raw),
    };
    raw.zeroize();
    let key = ClientKey::generate();
    let auth_private = auth_private_path(out);

    // The workstation's files first, then the server's; the token's hash last, so a crash
    // never leaves a credential without its client key. Until `done`, dropping `undo` removes
    // what was written.
    let mut undo = Undo::default();
    undo.create(out, &credential.to_file_bytes(), durable::create_private)?;
    undo.create(
        &auth_private,
        key.auth_private_line(host).as_bytes(),
        durable::create_private,
    )?;
    // Atomic (temp file, link), so arti, which watches the folder, never reads half a key.
    undo.create(
        &client_key,
        key.auth_line().as_bytes(),
        durable::create_atomic,
    )?;
    undo.create(
        &stored,
        format!("{}\n", hash(&credential.token)).as_bytes(),
        durable::create_private,
    )?;
    undo.done();
    Ok(Issued {
        credential: out.to_owned(),
        client_key,
        auth_private,
    })
}

/// Revokes a credential and deletes its client key. The token stops working at once; arti
/// notices the key's removal and republishes the reviewer onion's descriptor without it.
pub fn remove(data_dir: &Path, name: &str) -> Result<(), CredentialError> {
    if !valid_name(name) || name == PLACEHOLDER {
        return Err(CredentialError::BadName);
    }
    let had_token = remove_durably(&data_dir.join(DIR).join(name))?;
    let had_key = remove_durably(&onion_clients_dir(data_dir).join(format!("{name}.auth")))?;
    if had_token || had_key {
        Ok(())
    } else {
        Err(CredentialError::Unknown(name.to_owned()))
    }
}

/// Removes `path` and fsyncs its folder; false if it was not there.
fn remove_durably(path: &Path) -> Result<bool, CredentialError> {
    match fs::remove_file(path) {
        Ok(()) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            durable::fsync_dir(dir).map_err(io_err(dir))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// `<out>.auth_private`: the credential file's name with the suffix C tor's
/// `ClientOnionAuthDir` looks for.
pub fn auth_private_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".auth_private");
    PathBuf::from(name)
}

/// `<56 characters>` out of `http://<56 characters>.onion`.
fn onion_host(url: &str) -> &str {
    let host = url.strip_prefix("http://").unwrap_or(url);
    host.strip_suffix(".onion").unwrap_or(host)
}

/// Files written so far by `add`, removed again unless `done` is called.
#[derive(Default)]
struct Undo {
    written: Vec<PathBuf>,
}

impl Undo {
    fn create(
        &mut self,
        path: &Path,
        bytes: &[u8],
        write: fn(&Path, &[u8]) -> io::Result<()>,
    ) -> Result<(), CredentialError> {
        write(path, bytes).map_err(io_err(path))?;
        self.written.push(path.to_owned());
        Ok(())
    }

    fn done(mut self) {
        self.written.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        for path in self.written.iter().rev() {
            // Best effort: the error that stopped `add` is the one reported.
            let _ = remove_durably(path);
        }
    }
}

/// A workstation's client-authorization key for the reviewer onion: x25519, as onion
/// services' restricted discovery uses (rend-spec-v3, "client authorization").
struct ClientKey {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl ClientKey {
    fn generate() -> ClientKey {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        // Clamped, as C tor stores the keys it makes itself; the public key is the same
        // either way (x25519 clamps), so only the file's bytes differ.
        secret[0] &= 248;
        secret[31] &= 127;
        secret[31] |= 64;
        // x25519-dalek (already linked through age and arti) for the scalar multiplication.
        let public = x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        ClientKey { secret, public }
    }

    /// The server's `<name>.auth`: `descriptor:x25519:<base32 public key>`. Base32 is RFC 4648
    /// upper case without padding, as C tor and arti write it, through `data-encoding` (the
    /// encoder arti itself uses for these keys).
    fn auth_line(&self) -> String {
        format!("descriptor:x25519:{}\n", BASE32_NOPAD.encode(&self.public))
    }

    /// The workstation's `<out>.auth_private`, C tor's `ClientOnionAuthDir` format:
    /// `<address without .onion>:descriptor:x25519:<base32 secret key>`.
    fn auth_private_line(&self, onion_host: &str) -> Zeroizing<String> {
        let encoded = Zeroizing::new(BASE32_NOPAD.encode(self.secret.as_ref()));
        Zeroizing::new(format!("{onion_host}:descriptor:x25519:{}\n", *encoded))
    }
}

/// Whether `name` and `token` match a stored credential (constant time in the token).
pub fn verify(data_dir: &Path, name: &str, token: &str) -> bool {
    if !valid_name(name) {
        return false;
    }
    let Ok(stored) = fs::read_to_string(data_dir.join(DIR).join(name)) else {
        return false;
    };
    bool::from(stored.trim().as_bytes().ct_eq(hash(token).as_bytes()))
}

/// Whether `name` is a registered reviewer (whatever token is presented with it).
pub fn exists(data_dir: &Path, name: &str) -> bool {
    valid_name(name) && data_dir.join(DIR).join(name).is_file()
}

#[cfg(test)]
mod tests {
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
}
