//! The one way an error and its causes are written for a person, each cause once.
//!
//! Many of lanterne's error messages embed their cause (`cannot read {path}: {source}`) and
//! also return it from `source()`, so that a caller can still inspect it. Printing the whole
//! chain, as anyhow's `{:#}` does, then said the cause twice: "… (os error 2): No such file or
//! directory (os error 2)". [`chain`] walks the same chain and leaves out a cause whose text the
//! message above it already holds. The binaries (`lanterne`, `lanterne-review`) and
//! `lanterne check` print errors through it.

use std::error::Error;

/// `e`'s message, then each cause in turn after `: `, except a cause whose text the message
/// just above it already holds.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut above = text.clone();
    let mut cause = e.source();
    while let Some(c) = cause {
        let here = c.to_string();
        if !above.contains(&here) {
            text.push_str(": ");
            text.push_str(&here);
        }
        above = here;
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read keys: {source}")]
    struct Embeds {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the box cannot start")]
    struct Wraps(#[source] Embeds);

    #[test]
    fn each_cause_is_written_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Wraps(Embeds { source: io() });
        assert_eq!(
            chain(&e),
            "the box cannot start: cannot read keys: no such file"
        );
        // A cause the message does not hold is still written.
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read keys")]
        struct Plain(#[source] std::io::Error);
        assert_eq!(chain(&Plain(io())), "cannot read keys: no such file");
    }
}
