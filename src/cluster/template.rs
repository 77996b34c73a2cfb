//! The `--exec` template: the argv of each job, and the joblog's Command for it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::quote;
use crate::usage::UsageError;

/// The `--exec` template, split into words (with `--shell`: one word, the line as written).
#[derive(Debug)]
pub(crate) struct Template {
    words: Vec<String>,
    shell: bool,
}

impl Template {
    pub(crate) fn parse(t: &str, shell: bool) -> Result<Template, UsageError> {
        let mut words =
            shell_words::split(t).map_err(|e| UsageError(format!("--exec '{t}': {e}")))?;
        if shell && !words.is_empty() {
            // The shell gets the template as written: splitting and re-joining would lose its
            // quoting (`printf '%s\n' {}`).
            words = vec![t.to_string()];
        }
        if words.is_empty() {
            return Err(UsageError("--exec needs a command template".into()));
        }
        Ok(Template { words, shell })
    }

    /// The argv of a job: `{}` replaced by the input as one literal argument (appended when
    /// absent); with `--shell`, the input is shell-quoted into `sh -c`, byte for byte.
    pub(crate) fn argv(&self, input: &[u8]) -> Vec<OsString> {
        if self.shell {
            let line = substitute(&self.words.join(" "), &quote::quote(input), true);
            return vec!["/bin/sh".into(), "-c".into(), OsString::from_vec(line)];
        }
        let mut out = Vec::with_capacity(self.words.len() + 1);
        let mut substituted = false;
        for part in &self.words {
            if part.contains("{}") {
                substituted = true;
                out.push(OsString::from_vec(substitute(part, input, false)));
            } else {
                out.push(OsString::from(part));
            }
        }
        if !substituted {
            out.push(OsString::from_vec(input.to_vec()));
        }
        out
    }

    /// The joblog's `Command`: what a shell would read to run the same job — the argv quoted,
    /// or with `--shell` the line handed to the shell (no `/bin/sh -c` in front).
    pub(crate) fn command_line(&self, argv: &[OsString]) -> Vec<u8> {
        match argv {
            [_, _, line] if self.shell => line.as_bytes().to_vec(),
            _ => quote::join(argv.iter().map(|a| a.as_bytes())),
        }
    }
}

/// `text` with every `{}` replaced by `with`; when there is none and `append`, `with` is
/// added after a space.
fn substitute(text: &str, with: &[u8], append: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() + with.len() + 1);
    let mut rest = text;
    let mut found = false;
    while let Some(i) = rest.find("{}") {
        found = true;
        bytes.extend_from_slice(&rest.as_bytes()[..i]);
        bytes.extend_from_slice(with);
        rest = &rest[i + 2..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    if !found && append {
        bytes.push(b' ');
        bytes.extend_from_slice(with);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(t: &str, shell: bool) -> Template {
        Template::parse(t, shell).unwrap()
    }

    #[test]
    fn exec_template_substitution_is_literal() {
        assert_eq!(
            template("echo x{}y", false).argv(b"$(touch pwned)"),
            vec![OsString::from("echo"), OsString::from("x$(touch pwned)y")]
        );
        assert_eq!(
            template("echo", false).argv(b"a b"),
            vec![OsString::from("echo"), OsString::from("a b")]
        );
        let sh = template("echo", true).argv(b"$(x)");
        assert_eq!(sh[2], OsString::from("echo '$(x)'"));
    }

    #[test]
    fn the_joblog_command_is_what_a_shell_would_read() {
        let t = template("printf '%s\\n' {}", true);
        let argv = t.argv(b"a b");
        assert_eq!(t.command_line(&argv), b"printf '%s\\n' 'a b'");
        let t = template("echo {}", false);
        assert_eq!(t.command_line(&t.argv(b"a b")), b"echo 'a b'");
    }
}
