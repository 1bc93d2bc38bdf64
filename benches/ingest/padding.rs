//! What padding every stored file to its size bucket (`lanterne::padding`) costs: disk, on a
//! mix of file sizes, and upload time, each against a server of the same build that stores
//! files unpadded (`LANTERNE_BENCH_UNPADDED`, honoured only by a `bench-unpadded` build).
//!
//! Run: `BENCH_ONLY=padding cargo bench --bench ingest --features bench-unpadded`.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};

use super::{session, start, start_with, upload, Box, MIB};
use lanterne::padding::bucket;

/// The mix: this many files, of log-uniform sizes between these bounds, from a fixed seed.
const MIX_FILES: usize = 50;
const MIX_MIN: f64 = 2.0 * 1024.0;
const MIX_MAX: f64 = 200.0 * MIB as f64;
const SEED: u64 = 23;

/// Rounds of the timing, each one upload to either server, in alternating order.
const ROUNDS: usize = 5;

pub fn run(block: &[u8]) {
    if !cfg!(feature = "bench-unpadded") {
        println!("\n## Padding\n\nskipped: run with `--features bench-unpadded`\n");
        return;
    }
    println!("\n## Padding every stored file to its size bucket\n");
    println!("load average before: {}", loadavg());
    let padded = start();
    let unpadded = start_with(&[("LANTERNE_BENCH_UNPADDED", "1")]);
    mix(&padded, &unpadded, block);
    timing(&padded, &unpadded, block);
    println!("load average after: {}\n", loadavg());
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The sizes of the mix, in upload order.
fn mix_sizes() -> Vec<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    (0..MIX_FILES)
        .map(|_| rng.gen_range(MIX_MIN.ln()..MIX_MAX.ln()).exp() as u64)
        .collect()
}

/// Padmé (Nikitin et al., PETS 2019), only to compare with the scheme lanterne uses.
fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - len.leading_zeros() as u64;
    let s = 64 - e.leading_zeros() as u64;
    let mask = (1u64 << (e - s)) - 1;
    (len + mask) & !mask
}

/// How many of `sizes` are the only one in their bucket under `scheme`.
fn alone(sizes: &[u64], scheme: fn(u64) -> u64) -> usize {
    let buckets: Vec<u64> = sizes.iter().map(|&s| scheme(s)).collect();
    buckets
        .iter()
        .filter(|b| buckets.iter().filter(|c| c == b).count() == 1)
        .count()
}

/// Every stored submission file (manifests apart) of a box, and its manifests.
fn stored(server: &Box) -> (Vec<u64>, Vec<u64>) {
    let (mut files, mut manifests) = (Vec::new(), Vec::new());
    for sub in submissions(&server.dir.path().join("data")) {
        for f in std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap().path()) {
            let len = std::fs::metadata(&f).unwrap().len();
            if f.file_name().is_some_and(|n| n == "manifest.age") {
                manifests.push(len);
            } else if f.extension().is_some_and(|x| x == "age") {
                files.push(len);
            }
        }
    }
    (files, manifests)
}

fn submissions(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for source in std::fs::read_dir(data.join("sources")).unwrap() {
        let subs = source.unwrap().path().join("submissions");
        for sub in std::fs::read_dir(subs).into_iter().flatten() {
            out.push(sub.unwrap().path());
        }
    }
    out
}

/// Removes what a box stored, so that the timing rounds do not fill the disk.
fn clear(server: &Box) {
    for sub in submissions(&server.dir.path().join("data")) {
        std::fs::remove_dir_all(sub).unwrap();
    }
}

/// The mix through both boxes: the bytes they store, and the worst file.
fn mix(padded: &Box, unpadded: &Box, block: &[u8]) {
    let sizes = mix_sizes();
    for server in [padded, unpadded] {
        let (cookie, csrf, _) = session(&server.addr);
        for &size in &sizes {
            let (_, status) = upload(&server.addr, &cookie, &csrf, block, size, None);
            assert_eq!(status, 200);
        }
    }
    let (mut with, with_manifests) = stored(padded);
    let (mut without, without_manifests) = stored(unpadded);
    assert_eq!((with.len(), without.len()), (MIX_FILES, MIX_FILES));
    // Buckets grow with sizes, so sorted stored sizes pair up file by file.
    with.sort_unstable();
    without.sort_unstable();
    let (sum_with, sum_without): (u64, u64) = (with.iter().sum(), without.iter().sum());
    let ratios: Vec<f64> = with
        .iter()
        .zip(&without)
        .map(|(&a, &b)| a as f64 / b as f64)
        .collect();
    let above_min: Vec<f64> = ratios
        .iter()
        .zip(&without)
        .filter(|(_, &b)| b > 2 * lanterne::padding::MIN_BUCKET)
        .map(|(&r, _)| r)
        .collect();
    let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    println!(
        "\n### Disk: {MIX_FILES} files, log-uniform sizes from 2 KiB to 200 MiB (seed {SEED})\n"
    );
    println!(
        "smallest {} B, largest {} B\n",
        sorted[0],
        sorted[MIX_FILES - 1]
    );
    println!("| | unpadded | padded | padded / unpadded |\n|---|---|---|---|");
    println!(
        "| stored files, total | {:.1} MiB | {:.1} MiB | {:.2} |",
        sum_without as f64 / MIB as f64,
        sum_with as f64 / MIB as f64,
        sum_with as f64 / sum_without as f64
    );
    println!(
        "| manifests, total | {} B | {} B | {:.2} |",
        without_manifests.iter().sum::<u64>(),
        with_manifests.iter().sum::<u64>(),
        with_manifests.iter().sum::<u64>() as f64 / without_manifests.iter().sum::<u64>() as f64
    );
    println!(
        "\nworst single file: {:.2} times its unpadded ciphertext (a file below the 64 KiB \
         bucket); worst above 128 KiB: {:.2}",
        worst(&ratios),
        worst(&above_min)
    );
    println!(
        "files alone in their bucket (a seized disk tells them apart by size): exact sizes {}, \
         Padmé {}, lanterne's powers of two {}\n",
        alone(&sizes, |s| s),
        alone(&sizes, padme),
        alone(&sizes, bucket)
    );
    let padme_total: u64 = sizes.iter().map(|&s| padme(s)).sum();
    println!(
        "(plaintext bytes padded / exact: Padmé {:.3}, powers of two {:.3})",
        padme_total as f64 / sizes.iter().sum::<u64>() as f64,
        sizes.iter().map(|&s| bucket(s)).sum::<u64>() as f64 / sizes.iter().sum::<u64>() as f64
    );
    clear(padded);
    clear(unpadded);
}

/// Upload time of the same bytes to both boxes, alternating which goes first.
fn timing(padded: &Box, unpadded: &Box, block: &[u8]) {
    let sessions = [session(&padded.addr), session(&unpadded.addr)];
    let boxes = [padded, unpadded];
    // About the mix's average padding (2^29.5 bytes, to 2^30), and the worst (2^29 + 1).
    let cases = [
        ("724 MiB (padded +41 %)", 724 * MIB),
        ("512 MiB + 1 B (padded +100 %)", 512 * MIB + 1),
    ];
    println!("### Upload time, first byte to \"received\" (fsync, rename), {ROUNDS} rounds\n");
    println!(
        "| upload | unpadded MB/s (median) | padded MB/s (median) | padded / unpadded throughput: median (min–max) |\n|---|---|---|---|"
    );
    for (name, size) in cases {
        let mut secs: [Vec<f64>; 2] = Default::default();
        for round in 0..ROUNDS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let (cookie, csrf, _) = &sessions[i];
                let (s, status) = upload(&boxes[i].addr, cookie, csrf, block, size, None);
                assert_eq!(status, 200);
                secs[i].push(s);
                clear(boxes[i]);
            }
        }
        let mut ratios: Vec<f64> = secs[1]
            .iter()
            .zip(&secs[0])
            .map(|(without, with)| without / with)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let mb_s = |v: &[f64]| {
            let mut r: Vec<f64> = v.iter().map(|s| size as f64 / s / 1e6).collect();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} ({:.2}–{:.2}) |",
            mb_s(&secs[1]),
            mb_s(&secs[0]),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    println!();
}
