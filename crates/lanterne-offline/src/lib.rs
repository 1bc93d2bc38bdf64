//! lanterne-offline: the reviewers' offline commands, `lanterne-review open`, `reply`, `team`,
//! the inbox's `import`, `list`, `show`, `export`, `star`, and `keys new` (also offered as
//! `lanterne review …` and `lanterne keys new`).
//!
//! # Layout
//!
//! **Offline machine: all of this crate.** It runs only there, on a bundle carried over from
//! the networked workstation.
//!
//! - Commands: [`open`] (`open.rs`) checks every file against the bundle's `SHA256SUMS`,
//!   decrypts new submissions with the reviewer's identity (plain or passphrase-protected) into
//!   an output folder under sanitized names, and reports identifying metadata found in them;
//!   [`reply`] (`reply.rs`) encrypts a message to a source and to the pinned team, and signs it,
//!   for `lanterne push`; [`keys`] writes a new reviewer identity, signing key and public card;
//!   [`cli`] parses and runs them for both binaries, and `src/main.rs` is the
//!   `lanterne-review` binary.
//! - The inbox (issue 14): `inbox.rs` keeps a persistent inbox of ciphertext under
//!   `LANTERNE_REVIEW_HOME/inbox/`, a folder of the bundle format that [`import`] merges
//!   bundles into (only what is new, refusing a file that changed under a known name;
//!   `inbox_copy.rs` copies each file while checking and decrypting it, in one read;
//!   `inbox_key.rs` refuses an identity that opens none of what `import`, `show` or `export`
//!   is given, before anything is imported or marked seen);
//!   `inbox_read.rs` reads it: [`list`], [`show`] (in memory only), [`export`] (the one place it
//!   writes plaintext) and [`set_star`]. Both reuse `open.rs`'s manifest and file decryption.
//!   `inbox_replies.rs` imports the team's replies and reads them ([`thread_replies`],
//!   [`ThreadReply`]): shown only when signed by a pinned reviewer for that source, and placed
//!   in the conversation after what their signature says they answer (`thread.rs`).
//!   [`tui`] is `review inbox`, the interactive terminal UI on the same inbox (ratatui on
//!   termion), which also exports single files and writes replies through `reply.rs`.
//! - What the commands read and trust: `bundle.rs` reads and verifies a bundle, `identity.rs`
//!   loads the age identity, `home.rs` ([`ReviewHome`]) holds what this machine pinned (the
//!   team's cards, the sources' recipients) and `trust.rs` checks bundles against it;
//!   `signing.rs` holds the minisign key that signs replies.
//! - Helpers: [`names`] makes untrusted names safe, [`metadata`] looks for identifying
//!   metadata and risky types (programs, macros, active PDFs), and `report.rs`
//!   ([`OpenReport`]) describes the outcome.
//!
//! **Shared with the other machines, through `lanterne-core`:** the bundle format
//! (`lanterne_core::bundle`, which the workstation's `fetch` writes), the reply size limit
//! (`lanterne_core::limits`, which the server enforces on push and at display), sealing and the
//! one header-bounded decrypt (`lanterne_core::seal`), designations, cards and the durable-file
//! helpers. The public API is what the two binaries, the integration tests and the fuzzers
//! call; everything else is `pub(crate)`.
//!
//! **This crate never touches the network, and cannot link code that does.** Its dependencies
//! are `lanterne-core` (formats, limits, sealing, header-bounded opening, designations, cards,
//! durable files, hardening), the
//! age crate and file-format parsers; `scripts/check-offline-deps` fails the build if tokio, an
//! HTTP crate, arti or any socket crate enters its dependency tree. A unit test below checks its
//! sources for `std::net` and raw system calls, which no dependency check can see, and
//! `tests/review_offline.rs` runs the commands inside a network namespace with no interfaces,
//! under `strace`, to show no socket is opened.

#![forbid(unsafe_code)]
// The docs map private modules too; they are links under `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

mod bundle;
pub mod cli;
mod home;
mod identity;
mod inbox;
mod inbox_copy;
mod inbox_key;
mod inbox_read;
mod inbox_replies;
pub mod keys;
pub mod metadata;
pub mod names;
mod open;
mod reply;
mod report;
mod signing;
mod thread;
mod trust;
pub mod tui;

use std::path::PathBuf;

pub use age::secrecy::SecretString;
pub use home::{HomeError, ReviewHome};
pub use identity::identity_needs_passphrase;
pub use lanterne_core::reply::Signed;
pub use metadata::Finding;
pub use reply::ReplyRequest;
pub use report::{FileReport, OpenReport, SubmissionReport, SubmissionStatus};
pub use signing::SigningError;

/// Why a review command stopped. Damage to single files or submissions is not an error: it
/// is listed in the [`OpenReport`].
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(
        "{0} is not a lanterne bundle (no valid lanterne-bundle.json): give the folder that \
         `lanterne fetch` wrote"
    )]
    NotABundle(PathBuf),
    #[error(
        "this bundle has format {0}, but this lanterne reads format {format}: use the same \
         lanterne version on both machines",
        format = lanterne_core::bundle::FORMAT
    )]
    BundleFormat(u64),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}. Check the output folder and free space")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the identity file {path} cannot be used: {message}")]
    Identity { path: PathBuf, message: String },
    #[error(
        "the identity file {0} is protected by a passphrase: set {env} or run the command in a \
         terminal to be asked for it",
        env = identity::PASSPHRASE_ENV
    )]
    PassphraseNeeded(PathBuf),
    #[error("wrong passphrase for the identity file {0}; try again")]
    WrongPassphrase(PathBuf),
    #[error(
        "{shown} is not a source designation: use the name `lanterne review open` shows, \
         like brave-otter-41 (lower-case letters, digits and -)",
        shown = names::shown(.0)
    )]
    BadDesignation(String),
    #[error(
        "the bundle has no source called {0}: check the name in the output of \
         `lanterne review open`, or fetch a newer bundle"
    )]
    UnknownSource(String),
    #[error("the source's recipient {path} cannot be used: {message}")]
    SourceRecipient { path: PathBuf, message: String },
    #[error("{path} line {line}: {message}")]
    BadRecipient {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "a pinned reviewer's key is post-quantum, and age cannot mix post-quantum \
         recipients with the source's X25519 key in one file, so no reply can reach both. \
         Replies need every reviewer to have an X25519 key (`lanterne keys new`)"
    )]
    PostQuantumReply,
    #[error(
        "the message in {0} is larger than {mib} MiB; shorten it (sources see replies as text)",
        mib = lanterne_core::limits::MAX_REPLY_BYTES >> 20
    )]
    MessageTooLarge(PathBuf),
    #[error("the message in {0} is not UTF-8 text; save it as plain UTF-8 text")]
    MessageNotUtf8(PathBuf),
    #[error("the message in {0} is empty; write the reply in that file first")]
    MessageEmpty(PathBuf),
    #[error(
        "the message in {0} holds a NUL byte, which a reply's padding is made of; remove it \
         (it is not text)"
    )]
    MessageHasNul(PathBuf),
    #[error("cannot encrypt the reply")]
    Encrypt(#[source] age::EncryptError),
    #[error("cannot encrypt the reply")]
    EncryptIo(#[source] std::io::Error),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(
        "no team is pinned in {}: pin every reviewer's card first (`review team add CARD`), \
         so replies go to the team you chose and not to a list the server sent",
        .0.display()
    )]
    NoTeam(PathBuf),
    #[error(
        "refusing to reply: the bundle's reviewer list differs from the pinned team. The \
         server, or the way the bundle came, may be compromised; if the team really changed, \
         pin its cards (`review team add`/`remove`) and fetch again.\n{0}"
    )]
    TeamMismatch(String),
    #[error(
        "refusing to reply: SOURCE KEY CHANGED for {designation}. It was pinned with \
         {pinned}, but the bundle gives {bundle}. The server may be compromised: do not reply \
         until you know why"
    )]
    SourceChanged {
        designation: String,
        pinned: String,
        bundle: String,
    },
    #[error(
        "refusing to reply: the designation {designation} is not derived from the source's \
         recipient {recipient}; the bundle paired a name with another key"
    )]
    DesignationMismatch {
        designation: String,
        recipient: String,
    },
    #[error(
        "a reply answers a submission id (s0000000001-…, as `review show` prints it) or a \
         reply's id; {0:?} is neither"
    )]
    BadAfter(String),
    #[error(
        "the bundle holds nothing of {0} to answer (no submission, no signed reply): name what \
         the reply answers with --after ID, or use a bundle that holds the conversation"
    )]
    NothingToAnswer(String),
    #[error(
        "refusing to reply: your signing key {0} is on no pinned card, so the server would \
         refuse the reply. Pin your own card (`review team add`), made by `keys new`"
    )]
    SignerNotInTeam(String),
    #[error("a pinned card's recipient cannot be used: {0}")]
    TeamRecipient(String),
    #[error(
        "REFUSED, nothing imported: the bundle's {rel} is not the file this inbox already holds \
         under that name (inbox sha256 {held}, bundle: {bundle}). A bundle only grows, so the \
         server, or the way the bundle came, is rewriting history. Keep this bundle as \
         evidence and tell the other reviewers and the box's operator"
    )]
    HistoryRewritten {
        rel: String,
        held: String,
        bundle: String,
    },
    #[error(
        "the inbox has no source called {0}: see `review list`, or `review import` a newer bundle"
    )]
    NotInInbox(String),
    #[error(
        "the inbox file {path} is damaged ({message}); restore it from a backup of the offline \
         machine, or move the inbox folder away and import the bundles again"
    )]
    InboxDamaged { path: PathBuf, message: String },
    #[error(
        "the identity file {} opens none of the {total} submission(s) it was given: it is not a \
         key they were encrypted to, so nothing was imported or marked seen. Give your own \
         reviewer identity (the file `lanterne keys new --out` wrote on this machine)",
        .path.display()
    )]
    KeyOpensNothing { path: PathBuf, total: usize },
    #[error("the terminal cannot be used; run `review inbox` in a terminal")]
    Terminal { source: std::io::Error },
}

pub use inbox::{import, ImportReport};
pub use inbox_read::{export, list, set_star, show, ExportReport};
pub use inbox_replies::{thread_replies, ThreadReply};
pub use open::open;
pub use reply::reply;

#[cfg(test)]
mod tests {
    /// Every source file of this module, to check what it uses.
    const SOURCES: &[(&str, &str)] = &[
        ("lib.rs", include_str!("lib.rs")),
        ("main.rs", include_str!("main.rs")),
        ("cli.rs", include_str!("cli.rs")),
        ("keys.rs", include_str!("keys.rs")),
        ("home.rs", include_str!("home.rs")),
        ("signing.rs", include_str!("signing.rs")),
        ("thread.rs", include_str!("thread.rs")),
        ("trust.rs", include_str!("trust.rs")),
        ("tui/mod.rs", include_str!("tui/mod.rs")),
        ("tui/draw.rs", include_str!("tui/draw.rs")),
        ("tui/model.rs", include_str!("tui/model.rs")),
        ("tui/state.rs", include_str!("tui/state.rs")),
        ("tui/text.rs", include_str!("tui/text.rs")),
        ("tui/editor.rs", include_str!("tui/editor.rs")),
        ("bundle.rs", include_str!("bundle.rs")),
        ("identity.rs", include_str!("identity.rs")),
        ("inbox.rs", include_str!("inbox.rs")),
        ("inbox_copy.rs", include_str!("inbox_copy.rs")),
        ("inbox_key.rs", include_str!("inbox_key.rs")),
        ("inbox_read.rs", include_str!("inbox_read.rs")),
        ("inbox_replies.rs", include_str!("inbox_replies.rs")),
        ("names.rs", include_str!("names.rs")),
        ("open.rs", include_str!("open.rs")),
        ("reply.rs", include_str!("reply.rs")),
        ("report.rs", include_str!("report.rs")),
        ("metadata/mod.rs", include_str!("metadata/mod.rs")),
        ("metadata/image.rs", include_str!("metadata/image.rs")),
        ("metadata/office.rs", include_str!("metadata/office.rs")),
        ("metadata/pdf.rs", include_str!("metadata/pdf.rs")),
        ("metadata/risk.rs", include_str!("metadata/risk.rs")),
        ("metadata/xmp.rs", include_str!("metadata/xmp.rs")),
        (
            "metadata/zip_bounds.rs",
            include_str!("metadata/zip_bounds.rs"),
        ),
    ];

    #[test]
    fn the_offline_sources_cannot_reach_the_network() {
        // Split so this test's own text does not match. Crates are kept out by
        // scripts/check-offline-deps; this catches what is in std or a raw system call.
        let forbidden = [
            ["lanterne", "::"].concat(),
            ["tok", "io"].concat(),
            ["req", "west"].concat(),
            ["hyp", "er"].concat(),
            ["arti", "_client"].concat(),
            ["std::", "net"].concat(),
            ["Tcp", "Stream"].concat(),
            ["Udp", "Socket"].concat(),
            ["Unix", "Stream"].concat(),
            ["lib", "c::"].concat(),
        ];
        for (file, text) in SOURCES {
            // Code only: the docs may name what the code must not use.
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            for (n, line) in code.enumerate() {
                for word in &forbidden {
                    assert!(!line.contains(word.as_str()), "{file}:{n}: uses {word}");
                }
            }
        }
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
            .unwrap()
            .chain(std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metadata")).unwrap())
            .chain(std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/tui")).unwrap())
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "rs")
            })
            .count();
        assert_eq!(on_disk, SOURCES.len(), "add new files to SOURCES");
    }
}
