//! The offline commands' arguments and how they run, written once for the two binaries that
//! offer them: `lanterne-review` (this crate's `src/main.rs`, what a reviewer installs on the
//! offline machine) and `lanterne review …` / `lanterne keys new` (the `lanterne` binary), so
//! both parse the same flags and behave alike.
//!
//! Every command first turns off core dumps ([`lanterne_core::hardening::no_core_dumps`]): the
//! process holds the reviewer's identity and plaintext.

use std::path::PathBuf;

use clap::Subcommand;

use crate::keys::KeysError;
use crate::ReviewError;
use lanterne_core::hardening::{self, HardeningError};

/// `review open` and `review reply`.
#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Decrypt every new submission of a bundle into DIR/<designation>/<submission>/.
    Open {
        bundle: PathBuf,
        /// Your age identity file (passphrase-protected ones ask for the passphrase, or read
        /// LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt a reply to a source (and to every reviewer) for `lanterne push`.
    Reply {
        bundle: PathBuf,
        /// The source's designation, e.g. brave-otter-4127.
        #[arg(long)]
        source: String,
        /// A UTF-8 text file with the reply.
        #[arg(long)]
        message: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// `keys new`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new reviewer identity (mode 0600) and print its recipient.
    New {
        #[arg(long)]
        out: PathBuf,
    },
}

/// Why an offline command failed; each variant's message is its cause's, which says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Hardening(#[from] HardeningError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// `open` ran to the end, but the report (already printed) lists files it could not open.
    #[error("some files could not be opened; see above")]
    Incomplete,
}

/// Runs `review open` or `review reply`, printing the outcome on stdout.
pub fn review(command: ReviewCommand) -> Result<(), CommandError> {
    hardening::no_core_dumps()?;
    match command {
        ReviewCommand::Open {
            bundle,
            identity,
            out,
        } => {
            let passphrase = if crate::identity_needs_passphrase(&identity)? {
                crate::passphrase_from_env_or_tty()
            } else {
                None
            };
            let report = crate::open(&bundle, &identity, &out, passphrase)?;
            print!("{report}");
            if report.has_problems() {
                return Err(CommandError::Incomplete);
            }
            Ok(())
        }
        ReviewCommand::Reply {
            bundle,
            source,
            message,
            out,
        } => {
            let path = crate::reply(&bundle, &source, &message, &out)?;
            println!("reply encrypted to {}", path.display());
            Ok(())
        }
    }
}

/// Runs `keys new`, printing the new recipient on stdout.
pub fn keys(command: KeysCommand) -> Result<(), CommandError> {
    hardening::no_core_dumps()?;
    match command {
        KeysCommand::New { out } => {
            let recipient = crate::keys::new_identity_file(&out)?;
            println!("{recipient}");
            Ok(())
        }
    }
}
