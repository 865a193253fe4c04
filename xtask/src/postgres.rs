//! A throwaway PostgreSQL server for the test suite and the bench, installed from Debian when
//! absent. `pg_stat_statements` is loaded, so the bench can count statements per request.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A running server in a temporary directory; stopped and deleted on drop.
pub(crate) struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    /// `postgres://postgres@127.0.0.1:PORT/deis_test`
    pub(crate) url: String,
}

/// The directory of the newest installed server's binaries, installing `postgresql` if needed.
fn server_bin() -> anyhow::Result<PathBuf> {
    if let Some(bin) = newest_server()? {
        return Ok(bin);
    }
    eprintln!("xtask: no PostgreSQL server found; installing postgresql from Debian");
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "postgresql"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    newest_server()?.context("postgresql installed but no initdb found under /usr/lib/postgresql")
}

fn newest_server() -> anyhow::Result<Option<PathBuf>> {
    let root = Path::new("/usr/lib/postgresql");
    if !root.exists() {
        return Ok(None);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    Ok(versions.pop().map(|(_, bin)| bin))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Postgres {
    /// Initializes and starts a server on a free loopback port with a `deis_test` database.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("deis-pg-")
            .tempdir()
            .context("temp dir for PostgreSQL")?;
        let as_postgres = is_root();
        if as_postgres {
            crate::run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
            )?;
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let server = Self {
            bin,
            dir,
            as_postgres,
            url: format!("postgres://postgres@127.0.0.1:{port}/deis_test"),
        };
        let data = server.dir.path().join("data");
        crate::run(
            server
                .command("initdb")
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
                .arg(&data),
        )?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 \
             -c shared_preload_libraries=pg_stat_statements",
            server.dir.path().display()
        );
        let log = server.dir.path().join("server.log");
        let started = crate::run(
            server
                .command("pg_ctl")
                .args(["-w", "-o", &options, "-l"])
                .arg(&log)
                .arg("-D")
                .arg(&data)
                .arg("start"),
        );
        if let Err(e) = started {
            bail!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        crate::run(Command::new(server.bin.join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "deis_test",
        ]))?;
        eprintln!("xtask: PostgreSQL running at {}", server.url);
        Ok(server)
    }

    /// Runs `sql` with `psql` on the `deis_test` database; returns its unaligned output.
    pub(crate) fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                sql,
            ])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A server program, run as the `postgres` user when we are root (initdb refuses root).
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let stopped = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&data)
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .status();
        if let Err(e) = stopped {
            eprintln!("xtask: could not stop PostgreSQL: {e}");
        }
    }
}
