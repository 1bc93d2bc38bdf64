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
//! The paths are written once, in [`path`]: the server's router takes its route templates, the
//! workstation's client builds its URLs with its functions.

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

    #[cfg(test)]
    mod tests {
        /// The functions fill exactly the templates the router serves.
        #[test]
        fn urls_fill_the_route_templates() {
            assert_eq!(super::file("{designation}", "{id}", "{file}"), super::FILE);
            assert_eq!(super::replies("{designation}"), super::REPLIES);
            assert_eq!(super::index(7), format!("{}?after=7", super::INDEX));
        }
    }
}

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
