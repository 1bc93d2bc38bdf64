//! A key that opens nothing is refused (issue 22): given another identity file than the
//! reviewer's own (a colleague's, an old one), `review import` on an inbox that already held
//! everything said "0 added, 8 already there" and succeeded, and `review show` then marked the
//! real reviewer's unread submissions seen. Both now ask first whether the identity opens any
//! of the submissions at hand, and stop, changing nothing, when it opens none of them while one
//! at least is sealed to other keys. A submission that is damaged (neither opened nor sealed to
//! other keys) says nothing about the key and is reported where it was before.

use std::path::Path;

use crate::bundle::{Bundle, Source};
use crate::identity::Identities;
use crate::inbox::{Held, Inbox};
use crate::open::Submission;
use crate::ReviewError;

/// The error when an identity opened none of `total` submissions and `foreign` of them are
/// sealed to other keys.
fn refuse_if_it_opens_nothing(
    identity_file: &Path,
    total: usize,
    opened: usize,
    foreign: usize,
) -> Result<(), ReviewError> {
    if opened == 0 && foreign > 0 {
        return Err(ReviewError::KeyOpensNothing {
            path: identity_file.to_owned(),
            total,
        });
    }
    Ok(())
}

/// Before `import` writes anything: the identity must open at least one of the bundle's
/// submissions (the check stops at the first that opens).
pub(crate) fn check_bundle(
    bundle: &Bundle,
    identities: &Identities,
    identity_file: &Path,
    sources: &[Source],
) -> Result<(), ReviewError> {
    let (mut total, mut foreign) = (0, 0);
    for source in sources {
        for id in &source.submissions {
            let sub = Submission {
                bundle,
                identities,
                designation: &source.designation,
                id,
                dest: bundle.root(),
            };
            total += 1;
            if sub.manifest().is_ok() {
                return Ok(());
            }
            if sub.not_for_these_keys() {
                foreign += 1;
            }
        }
    }
    refuse_if_it_opens_nothing(identity_file, total, 0, foreign)
}

/// The submissions of `held` whose manifest the identity opens: what `show` and `export` may
/// mark seen. An error if it opens none of them (see the module's docs).
pub(crate) fn opened_by(
    inbox: &Inbox,
    identities: &Identities,
    identity_file: &Path,
    held: &[Held],
) -> Result<Vec<Held>, ReviewError> {
    let bundle = inbox.as_bundle()?;
    let (mut opened, mut foreign) = (Vec::new(), 0);
    for h in held {
        let sub = Submission {
            bundle: &bundle,
            identities,
            designation: &h.designation,
            id: &h.id,
            dest: inbox.root(),
        };
        if sub.manifest().is_ok() {
            opened.push(h.clone());
        } else if sub.not_for_these_keys() {
            foreign += 1;
        }
    }
    refuse_if_it_opens_nothing(identity_file, held.len(), opened.len(), foreign)?;
    Ok(opened)
}
