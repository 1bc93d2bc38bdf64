//! From a source's code to what the box needs: a lookup id and an age identity.
//!
//! argon2id(normalized code, instance secret) gives a 32-byte master secret (64 MiB or more of
//! memory, so every guess is costly). HKDF-SHA256 splits it into:
//! - the **lookup id**, which names the source's folder on disk, and
//! - a 32-byte **X25519 secret**, which becomes an age identity (bech32 with the HRP
//!   `AGE-SECRET-KEY-`, the same encoding `age-keygen` writes).
//!
//! The box stores the lookup id and the identity's public recipient, never the identity. It
//! derives the identity again at each login, uses it to read replies, and drops it: every
//! intermediate secret is zeroized.
//!
//! Derivations are the expensive, memory-hungry step a flood of logins would aim at, so
//! [`Deriver`] bounds how many run at once, how many wait, and how many start per minute.

use std::num::NonZeroU32;
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hkdf::Hkdf;
use sha2::Sha256;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::code::NormalizedCode;
use crate::config::KdfConfig;

const LOOKUP_INFO: &[u8] = b"lanterne v1 lookup id";
const IDENTITY_INFO: &[u8] = b"lanterne v1 x25519 identity";

/// Names a source's folder on the server; derived from the source's code and revealing nothing
/// about it. It never leaves the server: reviewers see designations, which are derived from the
/// source's recipient (`designation::of_recipient`), not from this.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupId([u8; 32]);

impl LookupId {
    /// The lookup id of 32 derived bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> LookupId {
        LookupId(bytes)
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<LookupId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(LookupId(out))
    }
}

impl std::fmt::Debug for LookupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupId(…)")
    }
}

/// What a code derives to.
pub struct SourceKeys {
    pub lookup: LookupId,
    /// The source's age identity. `x25519_dalek`'s secret zeroizes itself on drop.
    pub identity: age::x25519::Identity,
}

impl SourceKeys {
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.identity.to_public()
    }
}

/// Why a derivation did not run.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("too many code attempts right now; wait a minute and try again")]
    RateLimited,
    #[error("the box is busy; try again in a moment")]
    Busy,
    #[error("key derivation failed")]
    Internal(#[from] InternalError),
}

/// What went wrong inside a derivation that should not fail, kept as the library's own value.
/// (argon2 and hkdf are built without their `std` feature, so their errors are not
/// `std::error::Error`; they are kept here as values and shown through `Display`.)
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("argon2: {0}")]
    Argon2(argon2::Error),
    #[error("hkdf: the master key has the wrong length")]
    HkdfPrk(hkdf::InvalidPrkLength),
    #[error("hkdf: the output has the wrong length")]
    HkdfExpand(hkdf::InvalidLength),
    #[error("encoding the age identity")]
    Hrp(#[source] bech32::primitives::hrp::Error),
    #[error("encoding the age identity")]
    Encode(#[source] bech32::EncodeError),
    #[error("parsing the age identity: {0}")]
    Identity(&'static str),
    #[error("a freshly drawn code does not normalize")]
    Code(#[source] crate::code::CodeError),
    #[error("the derivation slots are closed")]
    Closed(#[source] tokio::sync::AcquireError),
    #[error("the derivation thread failed")]
    Join(#[source] tokio::task::JoinError),
}

/// The pure derivation: same code and secret, same keys.
pub fn derive(
    code: &NormalizedCode,
    instance_secret: &[u8; 32],
    memory_kib: u32,
    iterations: u32,
) -> Result<SourceKeys, DeriveError> {
    let params = Params::new(memory_kib, iterations, 1, Some(32)).map_err(InternalError::Argon2)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut master = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(code.as_bytes(), instance_secret, master.as_mut())
        .map_err(InternalError::Argon2)?;

    let hk = Hkdf::<Sha256>::from_prk(master.as_ref()).map_err(InternalError::HkdfPrk)?;
    let mut lookup = [0u8; 32];
    let mut secret = Zeroizing::new([0u8; 32]);
    hk.expand(LOOKUP_INFO, &mut lookup)
        .and_then(|()| hk.expand(IDENTITY_INFO, secret.as_mut()))
        .map_err(InternalError::HkdfExpand)?;

    Ok(SourceKeys {
        lookup: LookupId::from_bytes(lookup),
        identity: identity_from_bytes(&secret)?,
    })
}

/// Encodes 32 secret bytes the way `age-keygen` writes a key, and parses that back. The age
/// crate has no constructor from bytes, and this keeps the key readable by every age tool.
fn identity_from_bytes(secret: &[u8; 32]) -> Result<age::x25519::Identity, DeriveError> {
    let hrp = bech32::Hrp::parse("AGE-SECRET-KEY-").map_err(InternalError::Hrp)?;
    let encoded = Zeroizing::new(
        bech32::encode_upper::<bech32::Bech32>(hrp, secret).map_err(InternalError::Encode)?,
    );
    Ok(encoded.parse().map_err(InternalError::Identity)?)
}

/// Why a derivation is asked for. Each has its own rate budget, so a flood of login guesses
/// does not stop new sources from getting a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    NewCode,
    Login,
}

/// Runs derivations for the web pages, within bounds.
pub struct Deriver {
    instance_secret: Arc<Zeroizing<[u8; 32]>>,
    memory_kib: u32,
    iterations: u32,
    running: Arc<Semaphore>,
    /// One permit per derivation allowed to wait for `running`. A permit, not a counter: it
    /// is given back when dropped, so a request abandoned while it waits (client gone, request
    /// timeout) frees its place instead of leaking it until restart.
    waiting: Semaphore,
    login_rate: DefaultDirectRateLimiter,
    new_code_rate: DefaultDirectRateLimiter,
}

impl Deriver {
    pub fn new(instance_secret: Zeroizing<[u8; 32]>, cfg: &KdfConfig) -> Deriver {
        let per_minute = NonZeroU32::new(cfg.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        Deriver {
            instance_secret: Arc::new(instance_secret),
            memory_kib: cfg.memory_kib,
            iterations: cfg.iterations,
            running: Arc::new(Semaphore::new(cfg.max_concurrent)),
            waiting: Semaphore::new(cfg.max_waiting.min(Semaphore::MAX_PERMITS)),
            login_rate: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            new_code_rate: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
        }
    }

    /// Derives the keys of `code` on a blocking thread, once a slot is free.
    pub async fn derive(
        &self,
        code: NormalizedCode,
        purpose: Purpose,
    ) -> Result<SourceKeys, DeriveError> {
        let rate = match purpose {
            Purpose::NewCode => &self.new_code_rate,
            Purpose::Login => &self.login_rate,
        };
        if rate.check().is_err() {
            return Err(DeriveError::RateLimited);
        }
        let Ok(place) = self.waiting.try_acquire() else {
            return Err(DeriveError::Busy);
        };
        let permit = self.running.clone().acquire_owned().await;
        drop(place);
        let permit = permit.map_err(InternalError::Closed)?;
        let secret = self.instance_secret.clone();
        let (m, t) = (self.memory_kib, self.iterations);
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            derive(&code, &secret, m, t)
        })
        .await
        .map_err(InternalError::Join)?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{normalize, Code};
    use crate::i18n::Lang;
    use age::secrecy::ExposeSecret;

    #[test]
    fn lookup_id_hex_round_trips_and_rejects_garbage() {
        let id = LookupId::from_bytes([3; 32]);
        assert!(LookupId::from_hex(&id.to_hex()) == Some(id));
        assert!(LookupId::from_hex("../../etc").is_none());
        assert!(LookupId::from_hex("ab").is_none());
    }

    /// An internal failure keeps its cause as a value, reachable through `source()`.
    #[test]
    fn an_internal_failure_keeps_its_cause() {
        use std::error::Error as _;
        let code = Code::generate(Lang::En).normalized().unwrap();
        let Err(err) = derive(&code, &[7u8; 32], 1, 1) else {
            panic!("argon2 took a 1 KiB memory cost")
        };
        assert!(
            matches!(err, DeriveError::Internal(InternalError::Argon2(_))),
            "{err:?}"
        );
        assert!(err
            .source()
            .is_some_and(|s| s.to_string().starts_with("argon2: ")));
    }

    #[test]
    fn same_code_same_keys_other_code_or_secret_other_keys() {
        let code = Code::generate(Lang::En);
        let secret = [7u8; 32];
        let a = derive(&code.normalized().unwrap(), &secret, 65536, 1).unwrap();
        let b = derive(
            &normalize(&code.as_str().to_uppercase()).unwrap(),
            &secret,
            65536,
            1,
        )
        .unwrap();
        assert!(a.lookup == b.lookup);
        assert_eq!(a.recipient().to_string(), b.recipient().to_string());
        let c = derive(&code.normalized().unwrap(), &[8u8; 32], 65536, 1).unwrap();
        assert!(a.lookup != c.lookup);
        let other = derive(
            &Code::generate(Lang::Fr).normalized().unwrap(),
            &secret,
            65536,
            1,
        )
        .unwrap();
        assert!(a.lookup != other.lookup);
    }

    #[test]
    fn identity_encoding_matches_the_age_spec_example() {
        // C2SP age spec: the X25519 identity whose 32 bytes are all 0x42.
        let id = identity_from_bytes(&[0x42; 32]).unwrap();
        assert_eq!(
            id.to_string().expose_secret(),
            "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
        );
        assert_eq!(
            id.to_public().to_string(),
            "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
        );
    }

    /// H1: a derivation dropped while it waits for a slot must give its waiting place back.
    #[tokio::test]
    async fn a_dropped_waiting_derivation_frees_its_place() {
        use futures_util::FutureExt;
        let cfg = KdfConfig {
            memory_kib: 65536,
            iterations: 1,
            max_concurrent: 1,
            max_waiting: 1,
            per_minute: 1000,
            burst: 1000,
        };
        let d = Deriver::new(Zeroizing::new([5u8; 32]), &cfg);
        let code = || Code::generate(Lang::En).normalized().unwrap();
        for _ in 0..3 {
            let held = d.running.clone().acquire_owned().await.unwrap();
            // Polled once: it takes the one waiting place, then is abandoned.
            if let Some(r) = d.derive(code(), Purpose::Login).now_or_never() {
                panic!("an abandoned wait kept its place: got {:?}", r.err());
            }
            drop(held);
        }
        match d.derive(code(), Purpose::Login).await {
            Ok(_) => {}
            Err(e) => panic!("a later derivation must run, got {e:?}"),
        }
    }
}
