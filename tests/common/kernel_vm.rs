//! The host half of tests that need kernel devices this machine's kernel lacks: runs the
//! calling test binary's `guest_` tests (ignored here) under Debian's kernel in a qemu
//! guest (scripts/kernel-vm), and answers their output.

use std::process::Command;
use std::time::Instant;

/// Whether this test can run here: as root, with `tools` installed. Skips (or, in CI,
/// fails) with the reason when not.
pub fn ready(test: &str, tools: &[&str]) -> bool {
    if !super::running_as_root() {
        super::skip(test, "the qemu guest's module loading and chroot need root");
        return false;
    }
    for tool in ["qemu-system-x86_64", "busybox", "depmod", "cpio"].iter().chain(tools) {
        if !super::installed(tool) {
            super::skip(test, &format!("{tool} is not installed (scripts/packages/kernel.txt)"));
            return false;
        }
    }
    true
}

/// Runs the guest tests with `modules` loaded and a virtio-gpu, and asserts that all
/// `passed` of them passed. Answers the guest's test output.
pub fn run_guest_tests(modules: &[&str], passed: usize) -> String {
    let out = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let script = out.path().join("guest.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' guest_ --ignored --nocapture --test-threads=1 >\"$KERNEL_VM_OUT/log\" 2>&1\n",
            exe.display()
        ),
    )
    .expect("write");
    let started = Instant::now();
    let vm = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kernel-vm"))
        .arg(out.path())
        .arg(&script)
        .args(modules)
        .env("KERNEL_VM_QEMU_ARGS", "-device virtio-gpu-pci")
        .output()
        .expect("scripts/kernel-vm runs");
    let log = std::fs::read_to_string(out.path().join("log")).unwrap_or_default();
    eprintln!("kernel-vm took {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        vm.status.success() && log.contains(&format!("test result: ok. {passed} passed")),
        "the guest's test failed ({:?}):\n{log}\n--- kernel-vm:\n{}{}",
        vm.status,
        String::from_utf8_lossy(&vm.stdout),
        String::from_utf8_lossy(&vm.stderr)
    );
    log
}
