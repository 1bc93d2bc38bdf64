//! The team's replies in the inbox (issue 14): `review import` copies them from bundles
//! (`fetch` brings them from the box, encrypted to the source and the reviewers, each with the
//! minisign signature the server stored beside it), and `review show`/`export` print them in
//! the conversation, interleaved with the source's submissions by the box's sequence.
//!
//! A reply comes from the server, which the offline machine does not trust: it could write a
//! reply itself (it has the recipients), move a genuine reply under another source, or change
//! one. So a reply is shown only when its signature verifies with a signing key **on a card
//! pinned on this machine** (`review team add`; never a key the bundle or the server gives),
//! when the signature's trusted comment names the conversation it sits in and the source's
//! pinned recipient (`lanterne_core::reply::Signed`, `lanterne_core::reply::verify`), and when
//! it decrypts with the reviewer's identity. Any other reply, and one in the first signature
//! format, is listed with a loud warning and **no text**.
//!
//! In the inbox a reply is `sources/<designation>/replies/<id>.age` and its signature
//! `<id>.age.minisig` (`lanterne_core::bundle::reply_file`), ciphertext only, and is held once
//! `SHA256SUMS` lists it, as submissions are (`inbox.rs`). A bundle that lists a reply the inbox
//! holds with another hash is refused whole, before anything is written.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use age::secrecy::SecretString;
use lanterne_core::bundle::{self as format, is_reply_id, sequence_of};
use lanterne_core::limits::{MAX_REPLY_BYTES, MAX_REPLY_CIPHERTEXT_BYTES};
use lanterne_core::reply::{ReplyError, Signed, MAX_SIGNATURE_BYTES};
use zeroize::Zeroizing;

use crate::bundle::{read_capped, Bundle};
use crate::home::ReviewHome;
use crate::identity::{self, Identities};
use crate::inbox::{copy_checked, Inbox, Skip};
use crate::names::{scrubbed, shown};
use crate::open::{make_private_dir, write_error};
use crate::ReviewError;

/// One reply of the team in a conversation, as `review show` and the TUI show it.
#[derive(Debug)]
pub struct ThreadReply {
    /// The number the server gave it (in its file name, which nothing signs): it never places
    /// a trusted reply, only orders two that answer the same thing.
    pub seq: u64,
    /// The server's id, `r<seq>-<hash>`.
    pub id: String,
    /// The name on the pinned card whose signing key signed it for this conversation; or why
    /// it is not trusted (unsigned, an unknown key, signed for another source, changed).
    pub author: Result<String, String>,
    /// The text, only when `author` is `Ok` and it decrypted as UTF-8 text; or why not.
    /// Untrusted text: escape it before printing ([`crate::names::scrubbed`]).
    pub text: Result<Zeroizing<String>, String>,
    /// What its signature vouches for (its id, what it answers), when `author` is `Ok`.
    pub signed: Option<Signed>,
    /// Warnings about where it is: given more than once, or answering what the inbox does not
    /// hold (`crate::thread`).
    pub warnings: Vec<String>,
    /// The SHA-256 of its ciphertext, as `SHA256SUMS` lists it.
    pub(crate) sha256: Option<[u8; 32]>,
}

impl ThreadReply {
    /// Whether the reply is shown: signed by a pinned reviewer for this source, and readable.
    pub fn is_trusted(&self) -> bool {
        self.author.is_ok() && self.text.is_ok()
    }
}

/// The reply ids of `designation` in the folder `root` (a bundle or the inbox), sorted; odd
/// names become `problems`.
pub(crate) fn reply_ids(root: &Path, designation: &str, problems: &mut Vec<String>) -> Vec<String> {
    let dir = root.join(format::replies_path(designation));
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(format::SIGNATURE_SUFFIX) {
            continue;
        }
        match name.strip_suffix(format::REPLY_SUFFIX) {
            Some(id) if is_reply_id(id) => ids.push(id.to_owned()),
            _ => problems.push(format!(
                "ignored {} in {}: not a reply lanterne writes",
                shown(&name),
                dir.display()
            )),
        }
    }
    ids.sort();
    ids
}

/// The replies of `designation` the inbox holds (listed in its `SHA256SUMS`), by number.
pub(crate) fn held(inbox: &Inbox, designation: &str) -> Vec<String> {
    let mut ids: Vec<String> = reply_ids(inbox.root(), designation, &mut Vec::new())
        .into_iter()
        .filter(|id| inbox.sums.contains(&format::reply_file(designation, id)))
        .collect();
    ids.sort_by_key(|id| sequence_of(id));
    ids
}

/// Before an import writes anything: every reply (and signature) the inbox holds must be
/// listed by the bundle with the same hash, or not at all.
pub(crate) fn check_history(inbox: &Inbox, bundle: &Bundle) -> Result<(), ReviewError> {
    let mut ignored = Vec::new();
    for source in inbox.as_bundle()?.sources(&mut ignored)? {
        let d = &source.designation;
        for id in held(inbox, d) {
            for rel in [
                format::reply_file(d, &id),
                format::reply_signature_file(d, &id),
            ] {
                let held = inbox.sums.sum(&rel);
                if !inbox.sums.contains(&rel) || !bundle.sums().contains(&rel) {
                    continue;
                }
                let listed = bundle.sums().sum(&rel);
                if listed != held {
                    return Err(ReviewError::HistoryRewritten {
                        rel,
                        held: held.map(hex::encode).unwrap_or_default(),
                        bundle: listed.map(hex::encode).unwrap_or_else(|| {
                            format!("listed twice in the bundle's {}", format::SUMS)
                        }),
                    });
                }
            }
        }
    }
    Ok(())
}

/// What importing replies did.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    pub(crate) added: Vec<String>,
    pub(crate) already: usize,
    pub(crate) skipped: Vec<String>,
}

/// Copies the bundle's replies of `designation` that the inbox does not hold, with their
/// signatures, checked against the bundle's sums as they are copied; adds their sums to the
/// inbox's (not yet written: the caller's `SHA256SUMS` write is the commit point).
pub(crate) fn import(
    bundle: &Bundle,
    inbox: &mut Inbox,
    designation: &str,
    problems: &mut Vec<String>,
    out: &mut Imported,
) -> Result<(), ReviewError> {
    let ids = reply_ids(bundle.root(), designation, problems);
    if ids.is_empty() {
        return Ok(());
    }
    let dir = inbox.root().join(format::replies_path(designation));
    for id in ids {
        let rel = format::reply_file(designation, &id);
        if inbox.sums.contains(&rel) {
            out.already += 1;
            continue;
        }
        make_private_dir(&dir)?;
        match copy_reply(bundle, inbox, designation, &id) {
            Ok(()) => out.added.push(format!("{designation} / {id}")),
            Err(Skip::Problem(p)) => out
                .skipped
                .push(format!("{designation} / reply {id}: {}", scrubbed(&p))),
            Err(Skip::Fatal(e)) => return Err(e),
        }
    }
    Ok(())
}

fn copy_reply(bundle: &Bundle, inbox: &mut Inbox, designation: &str, id: &str) -> Result<(), Skip> {
    let staging = tempfile::Builder::new()
        .prefix(crate::inbox::STAGING_PREFIX)
        .tempdir_in(inbox.root())
        .map_err(|e| write_error(inbox.root(), e))?;
    let rel = format::reply_file(designation, id);
    let sig_rel = format::reply_signature_file(designation, id);
    let mut sums = Vec::new();
    // An unsigned reply is kept, and shown as unsigned.
    if bundle.sums().contains(&sig_rel) {
        let tmp = staging.path().join("signature");
        sums.push((sig_rel.clone(), copy_checked(bundle, &sig_rel, &tmp)?, tmp));
    }
    let tmp = staging.path().join("reply");
    sums.push((rel.clone(), copy_checked(bundle, &rel, &tmp)?, tmp));
    // The signature is renamed first, the reply last.
    for (rel, _, tmp) in &sums {
        let dest = inbox.root().join(rel);
        fs::rename(tmp, &dest).map_err(|e| write_error(&dest, e))?;
    }
    crate::open::sync_dir(&inbox.root().join(format::replies_path(designation)));
    for (rel, sum, _) in sums {
        inbox.sums.insert(rel, sum);
    }
    Ok(())
}

/// The replies of `designation` in the inbox, by number, each with its checked author and,
/// only if that check passed, its text decrypted in memory.
pub(crate) fn read(
    inbox: &Inbox,
    home: &ReviewHome,
    identities: &Identities,
    designation: &str,
) -> Result<Vec<ThreadReply>, ReviewError> {
    let team = home.team()?;
    let bundle = inbox.as_bundle()?;
    let recipient = expected_recipient(home, &bundle, designation)?;
    Ok(checked(
        &bundle,
        &team,
        designation,
        recipient.as_deref(),
        held(inbox, designation),
        Some(identities),
    ))
}

/// The recipient a reply to `designation` must be signed for: the pinned one, else the one
/// `bundle` gives (which `review reply` would check and pin first).
pub(crate) fn expected_recipient(
    home: &ReviewHome,
    bundle: &Bundle,
    designation: &str,
) -> Result<Option<String>, ReviewError> {
    if let Some(pinned) = home.sources()?.get(designation) {
        return Ok(Some(pinned.clone()));
    }
    Ok(crate::reply::source_recipient(bundle, designation)
        .ok()
        .map(|r| r.to_string()))
}

/// The replies `ids` of `designation` in `bundle` (a bundle or the inbox), each checked
/// against `team` and `recipient` and, with `identities`, decrypted in memory if trusted.
pub(crate) fn checked(
    bundle: &Bundle,
    team: &[lanterne_core::card::Card],
    designation: &str,
    recipient: Option<&str>,
    ids: Vec<String>,
    identities: Option<&Identities>,
) -> Vec<ThreadReply> {
    ids.into_iter()
        .map(|id| {
            let sha256 = bundle.sums().sum(&format::reply_file(designation, &id));
            let (author, text, signed) = match check(bundle, team, designation, recipient, &id) {
                Ok((name, signed, ciphertext)) => {
                    let text = match identities {
                        Some(ids) => decrypt(&ciphertext, ids),
                        None => Err("not decrypted".to_owned()),
                    };
                    (Ok(name), text, Some(signed))
                }
                Err(why) => (
                    Err(why),
                    Err("not shown: the reply is not trusted".to_owned()),
                    None,
                ),
            };
            ThreadReply {
                seq: sequence_of(&id).unwrap_or(0),
                id,
                author,
                text,
                signed,
                warnings: Vec::new(),
                sha256,
            }
        })
        .collect()
}

/// The reply's ciphertext, the pinned name that signed it for `designation` and `recipient`,
/// and what it signed; or why not.
fn check(
    bundle: &Bundle,
    team: &[lanterne_core::card::Card],
    designation: &str,
    recipient: Option<&str>,
    id: &str,
) -> Result<(String, Signed, Vec<u8>), String> {
    let rel = format::reply_file(designation, id);
    let sig_rel = format::reply_signature_file(designation, id);
    let damaged = |what: &str, e: &dyn std::fmt::Display| {
        format!("the inbox's copy of its {what} is damaged ({e}); import the bundle again")
    };
    bundle.verify(&rel).map_err(|e| damaged("ciphertext", &e))?;
    let ciphertext = read_capped(&bundle.root().join(&rel), MAX_REPLY_CIPHERTEXT_BYTES)
        .map_err(|e| damaged("ciphertext", &e))?;
    if !bundle.sums().contains(&sig_rel) {
        return Err(explain(&ReplyError::NoSignature, designation));
    }
    bundle
        .verify(&sig_rel)
        .map_err(|e| damaged("signature", &e))?;
    let signature = read_capped(&bundle.root().join(&sig_rel), MAX_SIGNATURE_BYTES as u64)
        .map_err(|_| explain(&ReplyError::BadSignatureFile, designation))?;
    let Some(recipient) = recipient else {
        return Err(format!(
            "no recipient of {designation} is known here to check it against: import a bundle \
             that holds the source"
        ));
    };
    let verified =
        lanterne_core::reply::verify(&ciphertext, &signature, designation, recipient, team)
            .map_err(|e| explain(&e, designation))?;
    Ok((verified.signer.to_owned(), verified.signed, ciphertext))
}

/// Why a reply is not trusted, for the reviewer on the offline machine.
fn explain(e: &ReplyError, designation: &str) -> String {
    match e {
        ReplyError::NoSignature => "it carries NO SIGNATURE: no reviewer vouches for it".into(),
        ReplyError::BadSignatureFile => "its signature is not a minisign signature".into(),
        ReplyError::NoSigners => "no card pinned on this machine has a signing key, so no reply \
             can be checked: pin the team's cards (`review team add CARD`)"
            .into(),
        ReplyError::UnknownSigner => "it is signed by a key on NO CARD PINNED on this machine: \
             FORGED (the server could have written it), or by a reviewer whose card you have \
             not pinned"
            .into(),
        ReplyError::BadSignature => "its signature does not match it: it was CHANGED after a \
             reviewer signed it"
            .into(),
        ReplyError::WrongSource { found, .. } => format!(
            "it was signed for ANOTHER SOURCE ({}), not {designation}: moved into this \
             conversation",
            shown(found)
        ),
        ReplyError::WrongRecipient { found, .. } => format!(
            "it was signed for ANOTHER KEY of {designation} ({}) than the one pinned here: a \
             reviewer was shown a false key for this source; tell the other reviewers",
            shown(found)
        ),
        ReplyError::OldVersion => "it is signed in the FIRST REPLY FORMAT, which names neither \
             its id nor what it answers, so it could be a replay: not shown (the box refuses \
             such replies since)"
            .into(),
        ReplyError::BadComment(c) => format!(
            "its signature's trusted comment is not a lanterne reply's ({})",
            shown(c)
        ),
        ReplyError::HeaderTooLarge | ReplyError::NotAge | ReplyError::Passphrase => {
            format!("it is not a well-formed reply ({e})")
        }
    }
}

/// The reply's text, decrypted in memory with the reviewer's identity.
fn decrypt(ciphertext: &[u8], identities: &Identities) -> Result<Zeroizing<String>, String> {
    let ids = identities.iter().map(|i| i.as_ref() as &dyn age::Identity);
    let mut plain = lanterne_core::seal::open_small_with(ciphertext, ids, MAX_REPLY_BYTES)
        .map_err(|e| {
            format!("it cannot be decrypted with this identity ({e}); is it the right one?")
        })?;
    // The padding's NULs (`lanterne_core::padding`) are zeros: nothing to clear.
    let text_len = lanterne_core::padding::unpad_text(&plain).len();
    plain.truncate(text_len);
    let bytes = std::mem::take(&mut *plain);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err("it is not UTF-8 text".into())
        }
    }
}

/// Writes one reply as `review show` and the transcript print it: `reply #N by alice`, where
/// `N` is the box's number, the one counter submissions share (`#1 submission` is
/// `s0000000001`), so two reviewers name a reply alike; it places nothing ([`crate::thread`]).
/// A reply that is not shown also gets the file's id, to find it as evidence.
pub(crate) fn render(t: &mut String, reply: &ThreadReply) {
    let _ = writeln!(t);
    match (&reply.author, &reply.text) {
        (Ok(name), Ok(text)) => {
            let _ = writeln!(t, "reply #{} by {}", reply.seq, scrubbed(name));
            for line in text.lines() {
                let _ = writeln!(t, "  | {}", scrubbed(line));
            }
        }
        (Ok(name), Err(why)) => {
            let _ = writeln!(
                t,
                "reply #{} by {} ({}): CANNOT BE READ: {}",
                reply.seq,
                scrubbed(name),
                reply.id,
                scrubbed(why)
            );
        }
        (Err(why), _) => {
            let _ = writeln!(
                t,
                "reply #{} ({}): WARNING, NOT SHOWN: {}. The server, or the way the bundle \
                 came, may be compromised: keep the bundle as evidence and tell the other \
                 reviewers",
                reply.seq,
                reply.id,
                scrubbed(why)
            );
        }
    }
    for w in &reply.warnings {
        let _ = writeln!(t, "  WARNING: {}", scrubbed(w));
    }
}

/// `ThreadReply`s of `designation` for the TUI: the same replies, checks and text as
/// `review show` prints, without marking anything seen.
pub fn thread_replies(
    home: &ReviewHome,
    designation: &str,
    identity_file: &Path,
    passphrase: Option<SecretString>,
) -> Result<Vec<ThreadReply>, ReviewError> {
    if !lanterne_core::designation::is_valid(designation) {
        return Err(ReviewError::BadDesignation(designation.to_owned()));
    }
    let identities = identity::load(identity_file, passphrase)?;
    let inbox = Inbox::open(home)?;
    read(&inbox, home, &identities, designation)
}
