//! The reviewer API's wire types: what `lanterne fetch` and `lanterne push` exchange with the
//! server's reviewer listener. Plain serde structs, shared by both sides, with no HTTP in them.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/index?after=N` | [`Index`]: sources with submissions whose sequence is > N (only up to the last number whose commit has landed) |
//! | `GET /api/v1/sources/{designation}/submissions/{id}/{file}` | the ciphertext (Range allowed) |
//! | `POST /api/v1/ack` with [`Ack`] | [`AckDone`]: those submissions are deleted (ones already gone, or of a source whose folder expired, count 0) |
//! | `POST /api/v1/sources/{designation}/replies` with an age file | [`Pushed`] |
//!
//! Every request carries `Authorization: Bearer <name>:<token>` from `lanterne reviewers add`.

use serde::{Deserialize, Serialize};

/// What is new on the server since a cursor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The cursor to send next time: the highest sequence number listed (or the one sent).
    /// Sequence numbers are never given twice, and the server lists nothing above a number
    /// whose commit is still in flight, so everything up to `next` has been listed.
    pub next: u64,
    /// The box's reviewer recipients (age -R lines), so replies can be encrypted to them.
    pub reviewers: Vec<String>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub designation: String,
    /// The source's age recipient, for replies.
    pub recipient: String,
    pub submissions: Vec<Submission>,
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

/// The answer to a pushed reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pushed {
    pub id: String,
}
