//! The `lanterne` command: serve the drop box, make reviewer keys, or run a demo.
//!
//! This file parses arguments and wires the pieces together; each subcommand's work lives in
//! the library (`lanterne::web`, `lanterne::remote`, `lanterne::demo`; the offline commands in
//! `lanterne_offline::cli`, shared with the `lanterne-review` binary). The server's lifecycle
//! (binding the listeners, the retention loop, shutdown) is still here, in `run_server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lanterne::config::Config;
use lanterne::review::cli::{self, KeysCommand, ReviewCommand};
use lanterne::web::{self, AppState};

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
        /// The reviewer API, e.g. http://127.0.0.1:8081.
        #[arg(long)]
        server: String,
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
        #[arg(long)]
        server: String,
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
    /// Folder of reviewers' recipients files, *.txt (default ./keys).
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
    /// An arti TOML fragment describing another Tor network (authorities, fallback caches,
    /// path rules), e.g. a private test network.
    #[arg(long, value_name = "FILE")]
    tor_network: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ReviewersCommand {
    /// Create a credential for a workstation; writes it to --out (mode 0600).
    Add {
        name: String,
        #[arg(long)]
        out: PathBuf,
        /// Data folder (default ./data).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Revoke a workstation's credential.
    Remove {
        name: String,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => serve_config(args).and_then(run_server),
        // The offline commands: the same code as `lanterne-review`'s, no runtime, no network.
        Command::Keys { command } => cli::keys(command).map_err(Into::into),
        Command::Review { command } => cli::review(command).map_err(Into::into),
        Command::Reviewers { command } => match command {
            ReviewersCommand::Add {
                name,
                out,
                data_dir,
            } => lanterne::credentials::add(&data_dir, &name, &out)
                .map(|()| println!("credential for {name} written to {}", out.display()))
                .map_err(Into::into),
            ReviewersCommand::Remove { name, data_dir } => {
                lanterne::credentials::remove(&data_dir, &name)
                    .map(|()| println!("credential for {name} revoked"))
                    .map_err(Into::into)
            }
        },
        Command::Fetch {
            server,
            credential,
            out,
            ack,
        } => client_runtime().and_then(|rt| {
            let cred = lanterne::credentials::read(&credential)?;
            let report = rt.block_on(lanterne::remote::fetch(&server, &cred, &out, ack))?;
            println!("{report}");
            Ok(())
        }),
        Command::Push {
            server,
            credential,
            replies,
        } => client_runtime().and_then(|rt| {
            let cred = lanterne::credentials::read(&credential)?;
            let report = rt.block_on(lanterne::remote::push(&server, &cred, &replies))?;
            println!("pushed {} repl(ies)", report.sent);
            Ok(())
        }),
        Command::OnionAddress { config, data_dir } => {
            let args = ServeArgs {
                config,
                data_dir,
                ..ServeArgs::default()
            };
            serve_config(args).and_then(|c| {
                let url = lanterne::onion::address(&c.onion, &c.data_dir)?;
                println!("{url}");
                Ok(())
            })
        }
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
                run_server(demo.config)
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lanterne: error: {e:#}");
            ExitCode::FAILURE
        }
    }
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

fn run_server(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    lanterne::hardening::no_core_dumps()?;
    if config.lock_memory {
        lanterne::hardening::lock_memory()?;
    }
    // Held until the process exits; taken before anything in the data dir is touched (the
    // staging sweep would delete another running box's uploads in progress).
    let _lock = lanterne::hardening::DataDirLock::acquire(&config.data_dir)?;
    lanterne::pinned::check_or_record(&config.data_dir, &config.kdf)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = config.listen;
        let http = config.http.clone();
        let onion_cfg = config.onion.clone();
        let data_dir = config.data_dir.clone();
        let reviewer_cfg = config.reviewer.clone();
        let state = AppState::open(config)?;
        web::Sessions::spawn_sweeper(&state.sessions);
        tracing::info!(
            reviewers = state.recipients.names().len(),
            "encrypting every submission to the reviewers' keys"
        );
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let bound = listener.local_addr()?;
        let reviewer = if reviewer_cfg.enabled {
            let l = tokio::net::TcpListener::bind(reviewer_cfg.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", reviewer_cfg.listen))?;
            let addr = l.local_addr()?;
            Some((l, addr, web::reviewer_router(state.clone())))
        } else {
            None
        };
        tokio::spawn(retention(state.store.clone(), reviewer_cfg.retention_days));
        if tracing::enabled!(target: "lanterne::load", tracing::Level::DEBUG) {
            tokio::spawn(report_load());
        }
        let app = web::router(state);
        // The onion service serves the same app; it stays up as long as this `onion` lives.
        let (onion, onion_streams) = if onion_cfg.enabled {
            let (onion, incoming) = lanterne::onion::launch(&onion_cfg, &data_dir)?;
            tracing::info!("publishing the onion service; bootstrapping Tor");
            (Some(onion), Some(incoming))
        } else {
            tracing::info!("onion service off (--no-onion): loopback only");
            (None, None)
        };
        let serve_onion = async {
            if let Some(incoming) = onion_streams {
                web::serve(incoming, app.clone(), &http).await;
                tracing::error!("the onion service stopped; still serving loopback");
            }
            std::future::pending::<()>().await
        };
        lanterne::announce(&format!("listening on http://{bound}"));
        let serve_reviewers = async {
            if let Some((listener, addr, router)) = reviewer {
                lanterne::announce(&format!("reviewer api on http://{addr}"));
                web::serve(listener, router, &http).await;
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            () = serve_reviewers => {}
            () = web::serve(listener, app.clone(), &http) => {}
            () = serve_onion => {}
            () = shutdown_signal() => tracing::info!("shutting down"),
        }
        drop(onion);
        Ok(())
    })
}

/// Every second, at debug level under the `lanterne::load` target, how many tasks the runtime
/// holds: a count only, for an operator watching a flood and for
/// `cargo bench --bench ingest` (`LANTERNE_LOG=warn,lanterne::load=debug`). Started only when
/// that level is on.
async fn report_load() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        tracing::debug!(target: "lanterne::load", tasks, "runtime load");
    }
}

/// Deletes submissions and replies past the retention period, and source folders left empty
/// and inactive that long, at start and then every hour.
async fn retention(store: std::sync::Arc<lanterne::store::Store>, days: u32) {
    loop {
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.expire(days)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(
                deleted = n,
                days,
                "retention: old submissions and replies deleted"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "retention sweep failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

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
