//! The system around the box, as `lanterne check` sees it from `/proc` and `/sys`: whether the
//! data dir and swap sit on dm-crypt, whether the data dir is mounted `noatime`, whether core
//! dumps are allowed, and whether the clock is plausible. All of these are warnings: the box
//! runs without them, less safely.
//!
//! Each reading is a small function of the text it parses (and of a `/sys` root), so the tests
//! run them on fixture text; [`all`] feeds them the real files.
//!
//! "On dm-crypt" means: the block device under the mount (found by its `major:minor` in
//! `/proc/self/mountinfo`, else by its source's name), or a device below it (its `slaves/`, so
//! LVM on LUKS counts), is a device-mapper device whose `dm/uuid` starts with `CRYPT-`. Other
//! encryption (ZFS, fscrypt) is not recognised, and the warning says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Finding;

/// 2026-01-01T00:00:00Z: no clock that runs this build can rightly be earlier.
const NOT_BEFORE: u64 = 1_767_225_600;
/// 2040-01-01T00:00:00Z: a clock past this is years ahead.
const NOT_AFTER: u64 = 2_208_988_800;
/// How many devices down `slaves/` is followed.
const MAX_DEPTH: u32 = 8;

/// The uid of this process.
pub(super) fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Every system finding, from the real `/proc` and `/sys`.
pub(super) fn all(data_dir: &Path) -> Vec<Finding> {
    let sys = Path::new("/sys");
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default();
    let mut out = data_fs(data_dir, &mounts, sys);
    let swaps = fs::read_to_string("/proc/swaps").ok();
    out.push(swap(swaps.as_deref(), &mounts, sys));
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let core = rustix::process::getrlimit(rustix::process::Resource::Core).current;
    out.extend(core_dumps(
        core,
        read("/proc/sys/kernel/core_pattern").as_deref(),
        read("/proc/sys/fs/suid_dumpable").as_deref(),
    ));
    out.push(clock(SystemTime::now()));
    out
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    /// `major:minor` of the device.
    pub dev: String,
    pub mount_point: PathBuf,
    /// The per-mount options (`rw,noatime,…`).
    pub options: String,
    pub fstype: String,
    pub source: String,
}

/// Parses `/proc/self/mountinfo` (proc(5)); lines it cannot read are skipped.
pub(super) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                dev: (*fields.get(2)?).to_owned(),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                options: (*fields.get(5)?).to_owned(),
                fstype: (*fields.get(dash + 1)?).to_owned(),
                source: unescape(fields.get(dash + 2)?),
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space) in mountinfo and swaps fields.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that holds `path` (resolved through symlinks, or its nearest existing ancestor):
/// the longest mount point above it, the later one of equals (it hides the earlier).
pub(super) fn mount_of<'m>(mounts: &'m [Mount], path: &Path) -> Option<&'m Mount> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let resolved = path
        .ancestors()
        .find_map(|a| {
            let real = fs::canonicalize(a).ok()?;
            Some(real.join(path.strip_prefix(a).ok()?))
        })
        .unwrap_or_else(|| path.clone());
    mounts
        .iter()
        .filter(|m| resolved.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

/// Whether the block device at `dir` (a `/sys/class/block/NAME` or `/sys/dev/block/MAJ:MIN`
/// folder) is dm-crypt, or sits on dm-crypt.
pub(super) fn on_crypt(dir: &Path, depth: u32) -> bool {
    if fs::read_to_string(dir.join("dm/uuid")).is_ok_and(|u| u.trim_start().starts_with("CRYPT-")) {
        return true;
    }
    depth < MAX_DEPTH
        && fs::read_dir(dir.join("slaves")).is_ok_and(|rd| {
            rd.filter_map(Result::ok)
                .any(|e| on_crypt(&e.path(), depth + 1))
        })
}

/// The `/sys` folder of a device named by a path like `/dev/mapper/x` or `/dev/dm-1`.
fn sys_of_dev_path(sys: &Path, dev: &str) -> Option<PathBuf> {
    let path = Path::new(dev);
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let name = real.file_name()?;
    Some(sys.join("class/block").join(name))
}

/// Whether the filesystem of `mount` is on dm-crypt.
fn mount_on_crypt(mount: &Mount, sys: &Path) -> bool {
    on_crypt(&sys.join("dev/block").join(&mount.dev), 0)
        || (mount.source.starts_with("/dev/")
            && sys_of_dev_path(sys, &mount.source).is_some_and(|d| on_crypt(&d, 0)))
}

/// The data dir's filesystem: on dm-crypt, and mounted `noatime`?
pub(super) fn data_fs(data_dir: &Path, mounts: &[Mount], sys: &Path) -> Vec<Finding> {
    let Some(mount) = mount_of(mounts, data_dir) else {
        return vec![Finding::warning(
            format!(
                "cannot tell which filesystem holds {} (no /proc/self/mountinfo)",
                data_dir.display()
            ),
            "check by hand that it is on an encrypted disk mounted with noatime",
        )];
    };
    let at = format!(
        "the data dir's filesystem ({} on {}, {})",
        mount.source,
        mount.mount_point.display(),
        mount.fstype
    );
    let mut out = Vec::new();
    if mount_on_crypt(mount, sys) {
        out.push(Finding::info(format!("{at}: on dm-crypt")));
    } else {
        out.push(Finding::warning(
            format!(
                "{at} is not on dm-crypt: a seized disk shows the ciphertext, its sizes and \
                 the instance secret"
            ),
            "put the data dir on a LUKS (dm-crypt) volume; ignore this if it is encrypted \
             another way (ZFS, fscrypt)",
        ));
    }
    if mount.options.split(',').any(|o| o == "noatime") {
        out.push(Finding::info(format!("{at}: mounted noatime")));
    } else {
        out.push(Finding::warning(
            format!(
                "{at} is mounted without noatime: reading a file (a reviewer's fetch) records \
                 when, though the box sets every time to 1970"
            ),
            format!(
                "add noatime to its options in /etc/fstab, then `mount -o remount,noatime {}`",
                mount.mount_point.display()
            ),
        ));
    }
    out
}

/// Swap: none, in RAM (zram), or on dm-crypt is fine; anything else can hold the box's memory
/// after it stopped.
pub(super) fn swap(swaps: Option<&str>, mounts: &[Mount], sys: &Path) -> Finding {
    let Some(text) = swaps else {
        return Finding::info("swap: none (no /proc/swaps)");
    };
    let mut plain = Vec::new();
    let mut count = 0;
    for line in text.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        count += 1;
        let name = unescape(name);
        let safe = if kind == "file" {
            mount_of(mounts, Path::new(&name)).is_some_and(|m| mount_on_crypt(m, sys))
        } else {
            let dir = sys_of_dev_path(sys, &name);
            let in_ram = Path::new(&name)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("zram"));
            in_ram || dir.is_some_and(|d| on_crypt(&d, 0))
        };
        if !safe {
            plain.push(name);
        }
    }
    match (count, plain.is_empty()) {
        (0, _) => Finding::info("swap: none"),
        (_, true) => Finding::info("swap: on dm-crypt or in RAM"),
        (_, false) => Finding::warning(
            format!(
                "swap is not on dm-crypt ({}): the box's memory (codes, keys being derived) can \
                 be written there and stay after it stopped",
                plain.join(", ")
            ),
            "encrypt swap (a dm-crypt swap with a random key in /etc/crypttab), or turn it off \
             (`swapoff -a` and remove it from /etc/fstab), or set lock_memory = true",
        ),
    }
}

/// Core dumps: `soft` is this process's `RLIMIT_CORE` (`None` for unlimited), `pattern` the
/// kernel's `core_pattern`, `suid_dumpable` its `fs.suid_dumpable`.
pub(super) fn core_dumps(
    soft: Option<u64>,
    pattern: Option<&str>,
    suid_dumpable: Option<&str>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match soft {
        Some(0) => out.push(Finding::info("core dumps: off here (ulimit -c is 0)")),
        limit => out.push(Finding::warning(
            format!(
                "core dumps are allowed for what is started from here (ulimit -c is {}): a box \
                 started so could leave its memory on disk if it crashed before it turned \
                 them off for itself",
                limit.map_or("unlimited".to_owned(), |n| n.to_string())
            ),
            "the packaged unit sets LimitCORE=0; from a shell, run `ulimit -c 0` before \
             `lanterne serve`",
        )),
    }
    let pipe = pattern.and_then(|p| p.strip_prefix('|'));
    if suid_dumpable == Some("2") {
        out.push(Finding::warning(
            "fs.suid_dumpable is 2: the kernel dumps even processes marked not dumpable, as the \
             box marks itself",
            "sysctl fs.suid_dumpable=0 (and set it in /etc/sysctl.d/)",
        ));
    } else if let Some(handler) = pipe {
        out.push(Finding::info(format!(
            "core dumps: kernel.core_pattern hands them to `{}`; the box marks itself not \
             dumpable, which keeps it out",
            handler.split_whitespace().next().unwrap_or(handler)
        )));
    }
    out
}

/// The system clock, clearly wrong or not (the onion service needs it within hours). No time
/// is printed: only which way it is wrong.
pub(super) fn clock(now: SystemTime) -> Finding {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let fix = "set the clock (enable systemd-timesyncd or chrony): Tor refuses a consensus from \
               the wrong time, and the onion service would not be reachable";
    if secs < NOT_BEFORE {
        Finding::warning(
            "the system clock is before 2026, older than this build",
            fix,
        )
    } else if secs >= NOT_AFTER {
        Finding::warning("the system clock is past 2040, years ahead", fix)
    } else {
        Finding::info("system clock: plausible")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;
    use std::time::Duration;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 253:1 / /var/lib/lanterne rw,nosuid,nodev,noatime - ext4 /dev/mapper/vg-data rw
41 27 253:2 / /srv/my\\040box rw,relatime - xfs /dev/mapper/plain rw
42 27 0:55 / /var/lib/lanterne/sub rw,noatime - btrfs /dev/dm-3 rw
";

    /// A fake /sys: dm-0 is LUKS, dm-1 an LVM volume on it, dm-2 a plain LVM volume, dm-3 a
    /// LUKS volume found only by its source name (btrfs shows an anonymous device).
    fn fake_sys() -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let dev = |name: &str, uuid: &str| {
            let d = sys.path().join("class/block").join(name);
            fs::create_dir_all(d.join("dm")).unwrap();
            fs::create_dir_all(d.join("slaves")).unwrap();
            fs::write(d.join("dm/uuid"), format!("{uuid}\n")).unwrap();
            d
        };
        let dm0 = dev("dm-0", "CRYPT-LUKS2-0123456789abcdef-luks");
        let dm1 = dev("dm-1", "LVM-abcdefabcdef");
        dev("dm-2", "LVM-plainplainplain");
        dev("dm-3", "CRYPT-LUKS2-fedcba-data");
        std::os::unix::fs::symlink(&dm0, dm1.join("slaves/dm-0")).unwrap();
        fs::create_dir_all(sys.path().join("dev/block")).unwrap();
        for (num, name) in [("253:0", "dm-0"), ("253:1", "dm-1"), ("253:2", "dm-2")] {
            std::os::unix::fs::symlink(
                sys.path().join("class/block").join(name),
                sys.path().join("dev/block").join(num),
            )
            .unwrap();
        }
        sys
    }

    #[test]
    fn mountinfo_is_parsed_and_the_longest_mount_wins() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[3].mount_point, Path::new("/srv/my box"));
        assert_eq!(mounts[2].fstype, "ext4");
        assert_eq!(mounts[2].source, "/dev/mapper/vg-data");
        let m = mount_of(&mounts, Path::new("/var/lib/lanterne/data")).unwrap();
        assert_eq!(m.dev, "253:1");
        let m = mount_of(&mounts, Path::new("/var/lib/lanterne/sub/x")).unwrap();
        assert_eq!(m.dev, "0:55");
        let m = mount_of(&mounts, Path::new("/var/lib/other")).unwrap();
        assert_eq!(m.mount_point, Path::new("/"));
    }

    /// LVM on LUKS counts as dm-crypt, through `slaves/`; a plain volume and a plain disk do
    /// not; noatime is read from the mount's options.
    #[test]
    fn data_fs_on_crypt_and_noatime() {
        let sys = fake_sys();
        let mounts = parse_mountinfo(MOUNTINFO);
        let sev = |f: &[Finding]| f.iter().map(|f| f.severity).collect::<Vec<_>>();
        let f = data_fs(Path::new("/var/lib/lanterne/data"), &mounts, sys.path());
        assert_eq!(sev(&f), [Severity::Info, Severity::Info], "{f:?}");
        let f = data_fs(Path::new("/var/lib/lanterne/sub/data"), &mounts, sys.path());
        assert_eq!(sev(&f), [Severity::Info, Severity::Info], "{f:?}");
        let f = data_fs(Path::new("/srv/my box/data"), &mounts, sys.path());
        assert_eq!(sev(&f), [Severity::Warning, Severity::Warning], "{f:?}");
        assert!(f[0].what.contains("is not on dm-crypt"), "{}", f[0]);
        assert!(f[1].what.contains("without noatime"), "{}", f[1]);
        assert!(
            f[1].to_string().contains("remount,noatime /srv/my box"),
            "{}",
            f[1]
        );
        let f = data_fs(Path::new("/home/box"), &mounts, sys.path());
        assert!(f[0].what.contains("/dev/vda"), "{}", f[0]);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn swap_on_crypt_in_ram_or_not() {
        let sys = fake_sys();
        let mounts = parse_mountinfo(MOUNTINFO);
        let head = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        let f = |body: &str| swap(Some(&format!("{head}{body}")), &mounts, sys.path());
        assert_eq!(f("").what, "swap: none");
        let ok = f("/dev/dm-0 partition 4194300 0 -2\n/dev/zram0 partition 100 0 100\n");
        assert_eq!(ok.severity, Severity::Info, "{ok}");
        let file = f("/var/lib/lanterne/swapfile file 1000 0 -3\n");
        assert_eq!(file.severity, Severity::Info, "{file}");
        let bad =
            f("/dev/dm-0 partition 1 0 -2\n/dev/dm-2 partition 1 0 -3\n/swapfile file 1 0 -4\n");
        assert_eq!(bad.severity, Severity::Warning);
        assert!(bad.what.contains("(/dev/dm-2, /swapfile)"), "{bad}");
        assert!(swap(None, &mounts, sys.path()).severity == Severity::Info);
    }

    #[test]
    fn core_dumps_allowed_warns() {
        let f = core_dumps(Some(0), Some("core"), Some("0"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        let f = core_dumps(
            None,
            Some("|/usr/lib/systemd/systemd-coredump %P %u"),
            Some("0"),
        );
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].what.contains("ulimit -c is unlimited"), "{}", f[0]);
        assert!(f[0].to_string().contains("LimitCORE=0"), "{}", f[0]);
        assert!(
            f[1].what.contains("`/usr/lib/systemd/systemd-coredump`"),
            "{}",
            f[1]
        );
        let f = core_dumps(Some(0), Some("|/bin/handler"), Some("2"));
        assert_eq!(f[1].severity, Severity::Warning);
        assert!(f[1].what.contains("suid_dumpable is 2"), "{}", f[1]);
    }

    #[test]
    fn a_clearly_wrong_clock_warns() {
        let at = |secs| clock(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(NOT_BEFORE - 1).severity, Severity::Warning);
        assert!(at(0).what.contains("before 2026"));
        assert_eq!(at(NOT_BEFORE).severity, Severity::Info);
        assert_eq!(at(NOT_AFTER - 1).severity, Severity::Info);
        assert!(at(NOT_AFTER).what.contains("past 2040"));
        assert_eq!(clock(SystemTime::now()).severity, Severity::Info);
    }
}
