//! The reviewer API's wire types: what `lanterne fetch` and `lanterne push` exchange with the
//! server's reviewer listener. Plain serde structs, shared by both sides, with no HTTP in them.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/index?after=N` | [`Index`]: sources with submissions or replies, and [`Deletion`] records, whose sequence is > N (only up to the last number whose commit has landed) |
//! | `GET /api/v1/sources/{designation}/submissions/{id}/{file}` | the ciphertext (Range allowed); the server counts the bytes it serves to each credential |
//! | `GET /api/v1/sources/{designation}/replies/{id}` | a stored reply's ciphertext (an age file, to the source and the reviewers), with its signature in the [`SIGNATURE_HEADER`] header as pushed ([`encode_signature`]); 404 if the source deleted it |
//! | `POST /api/v1/ack` with [`Ack`] | [`AckDone`]: those submissions are deleted (ones already gone, or of a source whose folder expired, count 0); or 403 with [`AckRefused`] and nothing deleted, when the credential was not served every byte of one of them |
//! | `POST /api/v1/sources/{designation}/replies` with an age file as body and its signature in the [`SIGNATURE_HEADER`] header | [`Pushed`]; 422 if the signature is missing or is not a reviewer's for this source (see [`crate::reply`]) |
//!
//! Every request carries `Authorization: Bearer <name>:<token>` from `lanterne reviewers add`.
//! The paths are written once, in [`path`]: the server's router takes its route templates, the
//! workstation's client builds its URLs with its functions.
//!
//! A reply's signature is the `.minisig` file that `review reply` wrote beside it, sent whole,
//! hex-encoded ([`encode_signature`], [`decode_signature`]) in the header [`SIGNATURE_HEADER`]:
//! the body stays the age file as it will be stored, and the header is small (a few hundred
//! bytes, at most twice [`crate::reply::MAX_SIGNATURE_BYTES`]).

use serde::{Deserialize, Serialize};

/// The reviewer API's paths: route templates (axum's `{name}` captures) for the server's
/// router, and functions for the client's URLs that fill the same templates.
pub mod path {
    /// `GET`: the [`Index`](super::Index).
    pub const INDEX: &str = "/api/v1/index";
    /// `GET`: one ciphertext file.
    pub const FILE: &str = "/api/v1/sources/{designation}/submissions/{id}/{file}";
    /// `POST`: an [`Ack`](super::Ack).
    pub const ACK: &str = "/api/v1/ack";
    /// `POST`: one reply to a source.
    pub const REPLIES: &str = "/api/v1/sources/{designation}/replies";
    /// `GET`: one stored reply and its signature.
    pub const REPLY: &str = "/api/v1/sources/{designation}/replies/{id}";

    /// [`INDEX`] with the cursor.
    pub fn index(after: u64) -> String {
        format!("{INDEX}?after={after}")
    }

    /// [`FILE`] for one file.
    pub fn file(designation: &str, id: &str, file: &str) -> String {
        format!("/api/v1/sources/{designation}/submissions/{id}/{file}")
    }

    /// [`REPLIES`] for one source.
    pub fn replies(designation: &str) -> String {
        format!("/api/v1/sources/{designation}/replies")
    }

    /// [`REPLY`] for one reply.
    pub fn reply(designation: &str, id: &str) -> String {
        format!("/api/v1/sources/{designation}/replies/{id}")
    }

    #[cfg(test)]
    mod tests {
        /// The functions fill exactly the templates the router serves.
        #[test]
        fn urls_fill_the_route_templates() {
            assert_eq!(super::file("{designation}", "{id}", "{file}"), super::FILE);
            assert_eq!(super::replies("{designation}"), super::REPLIES);
            assert_eq!(super::reply("{designation}", "{id}"), super::REPLY);
            assert_eq!(super::index(7), format!("{}?after=7", super::INDEX));
        }
    }
}

/// The request header that carries a pushed reply's signature.
pub const SIGNATURE_HEADER: &str = "lanterne-signature";

/// A `.minisig` file's bytes as the value of [`SIGNATURE_HEADER`] (lower-case hex).
pub fn encode_signature(minisig: &[u8]) -> String {
    hex::encode(minisig)
}

/// The `.minisig` bytes of a [`SIGNATURE_HEADER`] value; `None` if it is not hex or would be
/// larger than [`crate::reply::MAX_SIGNATURE_BYTES`].
pub fn decode_signature(value: &str) -> Option<Vec<u8>> {
    if value.len() > 2 * crate::reply::MAX_SIGNATURE_BYTES {
        return None;
    }
    hex::decode(value.trim()).ok()
}

/// What is new on the server since a cursor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The cursor to send next time: the highest sequence number listed (or the one sent),
    /// submissions, replies and deletion records alike.
    /// Sequence numbers are never given twice, and the server lists nothing above a number
    /// whose commit is still in flight, so everything up to `next` has been listed.
    pub next: u64,
    /// The box's reviewer recipients (age -R lines), so replies can be encrypted to them.
    pub reviewers: Vec<String>,
    pub sources: Vec<Source>,
    /// Deletions (and refused acks) the server recorded since the cursor, by sequence number.
    #[serde(default)]
    pub deletions: Vec<Deletion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub designation: String,
    /// The source's age recipient, for replies.
    pub recipient: String,
    pub submissions: Vec<Submission>,
    /// The source's replies (the team's, as pushed and stored) whose number is after the
    /// cursor, by number. A source with only new replies is listed with no submissions.
    /// Left out when empty, so a workstation of the version before replies still reads an
    /// index that has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<Reply>,
}

/// A reply the server holds: encrypted to the source and the reviewers, signed by a reviewer
/// (checked when it was pushed; the offline machine checks it again against its own pins).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// `r<seq>-<hash>` ([`crate::bundle::reply_seq`] reads the number back).
    pub id: String,
    /// Its number in the box's sequence, shared with submissions.
    pub seq: u64,
    /// Bytes of ciphertext.
    pub size: u64,
    /// SHA-256 of the ciphertext, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub id: String,
    pub seq: u64,
    pub files: Vec<File>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// The bytes of this file, from its start, the server has counted as served to the
    /// credential asking. A workstation resumes a download from here at most, and fetches
    /// again a file it holds but the server did not count whole, so that its ack is accepted.
    #[serde(default)]
    pub served: u64,
}

/// Submissions a reviewer has fetched and verified, to delete from the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub submissions: Vec<AckItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AckItem {
    pub designation: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AckDone {
    pub deleted: u64,
}

/// The answer (status 403) to an ack naming submissions the credential was not served in full:
/// nothing was deleted, and each of `refused` was recorded as a refused ack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AckRefused {
    pub refused: Vec<AckItem>,
    pub message: String,
}

/// Who deleted a submission, or tried to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DeletionKind {
    /// A workstation credential acked it after it was served every byte of it.
    Ack,
    /// It was older than the box's retention period.
    Retention,
    /// A credential acked it without having been served every byte of it: nothing was deleted.
    Refused,
}

impl DeletionKind {
    fn word(self) -> &'static str {
        match self {
            DeletionKind::Ack => "ack",
            DeletionKind::Retention => "retention",
            DeletionKind::Refused => "refused",
        }
    }
}

/// One deletion record: what the server deleted (or refused to), who asked, and the UTC day.
/// It names the source by designation only, and holds no time of day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Deletion {
    /// A number of the server's sequence, never given twice.
    pub seq: u64,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub kind: DeletionKind,
    /// The credential's name; `None` for retention.
    pub by: Option<String>,
    pub designation: String,
    pub submission: String,
}

/// A credential name as `lanterne reviewers add` makes them: 1 to 32 of a-z, 0-9, `-`, `_`.
pub fn is_credential_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_day(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

fn is_submission_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Deletion {
    /// The record as one line: `<seq> <day> <kind> <by or -> <designation> <submission>`. The
    /// server's ledger and a bundle's `deletions.txt` both hold these lines.
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.seq,
            self.day,
            self.kind.word(),
            self.by.as_deref().unwrap_or("-"),
            self.designation,
            self.submission
        )
    }

    /// Reads a line of [`Deletion::to_line`]; `None` unless every field is well-formed (the
    /// line came from the server, or from a bundle that passed through the network).
    pub fn parse_line(line: &str) -> Option<Deletion> {
        let mut f = line.split(' ');
        let seq = f.next()?.parse().ok()?;
        let day = f.next().filter(|d| is_day(d))?.to_owned();
        let kind = match f.next()? {
            "ack" => DeletionKind::Ack,
            "retention" => DeletionKind::Retention,
            "refused" => DeletionKind::Refused,
            _ => return None,
        };
        let by = match (kind, f.next()?) {
            (DeletionKind::Retention, "-") => None,
            (DeletionKind::Ack | DeletionKind::Refused, name) if is_credential_name(name) => {
                Some(name.to_owned())
            }
            _ => return None,
        };
        let designation = f
            .next()
            .filter(|d| crate::designation::is_valid(d))?
            .to_owned();
        let submission = f.next().filter(|s| is_submission_id(s))?.to_owned();
        f.next().is_none().then_some(Deletion {
            seq,
            day,
            kind,
            by,
            designation,
            submission,
        })
    }

    /// Whether every field is well-formed (what [`Deletion::parse_line`] accepts).
    pub fn is_well_formed(&self) -> bool {
        Deletion::parse_line(&self.to_line()).as_ref() == Some(self)
    }

    /// The sentence a reviewer reads, on the workstation and on the offline machine.
    pub fn describe(&self) -> String {
        let by = self.by.as_deref().unwrap_or("?");
        let what = format!("{} / {} ({})", self.designation, self.submission, self.day);
        match self.kind {
            DeletionKind::Ack => format!("deleted on the server by {by}: {what}"),
            DeletionKind::Retention => {
                format!(
                    "deleted on the server by retention (older than the retention period): {what}"
                )
            }
            DeletionKind::Refused => format!(
                "REFUSED ack by {by}: {what}; that credential was not served every byte of it, \
                 so nothing was deleted. If {by} did not ask, its credential may be stolen: \
                 revoke it (lanterne reviewers remove {by})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source without replies is written as before replies were listed, and read back.
    #[test]
    fn sources_without_replies_keep_their_old_json() {
        let source = Source {
            designation: "brave-otter-4127".into(),
            recipient: "age1x".into(),
            submissions: Vec::new(),
            replies: Vec::new(),
        };
        let json = serde_json::to_string(&source).unwrap();
        assert!(!json.contains("replies"), "{json}");
        assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), source);
        let with = Source {
            replies: vec![Reply {
                id: "r0000000002-ab".into(),
                seq: 2,
                size: 10,
                sha256: "00".repeat(32),
            }],
            ..source
        };
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), with);
    }

    #[test]
    fn deletion_lines_round_trip_and_refuse_odd_fields() {
        let d = Deletion {
            seq: 42,
            day: "2026-12-05".into(),
            kind: DeletionKind::Refused,
            by: Some("bob".into()),
            designation: "brave-otter-4127".into(),
            submission: "s0000000003-ab12".into(),
        };
        assert_eq!(Deletion::parse_line(&d.to_line()), Some(d.clone()));
        assert!(d
            .describe()
            .starts_with("REFUSED ack by bob: brave-otter-4127"));
        let r = Deletion {
            kind: DeletionKind::Retention,
            by: None,
            ..d.clone()
        };
        assert_eq!(Deletion::parse_line(&r.to_line()), Some(r));
        for bad in [
            "42 2026-12-05 retention bob brave-otter-4127 s1",
            "42 2026-12-05 ack Bob brave-otter-4127 s1",
            "42 2026-12-05 ack bob ../x s1",
            "42 2026-12-05 ack bob brave-otter-4127 s/1",
            "42 2026-12-05 ack bob brave-otter-4127 s1 extra",
            "x 2026-12-05 ack bob brave-otter-4127 s1",
            "42 today ack bob brave-otter-4127 s1",
            "42 2026-12-05 deleted bob brave-otter-4127 s1",
        ] {
            assert_eq!(Deletion::parse_line(bad), None, "{bad}");
        }
    }
}

/// The answer to a pushed reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pushed {
    pub id: String,
}
