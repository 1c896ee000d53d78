//! `hive`: the server (`serve`), key management (`keys`), dashboard login
//! links (`login`), backups (`backup`, `restore`), moving a project between
//! servers (`export`, `import`) and the load tool (`bench`).

mod backup;
mod bench;
mod bench_backup;
mod bench_charts;
mod bench_clickhouse;
mod bench_dashboard;
mod bench_purge;
mod connections;
mod export;
mod migrate;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

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

/// ClickHouse's user and password given apart from its URL (where a
/// password may need escaping, and shows in the process list).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClickHouseLogin {
    /// ClickHouse's user, when its URL names none.
    #[arg(long = "clickhouse-user", env = "HIVE_CLICKHOUSE_USER", global = true)]
    pub user: Option<String>,
    /// ClickHouse's password, when its URL gives none (rather through
    /// HIVE_CLICKHOUSE_PASSWORD: a flag shows in the process list).
    #[arg(
        long = "clickhouse-password",
        env = "HIVE_CLICKHOUSE_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
}

impl ClickHouseLogin {
    /// The ClickHouse URL `url` with this user and password.
    pub fn url(&self, url: Option<String>) -> Result<Option<String>> {
        let (Some(url), user, password) = (url, self.user.as_deref(), self.password.as_deref())
        else {
            if self.user.is_some() || self.password.is_some() {
                anyhow::bail!(
                    "--clickhouse-user and --clickhouse-password need a ClickHouse URL \
                     (--clickhouse or HIVE_CLICKHOUSE_URL)"
                );
            }
            return Ok(None);
        };
        Ok(Some(hive_store::clickhouse::Endpoint::with_credentials(
            &url, user, password,
        )?))
    }
}

// Parsed once per process: the size of `serve`'s arguments costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// The server's ClickHouse (as `hive serve --clickhouse`): keys live
        /// there, and --data-dir is not used.
        #[arg(long = "clickhouse", env = "HIVE_CLICKHOUSE_URL", global = true)]
        clickhouse: Option<String>,
        #[command(flatten)]
        login: ClickHouseLogin,
    },
    /// List projects and set their retention (works while the server runs).
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
        /// Data directory of the server.
        #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive", global = true)]
        data_dir: PathBuf,
        /// The server's ClickHouse (as `hive serve --clickhouse`): projects
        /// and their settings live there, and --data-dir is not used.
        #[arg(long = "clickhouse", env = "HIVE_CLICKHOUSE_URL", global = true)]
        clickhouse: Option<String>,
        #[command(flatten)]
        login: ClickHouseLogin,
    },
    /// Print a one-time login link for the dashboard (works while the
    /// server runs).
    Login {
        /// Data directory of the server.
        #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive")]
        data_dir: PathBuf,
        /// The server's ClickHouse (as `hive serve --clickhouse`): dashboard
        /// logins live there, and --data-dir is not used.
        #[arg(long = "clickhouse", env = "HIVE_CLICKHOUSE_URL")]
        clickhouse: Option<String>,
        #[command(flatten)]
        login: ClickHouseLogin,
        /// Address the server listens on (for the link).
        #[arg(long, env = "HIVE_ADDR", default_value = "127.0.0.1:8080")]
        addr: String,
    },
    /// Copy a SQLite data directory into one backup file, consistently,
    /// while the server runs (not for ClickHouse: see the README).
    Backup(backup::BackupArgs),
    /// Make a data directory from a backup file (checked first).
    Restore(backup::RestoreArgs),
    /// Write a project's events, with their spans and enrichment history,
    /// to a JSON Lines file (through a running server's API).
    Export(export::ExportArgs),
    /// Recreate the events of a `hive export` file, with their history, in
    /// a project of a running server (admin key).
    Import(export::ImportArgs),
    /// Move a stopped SQLite server's whole store (projects, keys, views,
    /// charts, alert rules, settings, events with their history) into a new
    /// ClickHouse database.
    Migrate(migrate::MigrateArgs),
    /// Load tests against a server of its own (started and stopped by it).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum ProjectsCommand {
    /// Every project with its retention.
    List,
    /// Set how many days a project keeps its data: a number of days,
    /// `off` (forever) or `default` (the server's --retention-days).
    Retention {
        /// The project's name.
        project: String,
        days: String,
    },
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
        /// The key stops working this long from now: 30d, 12h, 4w… (at most a
        /// century). Default: never.
        #[arg(long, value_parser = parse_expires_in, conflicts_with = "expires_at")]
        expires_in: Option<i64>,
        /// The key stops working at this time (RFC 3339, e.g. 2027-06-30 or
        /// 2027-06-30T12:00:00Z). Default: never.
        #[arg(long, value_parser = parse_expires_at)]
        expires_at: Option<i64>,
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

/// Connect to a ClickHouse store. The data directory keeps this node's
/// name (each node sharing the cluster has its own ingest log and
/// position) and a copy of its applied log position, so the node starts
/// while ClickHouse is down (`connect`; [`ClickHouseStore::connect`]).
///
/// [`ClickHouseStore::connect`]: hive_store::clickhouse::ClickHouseStore::connect
pub fn open_clickhouse(
    url: &str,
    data_dir: &std::path::Path,
    connect: bool,
) -> Result<hive_store::clickhouse::ClickHouseStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let node_file = data_dir.join("clickhouse-node");
    let position_file = data_dir.join("clickhouse-position");
    let node = match std::fs::read_to_string(&node_file) {
        Ok(n) if !n.trim().is_empty() => n.trim().to_owned(),
        _ => {
            // A new node: nothing of its log is applied yet.
            hive_store::clickhouse::write_position(&position_file, 0)
                .with_context(|| format!("cannot write {}", position_file.display()))?;
            let n = uuid::Uuid::new_v4().to_string();
            std::fs::write(&node_file, &n)
                .with_context(|| format!("cannot write {}", node_file.display()))?;
            n
        }
    };
    let store = if connect {
        hive_store::clickhouse::ClickHouseStore::connect(url, &node)
    } else {
        hive_store::clickhouse::ClickHouseStore::open(url, &node)
    };
    Ok(store
        .with_context(|| "cannot open the ClickHouse store".to_owned())?
        .with_position_file(position_file))
}

/// The store the CLI works on: the data directory's SQLite database, or
/// ClickHouse (`--clickhouse`), where keys and logins live then.
fn cli_store(data_dir: &std::path::Path, clickhouse: Option<&str>) -> Result<Box<dyn Store>> {
    if let Some(url) = clickhouse {
        // The CLI is no node: it writes no event and claims nothing, so it
        // takes a name of its own and leaves the data directory alone.
        let node = format!("cli-{}", uuid::Uuid::new_v4());
        // Nothing is made at a URL that names no hive database (a typo).
        if !hive_store::clickhouse::ClickHouseStore::holds_hive(url)
            .context("cannot open the ClickHouse store")?
        {
            bail!(
                "no hive data in ClickHouse at {}: start the server once with `hive serve --clickhouse URL`",
                hive_store::clickhouse::Endpoint::parse(url)?.display()
            );
        }
        let store = hive_store::clickhouse::ClickHouseStore::open(url, &node)
            .context("cannot open the ClickHouse store")?;
        if store.auth().projects()?.is_empty() {
            bail!(
                "no hive data in ClickHouse at {}: start the server once with `hive serve --clickhouse URL`",
                store.describe()
            );
        }
        return Ok(Box::new(store));
    }
    if !data_dir.join("hive.db").exists() {
        // The data directory of a server on ClickHouse holds its ingest log,
        // not its data.
        if data_dir.join("clickhouse-node").exists() {
            bail!(
                "{} belongs to a server that keeps its data in ClickHouse: pass its ClickHouse \
                 URL (--clickhouse or HIVE_CLICKHOUSE_URL, as `hive serve` got it)",
                data_dir.display()
            );
        }
        bail!(
            "no database in {}: start the server once with `hive serve --data-dir {}` (or pass --data-dir, or --clickhouse)",
            data_dir.display(),
            data_dir.display()
        );
    }
    Ok(Box::new(open_store(data_dir, Durability::Full, 0)?))
}

/// `--expires-in`: a duration, in milliseconds.
fn parse_expires_in(s: &str) -> std::result::Result<i64, String> {
    hive_core::time::parse_relative_ms(s)
        .filter(|ms| *ms > 0.0)
        .map(|ms| ms as i64)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. 30d, 12h, 4w; at most a century)"))
}

/// `--expires-at`: a time, in epoch milliseconds.
fn parse_expires_at(s: &str) -> std::result::Result<i64, String> {
    hive_core::time::parse_datetime_ms(s)
        .filter(|ms| *ms <= (now_ms() as f64) + hive_core::time::MAX_RELATIVE_MS)
        .map(|ms| ms as i64)
        .ok_or_else(|| {
            format!(
                "{s:?} is not a time (RFC 3339, e.g. 2027-06-30T12:00:00Z; at most a century ahead)"
            )
        })
}

/// Now, in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn keys(data_dir: &std::path::Path, clickhouse: Option<&str>, command: KeysCommand) -> Result<()> {
    let store = cli_store(data_dir, clickhouse)?;
    let auth = store.auth();
    match command {
        KeysCommand::Create {
            name,
            scope,
            project,
            expires_in,
            expires_at,
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
            let expires_at = expires_at.or(expires_in.map(|ms| now_ms() + ms));
            if let Some(at) = expires_at
                && at <= now_ms()
            {
                bail!(
                    "--expires-at {} is not in the future",
                    hive_core::time::format_rfc3339_ms(at)
                );
            }
            let (key, secret) = auth.create_key(&NewKey {
                name,
                scope,
                project_id,
                expires_at,
                permissions: Vec::new(),
            })?;
            let variable = match key.scope {
                KeyScope::Ingest => "HH_INGESTION_API_KEY or HH_API_KEY",
                KeyScope::ReadWrite => "HH_API_KEY or HH_DATA_PLANE_API_KEY",
                KeyScope::Admin => "HH_API_KEY",
                KeyScope::DataPlane => "HH_DATA_PLANE_API_KEY",
            };
            let expires = key
                .expires_at
                .map(|t| format!(", expires {}", hive_core::time::format_rfc3339_ms(t)))
                .unwrap_or_default();
            eprintln!(
                "created key {} ({}{expires}; for the SDK's {variable}); the secret is shown only now:",
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
                "{:<36}  {:<17}  {:<10}  {:<16}  {:<7}  {:<24}  NAME",
                "ID", "PREFIX", "SCOPE", "PROJECT", "STATE", "EXPIRES"
            );
            let now = now_ms();
            for k in auth.keys()? {
                println!(
                    "{:<36}  {:<17}  {:<10}  {:<16}  {:<7}  {:<24}  {}",
                    k.id,
                    k.prefix,
                    k.scope.name(),
                    project_name(&k.project_id),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else if k.expired(now) {
                        "expired"
                    } else {
                        "live"
                    },
                    k.expires_at
                        .map(hive_core::time::format_rfc3339_ms)
                        .unwrap_or_else(|| "never".into()),
                    if k.permissions.is_empty() {
                        k.name.clone()
                    } else {
                        format!("{} ({})", k.name, k.permissions.join(", "))
                    }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !auth.revoke_key(&id)? {
                bail!("no live key with id or prefix {id:?} (see `hive keys list`)");
            }
            // A server on this data directory watches this file and
            // forgets the keys it cached when it changes.
            match hive_server::auth::signal_revocation(data_dir) {
                Ok(()) => eprintln!(
                    "revoked {id}; a server running on this data directory refuses it from now on"
                ),
                Err(e) => {
                    let cached = hive_server::ApiConfig::default().key_cache_secs;
                    eprintln!(
                        "revoked {id}; a running server refuses it within {cached} s \
                         (cannot tell it at once: {e})"
                    );
                }
            }
        }
    }
    Ok(())
}

fn projects(
    data_dir: &std::path::Path,
    clickhouse: Option<&str>,
    command: ProjectsCommand,
) -> Result<()> {
    use hive_server::retention::{SETTINGS, parse_retention};
    let store = cli_store(data_dir, clickhouse)?;
    let objects = store.objects();
    match command {
        ProjectsCommand::List => {
            println!("{:<36}  {:<24}  RETENTION", "ID", "NAME");
            for p in store.auth().projects()? {
                let own = objects
                    .get(SETTINGS, Some(&p.id), &p.id)?
                    .and_then(|o| o.doc.get("retention_days").cloned())
                    .unwrap_or(serde_json::Value::Null);
                let shown = match own {
                    serde_json::Value::Null => "default".to_owned(),
                    serde_json::Value::String(s) => s,
                    n => format!("{n} days"),
                };
                println!("{:<36}  {:<24}  {shown}", p.id, p.name);
            }
        }
        ProjectsCommand::Retention { project, days } => {
            let Some(p) = store.auth().project_by_name(&project)? else {
                bail!("no project named {project:?} (see `hive projects list`)");
            };
            let value = parse_retention(&serde_json::Value::String(days))
                .map_err(|e| anyhow::anyhow!("{}", e.replace("retention_days", "the retention")))?;
            objects.put(
                SETTINGS,
                &p.id,
                &p.id,
                &serde_json::json!({"retention_days": value}),
            )?;
            eprintln!(
                "project {project}: retention {}; a running server applies it at its next round",
                match &value {
                    serde_json::Value::Null => "follows the server's default".to_owned(),
                    serde_json::Value::String(s) => s.clone(),
                    n => format!("{n} days"),
                }
            );
        }
    }
    Ok(())
}

fn login(data_dir: &std::path::Path, clickhouse: Option<&str>, addr: &str) -> Result<()> {
    let store = cli_store(data_dir, clickhouse)?;
    let base = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let url = hive_server::dashboard::login_url(store.as_ref(), &base)?;
    eprintln!("open this link to log in (it works once and expires in 24 hours):");
    println!("{url}");
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes on one line. No backtrace, even
            // where RUST_BACKTRACE is set (as many Rust users' shells set
            // it, for panics): an error here is a user's mistake or an
            // unreachable server, not a crash.
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Keys {
            command,
            data_dir,
            clickhouse,
            login: l,
        } => keys(&data_dir, l.url(clickhouse)?.as_deref(), command),
        Command::Login {
            data_dir,
            clickhouse,
            login: l,
            addr,
        } => login(&data_dir, l.url(clickhouse)?.as_deref(), &addr),
        Command::Projects {
            command,
            data_dir,
            clickhouse,
            login: l,
        } => projects(&data_dir, l.url(clickhouse)?.as_deref(), command),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Export(args) => export::export(args),
        Command::Import(args) => export::import(args),
        Command::Migrate(args) => migrate::migrate(args),
        Command::Bench(args) => bench::run(args),
    }
}
