//! Finding the program and checking the working directory before anything is spawned, so that
//! "not found" (127), "not executable" (126) and "bad --cwd" (125) are told apart exactly.
//!
//! The lookup follows `execvp`: the child's PATH (after `--env`), empty entries meaning the
//! current directory, non-executable matches skipped, and "permission denied" only when nothing
//! executable was found but something non-executable was.
#![deny(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::SpawnError;

/// glibc's default search path when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Check `--cwd` and return the child's working directory: an absolute path, or `.` when the
/// child stays in ours (no getcwd or chdir needed then, which matters per cluster job).
pub fn working_dir(cwd: Option<&Path>) -> Result<PathBuf, SpawnError> {
    let Some(dir) = cwd else {
        return Ok(PathBuf::from("."));
    };
    let here = std::env::current_dir().map_err(|e| SpawnError::Io {
        what: "cannot read the current directory".into(),
        source: e,
    })?;
    let abs = here.join(dir);
    match std::fs::metadata(&abs) {
        Ok(m) if m.is_dir() => Ok(abs),
        Ok(_) => Err(SpawnError::CwdNotDir(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(SpawnError::CwdMissing(dir.to_path_buf()))
        }
        Err(e) => Err(SpawnError::CwdOther {
            dir: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// Resolve `program` to the path that will be executed.
///
/// `path_var` is the PATH the child will see (`None` when unset); `cwd` is the child's absolute
/// working directory, against which relative names containing `/` and relative PATH entries
/// are resolved.
pub fn program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Result<PathBuf, SpawnError> {
    let bytes = program.as_bytes();
    let shown = program.to_string_lossy().into_owned();
    if bytes.is_empty() {
        return Err(SpawnError::NotFound(shown));
    }
    if bytes.contains(&b'/') {
        let p = cwd.join(program);
        return match check(&p) {
            Check::Exec => Ok(p),
            Check::NotExec => Err(SpawnError::NotExecutable(shown)),
            Check::Dir => Err(SpawnError::IsDirectory(shown)),
            Check::Missing => Err(SpawnError::NotFound(shown)),
        };
    }
    let path_var: OsString = path_var
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut denied = false;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = cwd.join(dir).join(program);
        match check(&candidate) {
            Check::Exec => return Ok(candidate),
            Check::NotExec | Check::Dir => denied = true,
            Check::Missing => {}
        }
    }
    if denied {
        Err(SpawnError::NotExecutable(shown))
    } else {
        Err(SpawnError::NotFound(shown))
    }
}

enum Check {
    Exec,
    NotExec,
    Dir,
    Missing,
}

fn check(p: &Path) -> Check {
    match std::fs::metadata(p) {
        Err(_) => Check::Missing,
        Ok(m) if m.is_dir() => Check::Dir,
        Ok(m) => {
            // access(2) asks the kernel, which knows about root, ACLs and noexec mounts;
            // the mode bits are a fallback if the path cannot be turned into a C string.
            match std::ffi::CString::new(p.as_os_str().as_bytes()) {
                Ok(c) if super::sys::executable(&c) => Check::Exec,
                Ok(_) => Check::NotExec,
                Err(_) if m.permissions().mode() & 0o111 != 0 => Check::Exec,
                Err(_) => Check::NotExec,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_reports_missing() {
        let cwd = Path::new("/");
        assert!(program(OsStr::new("sh"), Some(OsStr::new("/usr/bin:/bin")), cwd).is_ok());
        assert!(matches!(
            program(
                OsStr::new("no-such-prog-xyz"),
                Some(OsStr::new("/bin")),
                cwd
            ),
            Err(SpawnError::NotFound(_))
        ));
        assert!(matches!(
            program(OsStr::new(""), None, cwd),
            Err(SpawnError::NotFound(_))
        ));
    }
}
