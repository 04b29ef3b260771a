//! The `sluice` binary for tests that run it as a process: `target/<profile>/sluice`, next to
//! the test executable's `deps/` directory, built first if it is missing or older than the
//! broker's sources. `CARGO_BIN_EXE_sluice` is only set for the `sluice` package's own tests,
//! and a build script cannot build a binary of the workspace, so the first caller in a test
//! process runs `cargo build -p sluice --bin sluice` for the same profile; the others wait for
//! it. A failed build fails every test with cargo's output. Use [`sluice_binary!`](crate::sluice_binary).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// The path of the `sluice` binary, found or built once per test process (a `&'static Path`);
/// panics with the reason when it can be neither. A macro so that `CARGO_TARGET_TMPDIR`, set
/// only for integration tests, is read where it is used.
#[macro_export]
macro_rules! sluice_binary {
    () => {{
        static BIN: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
            std::sync::OnceLock::new();
        match BIN.get_or_init(|| {
            $crate::sluice_binary::locate_or_build(std::path::Path::new(env!(
                "CARGO_TARGET_TMPDIR"
            )))
        }) {
            Ok(path) => path.as_path(),
            Err(why) => panic!("{why}"),
        }
    }};
}

/// Finds (or builds) the binary of the profile the calling test was built with;
/// `target_tmpdir` is the test's `CARGO_TARGET_TMPDIR`, inside the target directory.
pub fn locate_or_build(target_tmpdir: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .map_err(|e| format!("cannot locate this test executable: {e}"))?;
    // target/[<triple>/]<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .filter(|dir| dir.file_name().is_some_and(|name| name == "deps"))
        .and_then(Path::parent)
        .ok_or_else(|| {
            format!(
                "this test executable ({}) is not in a cargo `<target>/<profile>/deps/` \
                 directory, so the sluice binary cannot be found next to it",
                exe.display()
            )
        })?;
    let profile_name = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| format!("no profile name in {}", profile_dir.display()))?;
    // The `dev` and `test` profiles build into `debug/`; every other profile into its name.
    let profile = if profile_name == "debug" {
        "dev"
    } else {
        profile_name
    };
    let target_dir = target_tmpdir
        .parent()
        .and_then(|dir| dir.canonicalize().ok())
        .ok_or_else(|| {
            format!(
                "cannot open the target directory of {}",
                target_tmpdir.display()
            )
        })?;
    let above = profile_dir.parent();
    let triple = if above == Some(target_dir.as_path()) {
        None
    } else if above.and_then(Path::parent) == Some(target_dir.as_path()) {
        above.and_then(Path::file_name)
    } else {
        return Err(format!(
            "this test executable ({}) is not under the target directory it was built for ({})",
            exe.display(),
            target_dir.display()
        ));
    };
    let binary = profile_dir.join(format!("sluice{}", std::env::consts::EXE_SUFFIX));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("interop-tests sits in the workspace root");
    if is_newer_than_sources(&binary, workspace) {
        return Ok(binary);
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "sluice", "--bin", "sluice"])
        .args(["--profile", profile])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(triple) = triple {
        build.arg("--target").arg(triple);
    }
    eprintln!("building the broker for the process tests: {build:?}");
    let output = build
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo to build the sluice binary ({build:?}): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the sluice binary failed ({}): {build:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if !binary.is_file() {
        return Err(format!(
            "{build:?} succeeded but left no binary at {}",
            binary.display()
        ));
    }
    Ok(binary)
}

/// Whether `binary` exists and is newer than every file the broker is built from (the
/// workspace manifest and lock file, and `src/`). When it is not, cargo decides what to rebuild.
pub fn is_newer_than_sources(binary: &Path, workspace: &Path) -> bool {
    fn newest(path: &Path, newest_seen: &mut SystemTime) -> io::Result<()> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path)? {
                newest(&entry?.path(), newest_seen)?;
            }
        } else {
            *newest_seen = (*newest_seen).max(meta.modified()?);
        }
        Ok(())
    }
    let Ok(built) = std::fs::metadata(binary).and_then(|meta| meta.modified()) else {
        return false;
    };
    let mut sources = UNIX_EPOCH;
    let scanned = ["Cargo.toml", "Cargo.lock", "src"]
        .iter()
        .try_for_each(|name| newest(&workspace.join(name), &mut sources));
    scanned.is_ok() && built > sources
}
