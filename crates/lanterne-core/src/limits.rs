//! Size limits that more than one machine enforces, defined once so the machines agree: a
//! reply the offline machine writes is one the server accepts and the source's page shows.

use crate::seal::MAX_HEADER_BYTES;

/// Largest reply, in bytes of UTF-8 plaintext: `review reply` refuses longer messages and the
/// source's page decrypts no more than this.
pub const MAX_REPLY_BYTES: u64 = 1 << 20;

/// Largest reply ciphertext: what an age file holding [`MAX_REPLY_BYTES`] of plaintext can
/// weigh. The reviewer API refuses larger pushes, and the server reads no more than this from
/// disk before decrypting a reply.
pub const MAX_REPLY_CIPHERTEXT_BYTES: u64 = age_ciphertext_bound(MAX_REPLY_BYTES);

/// An upper bound on the size of an age file (binary, not armored) that lanterne accepts and
/// that holds `plaintext` bytes: a header that ends within [`MAX_HEADER_BYTES`] (plus its MAC
/// line), the 16-byte nonce, and a 16-byte tag for each 64 KiB chunk (at least one).
pub const fn age_ciphertext_bound(plaintext: u64) -> u64 {
    const MAC_LINE: u64 = 64;
    const CHUNK: u64 = 64 * 1024;
    MAX_HEADER_BYTES as u64 + MAC_LINE + 16 + plaintext + 16 * (plaintext / CHUNK + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A full-size reply to several recipients fits the ciphertext bound, with room to spare
    /// only for the header.
    #[test]
    fn a_largest_reply_fits_the_ciphertext_bound() {
        let recipients: Vec<_> = (0..5)
            .map(|_| age::x25519::Identity::generate().to_public())
            .collect();
        for len in [0, 1, 65536, MAX_REPLY_BYTES as usize] {
            let enc = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .unwrap();
            let mut out = Vec::new();
            let mut w = enc.wrap_output(&mut out).unwrap();
            w.write_all(&vec![b'a'; len]).unwrap();
            w.finish().unwrap();
            let bound = age_ciphertext_bound(len as u64);
            assert!(
                (out.len() as u64) <= bound,
                "{len}: {} > {bound}",
                out.len()
            );
            assert!(bound - (out.len() as u64) < MAX_HEADER_BYTES as u64 + 64);
        }
        const { assert!(MAX_REPLY_CIPHERTEXT_BYTES < 2 * MAX_REPLY_BYTES) };
    }
}
