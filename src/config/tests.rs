//! The configuration's defaults, overrides and refusals.

use super::*;

#[test]
fn defaults_are_valid() {
    Config::default().validate().unwrap();
}

#[test]
fn file_overrides_only_what_it_names() {
    let c = Config::from_toml("[limits]\nmax_files = 3\n").unwrap();
    assert_eq!(c.limits.max_files, 3);
    assert_eq!(c.limits.max_message_chars, 100_000);
    assert_eq!(c.kdf.memory_kib, 65536);
}

#[test]
fn refuses_unknown_keys_weak_kdf_and_public_listen() {
    assert!(Config::from_toml("lisen = \"127.0.0.1:1\"").is_err());
    let mut c = Config::default();
    c.kdf.memory_kib = 1024;
    assert!(c.validate().is_err());
    let mut c = Config::default();
    c.limits.max_files = crate::manifest::MAX_FILES + 1;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("limits.max_files"));
    let mut c = Config {
        listen: "0.0.0.0:8080".parse().unwrap(),
        ..Config::default()
    };
    assert!(matches!(c.validate(), Err(ConfigError::PublicListen(_))));
    c.allow_public_listen = true;
    c.validate().unwrap();
    let mut c = Config::default();
    c.http.upload_min_bytes_per_sec = 20_000;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("upload_min_bytes_per_sec"));
    c.http.upload_min_bytes_per_sec = 0;
    assert!(c.validate().is_err());
}

/// A config file that cannot be read or parsed is named, and the cause kept as the source
/// (the TOML error names the line and the unknown key).
#[test]
fn file_errors_name_the_file_and_keep_the_cause() {
    use std::error::Error as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lanterne.toml");
    let err = Config::from_file(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.source().is_some_and(|s| s.is::<std::io::Error>()));
    std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let err = Config::from_file(&path).unwrap_err();
    assert!(err.to_string().contains("lanterne.toml"), "{err}");
    let cause = err.source().unwrap().to_string();
    assert!(cause.contains("lisen"), "{cause}");
}

/// Each refusal names the setting to change, as its TOML path.
#[test]
fn a_refusal_names_the_field() {
    let mut c = Config::default();
    c.reviewer.retention_days = 0;
    let err = c.clone().validated().unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                field: "reviewer.retention_days",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("reviewer.retention_days"), "{err}");
    c.reviewer.retention_days = 1;
    c.kdf.per_minute = 0;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Invalid {
            field: "kdf.per_minute",
            ..
        })
    ));
    c.kdf.per_minute = 1;
    assert_eq!(c.validated().unwrap().kdf.per_minute, 1);
}

/// L7: the sources' public-listen switch must not open the reviewer API as well.
#[test]
fn the_reviewer_listener_needs_its_own_public_switch() {
    let mut c = Config::default();
    c.reviewer.listen = "0.0.0.0:8081".parse().unwrap();
    c.allow_public_listen = true;
    let err = c.validate().unwrap_err();
    assert!(matches!(err, ConfigError::PublicReviewerListen(_)));
    assert!(err.to_string().contains("--allow-public-reviewer-listen"));
    c.allow_public_listen = false;
    c.reviewer.allow_public_listen = true;
    c.validate().unwrap();
    let c =
        Config::from_toml("listen = \"0.0.0.0:8080\"\n[reviewer]\nallow_public_listen = true\n")
            .unwrap();
    assert!(matches!(c.validate(), Err(ConfigError::PublicListen(_))));
    let c =
        Config::from_toml("[reviewer]\nlisten = \"0.0.0.0:8081\"\nallow_public_listen = true\n")
            .unwrap();
    c.validate().unwrap();
}

/// README's configuration sample and the fuzz seed show every setting: both must parse (no
/// unknown key, so no setting renamed under them) and pass the checks.
#[test]
fn the_readme_sample_and_the_fuzz_seed_are_valid_configs() {
    let readme = include_str!("../../README.md");
    let from = readme
        .find("### Configuration")
        .and_then(|i| {
            readme[i..]
                .find("```toml\n")
                .map(|j| i + j + "```toml\n".len())
        })
        .expect("README has a ### Configuration section with a toml block");
    let len = readme[from..].find("```").expect("the toml block ends");
    let sample = Config::from_toml(&readme[from..from + len]).unwrap();
    sample.validate().unwrap();
    let seed = Config::from_toml(include_str!("../../fuzz/seeds/config/full-config.toml")).unwrap();
    seed.validate().unwrap();
    // The sample names the new sections, not only their defaults.
    for key in [
        "[onion.circuit]",
        "proof_of_work",
        "self_check_every_secs",
        "onion_nickname",
    ] {
        assert!(
            readme[from..from + len].contains(key),
            "README's sample lacks {key}"
        );
    }
}

/// The onion settings arti or the box would refuse are refused at start, naming the field:
/// the DoS settings, the per-circuit budgets, the self-check, and the reviewer onion's needs.
#[test]
fn onion_settings_out_of_range_name_the_field() {
    for (text, field) in [
        ("[onion.dos]\nintro_points = 2\n", "onion.dos.intro_points"),
        ("[onion.dos]\nintro_points = 21\n", "onion.dos.intro_points"),
        (
            "[onion.dos]\nintro_rate_per_second = 0\n",
            "onion.dos.intro_rate_per_second",
        ),
        (
            "[onion.dos]\nintro_burst = 4294967295\n",
            "onion.dos.intro_burst",
        ),
        (
            "[onion.dos]\nmax_streams_per_circuit = 0\n",
            "onion.dos.max_streams_per_circuit",
        ),
        (
            "[onion.circuit]\nnew_codes_burst = 0\n",
            "onion.circuit.new_codes_burst",
        ),
        (
            "[onion.circuit]\nnew_codes_per_hour = 0\n",
            "onion.circuit.new_codes_per_hour",
        ),
        (
            "[onion.circuit]\nlogins_burst = 0\n",
            "onion.circuit.logins_burst",
        ),
        (
            "[onion.circuit]\nlogins_per_hour = 0\n",
            "onion.circuit.logins_per_hour",
        ),
        (
            "[onion.circuit]\nslow_streams = 0\n",
            "onion.circuit.slow_streams",
        ),
        (
            "[onion]\nself_check_every_secs = 9\n",
            "onion.self_check_every_secs",
        ),
        (
            "[onion]\nself_check_every_secs = 1\n",
            "onion.self_check_every_secs",
        ),
        (
            "[onion]\nself_check_failures = 0\n",
            "onion.self_check_failures",
        ),
        (
            "[onion]\nenabled = false\n[reviewer]\nonion = true\n",
            "reviewer.onion",
        ),
        (
            "[reviewer]\nonion_nickname = \"lanterne\"\n",
            "reviewer.onion_nickname",
        ),
    ] {
        let err = Config::from_toml(text).unwrap().validated().unwrap_err();
        assert!(err.to_string().contains(field), "{text}: {err}");
    }
    for ok in [
        "[onion]\nself_check_every_secs = 0\n",
        "[onion]\nself_check_every_secs = 10\nself_check_failures = 1\n",
        "[reviewer]\nonion = true\n",
    ] {
        Config::from_toml(ok).unwrap().validated().unwrap();
    }
    let d = OnionConfig::default();
    assert_eq!((d.self_check_every_secs, d.self_check_failures), (600, 3));
}
