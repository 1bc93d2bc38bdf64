//! What the offline machine checks in a bundle against what it pinned itself ([`ReviewHome`]):
//! the reviewer list against the pinned team, each source's recipient against its pin, and
//! each designation against the recipient it is derived from.
//!
//! A bundle's `reviewers.txt` and the sources' `recipient` files come from the server. A
//! compromised server (or anyone on the reviewer channel) could add its own recipient to the
//! list, swap a source's key, or add a plugin line that would make the age library run
//! `age-plugin-<name>` from PATH. So `review reply` encrypts only to the pinned team's
//! recipients, never parses a recipient read from the bundle's list, and refuses when the list
//! and the team differ; `review open` only warns, since reading needs no trust.

use std::collections::BTreeSet;
use std::fmt;

use lanterne_core::card::Card;
use lanterne_core::designation;

use crate::bundle::{read_capped, Bundle};
use crate::home::ReviewHome;
use crate::ReviewError;

/// Largest `reviewers.txt` read.
const MAX_REVIEWERS_BYTES: u64 = 1 << 20;

/// How the bundle's reviewer list differs from the pinned team.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TeamDiff {
    /// Lines of `reviewers.txt` that no pinned card has.
    pub(crate) added: Vec<String>,
    /// Pinned recipients that `reviewers.txt` lacks.
    pub(crate) missing: Vec<String>,
}

impl TeamDiff {
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.missing.is_empty()
    }
}

impl fmt::Display for TeamDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.added {
            writeln!(f, "  added in the bundle, not in the team: {}", shown(line))?;
        }
        for line in &self.missing {
            writeln!(f, "  in the team, missing from the bundle: {line}")?;
        }
        Ok(())
    }
}

/// A line from the server, shown safely (no control characters, bounded).
fn shown(line: &str) -> String {
    crate::names::shown(line)
}

/// The recipient lines of the bundle's `reviewers.txt`, as text: never parsed as recipients
/// (parsing a plugin line is what runs a plugin).
pub(crate) fn bundle_reviewers(bundle: &Bundle) -> Result<BTreeSet<String>, ReviewError> {
    let path = bundle.root().join(lanterne_core::bundle::REVIEWERS);
    let text = read_capped(&path, MAX_REVIEWERS_BYTES)
        .map_err(|source| ReviewError::Read { path, source })?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Keeps the imported bundle's `reviewers.txt` in the inbox (a folder of the bundle format),
/// so a reply written from the inbox (`review inbox`) is checked against the pinned team as
/// `review reply BUNDLE` checks it: the list of the last bundle imported. A bundle without one
/// leaves the kept list as it was.
pub(crate) fn keep_reviewer_list(
    bundle: &Bundle,
    inbox_root: &std::path::Path,
) -> Result<(), ReviewError> {
    let from = bundle.root().join(lanterne_core::bundle::REVIEWERS);
    let text = match read_capped(&from, MAX_REVIEWERS_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ReviewError::Read { path: from, source }),
    };
    let to = inbox_root.join(lanterne_core::bundle::REVIEWERS);
    lanterne_core::durable::replace(&to, &text)
        .map_err(|source| ReviewError::Write { path: to, source })
}

/// How `listed` (the bundle's reviewer lines) differs from `team`'s recipients.
pub(crate) fn team_diff(listed: &BTreeSet<String>, team: &[Card]) -> TeamDiff {
    let pinned: BTreeSet<String> = team.iter().map(|c| c.recipient.clone()).collect();
    TeamDiff {
        added: listed.difference(&pinned).cloned().collect(),
        missing: pinned.difference(listed).cloned().collect(),
    }
}

/// What the pins say about a source's recipient.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SourcePin {
    /// First time seen: pin it.
    New,
    /// The pinned recipient.
    Same,
    /// Another recipient was pinned for this designation.
    Changed { pinned: String },
}

/// Checks `recipient` for `designation` against the pins of `home`.
pub(crate) fn source_pin(
    home: &ReviewHome,
    designation: &str,
    recipient: &str,
) -> Result<SourcePin, ReviewError> {
    Ok(match home.sources()?.get(designation) {
        None => SourcePin::New,
        Some(p) if p == recipient => SourcePin::Same,
        Some(p) => SourcePin::Changed { pinned: p.clone() },
    })
}

/// Whether `designation` is the one derived from `recipient`.
pub(crate) fn designation_matches(designation: &str, recipient: &str) -> bool {
    designation::of_recipient(recipient) == designation
}

/// `review open`'s checks, as warnings for stderr: no team, a reviewer list that differs, a
/// source whose recipient changed or whose designation is not derived from it. New sources
/// (with a derived designation) are pinned.
pub(crate) fn open_warnings(
    bundle: &Bundle,
    home: &ReviewHome,
) -> Result<Vec<String>, ReviewError> {
    let mut warnings = Vec::new();
    let team = home.team()?;
    if team.is_empty() {
        warnings.push(
            "no team is pinned on this machine, so the bundle's reviewer list cannot be \
             checked; pin each reviewer's card with `review team add CARD` (replies need it)"
                .to_owned(),
        );
    } else {
        let diff = team_diff(&bundle_reviewers(bundle)?, &team);
        if !diff.is_empty() {
            warnings.push(format!(
                "the bundle's reviewer list differs from the pinned team; the server may be \
                 compromised, and `review reply` will refuse this bundle:\n{diff}"
            ));
        }
    }
    let mut new = Vec::new();
    let mut ignored = Vec::new();
    for source in bundle.sources(&mut ignored)? {
        let Ok(recipient) = crate::reply::source_recipient(bundle, &source.designation) else {
            continue;
        };
        let recipient = recipient.to_string();
        let d = &source.designation;
        match source_pin(home, d, &recipient)? {
            SourcePin::Changed { pinned } => warnings.push(format!(
                "SOURCE KEY CHANGED: {d} was pinned with {pinned}, but this bundle gives \
                 {recipient}. The server may be compromised; replies to {d} will be refused"
            )),
            _ if !designation_matches(d, &recipient) => warnings.push(format!(
                "{d} is not the designation of its recipient {recipient}: the bundle paired a \
                 name with another key. The server may be compromised; replies to {d} will be \
                 refused"
            )),
            SourcePin::New => new.push((source.designation, recipient)),
            SourcePin::Same => {}
        }
    }
    home.pin_sources(&new)?;
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(name: &str, recipient: &str) -> Card {
        Card {
            name: name.into(),
            recipient: recipient.into(),
            minisign: None,
        }
    }

    #[test]
    fn the_diff_names_added_and_missing_lines() {
        let team = [card("a", "age1aaa"), card("b", "age1bbb")];
        let listed: BTreeSet<String> = ["age1aaa", "age1evil1xyz"].map(String::from).into();
        let diff = team_diff(&listed, &team);
        assert_eq!(diff.added, ["age1evil1xyz"]);
        assert_eq!(diff.missing, ["age1bbb"]);
        let text = diff.to_string();
        assert!(text.contains("added in the bundle") && text.contains("age1evil1xyz"));
        let same: BTreeSet<String> = ["age1aaa", "age1bbb"].map(String::from).into();
        assert!(team_diff(&same, &team).is_empty());
    }

    #[test]
    fn designations_derived_from_the_recipient_match_it_only() {
        let r = age::x25519::Identity::generate().to_public().to_string();
        let other = age::x25519::Identity::generate().to_public().to_string();
        assert!(designation_matches(&designation::of_recipient(&r), &r));
        assert!(!designation_matches(&designation::of_recipient(&r), &other));
    }
}
