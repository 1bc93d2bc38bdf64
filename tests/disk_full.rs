//! Disk full: the data dir on a small tmpfs that an upload fills. The source gets a clear page,
//! no partial file stays, and the box keeps serving. Mounting needs root, as in CI.

use crate::common::*;
use std::process::Command;

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .expect("mount must exist");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_gets_a_clear_page_leaves_nothing_and_the_box_keeps_serving() {
    let mut server = Server::start("");
    server.stop();
    // Move the data dir onto a 6 MiB tmpfs, then start again there.
    let _fs = Tmpfs::mount(&server.data(), "6m");
    server.launch();

    let b = server.browser();
    let page = b.new_code();
    let (big, canary) = file_with_canary("diskfull", 9 * 1024 * 1024);
    let doc = Upload {
        name: "too-big-for-the-disk.bin",
        mime: "application/octet-stream",
        bytes: big,
    };
    let full = b.submit(&page, &[doc], "this will not fit");
    assert_eq!(full.status, 507, "{}", full.body);
    assert!(full.body.contains("The server is full"), "{}", full.body);
    assert!(full.body.contains("Nothing was kept"));
    assert_eq!(
        server.staging_entries(),
        0,
        "a partial file stayed in staging"
    );
    assert!(server.submissions().is_empty());
    assert_eq!(any_file_contains(&server.data(), &canary), None);

    // The box keeps serving, and a submission that fits goes through.
    let small = Upload {
        name: "small.txt",
        mime: "text/plain",
        bytes: b"fits".to_vec(),
    };
    let ok = b.submit(&page, &[small], "this fits");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(server.submissions().len(), 1);
    server.stop();
}
