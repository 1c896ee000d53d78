//! `hive`: the server (`serve`), key management (`keys`), dashboard login
//! links (`login`) and the load tool (`bench`).

mod bench;
mod bench_charts;
mod bench_clickhouse;
mod bench_dashboard;
mod connections;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use hive_store::{KeyScope, NewKey, Store};

/// mimalloc: request handling allocates and frees many small JSON values;
/// glibc's malloc spent about a seventh of the handlers' time on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hive",
    version,
    about = "Self-hosted, HoneyHive-compatible LLM observability"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (OTLP ingest, HoneyHive REST API, query API).
    Serve(serve::ServeArgs),
    /// Create, list and revoke API keys (works while the server runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        /// Data directory of the server.
        #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive", global = true)]
        data_dir: PathBuf,
    },
    /// Print a one-time login link for the dashboard (works while the
    /// server runs).
    Login {
        /// Data directory of the server.
        #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive")]
        data_dir: PathBuf,
        /// Address the server listens on (for the link).
        #[arg(long, env = "HIVE_ADDR", default_value = "127.0.0.1:8080")]
        addr: String,
    },
    /// Load tests against a server of its own (started and stopped by it).
    Bench(bench::BenchArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Ingest,
    ReadWrite,
    Admin,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown once).
    Create {
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, value_enum, default_value = "read-write")]
        scope: ScopeArg,
        /// Project name (created if missing); required unless --scope admin.
        #[arg(long)]
        project: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or prefix.
    Revoke { id: String },
}

/// Open the store of a data directory.
pub fn open_store(
    data_dir: &std::path::Path,
    durability: Durability,
    column_memory: usize,
) -> Result<SqliteStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join("hive.db");
    SqliteStore::open(
        &path,
        SqliteOptions {
            durability,
            column_memory,
            ..SqliteOptions::default()
        },
    )
    .with_context(|| format!("cannot open the database {}", path.display()))
}

/// Open a ClickHouse store. The data directory keeps this node's name
/// (each node sharing the cluster has its own ingest log and position).
pub fn open_clickhouse(
    url: &str,
    data_dir: &std::path::Path,
) -> Result<hive_store::clickhouse::ClickHouseStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let node_file = data_dir.join("clickhouse-node");
    let node = match std::fs::read_to_string(&node_file) {
        Ok(n) if !n.trim().is_empty() => n.trim().to_owned(),
        _ => {
            let n = uuid::Uuid::new_v4().to_string();
            std::fs::write(&node_file, &n)
                .with_context(|| format!("cannot write {}", node_file.display()))?;
            n
        }
    };
    hive_store::clickhouse::ClickHouseStore::open(url, &node)
        .with_context(|| "cannot open the ClickHouse store".to_owned())
}

fn keys(data_dir: &std::path::Path, command: KeysCommand) -> Result<()> {
    if !data_dir.join("hive.db").exists() {
        bail!(
            "no database in {}: start the server once with `hive serve --data-dir {}` (or pass --data-dir)",
            data_dir.display(),
            data_dir.display()
        );
    }
    let store = open_store(data_dir, Durability::Full, 0)?;
    let auth = store.auth();
    match command {
        KeysCommand::Create {
            name,
            scope,
            project,
        } => {
            let scope = match scope {
                ScopeArg::Ingest => KeyScope::Ingest,
                ScopeArg::ReadWrite => KeyScope::ReadWrite,
                ScopeArg::Admin => KeyScope::Admin,
            };
            let project_id = match (scope, project) {
                (KeyScope::Admin, _) => None,
                (_, None) => bail!("--project is required for ingest and read-write keys"),
                (_, Some(p)) => Some(auth.ensure_project(&p)?.id),
            };
            let (key, secret) = auth.create_key(&NewKey {
                name,
                scope,
                project_id,
            })?;
            eprintln!(
                "created key {} ({}); the secret is shown only now:",
                key.id,
                key.scope.name()
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            let projects = auth.projects()?;
            let project_name = |id: &Option<String>| -> String {
                id.as_ref()
                    .and_then(|id| projects.iter().find(|p| &p.id == id))
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| "*".into())
            };
            println!(
                "{:<36}  {:<10}  {:<10}  {:<16}  {:<7}  NAME",
                "ID", "PREFIX", "SCOPE", "PROJECT", "STATE"
            );
            for k in auth.keys()? {
                println!(
                    "{:<36}  {:<10}  {:<10}  {:<16}  {:<7}  {}",
                    k.id,
                    k.prefix,
                    k.scope.name(),
                    project_name(&k.project_id),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                    k.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !auth.revoke_key(&id)? {
                bail!("no live key with id or prefix {id:?} (see `hive keys list`)");
            }
            // The server caches an authenticated key this long.
            let cached = hive_server::ApiConfig::default().key_cache_secs;
            eprintln!(
                "revoked {id}; a running server refuses it within {cached} s \
                 (it caches authenticated keys for {cached} s)"
            );
        }
    }
    Ok(())
}

fn login(data_dir: &std::path::Path, addr: &str) -> Result<()> {
    if !data_dir.join("hive.db").exists() {
        bail!(
            "no database in {}: start the server once with `hive serve --data-dir {}` (or pass --data-dir)",
            data_dir.display(),
            data_dir.display()
        );
    }
    let store = open_store(data_dir, Durability::Full, 0)?;
    let base = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let url = hive_server::dashboard::login_url(&store, &base)?;
    eprintln!("open this link to log in (it works once and expires in 24 hours):");
    println!("{url}");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Keys { command, data_dir } => keys(&data_dir, command),
        Command::Login { data_dir, addr } => login(&data_dir, &addr),
        Command::Bench(args) => bench::run(args),
    }
}
