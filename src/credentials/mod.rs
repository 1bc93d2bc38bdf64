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
    durable::create_private_dir_all(clients_dir).map_err(io_err(clients_dir))?;
    let path = clients_dir.join(format!("{PLACEHOLDER}.auth"));
    if path.is_file() {
        return Ok(());
    }
    let key = ClientKey::generate();
    durable::create_atomic(&path, key.auth_line().as_bytes()).map_err(io_err(&path))?;
    // `key` is dropped here: its secret is zeroized, never written.
    for p in [path.as_path(), clients_dir] {
        crate::store::normalize_times(p).map_err(io_err(p))?;
    }
    Ok(())
}

/// Puts the times of `files`, of the credentials' and client keys' folders and of the data dir
/// back to the epoch, as the store does for everything else in the data dir: the disk does not
/// date an enrolment or a revocation.
fn undated(data_dir: &Path, files: &[&Path]) -> Result<(), CredentialError> {
    let dirs = [data_dir.join(DIR), onion_clients_dir(data_dir)];
    let all = files
        .iter()
        .copied()
        .chain(dirs.iter().map(PathBuf::as_path))
        .chain([data_dir]);
    for path in all {
        match crate::store::normalize_times(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(path)(e)),
            _ => {}
        }
    }
    Ok(())
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
        durable::create_private_dir_all(d).map_err(io_err(d))?;
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
    undated(data_dir, &[&stored, &client_key])?;
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
    undated(data_dir, &[])?;
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

/// The name a credential's served counts are kept under (`crate::store`'s `fetched` files):
/// its name and 64 bits of a hash of its token. A name removed and added again has a new
/// token, so it starts with no counts and cannot ack what the old credential fetched.
pub fn served_as(name: &str, token: &str) -> String {
    let id = Sha256::digest(format!("lanterne served-as\n{token}").as_bytes());
    format!("{name}.{}", hex::encode(&id[..8]))
}

/// Whether `name` is a registered reviewer (whatever token is presented with it).
pub fn exists(data_dir: &Path, name: &str) -> bool {
    valid_name(name) && data_dir.join(DIR).join(name).is_file()
}

#[cfg(test)]
mod tests;
