//! End-to-end: a box made with the first word lists (list version 1, `wordlists/v1/`) keeps
//! logging in the codes it gave out from them, words the current lists dropped included, once it
//! runs this build; and it gives new codes from the current lists.
//!
//! The old box is made as an upgrade leaves it: `DATA/params` names the first lists' checksums,
//! and a source folder belongs to a code drawn from the first French list. That folder's lookup
//! id and recipient are derived here, independently of the server (argon2id, HKDF-SHA256 and the
//! age encoding, as `src/source_key.rs` documents them), so a change of derivation would show.

use std::collections::HashSet;
use std::path::Path;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::common::*;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The lookup id (hex) and the age recipient a normalized code derives to on a box.
fn derive(normalized: &str, secret: &[u8], memory_kib: u32, iterations: u32) -> (String, String) {
    let params = argon2::Params::new(memory_kib, iterations, 1, Some(32)).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut master = [0u8; 32];
    argon
        .hash_password_into(normalized.as_bytes(), secret, &mut master)
        .unwrap();
    let hk = Hkdf::<Sha256>::from_prk(&master).unwrap();
    let (mut lookup, mut x25519) = ([0u8; 32], [0u8; 32]);
    hk.expand(b"lanterne v1 lookup id", &mut lookup).unwrap();
    hk.expand(b"lanterne v1 x25519 identity", &mut x25519)
        .unwrap();
    let hrp = bech32::Hrp::parse("AGE-SECRET-KEY-").unwrap();
    let encoded = bech32::encode_upper::<bech32::Bech32>(hrp, &x25519).unwrap();
    let identity: age::x25519::Identity = encoded.parse().unwrap();
    (hex::encode(lookup), identity.to_public().to_string())
}

#[test]
fn a_box_made_with_the_first_lists_logs_in_their_codes_and_gives_new_ones() {
    let mut server = Server::start("");
    // A source of today, so the box holds a source folder of the shape it writes.
    let b = server.browser();
    let page = b.new_code();
    assert_eq!(b.submit(&page, &[], "hello").status, 200);
    server.stop();
    let data = server.data();

    // The box as the first lists made it: its params name their checksums.
    let params_path = data.join("params");
    let params = std::fs::read_to_string(&params_path).unwrap();
    let (now_en, now_fr) = (
        sha256_hex(&read("wordlists/en.txt")),
        sha256_hex(&read("wordlists/fr.txt")),
    );
    let (v1_en, v1_fr) = (
        sha256_hex(&read("wordlists/v1/en.txt")),
        sha256_hex(&read("wordlists/v1/fr.txt")),
    );
    assert!(
        params.contains(&now_en) && params.contains(&now_fr),
        "{params}"
    );
    std::fs::write(
        &params_path,
        params.replace(&now_en, &v1_en).replace(&now_fr, &v1_fr),
    )
    .unwrap();

    // A code drawn from the first French list, of words the current list dropped.
    let code = "juif bombe cocaïne tuer mais doit douglas";
    let v1_fr_words = read("wordlists/v1/fr.txt");
    let now_fr_words = read("wordlists/fr.txt");
    let v1: HashSet<&str> = v1_fr_words.lines().collect();
    let now: HashSet<&str> = now_fr_words.lines().collect();
    for w in code.split(' ') {
        assert!(v1.contains(w) && !now.contains(w), "{w}");
    }
    let kdf: toml::Value = toml::from_str(&params).unwrap();
    let memory = kdf["kdf"]["memory_kib"].as_integer().unwrap() as u32;
    let iterations = kdf["kdf"]["iterations"].as_integer().unwrap() as u32;
    let secret = std::fs::read(data.join("instance.key")).unwrap();
    let (lookup, recipient) = derive(
        "juif bombe cocaine tuer mais doit douglas",
        &secret,
        memory,
        iterations,
    );
    // Today's source folder becomes that code's folder: its recipient, under its lookup id.
    let today = server.sources().pop().unwrap();
    let old = data.join("sources").join(&lookup);
    std::fs::rename(&today, &old).unwrap();
    let had = std::fs::read_to_string(old.join("recipient")).unwrap();
    let newline = if had.ends_with('\n') { "\n" } else { "" };
    std::fs::write(old.join("recipient"), format!("{recipient}{newline}")).unwrap();

    // `lanterne check` says which lists the box was made with, and refuses unknown ones.
    let config = server.dir.path().join("check.toml");
    let keys = server.dir.path().join("keys");
    let toml = format!("data_dir = {:?}\nkeys_dir = {:?}\n", p(&data), p(&keys));
    std::fs::write(&config, toml).unwrap();
    let check = || {
        let out = std::process::Command::new(BIN)
            .args(["check", "--config", p(&config)])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (_, out) = check();
    assert!(
        out.contains("ok: [kdf]: as this box was made with; word lists: made with version 1"),
        "{out}"
    );
    let v1_params = std::fs::read_to_string(&params_path).unwrap();
    std::fs::write(&params_path, v1_params.replace(&v1_fr, &"0".repeat(64))).unwrap();
    let (status, out) = check();
    assert_eq!(status, Some(1), "{out}");
    for part in [
        "are not among those this lanterne build knows",
        "run the lanterne version that made this box",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    std::fs::write(&params_path, v1_params).unwrap();

    server.launch();
    let back = server.browser();
    let inbox = back.login(code);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(inbox.body.contains("no answer yet"), "{}", inbox.body);
    // A wrong code made of the same old words still fails as any wrong code does.
    let wrong = back.login("douglas juif bombe cocaïne tuer mais doit");
    assert_eq!(wrong.status, 403);

    // New codes on that box come from the current lists, in both languages.
    let mut fr = server.browser();
    fr.accept_language = "fr-FR,fr;q=0.9";
    let fr_code = fr.new_code().code();
    assert!(fr_code.split(' ').all(|w| now.contains(w)), "{fr_code}");
    let en_words = read("wordlists/en.txt");
    let en: HashSet<&str> = en_words.lines().collect();
    let en_code = server.browser().new_code().code();
    assert!(en_code.split(' ').all(|w| en.contains(w)), "{en_code}");
    let log = server.stop();
    assert!(log.contains("made with older word lists"), "{log}");
}
