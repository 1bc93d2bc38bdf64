//! Issue 14's benchmark: the inbox's import plus decrypt of a 1 GiB bundle against the stock
//! `age -d` on the same files, in one run, with peak memory at two bundle sizes.
//!
//! `cargo bench -p lanterne-offline --bench inbox`. It builds a bundle in the bundle format
//! (docs/bundle.md: marker, `SHA256SUMS`, `sources/<designation>/…`) of a few large files and
//! many small ones, each sealed with age to a fresh reviewer identity, in `BENCH_DIR`
//! (`/var/tmp` by default: a disk, not tmpfs). Then, alternating, `BENCH_ROUNDS` rounds (5) of:
//! - lanterne: the real `lanterne-review import BUNDLE` into a fresh `LANTERNE_REVIEW_HOME`,
//!   then `lanterne-review export DESIGNATION` of the source into a fresh folder (every file
//!   checked against the sums, decrypted, inspected, synced);
//! - age: the stock `age -d -i KEY -o OUT FILE` on every ciphertext of the bundle (the
//!   manifests too), one process each, into a fresh folder;
//! - for reference, `lanterne-review open BUNDLE` (the older command) into a fresh folder.
//!
//! Each step is timed on the wall clock from spawn to exit; `sync` runs before each, untimed,
//! so one step's dirty pages are not written during the next. The bundle stays in the page
//! cache for all of them (the machine has the memory). Peak RSS is each process's own
//! (`/usr/bin/time -f %M`); a step's figure is the largest of its processes.
//!
//! Three ratios, each age's time over lanterne's (1.0: as fast as age; the issue's goal is 0.8):
//! - **age/import**: `import` decrypts every file while it copies it (`inbox_copy.rs`, to name
//!   a file that does not decrypt the day it arrives), so it is the inbox's "import plus
//!   decrypt"; the plaintext is dropped, as the inbox keeps only ciphertext.
//! - age/(import+export): the stricter reading, where the plaintext also reaches the disk
//!   (export decrypts a second time, writes and syncs it; age syncs nothing).
//! - age>1MiB/import: age's time on the files over 1 MiB only (nearly all the bytes), without
//!   the process starts its 74 small files cost it: the throughput alone.
//!
//! The same is then run on a bundle of a quarter of the size (`BENCH_SMALL_MIB`, 256) to show
//! memory does not grow with it. `BENCH_MIB` (1024) sets the large size; `BENCH_KEEP=1` keeps
//! the bundles (their folders are printed) for timing single commands by hand.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use lanterne_core::manifest::{FileEntry, Manifest, VERSION};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use support::{random_hex, read_identity, SOURCE, SOURCE_KEY};

/// The `lanterne-review` binary measured: this build's, or `BENCH_REVIEW_BIN` (another
/// build, for a before-and-after on the same bundle and machine).
fn bin() -> String {
    std::env::var("BENCH_REVIEW_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_lanterne-review").to_owned())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A writer that hashes what passes through it (the bundle's `SHA256SUMS`).
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The bundle: its folder, the reviewer's identity file and every ciphertext in it.
struct Bundle {
    root: PathBuf,
    key: PathBuf,
    ciphertexts: Vec<PathBuf>,
    plain_bytes: u64,
}

/// Seals `size` pseudo-random bytes into `path`; returns the ciphertext's SHA-256.
fn seal_random(
    path: &Path,
    size: u64,
    to: &age::x25519::Recipient,
    rng: &mut rand::rngs::StdRng,
) -> [u8; 32] {
    let file = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut hashing = Hashing {
        inner: file,
        hasher: Sha256::new(),
    };
    let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut w = enc.wrap_output(&mut hashing).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        w.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap();
    hashing.flush().unwrap();
    hashing.hasher.finalize().into()
}

/// Builds a bundle of about `mib` MiB: four large files (two submissions of two) and 64 files
/// of 256 KiB (eight submissions of eight), with their manifests, for the one source.
fn build(dir: &Path, mib: u64) -> Bundle {
    let key = dir.join("reviewer.key");
    lanterne_offline::keys::new_reviewer(&key, None).unwrap();
    let to = read_identity(&key).to_public();
    let root = dir.join("bundle");
    let source = root.join("sources").join(SOURCE);
    fs::create_dir_all(source.join("submissions")).unwrap();
    fs::write(root.join("lanterne-bundle.json"), r#"{"format": 1}"#).unwrap();
    fs::write(root.join("reviewers.txt"), format!("{to}\n")).unwrap();
    let source_id: age::x25519::Identity = SOURCE_KEY.parse().unwrap();
    fs::write(
        source.join("recipient"),
        format!("{}\n", source_id.to_public()),
    )
    .unwrap();
    let small = 256 << 10;
    let large = ((mib << 20) - 64 * small) / 4;
    let mut plan: Vec<Vec<u64>> = vec![vec![large; 2], vec![large; 2]];
    plan.extend((0..8).map(|_| vec![small; 8]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut sums = Vec::new();
    let mut ciphertexts = Vec::new();
    let mut plain_bytes = 0;
    for (n, sizes) in plan.iter().enumerate() {
        let id = format!("s{:010}-{}", n + 1, random_hex());
        let sub = source.join("submissions").join(&id);
        fs::create_dir_all(&sub).unwrap();
        let mut files = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let stored_as = format!("{}.age", random_hex());
            let path = sub.join(&stored_as);
            sums.push((path.clone(), seal_random(&path, size, &to, &mut rng)));
            ciphertexts.push(path);
            plain_bytes += size;
            files.push(FileEntry {
                name: format!("file-{}-{}.bin", n + 1, i + 1),
                content_type: "application/octet-stream".into(),
                size,
                stored_as,
            });
        }
        let manifest = Manifest {
            version: VERSION,
            received: "2026-12-06".into(),
            message: format!("submission {}", n + 1),
            files,
        };
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&to as &dyn age::Recipient)).unwrap();
        let mut sealed = Vec::new();
        let mut w = enc.wrap_output(&mut sealed).unwrap();
        w.write_all(&manifest.to_padded_json()).unwrap();
        w.finish().unwrap();
        let path = sub.join("manifest.age");
        fs::write(&path, &sealed).unwrap();
        sums.push((path.clone(), Sha256::digest(&sealed).into()));
        ciphertexts.push(path);
    }
    let recipient = source.join("recipient");
    sums.push((
        recipient.clone(),
        Sha256::digest(fs::read(&recipient).unwrap()).into(),
    ));
    let mut lines: Vec<String> = sums
        .iter()
        .map(|(p, s)| {
            let rel = p.strip_prefix(&root).unwrap().to_str().unwrap();
            format!("{}  {rel}\n", hex::encode(s))
        })
        .collect();
    lines.sort();
    fs::write(root.join("SHA256SUMS"), lines.concat()).unwrap();
    Bundle {
        root,
        key,
        ciphertexts,
        plain_bytes,
    }
}

/// One step's outcome: wall seconds, CPU seconds (user + system, of all its processes) and
/// the largest peak RSS (KiB) of its processes.
#[derive(Clone, Copy, Default)]
struct Step {
    secs: f64,
    cpu: f64,
    peak_kib: u64,
}

impl Step {
    fn add(self, other: Step) -> Step {
        Step {
            secs: self.secs + other.secs,
            cpu: self.cpu + other.cpu,
            peak_kib: self.peak_kib.max(other.peak_kib),
        }
    }
}

/// Runs `program args` under `/usr/bin/time`, with `home` as `LANTERNE_REVIEW_HOME`.
fn run(program: &str, args: &[&std::ffi::OsStr], home: &Path, scratch: &Path) -> Step {
    let rss = scratch.join("rss");
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(&rss)
        .arg(program)
        .args(args)
        .env("LANTERNE_REVIEW_HOME", home)
        .output()
        .expect("/usr/bin/time (Debian package `time`) is needed");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&rss).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let num = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .expect("peak RSS, user and system time from /usr/bin/time")
    };
    Step {
        secs,
        cpu: num(1) + num(2),
        peak_kib: num(0) as u64,
    }
}

fn sync_and_clear(paths: &[&Path]) {
    for p in paths {
        let _ = fs::remove_dir_all(p);
    }
    Command::new("sync").status().unwrap();
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// The steps of one round on `b`, in `work`: lanterne's import and export, age, open.
fn round(b: &Bundle, work: &Path) -> [Step; 5] {
    let bin = bin();
    let (home, out, age_out, open_out) = (
        work.join("home"),
        work.join("exported"),
        work.join("age-out"),
        work.join("opened"),
    );
    sync_and_clear(&[&home, &out, &age_out, &open_out]);
    let import = run(
        &bin,
        &[
            os("import"),
            b.root.as_os_str(),
            os("--identity"),
            b.key.as_os_str(),
        ],
        &home,
        work,
    );
    let export = run(
        &bin,
        &[
            os("export"),
            os(SOURCE),
            os("--identity"),
            b.key.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ],
        &home,
        work,
    );
    let exported: u64 = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(exported >= b.plain_bytes, "export wrote {exported} bytes");

    sync_and_clear(&[&home, &out]);
    fs::create_dir_all(&age_out).unwrap();
    let (mut age, mut age_large) = (Step::default(), Step::default());
    for (i, c) in b.ciphertexts.iter().enumerate() {
        let o = age_out.join(i.to_string());
        let one = run(
            "age",
            &[
                os("-d"),
                os("-i"),
                b.key.as_os_str(),
                os("-o"),
                o.as_os_str(),
                c.as_os_str(),
            ],
            &home,
            work,
        );
        // The files over 1 MiB (nearly all the bytes): age's time without most of its
        // process starts, which the 74 small files cost it.
        if fs::metadata(c).unwrap().len() > 1 << 20 {
            age_large = age_large.add(one);
        }
        age = age.add(one);
    }

    sync_and_clear(&[&age_out]);
    let open = run(
        &bin,
        &[
            os("open"),
            b.root.as_os_str(),
            os("--identity"),
            b.key.as_os_str(),
            os("--out"),
            open_out.as_os_str(),
        ],
        &home,
        work,
    );
    sync_and_clear(&[&open_out, &home]);
    [import, export, age, age_large, open]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(v: &[f64]) -> (f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Runs `rounds` rounds on a bundle of `mib` MiB and prints every round and the summary.
fn measure(base: &Path, mib: u64, rounds: u64) {
    let dir = tempfile::Builder::new()
        .prefix("lanterne-bench-inbox-")
        .tempdir_in(base)
        .unwrap();
    let t = Instant::now();
    let b = build(dir.path(), mib);
    let total: u64 = b
        .ciphertexts
        .iter()
        .map(|c| fs::metadata(c).unwrap().len())
        .sum();
    println!(
        "\n== bundle of {} files, {:.1} MiB of ciphertext ({:.1} MiB plaintext), in {} (built in \
         {:.1} s)",
        b.ciphertexts.len(),
        total as f64 / (1 << 20) as f64,
        b.plain_bytes as f64 / (1 << 20) as f64,
        dir.path().display(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "round | import (decrypts every file) | export | import+export | CPU | peak RSS | age -d, \
         every file | CPU | peak RSS | age -d, files > 1 MiB | RATIO age/import | ratio \
         age/(import+export) | ratio age>1MiB/import | review open | ratio age/open"
    );
    let mib_of = |kib: u64| kib as f64 / 1024.0;
    // Each row: import, import+export, age (every file), age (files > 1 MiB), open.
    let mut rows: Vec<[Step; 5]> = Vec::new();
    for r in 1..=rounds {
        let [import, export, age, age_large, open] = round(&b, dir.path());
        let both = import.add(export);
        println!(
            "{r} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.1} MiB | {:.2} s | {:.2} s | \
             {:.1} MiB | {:.2} s | {:.2} | {:.2} | {:.2} | {:.2} s | {:.2}",
            import.secs,
            export.secs,
            both.secs,
            both.cpu,
            mib_of(import.peak_kib.max(export.peak_kib)),
            age.secs,
            age.cpu,
            mib_of(age.peak_kib),
            age_large.secs,
            age.secs / import.secs,
            age.secs / both.secs,
            age_large.secs / import.secs,
            open.secs,
            age.secs / open.secs,
        );
        rows.push([import, both, age, age_large, open]);
    }
    let col = |f: &dyn Fn(&[Step; 5]) -> f64| -> Vec<f64> { rows.iter().map(f).collect() };
    let peak = |i: usize| mib_of(rows.iter().map(|r| r[i].peak_kib).max().unwrap_or(0));
    let mb_s = |secs: f64| b.plain_bytes as f64 / 1e6 / secs;
    let summary = |what: &str, v: Vec<f64>| {
        let (lo, hi) = spread(&v);
        format!(
            "{what} median {:.2} (min {lo:.2}, max {hi:.2}, {} rounds)",
            median(v.clone()),
            v.len()
        )
    };
    println!(
        "summary, {mib} MiB: import median {:.2} s ({:.0} MB/s), import+export {:.2} s, age -d \
         median {:.2} s ({:.0} MB/s), review open median {:.2} s",
        median(col(&|r| r[0].secs)),
        mb_s(median(col(&|r| r[0].secs))),
        median(col(&|r| r[1].secs)),
        median(col(&|r| r[2].secs)),
        mb_s(median(col(&|r| r[2].secs))),
        median(col(&|r| r[4].secs)),
    );
    println!(
        "summary, {mib} MiB: {}; {}; {}; {}",
        summary("RATIO age/import", col(&|r| r[2].secs / r[0].secs)),
        summary("age/(import+export)", col(&|r| r[2].secs / r[1].secs)),
        summary("age>1MiB/import", col(&|r| r[3].secs / r[0].secs)),
        summary("age/open", col(&|r| r[2].secs / r[4].secs)),
    );
    println!(
        "summary, {mib} MiB: peak RSS import {:.1} MiB, import+export {:.1} MiB, age {:.1} MiB, \
         open {:.1} MiB",
        peak(0),
        peak(1),
        peak(2),
        peak(4),
    );
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept: {}", dir.keep().display());
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter would mean nothing here.
    let base = PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()));
    let rounds = env_u64("BENCH_ROUNDS", 5);
    let large = env_u64("BENCH_MIB", 1024);
    let small = env_u64("BENCH_SMALL_MIB", 256);
    println!(
        "lanterne-review: {}\nage: {}",
        bin(),
        String::from_utf8_lossy(
            &Command::new("age")
                .arg("--version")
                .output()
                .expect("the stock age CLI")
                .stdout
        )
        .trim()
    );
    measure(&base, large, rounds);
    if small > 0 {
        measure(&base, small, rounds.min(3));
    }
}
