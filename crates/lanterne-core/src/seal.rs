//! age encryption: the reviewers' recipients, and sealing a byte stream to them.
//!
//! The server seals every submission through [`Recipients`]; the offline reviewer's reply
//! (`lanterne_offline::reply`) parses its pinned team's recipients with [`parse_recipient`] and encrypts its own
//! small file. Every age file lanterne decrypts (a stored reply at the source's login, a
//! bundle's manifest and files offline) goes through the one header-bounded decrypt,
//! [`decrypt`] (or [`open_small`] / [`open_small_with`] for small files in memory), which
//! refuses a header that does not end within [`MAX_HEADER_BYTES`] before age parses it. This
//! module knows nothing of HTTP or of the data dir: it turns
//! a writer into an age writer addressed to the reviewers (and, for replies, to a source).
//! The server holds only recipients (public keys), so nothing it runs can decrypt a submission.
//!
//! The keys folder holds reviewer cards (`*.card`, see [`crate::card`]) and plain recipients
//! files (`*.txt`, age's `-R` format: one recipient per line, `#` comments and blank lines
//! ignored); both are read by [`Card::parse_file`], the one parser of recipient files, and
//! each recipient string by [`parse_recipient`]. A secret key found in any file of the folder
//! (an age identity, a minisign secret key) stops the load, naming the file as a secret key
//! to remove and to treat as exposed. X25519 recipients (`age1…`) always work; with the `plugin` feature, plugin recipients
//! (`age1pq1…` through `age-plugin-pq`, for example) work where the plugin binary is installed.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use age::stream::StreamWriter;

use crate::card::{Card, CardError, MAX_KEYS_FILE_BYTES};

/// The extensions of the files [`Recipients::load_dir`] reads in the keys folder (`*.card`,
/// `*.txt`); any other file there is left alone. `serve --help` and keys/README.md name them.
pub const KEY_FILE_EXTENSIONS: [&str; 2] = ["card", "txt"];

/// Why the reviewers' recipients could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RecipientsError {
    #[error(
        "the keys folder {} does not exist. Create it (`mkdir -p {}`) and copy each reviewer's \
         card into it (made on the offline machine by `lanterne keys new --out reviewer.key \
         --public NAME.card`), or point `--keys-dir` (the config's `keys_dir`) at the folder \
         that holds the cards",
        .0.display(),
        .0.display()
    )]
    Missing(PathBuf),
    #[error("cannot read the keys folder {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },
    #[error(
        "{} holds a SECRET KEY ({kind}) on the server, where only public keys belong: refusing \
         to start. Remove that file from the server, and treat the key as exposed: whoever \
         could read this server could have copied it. Make a new key on the offline machine \
         (`lanterne keys new`), put its card in the keys folder in place of the old one, and \
         stop using the old key",
        .path.display()
    )]
    SecretKey { path: PathBuf, kind: &'static str },
    #[error("cannot read recipients file {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    #[error(
        "no reviewer recipients found in {0}. Create a reviewer key on the offline machine with \
         `lanterne keys new --out reviewer.key --public NAME.card` and copy that card into \
         {0}/NAME.card"
    )]
    None(PathBuf),
    #[error("{path}: {source}")]
    Card {
        path: PathBuf,
        #[source]
        source: CardError,
    },
    #[error("{path}: the recipient {recipient} cannot be used: {message}")]
    BadRecipient {
        path: PathBuf,
        recipient: String,
        message: String,
    },
    #[error(
        "these recipients cannot be used together in one age file; post-quantum and X25519 \
         recipients must not be mixed"
    )]
    Incompatible(#[source] age::EncryptError),
}

/// What marks a secret key in a file: an age identity, and a minisign secret key (its base64
/// line starts with the algorithms `Ed`, then no KDF or scrypt, then `B2`), as `lanterne keys
/// new` writes them.
const SECRET_KEY_MARKS: [(&str, &str); 3] = [
    (
        "AGE-SECRET-KEY-",
        "an age identity, AGE-SECRET-KEY-…, that decrypts submissions",
    ),
    (
        "RWQAAEIy",
        "a minisign secret key, the signing key of replies",
    ),
    (
        "RWRTY0Iy",
        "a minisign secret key, the signing key of replies",
    ),
];

/// Refuses a file of the keys folder that holds a secret key. Only the file's name is ever
/// reported, never its content. Unreadable files are left to the loader to report.
fn refuse_secret_key(path: &Path) -> Result<(), RecipientsError> {
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    let read = std::fs::File::open(path).and_then(|f| {
        f.take(MAX_KEYS_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
    });
    if read.is_err() {
        return Ok(());
    }
    let found = SECRET_KEY_MARKS.iter().find(|(mark, _)| {
        let mark = mark.as_bytes();
        // An age identity may be written in lower case too (bech32); minisign's base64 not.
        bytes.windows(mark.len()).any(|w| match mark[0] {
            b'A' => w.eq_ignore_ascii_case(mark),
            _ => w == mark,
        })
    });
    match found {
        Some((_, kind)) => Err(RecipientsError::SecretKey {
            path: path.to_owned(),
            kind,
        }),
        None => Ok(()),
    }
}

/// Whether `path`'s extension is one of [`KEY_FILE_EXTENSIONS`].
pub fn is_key_file_name(path: &Path) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| KEY_FILE_EXTENSIONS.contains(&x))
}

/// A recipient the box can encrypt to.
pub type Boxed = Box<dyn age::Recipient + Send + Sync>;

/// The reviewers' recipients, loaded once at start, with the cards they came from.
pub struct Recipients {
    list: Vec<Boxed>,
    /// One per recipient, in the same order: who it is, and their signing key if any.
    reviewers: Vec<Card>,
    /// The recipient strings, for logs, the start-up banner and the reviewer API's index.
    names: Vec<String>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients")
            .field("reviewers", &self.reviewers)
            .finish()
    }
}

impl Recipients {
    /// Loads every `*.txt` and `*.card` file of `dir`, in name order, through
    /// [`Card::parse_file`]: a card is one reviewer who can sign replies (a `*.txt` that starts
    /// with the card header is a card too), a plain recipients file holds read-only reviewers
    /// named by its stem. Fails if there is no recipient or if they cannot share a file, if the
    /// folder is missing (saying how to make it), and if any file in it holds a secret key.
    pub fn load_dir(dir: &Path) -> Result<Recipients, RecipientsError> {
        let read_dir = std::fs::read_dir(dir).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => RecipientsError::Missing(dir.to_owned()),
            _ => RecipientsError::ReadDir {
                path: dir.to_owned(),
                source,
            },
        })?;
        let mut all_files: Vec<PathBuf> = read_dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        all_files.sort();
        // Every file, whatever its name: `reviewer.key` copied here by mistake is the likely one.
        for path in &all_files {
            refuse_secret_key(path)?;
        }
        let paths: Vec<&PathBuf> = all_files.iter().filter(|p| is_key_file_name(p)).collect();
        let mut all = Recipients {
            list: Vec::new(),
            reviewers: Vec::new(),
            names: Vec::new(),
        };
        for path in paths {
            all.add_file(path)?;
        }
        if all.list.is_empty() {
            return Err(RecipientsError::None(dir.to_owned()));
        }
        // Validated once here: a set that age refuses to combine fails now, not per upload.
        all.encryptor(None).map_err(RecipientsError::Incompatible)?;
        Ok(all)
    }

    /// Adds the reviewers of one file.
    fn add_file(&mut self, path: &Path) -> Result<(), RecipientsError> {
        let read_err = |source| RecipientsError::ReadFile {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(MAX_KEYS_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(read_err)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let cards = Card::parse_file(&bytes, stem).map_err(|source| RecipientsError::Card {
            path: path.to_owned(),
            source,
        })?;
        for card in cards {
            let recipient = parse_recipient(&card.recipient).map_err(|message| {
                RecipientsError::BadRecipient {
                    path: path.to_owned(),
                    recipient: card.recipient.clone(),
                    message,
                }
            })?;
            self.list.push(recipient);
            self.names.push(card.recipient.clone());
            self.reviewers.push(card);
        }
        Ok(())
    }

    /// The recipient strings, as written in the keys folder.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Every reviewer, with their signing key if their card has one.
    pub fn reviewers(&self) -> &[Card] {
        &self.reviewers
    }

    /// An encryptor to every reviewer, plus `extra` (a source, for replies).
    pub(crate) fn encryptor(
        &self,
        extra: Option<&age::x25519::Recipient>,
    ) -> Result<age::Encryptor, age::EncryptError> {
        let reviewers = self.list.iter().map(|r| r.as_ref() as &dyn age::Recipient);
        let extra = extra.map(|r| r as &dyn age::Recipient);
        age::Encryptor::with_recipients(reviewers.chain(extra))
    }

    /// Wraps `out` so that what is written to it is encrypted to every reviewer.
    /// The caller must call [`StreamWriter::finish`], or the file is truncated.
    pub fn seal<W: Write>(&self, out: W) -> io::Result<StreamWriter<W>> {
        self.encryptor(None)
            .map_err(io::Error::other)?
            .wrap_output(out)
    }

    /// Encrypts a whole small buffer to the reviewers and `extra`, for tests (the box seals
    /// streams through [`Recipients::seal`]).
    #[cfg(test)]
    fn seal_bytes(
        &self,
        plaintext: &[u8],
        extra: Option<&age::x25519::Recipient>,
    ) -> io::Result<Vec<u8>> {
        let enc = self.encryptor(extra).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(plaintext.len() + 512);
        let mut w = enc.wrap_output(&mut out)?;
        w.write_all(plaintext)?;
        w.finish()?;
        Ok(out)
    }
}

/// Parses one recipient line (X25519, or a plugin recipient with the `plugin` feature).
pub fn parse_recipient(s: &str) -> Result<Boxed, String> {
    if let Ok(r) = s.parse::<age::x25519::Recipient>() {
        return Ok(Box::new(r));
    }
    parse_plugin_recipient(s)
}

#[cfg(feature = "plugin")]
fn parse_plugin_recipient(s: &str) -> Result<Boxed, String> {
    let r: age::plugin::Recipient = s
        .parse()
        .map_err(|_| "not an age X25519 or plugin recipient".to_owned())?;
    let name = r.plugin().to_owned();
    let plugin = age::plugin::RecipientPluginV1::new(&name, &[r], &[], age::NoCallbacks)
        .map_err(|e| format!("plugin recipient needs `age-plugin-{name}` on PATH: {e}"))?;
    Ok(Box::new(plugin))
}

#[cfg(not(feature = "plugin"))]
fn parse_plugin_recipient(_: &str) -> Result<Boxed, String> {
    Err("not an age X25519 recipient (plugin recipients need the `plugin` feature)".to_owned())
}

/// Longest age header lanterne accepts, in bytes. Its own files have a handful of recipients
/// (about 100 bytes each). The age crate parses a header in time that grows with the square of
/// its size (a 250 KB header takes about a minute), so a file whose header does not end within
/// this many bytes is refused before parsing.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Whether the age header that `prefix` starts ends (with its `---` MAC line) within
/// [`MAX_HEADER_BYTES`]. `prefix` must hold the first bytes of the file, as many as available.
pub fn header_is_bounded(prefix: &[u8]) -> bool {
    let window = &prefix[..prefix.len().min(MAX_HEADER_BYTES)];
    memchr::memmem::find(window, b"\n--- ").is_some()
}

/// Why an age file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not encrypted to this identity")]
    NoMatchingKeys,
    #[error("not a readable age file: {0}")]
    Decrypt(#[source] age::DecryptError),
    #[error("damaged: {0}")]
    Read(#[source] io::Error),
    #[error("larger than the {0} bytes allowed")]
    TooLarge(u64),
    #[error("not an age file lanterne wrote (its header is missing or too large)")]
    HeaderTooLarge,
}

impl From<age::DecryptError> for OpenError {
    fn from(e: age::DecryptError) -> OpenError {
        match e {
            age::DecryptError::NoMatchingKeys => OpenError::NoMatchingKeys,
            other => OpenError::Decrypt(other),
        }
    }
}

/// The one header-bounded decrypt: starts decrypting `input` with the first of `identities`
/// that matches, after checking that its header ends within [`MAX_HEADER_BYTES`] (age parses
/// headers in quadratic time). `input` must buffer at least that many bytes (a
/// `BufReader::with_capacity(MAX_HEADER_BYTES + …)`, or a slice) for the check to see the
/// whole header. The stream authenticates each chunk as it is read; a truncated or altered
/// file fails on read, at the latest at its end.
pub fn decrypt<'a, R: io::BufRead>(
    mut input: R,
    identities: impl Iterator<Item = &'a dyn age::Identity>,
) -> Result<age::stream::StreamReader<R>, OpenError> {
    let prefix = input.fill_buf().map_err(OpenError::Read)?;
    if !header_is_bounded(prefix) {
        return Err(OpenError::HeaderTooLarge);
    }
    let decryptor = age::Decryptor::new_buffered(input)?;
    Ok(decryptor.decrypt(identities)?)
}

/// Decrypts a small age file in memory with the first of `identities` that matches, refusing
/// more than `max` bytes of plaintext. The plaintext lives in a zeroizing buffer.
pub fn open_small_with<'a>(
    ciphertext: &[u8],
    identities: impl Iterator<Item = &'a dyn age::Identity>,
    max: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>, OpenError> {
    use std::io::Read;
    let reader = decrypt(ciphertext, identities)?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let mut limited = reader.take(max.saturating_add(1));
    limited.read_to_end(&mut out).map_err(OpenError::Read)?;
    if out.len() as u64 > max {
        return Err(OpenError::TooLarge(max));
    }
    Ok(out)
}

/// [`open_small_with`] one identity.
pub fn open_small(
    ciphertext: &[u8],
    identity: &dyn age::Identity,
    max: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>, OpenError> {
    open_small_with(ciphertext, std::iter::once(identity), max)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    /// An age file whose header (2,000 stanzas, about 190 KB) is far past
    /// [`MAX_HEADER_BYTES`]: age would take minutes to parse it.
    pub(crate) fn huge_header() -> Vec<u8> {
        let mut huge = b"age-encryption.org/v1\n".to_vec();
        for _ in 0..2000 {
            huge.extend_from_slice(b"-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
        }
        huge.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
        huge
    }

    fn write_keys(dir: &Path, text: &str) {
        std::fs::write(dir.join("team.txt"), text).unwrap();
    }

    #[test]
    fn loads_comments_and_several_recipients_and_each_can_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        write_keys(
            dir.path(),
            &format!("# team\n\n{}\n  {}  \n", a.to_public(), b.to_public()),
        );
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let r = Recipients::load_dir(dir.path()).unwrap();
        assert_eq!(r.names().len(), 2);
        let sealed = r.seal_bytes(b"hello", None).unwrap();
        for id in [&a, &b] {
            assert_eq!(&open_small(&sealed, id, 100).unwrap()[..], b"hello");
        }
        assert!(open_small(&sealed, &age::x25519::Identity::generate(), 100).is_err());
        assert!(open_small(&sealed, &a, 2).is_err());
        let _ = a.to_string().expose_secret().len();
    }

    #[test]
    fn cards_and_plain_files_are_read_alike_and_keep_who_can_sign() {
        let dir = tempfile::tempdir().unwrap();
        let a = age::x25519::Identity::generate().to_public();
        let b = age::x25519::Identity::generate().to_public();
        let c = age::x25519::Identity::generate().to_public();
        let key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        let card = |name: &str, r: &age::x25519::Recipient| {
            format!(
                "{}\n# name: {name}\n# minisign: {key}\n{r}\n",
                crate::card::HEADER
            )
        };
        std::fs::write(dir.path().join("alice.card"), card("alice", &a)).unwrap();
        // A card saved as .txt is still a card.
        std::fs::write(dir.path().join("bob.txt"), card("bob", &b)).unwrap();
        std::fs::write(dir.path().join("reader.txt"), format!("{c}\n")).unwrap();
        let r = Recipients::load_dir(dir.path()).unwrap();
        let who: Vec<(&str, bool)> = r
            .reviewers()
            .iter()
            .map(|c| (c.name.as_str(), c.can_sign()))
            .collect();
        assert_eq!(who, [("alice", true), ("bob", true), ("reader", false)]);
        assert_eq!(r.names(), [a.to_string(), b.to_string(), c.to_string()]);
        std::fs::write(
            dir.path().join("bad.card"),
            format!("{}\n# email: x\n{a}\n", crate::card::HEADER),
        )
        .unwrap();
        let err = Recipients::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, RecipientsError::Card { .. }), "{err}");
    }

    #[test]
    fn huge_headers_are_refused_before_parsing() {
        let id = age::x25519::Identity::generate();
        let huge = huge_header();
        assert!(!header_is_bounded(&huge));
        let started = std::time::Instant::now();
        assert!(matches!(
            open_small(&huge, &id, 10),
            Err(OpenError::HeaderTooLarge)
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let dir = tempfile::tempdir().unwrap();
        write_keys(dir.path(), &id.to_public().to_string());
        let sealed = Recipients::load_dir(dir.path())
            .unwrap()
            .seal_bytes(b"x", None)
            .unwrap();
        assert!(header_is_bounded(&sealed));
    }

    /// The streaming decrypt refuses the same huge header through a reader, finds the one
    /// identity of several that matches, and says which error is which.
    #[test]
    fn streaming_decrypt_is_header_bounded_and_tries_every_identity() {
        use std::io::{BufReader, Read};
        let huge = huge_header();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let ids = [&a as &dyn age::Identity, &b as &dyn age::Identity];
        let started = std::time::Instant::now();
        let reader = BufReader::with_capacity(MAX_HEADER_BYTES + 8192, &huge[..]);
        assert!(matches!(
            decrypt(reader, ids.into_iter()),
            Err(OpenError::HeaderTooLarge)
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let dir = tempfile::tempdir().unwrap();
        write_keys(dir.path(), &b.to_public().to_string());
        let sealed = Recipients::load_dir(dir.path())
            .unwrap()
            .seal_bytes(b"for b", None)
            .unwrap();
        let mut out = Vec::new();
        decrypt(BufReader::new(&sealed[..]), ids.into_iter())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"for b");
        assert_eq!(
            &open_small_with(&sealed, ids.into_iter(), 5).unwrap()[..],
            b"for b"
        );
        assert!(matches!(
            open_small_with(&sealed, ids.into_iter(), 4),
            Err(OpenError::TooLarge(4))
        ));
        assert!(matches!(
            open_small(&sealed, &a, 100),
            Err(OpenError::NoMatchingKeys)
        ));
    }

    #[test]
    fn empty_folder_and_bad_lines_have_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = Recipients::load_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("lanterne keys new"), "{err}");
        write_keys(dir.path(), "# ok\nnot-a-key\n");
        let err = Recipients::load_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        write_keys(dir.path(), "age1notbech32\n");
        let err = Recipients::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, RecipientsError::BadRecipient { .. }), "{err}");
        let missing = dir.path().join("missing");
        let err = Recipients::load_dir(&missing).unwrap_err();
        assert!(matches!(err, RecipientsError::Missing(_)), "{err}");
        let said = err.to_string();
        assert!(
            said.contains(&format!("mkdir -p {}", missing.display())),
            "{said}"
        );
        assert!(
            said.contains("keys_dir") && said.contains("lanterne keys new"),
            "{said}"
        );
    }

    #[test]
    fn a_secret_key_in_any_file_of_the_folder_is_refused_by_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let card = format!("{}\n", id.to_public());
        std::fs::write(dir.path().join("alice.txt"), &card).unwrap();
        assert!(Recipients::load_dir(dir.path()).is_ok());
        use age::secrecy::ExposeSecret;
        let secret = id.to_string().expose_secret().to_owned();
        for (name, text) in [
            ("reviewer.key", secret.clone()),
            ("notes", format!("# kept here\n{}\n", secret.to_lowercase())),
            (
                "alice.key.minisign",
                "untrusted comment: x\nRWQAAEIyAAAA\n".to_owned(),
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let err = Recipients::load_dir(dir.path()).unwrap_err();
            assert!(
                matches!(err, RecipientsError::SecretKey { .. }),
                "{name}: {err}"
            );
            let said = err.to_string();
            assert!(said.contains(&path.display().to_string()), "{said}");
            assert!(
                said.contains("exposed") && said.contains("Remove"),
                "{said}"
            );
            assert!(!said.to_uppercase().contains(&secret[15..]), "{said}");
            std::fs::remove_file(&path).unwrap();
        }
    }
}
