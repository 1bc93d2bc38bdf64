//! `lanterne-review`: the reviewer's binary for the offline machine. It opens bundles, writes
//! replies and makes reviewer keys, and links no network code at all (see the crate's docs).
//! This file only parses arguments; the commands live in [`lanterne_offline::cli`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lanterne_offline::cli::{self, KeysCommand, ReviewCommand};

// Every heap buffer is zeroed when freed, so plaintext and keys that pass through third-party
// buffers (age's chunk buffer, the parsers) do not linger in freed memory; the same allocator as
// the `lanterne` binary's, chosen so this project holds no `unsafe` of its own.
#[global_allocator]
static ALLOC: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

#[derive(Parser)]
#[command(
    name = "lanterne-review",
    version,
    about = "lanterne's offline reviewer commands: open bundles, write replies, make keys. \
             Never touches the network."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Review(ReviewCommand),
    /// Manage reviewer keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Review(command) => cli::review(command),
        Command::Keys { command } => cli::keys(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "lanterne-review: error: {}",
                lanterne_core::causes::chain(&e)
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every subcommand of `lanterne-review` has a help line.
    #[test]
    fn every_argument_of_every_command_has_help() {
        let missing = lanterne_offline::cli::arguments_without_help(&super::Cli::command());
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
