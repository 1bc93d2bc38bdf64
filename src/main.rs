//! The `lanterne` command: serve the drop box, make reviewer keys, or run a demo.
//!
//! This file only parses arguments, sets up logging and a runtime, and calls the library: the
//! server's whole lifecycle is `lanterne::server::run` (this file hands it the validated config
//! and the Ctrl-C/SIGTERM future), the workstation's commands are `lanterne_workstation`, the demo's
//! setup `lanterne::demo`, and the offline commands `lanterne_offline::cli`, shared with the
//! `lanterne-review` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lanterne::config::Config;
use lanterne::review::cli::{self, KeysCommand, ReviewCommand};

// Every heap buffer is zeroed when freed, so plaintext that passes through third-party buffers
// (hyper, multer, age's chunk buffer) does not linger in freed memory. 1Password's small
// wrapper was chosen so this project holds no `unsafe` of its own.
#[global_allocator]
static ALLOC: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

#[derive(Parser)]
#[command(
    name = "lanterne",
    version,
    about = "A secure drop box for sources, over Tor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the drop box.
    Serve(ServeArgs),
    /// Manage reviewer keys (run these on the offline machine).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage reviewer workstations' fetch credentials (run on the server).
    Reviewers {
        #[command(subcommand)]
        command: ReviewersCommand,
    },
    /// Copy new ciphertext from the server into a bundle folder (networked workstation).
    Fetch {
        /// The reviewer API, e.g. http://127.0.0.1:8081, or the reviewer onion's
        /// http://….onion (with --socks).
        #[arg(long)]
        server: String,
        /// Go through this SOCKS5 proxy (a tor client's SocksPort, e.g. 127.0.0.1:9050),
        /// which also resolves the server's name. Needed for a .onion server.
        #[arg(long, value_name = "HOST:PORT")]
        socks: Option<String>,
        /// The credential file from `lanterne reviewers add`.
        #[arg(long)]
        credential: PathBuf,
        /// The bundle folder to write or extend.
        #[arg(long)]
        out: PathBuf,
        /// Ask the server to delete what was fetched and verified.
        #[arg(long)]
        ack: bool,
    },
    /// Upload replies encrypted by `lanterne review reply` (networked workstation).
    Push {
        /// The reviewer API, as for fetch.
        #[arg(long)]
        server: String,
        /// Go through this SOCKS5 proxy, as for fetch.
        #[arg(long, value_name = "HOST:PORT")]
        socks: Option<String>,
        /// The credential file from `lanterne reviewers add`.
        #[arg(long)]
        credential: PathBuf,
        /// The folder `review reply` wrote to.
        replies: PathBuf,
    },
    /// Offline reviewer commands: open a bundle, write replies. They never touch the network.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Print the onion address without starting the server (creates the key on first use).
    OnionAddress {
        /// TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Check a box before a source finds a problem: its reviewer keys, the data dir's
    /// permissions, the pinned KDF parameters, the onion key, disk and swap encryption, core
    /// dumps, the clock, and the running box's onion self-check. Prints one line per finding
    /// (ok / warning / error, with the fix). Exits 0 when nothing is an error, 1 when something
    /// is. Reads only; run it as the box's user (or root).
    Check {
        /// TOML config file, as `serve` would use it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (default: the config's, else ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Folder of reviewers' keys (default: the config's, else ./keys).
        #[arg(long)]
        keys_dir: Option<PathBuf>,
    },
    /// Print `yes` if a submission arrived since the last digest, else `no`, and count it:
    /// for a daily timer that tells reviewers there is something to fetch. Runs beside the box.
    Digest {
        /// TOML config file (for its data_dir).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (default: the config's, else ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run a throwaway demo box with a generated reviewer key under ./demo/ (loopback only,
    /// unless --onion).
    Demo {
        /// Folder for the demo's key, recipients and data.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Address of the demo's reviewer API (default 127.0.0.1:8081).
        #[arg(long, value_name = "ADDR")]
        reviewer_listen: Option<SocketAddr>,
        /// Also publish the demo as an onion service on the Tor network.
        #[arg(long)]
        onion: bool,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// TOML config file; flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data folder (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Folder of the reviewers' keys (default ./keys): their cards, *.card, and plain age
    /// recipients files, *.txt (read-only reviewers).
    #[arg(long)]
    keys_dir: Option<PathBuf>,
    /// Allow the sources' listener (--listen) on a non-loopback address.
    #[arg(long)]
    allow_public_listen: bool,
    /// Allow the reviewer API (--reviewer-listen) on a non-loopback address. Its bearer
    /// tokens then travel in plain HTTP; prefer an SSH tunnel.
    #[arg(long)]
    allow_public_reviewer_listen: bool,
    /// Address of the reviewer API (default 127.0.0.1:8081).
    #[arg(long, value_name = "ADDR")]
    reviewer_listen: Option<SocketAddr>,
    /// Do not publish the embedded onion service (serve loopback only).
    #[arg(long)]
    no_onion: bool,
    /// Also publish the reviewer API as an onion service that only workstations with a client
    /// key (`reviewers add`) can find.
    #[arg(long)]
    reviewer_onion: bool,
    /// An arti TOML fragment describing another Tor network (authorities, fallback caches,
    /// path rules), e.g. a private test network.
    #[arg(long, value_name = "FILE")]
    tor_network: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ReviewersCommand {
    /// Create a credential for a workstation; writes it to --out (mode 0600), and its reviewer
    /// onion client key: the public part under the data folder, the secret part to
    /// FILE.auth_private (mode 0600), for the workstation's tor (ClientOnionAuthDir).
    Add {
        /// The workstation's name (lower-case letters, digits, '-' or '_'), used to revoke it.
        name: String,
        /// The credential file to write (mode 0600), to carry to the workstation.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// TOML config file (its [onion] and [reviewer] settings name the reviewer onion).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (default: the config's, else ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Revoke a workstation's credential and delete its reviewer onion client key.
    Remove {
        /// The workstation's name, as given to `reviewers add`.
        name: String,
        /// TOML config file (for its data folder).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (default: the config's, else ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Check {
            config,
            data_dir,
            keys_dir,
        } => {
            let args = ServeArgs {
                config,
                data_dir,
                keys_dir,
                ..ServeArgs::default()
            };
            return match serve_config(args) {
                Ok(c) => check(&c),
                Err(e) => {
                    eprintln!(
                        "lanterne: error: {}",
                        lanterne_core::causes::chain(e.as_ref())
                    );
                    ExitCode::FAILURE
                }
            };
        }
        Command::Digest { config, data_dir } => data_config(config, data_dir).and_then(|c| {
            let digest = lanterne::digest::Digest::read(&c.data_dir)?;
            let word = if digest.any_new() { "yes" } else { "no" };
            // Counted only once the word is out: a closed stdout gives it again next time.
            write_stdout(&format!("{word}\n"))
                .map_err(|e| anyhow::anyhow!("cannot print the digest: {e}"))?;
            digest.mark_counted()?;
            Ok(())
        }),
        Command::Serve(args) => serve_config(args).and_then(serve),
        // The offline commands: the same code as `lanterne-review`'s, no runtime, no network.
        Command::Keys { command } => cli::keys(command).map_err(Into::into),
        Command::Review { command } => cli::review(command).map_err(Into::into),
        Command::Reviewers { command } => match command {
            ReviewersCommand::Add {
                name,
                out,
                config,
                data_dir,
            } => data_config(config, data_dir).and_then(|c| {
                // The settings serve would refuse (a reviewer onion nickname that names the
                // sources' onion, say) would put a wrong address in the workstation's key.
                c.validate()?;
                let onion = lanterne::credentials::ReviewerOnion {
                    onion: &c.onion,
                    nickname: &c.reviewer.onion_nickname,
                };
                let issued = lanterne::credentials::add(&c.data_dir, &name, &out, onion)?;
                println!("{name}: {issued}");
                Ok(())
            }),
            ReviewersCommand::Remove {
                name,
                config,
                data_dir,
            } => data_config(config, data_dir).and_then(|c| {
                lanterne::credentials::remove(&c.data_dir, &name)?;
                println!("credential and reviewer onion client key of {name} revoked");
                Ok(())
            }),
        },
        Command::Fetch {
            server,
            socks,
            credential,
            out,
            ack,
        } => client_runtime().and_then(|rt| {
            let cred = lanterne_core::credential::Credential::read(&credential)?;
            let report = rt.block_on(lanterne::workstation::fetch(
                &server,
                socks.as_deref(),
                &cred,
                &out,
                ack,
            ))?;
            println!("{report}");
            Ok(())
        }),
        Command::Push {
            server,
            socks,
            credential,
            replies,
        } => client_runtime().and_then(|rt| {
            let cred = lanterne_core::credential::Credential::read(&credential)?;
            let report = rt.block_on(lanterne::workstation::push(
                &server,
                socks.as_deref(),
                &cred,
                &replies,
            ))?;
            println!("pushed {} repl(ies)", report.sent);
            Ok(())
        }),
        Command::OnionAddress { config, data_dir } => data_config(config, data_dir).and_then(|c| {
            let url = lanterne::onion::address(&c.onion, &c.data_dir)?;
            println!("{url}");
            Ok(())
        }),
        Command::Demo {
            dir,
            listen,
            reviewer_listen,
            onion,
        } => lanterne::demo::prepare(&dir)
            .map_err(|e| anyhow::anyhow!("cannot prepare the demo folder {}: {e}", dir.display()))
            .and_then(|mut demo| {
                eprintln!("{}", lanterne::demo::banner(&demo));
                if let Some(l) = listen {
                    demo.config.listen = l;
                }
                if let Some(r) = reviewer_listen {
                    demo.config.reviewer.listen = r;
                }
                demo.config.onion.enabled = onion;
                serve(demo.config)
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "lanterne: error: {}",
                lanterne_core::causes::chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

/// `lanterne check`: prints every finding; fails if one is an error.
fn check(config: &Config) -> ExitCode {
    let report = lanterne::check::run(config);
    // A reader that went away (`lanterne check | head`) is not a panic.
    let _ = write_stdout(&report.to_string());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes `text` to stdout and flushes it, returning the error rather than panicking.
fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Logs go to stderr, without timestamps (the box keeps no precise times), at `info` unless
/// `LANTERNE_LOG` says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LANTERNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(lanterne::DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// A small runtime for the workstation's network commands.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The config of the commands that only need the data folder and the onion settings:
/// `--config` if given, `--data-dir` over it.
fn data_config(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    serve_config(ServeArgs {
        config,
        data_dir,
        ..ServeArgs::default()
    })
}

fn serve_config(args: ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(k) = args.keys_dir {
        config.keys_dir = k;
    }
    config.allow_public_listen |= args.allow_public_listen;
    config.reviewer.allow_public_listen |= args.allow_public_reviewer_listen;
    config.reviewer.onion |= args.reviewer_onion;
    if args.no_onion {
        config.onion.enabled = false;
    }
    if let Some(r) = args.reviewer_listen {
        config.reviewer.listen = r;
    }
    if let Some(n) = args.tor_network {
        config.onion.tor_network = Some(n);
    }
    Ok(config)
}

/// Checks the settings once, then runs the server until Ctrl-C or SIGTERM.
fn serve(config: Config) -> anyhow::Result<()> {
    let config = config.validated()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(lanterne::server::run(config, shutdown_signal()));
    // `run` has closed every listener and connection, and everything acknowledged is on disk.
    // What may remain is arti's blocking work (a bootstrap that cannot reach Tor), which a plain
    // drop of the runtime would wait for forever: give it a moment, then exit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(served?)
}

/// How long the runtime's leftover blocking tasks may run after the server stopped.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every subcommand of `lanterne` has a help line (issue 22: `--out` and
    /// `<NAME>` had none).
    #[test]
    fn every_argument_of_every_command_has_help() {
        let missing = lanterne::review::cli::arguments_without_help(&super::Cli::command());
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
