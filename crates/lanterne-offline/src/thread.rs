//! Where each of the team's replies goes in a conversation: right after the submission or
//! reply its signature says it answers (`after=` in `lanterne_core::reply::Signed`), never
//! where the server's number or a file name would put it, since neither is signed. `review
//! show`, the transcript and the inbox's terminal UI all place replies here, and `review reply`
//! asks it what the latest item of a thread is, to say what a new reply answers.
//!
//! A compromised server or workstation can copy a genuine reply under another name, or push it
//! again: the same signed id, or the same ciphertext, is shown once, with a warning that names
//! the copies. A trusted reply whose `after` the inbox does not hold goes at the end, with a
//! warning. A reply that is not trusted shows no text (`crate::inbox_replies`) and has no
//! signed place: its warning goes where the server's number puts it, so the reviewer sees
//! where the server claims it was.

use std::collections::{HashMap, HashSet};

use lanterne_core::bundle::sequence_of;

use crate::inbox_replies::ThreadReply;

/// One item of a placed conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// The submission at this index of the caller's list.
    Submission(usize),
    /// The reply at this index of the caller's list.
    Reply(usize),
}

/// Places `replies` among `submissions` (ids in the box's order): each trusted reply after
/// what it answers, replies to the same item in the order the box numbered them. Copies are
/// left out and warned about on the reply shown ([`ThreadReply::warnings`]).
pub(crate) fn place(submissions: &[String], replies: &mut [ThreadReply]) -> Vec<Item> {
    // Trusted replies first, so a copy that is not trusted never hides a genuine one.
    let mut by_trust: Vec<usize> = (0..replies.len()).collect();
    by_trust.sort_by_key(|&i| (replies[i].signed.is_none(), replies[i].seq));
    let mut first_of_id: HashMap<String, usize> = HashMap::new();
    let mut first_of_sum: HashMap<[u8; 32], usize> = HashMap::new();
    let mut kept = Vec::new();
    for i in by_trust {
        let id = replies[i].signed.as_ref().map(|s| s.id.clone());
        let copy_of = id
            .as_ref()
            .and_then(|id| first_of_id.get(id))
            .or_else(|| replies[i].sha256.as_ref().and_then(|h| first_of_sum.get(h)))
            .copied();
        if let Some(first) = copy_of {
            let note = format!(
                "this same reply is in the inbox again as {}, shown once here: a reply is \
                 delivered once, so the server or the bundle replayed or renamed it; keep the \
                 bundle as evidence and tell the other reviewers",
                replies[i].id
            );
            replies[first].warnings.push(note);
            continue;
        }
        if let Some(id) = id {
            first_of_id.insert(id, i);
        }
        if let Some(h) = replies[i].sha256 {
            first_of_sum.insert(h, i);
        }
        kept.push(i);
    }
    kept.sort_by_key(|&i| replies[i].seq);

    let mut answers: HashMap<&str, Vec<usize>> = HashMap::new();
    for &i in &kept {
        if let Some(s) = &replies[i].signed {
            answers.entry(s.after.as_str()).or_default().push(i);
        }
    }
    let mut order = Vec::new();
    let mut placed = HashSet::new();
    for (k, id) in submissions.iter().enumerate() {
        order.push(Item::Submission(k));
        let mut stack: Vec<usize> = answers
            .get(id.as_str())
            .into_iter()
            .flatten()
            .rev()
            .copied()
            .collect();
        while let Some(i) = stack.pop() {
            if !placed.insert(i) {
                continue;
            }
            order.push(Item::Reply(i));
            if let Some(s) = &replies[i].signed {
                stack.extend(answers.get(s.id.as_str()).into_iter().flatten().rev());
            }
        }
    }
    // What answers nothing held here (or a loop of replies answering each other), then what is
    // not trusted.
    let mut orphans = Vec::new();
    for &i in &kept {
        if replies[i].signed.is_some() && !placed.contains(&i) {
            orphans.push(i);
        }
    }
    for i in orphans {
        let after = replies[i]
            .signed
            .as_ref()
            .map(|s| s.after.clone())
            .unwrap_or_default();
        replies[i].warnings.push(format!(
            "it answers {after}, which this inbox does not hold: shown at the end"
        ));
        order.push(Item::Reply(i));
    }
    for &i in &kept {
        if replies[i].signed.is_some() {
            continue;
        }
        let seq = replies[i].seq;
        let before = order.iter().position(|item| {
            matches!(*item, Item::Submission(k)
                if sequence_of(&submissions[k]).is_some_and(|n| n > seq))
        });
        order.insert(before.unwrap_or(order.len()), Item::Reply(i));
    }
    order
}

/// What a new reply answers by default: the last submission or trusted reply of the placed
/// conversation (its submission id, or the reply's signed id).
pub(crate) fn latest(submissions: &[String], replies: &mut [ThreadReply]) -> Option<String> {
    let order = place(submissions, replies);
    order.iter().rev().find_map(|item| match *item {
        Item::Submission(k) => Some(submissions[k].clone()),
        Item::Reply(i) => replies[i].signed.as_ref().map(|s| s.id.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanterne_core::reply::Signed;
    use zeroize::Zeroizing;

    fn reply(seq: u64, id: &str, after: &str, sum: u8) -> ThreadReply {
        ThreadReply {
            seq,
            id: format!("r{seq:010}-{sum:02x}"),
            author: Ok("alice".into()),
            text: Ok(Zeroizing::new(format!("reply {id}"))),
            signed: Some(Signed {
                designation: "brave-otter-4127".into(),
                recipient: "age1x".into(),
                id: id.repeat(32),
                after: after.into(),
            }),
            warnings: Vec::new(),
            sha256: Some([sum; 32]),
        }
    }

    fn subs() -> Vec<String> {
        vec!["s0000000001-aa".into(), "s0000000005-bb".into()]
    }

    /// A reply numbered 9 by the server but answering the first submission goes right after
    /// it; a reply to a reply follows it; a copy under a lower number is shown once, in its
    /// signed place, with a warning; one answering what is not held goes last, warned.
    #[test]
    fn replies_go_after_what_they_answer_and_copies_are_shown_once() {
        let mut r = vec![
            reply(9, "a", "s0000000001-aa", 1),
            reply(10, "b", &"a".repeat(32), 2),
            // The genuine first reply again, renamed to come before everything.
            reply(0, "a", "s0000000001-aa", 1),
            reply(11, "c", "s0000000099-cc", 3),
            // Not trusted: shown (without text) where the server's number puts it.
            ThreadReply {
                signed: None,
                author: Err("forged".into()),
                ..reply(4, "d", "s0000000001-aa", 4)
            },
        ];
        let order = place(&subs(), &mut r);
        use Item::*;
        assert_eq!(
            order,
            vec![
                Submission(0),
                Reply(2),
                Reply(1),
                Reply(4),
                Submission(1),
                Reply(3)
            ]
        );
        // The copy numbered 0 is the one kept (the lowest number), and it names the other.
        assert!(r[2].warnings[0].contains(&r[0].id), "{:?}", r[2].warnings);
        assert!(r[3].warnings[0].contains("does not hold"));
        assert_eq!(latest(&subs(), &mut r), Some("c".repeat(32)));
    }
}
