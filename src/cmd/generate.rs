//! `childproc generate DIR` (hidden): writes the shell completions and man pages from the clap
//! model. They are committed; `tests/generated.rs` fails when they drift from the CLI.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs};
use crate::exit::Exit;

pub fn run(args: GenerateArgs) -> anyhow::Result<Exit> {
    write_all(&args.dir)?;
    Ok(Exit::Success)
}

/// Every generated file as (relative path, contents), so a test can compare without writing.
pub fn files() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let mut cmd = Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "childproc", &mut buf);
        let name = match shell {
            Shell::Bash => "childproc.bash",
            Shell::Zsh => "_childproc",
            Shell::Fish => "childproc.fish",
            Shell::Elvish => "childproc.elv",
            _ => "_childproc.ps1",
        };
        out.push((format!("completions/{name}"), buf));
    }
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    out.push(("man/childproc.1".to_string(), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("childproc-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf)?;
        out.push((format!("man/{name}.1"), buf));
    }
    Ok(out)
}

fn write_all(dir: &Path) -> anyhow::Result<()> {
    for (rel, bytes) in files()? {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
