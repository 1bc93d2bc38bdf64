//! The offline commands' arguments and how they run, written once for the two binaries that
//! offer them: `lanterne-review` (this crate's `src/main.rs`, what a reviewer installs on the
//! offline machine) and `lanterne review …` / `lanterne keys new` (the `lanterne` binary), so
//! both parse the same flags and behave alike.
//!
//! Every command first turns off core dumps ([`lanterne_core::hardening::no_core_dumps`]): the
//! process holds the reviewer's identity and plaintext.

use std::path::PathBuf;

use clap::Subcommand;

use crate::home::{describe, HomeError, ReviewHome};
use crate::keys::KeysError;
use crate::ReviewError;
use lanterne_core::hardening::{self, HardeningError};

/// `review open`, `review reply` and `review team`.
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
    /// Encrypt a reply to a source and to the pinned team, signed, for `lanterne push`.
    Reply {
        bundle: PathBuf,
        /// The source's designation, e.g. brave-otter-4127.
        #[arg(long)]
        source: String,
        /// A UTF-8 text file with the reply.
        #[arg(long)]
        message: PathBuf,
        /// Your identity file from `keys new`; the reply is signed with IDENTITY.minisign.
        #[arg(long)]
        identity: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The team pinned on this machine (in LANTERNE_REVIEW_HOME): replies go to it only.
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
}

/// `review team add|list|remove`.
#[derive(Subcommand)]
pub enum TeamCommand {
    /// Pin a reviewer's card (from `keys new --public CARD`).
    Add { card: PathBuf },
    /// Print the pinned team.
    List,
    /// Unpin a reviewer.
    Remove { name: String },
}

/// `keys new`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new reviewer identity and signing key (OUT.minisign), both mode 0600, and
    /// print the reviewer's public card.
    New {
        #[arg(long)]
        out: PathBuf,
        /// The reviewer's name on the card (default: OUT's file stem).
        #[arg(long)]
        name: Option<String>,
        /// Also write the card to this file.
        #[arg(long)]
        public: Option<PathBuf>,
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
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("cannot write the card to {path}: {source}")]
    Card {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
                crate::identity::passphrase_from_env_or_tty()
            } else {
                None
            };
            // Reading needs no trust: the checks only warn, and a failed check does not stop it.
            let checked = ReviewHome::from_env()
                .map_err(ReviewError::from)
                .and_then(|home| {
                    crate::trust::open_warnings(&crate::bundle::Bundle::open(&bundle)?, &home)
                });
            match checked {
                Ok(warnings) => warnings
                    .iter()
                    .for_each(|w| eprintln!("warning: {}", w.trim_end())),
                Err(e) => eprintln!("warning: the bundle's keys were not checked: {e}"),
            }
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
            identity,
            out,
        } => {
            let home = ReviewHome::from_env()?;
            let path = crate::reply(&crate::ReplyRequest {
                bundle: &bundle,
                designation: &source,
                message: &message,
                identity: &identity,
                out: &out,
                home: &home,
            })?;
            println!("reply encrypted to {}", path.display());
            println!(
                "signed: {}",
                crate::signing::signature_path(&path).display()
            );
            Ok(())
        }
        ReviewCommand::Team { command } => team(command),
    }
}

/// Runs `review team add|list|remove`.
fn team(command: TeamCommand) -> Result<(), CommandError> {
    let home = ReviewHome::from_env()?;
    match command {
        TeamCommand::Add { card } => {
            let card = home.add_card(&card)?;
            println!("pinned {}", describe(&card));
        }
        TeamCommand::List => {
            let team = home.team()?;
            if team.is_empty() {
                println!("no team pinned in {}", home.dir().display());
            }
            for card in team {
                println!("{}", describe(&card));
            }
        }
        TeamCommand::Remove { name } => {
            home.remove_card(&name)?;
            println!("removed {name} from the team");
        }
    }
    Ok(())
}

/// Runs `keys new`, printing the new card on stdout (its last line is the age recipient).
pub fn keys(command: KeysCommand) -> Result<(), CommandError> {
    hardening::no_core_dumps()?;
    match command {
        KeysCommand::New { out, name, public } => {
            let card = crate::keys::new_reviewer(&out, name.as_deref())?.to_string();
            if let Some(path) = public {
                crate::home::write_new_file(&path, card.as_bytes())
                    .map_err(|source| CommandError::Card { path, source })?;
            }
            print!("{card}");
            Ok(())
        }
    }
}
