//! The store's error: an id the store could never have made, or a filesystem failure.
//!
//! Ids of submissions and replies come from requests; a malformed one is the caller's mistake
//! (the web layer answers 400 or "bad form"), not the disk's. Its own variant lets callers
//! tell the two apart by type rather than by an `io::ErrorKind`.

use std::io;

/// Why a store operation on a named submission or reply failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The id is not one the store makes (a path trick, a typo, a forged form).
    #[error("bad {what} id")]
    BadId { what: &'static str },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl StoreError {
    pub(crate) const BAD_SUBMISSION: StoreError = StoreError::BadId { what: "submission" };
    pub(crate) const BAD_REPLY: StoreError = StoreError::BadId { what: "reply" };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_key::LookupId;
    use crate::store::Store;

    /// Ids from a request that try to leave their folder are refused by type, before any
    /// file is touched.
    #[test]
    fn path_tricks_in_ids_are_bad_ids_not_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let lookup = LookupId::from_hex(&"ab".repeat(32)).unwrap();
        for id in ["../recipient", "", ".", "a/b"] {
            assert!(
                matches!(
                    store.delete_reply(&lookup, id),
                    Err(StoreError::BadId { what: "reply" })
                ),
                "{id:?}"
            );
            assert!(matches!(
                store.read_reply(&lookup, id, 10),
                Err(StoreError::BadId { .. })
            ));
            assert!(matches!(
                store.submission_files(&lookup, id),
                Err(StoreError::BadId { what: "submission" })
            ));
            assert!(matches!(
                store.delete_submissions(&[(lookup, "ok"), (lookup, id)]),
                Err(StoreError::BadId { .. })
            ));
        }
        // A well-formed id that names nothing is not a bad id.
        assert!(!store.delete_reply(&lookup, "r0000000001-00").unwrap());
    }
}
