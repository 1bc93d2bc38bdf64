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
use crate::{ReviewError, SecretString};
use lanterne_core::hardening::{self, HardeningError};

/// `review open`, `reply`, `team`, and the inbox: `import`, `list`, `show`, `export`,
/// `star`, `unstar`, `inbox`.
#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Decrypt every new submission of a bundle into DIR/<designation>/<submission>/.
    Open {
        /// The bundle folder `lanterne fetch` wrote (carried to this machine).
        bundle: PathBuf,
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
        /// The folder to decrypt into (made 0700 if missing); submissions already there are
        /// skipped.
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt a reply to a source and to the pinned team, signed, for `lanterne push`.
    Reply {
        /// The bundle the source's submission came in (for its key and the team's list).
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
        /// The outgoing folder to write the encrypted reply and its signature into, which
        /// `lanterne push` sends.
        #[arg(long)]
        out: PathBuf,
        /// What the reply answers: a submission id (s0000000001-…) or a reply's id; by
        /// default the latest item of the conversation in the bundle.
        #[arg(long)]
        after: Option<String>,
    },
    /// Merge a bundle into the inbox (LANTERNE_REVIEW_HOME/inbox): only what is new, as
    /// ciphertext; a file that changed under a known name is refused.
    Import {
        /// The bundle folder `lanterne fetch` wrote (carried to this machine).
        bundle: PathBuf,
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
    },
    /// The inbox's sources, newest activity first, with unseen counts and stars (`*`).
    List {
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
    },
    /// A source's conversation, in order, as plain text; marks it seen.
    Show {
        /// The source's designation, as `review list` shows it, e.g. brave-otter-4127.
        designation: String,
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
    },
    /// Decrypt a source's files into DIR (sanitized names, never overwriting), with a
    /// transcript.txt.
    Export {
        /// The source's designation, as `review list` shows it.
        designation: String,
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
        /// The folder to write the plaintext files and the transcript into (made 0700 if
        /// missing; existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// The inbox's interactive terminal UI: sources, threads, star, search, replies, export.
    Inbox {
        /// Your age identity file, from `keys new` (passphrase-protected ones ask for the
        /// passphrase, or read LANTERNE_IDENTITY_PASSPHRASE).
        #[arg(long)]
        identity: PathBuf,
        /// The outgoing replies folder (default: LANTERNE_REVIEW_HOME/outgoing), which
        /// `lanterne push` sends.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Star a source of the inbox.
    Star {
        /// The source's designation, as `review list` shows it.
        designation: String,
    },
    /// Unstar a source of the inbox.
    Unstar {
        /// The source's designation, as `review list` shows it.
        designation: String,
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
    Add {
        /// The reviewer's card file (`keys new --public CARD`), carried to this machine.
        card: PathBuf,
    },
    /// Print the pinned team.
    List,
    /// Unpin a reviewer.
    Remove {
        /// The reviewer's name, as `review team list` prints it.
        name: String,
    },
}

/// `keys new`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new reviewer identity and signing key (OUT.minisign), both mode 0600, and
    /// print the reviewer's public card.
    New {
        /// The identity file to write (refused if it exists); the signing key goes to
        /// OUT.minisign. Keep both on the offline machine.
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
    /// `open`, `import` or `export` ran to the end, but the report (already printed) lists
    /// files it could not handle.
    #[error("some files could not be opened, imported or exported; see above")]
    Incomplete,
}

/// The arguments of `command` and of each of its subcommands, at any depth, that have no help
/// line, as `PATH ARG` (`lanterne review open <OUT>`): the binaries' tests require none.
/// clap's own `--help` and `--version` are left out.
pub fn arguments_without_help(command: &clap::Command) -> Vec<String> {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = format!("{path} {}", command.get_name()).trim().to_owned();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let said = |h: Option<&clap::builder::StyledStr>| {
                h.is_some_and(|h| !h.to_string().trim().is_empty())
            };
            if !said(arg.get_help()) && !said(arg.get_long_help()) {
                missing.push(format!("{path} <{}>", id.to_uppercase()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &path, missing);
        }
    }
    let mut missing = Vec::new();
    walk(command, "", &mut missing);
    missing
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
            after,
        } => {
            let home = ReviewHome::from_env()?;
            let path = crate::reply(&crate::ReplyRequest {
                bundle: &bundle,
                designation: &source,
                message: &message,
                identity: &identity,
                out: &out,
                home: &home,
                after: after.as_deref(),
            })?;
            println!("reply encrypted to {}", path.display());
            println!(
                "signed: {}",
                crate::signing::signature_path(&path).display()
            );
            Ok(())
        }
        ReviewCommand::Team { command } => team(command),
        ReviewCommand::Import { bundle, identity } => {
            let home = ReviewHome::from_env()?;
            let passphrase = passphrase_for(&identity)?;
            match crate::bundle::Bundle::open(&bundle)
                .and_then(|b| crate::trust::open_warnings(&b, &home))
            {
                Ok(warnings) => warnings
                    .iter()
                    .for_each(|w| eprintln!("warning: {}", w.trim_end())),
                Err(e) => eprintln!("warning: the bundle's keys were not checked: {e}"),
            }
            let report = crate::import(&bundle, &identity, passphrase, &home)?;
            print!("{report}");
            if !report.skipped.is_empty() {
                return Err(CommandError::Incomplete);
            }
            Ok(())
        }
        ReviewCommand::List { identity } => {
            let home = ReviewHome::from_env()?;
            let passphrase = passphrase_for(&identity)?;
            print!("{}", *crate::list(&home, &identity, passphrase)?);
            Ok(())
        }
        ReviewCommand::Show {
            designation,
            identity,
        } => {
            let home = ReviewHome::from_env()?;
            let passphrase = passphrase_for(&identity)?;
            print!(
                "{}",
                *crate::show(&home, &designation, &identity, passphrase)?
            );
            Ok(())
        }
        ReviewCommand::Export {
            designation,
            identity,
            out,
        } => {
            let home = ReviewHome::from_env()?;
            let passphrase = passphrase_for(&identity)?;
            let report = crate::export(&home, &designation, &identity, passphrase, &out)?;
            println!(
                "{} file(s) exported to {}; transcript: {}",
                report.exported,
                out.display(),
                report.transcript.display()
            );
            if report.with_metadata > 0 {
                println!(
                    "{} file(s) carry identifying metadata (see the transcript): remove it \
                     before publishing or forwarding them.",
                    report.with_metadata
                );
            }
            for p in &report.problems {
                println!("NOT EXPORTED: {}", crate::names::scrubbed(p));
            }
            if !report.problems.is_empty() {
                return Err(CommandError::Incomplete);
            }
            Ok(())
        }
        ReviewCommand::Inbox { identity, out } => {
            let home = ReviewHome::from_env()?;
            let passphrase = passphrase_for(&identity)?;
            let out = out.unwrap_or_else(|| crate::tui::App::default_out(&home));
            crate::tui::run(home, &identity, passphrase, out)?;
            Ok(())
        }
        ReviewCommand::Star { designation } => {
            crate::set_star(&ReviewHome::from_env()?, &designation, true)?;
            println!("starred {designation}");
            Ok(())
        }
        ReviewCommand::Unstar { designation } => {
            crate::set_star(&ReviewHome::from_env()?, &designation, false)?;
            println!("unstarred {designation}");
            Ok(())
        }
    }
}

/// The passphrase of a protected identity file (from the environment or the terminal).
fn passphrase_for(identity: &std::path::Path) -> Result<Option<SecretString>, CommandError> {
    Ok(if crate::identity_needs_passphrase(identity)? {
        crate::identity::passphrase_from_env_or_tty()
    } else {
        None
    })
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
