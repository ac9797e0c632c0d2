//! `radgate serve`.

use std::sync::Arc;

use super::CliError;
use crate::config::Config;
use crate::daemon;
use crate::store::{OpenMode, Store};

pub async fn run(config: Config) -> Result<(), CliError> {
    // Listening for SIGTERM / SIGINT from the start: one that comes while
    // the database is being opened (or retried) is kept, not lost.
    let mut stop = Stop::new();
    if config.is_builtin() {
        tracing::warn!(
            "no configuration file found (--config, $RADGATE_CONFIG, ./radgate.toml, /etc/radgate/radgate.toml); \
             using built-in defaults: loopback only, client 127.0.0.1 with secret \"testing123\", database ./radgate.db"
        );
    }
    warn_if_config_readable(&config);
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    let url = &config.database.url;
    if crate::store::sqlite::is_in_memory(url) {
        return Err(CliError {
            code: super::EXIT_CONFIG,
            message: format!(
                "database.url {url:?}: an in-memory database cannot be served (the server's writer and \
                 its readers share one database file); give a file, e.g. sqlite:///var/lib/radgate/radgate.db"
            ),
        });
    }
    // Ports first: a port in use stops here, before a database file is
    // created or migrated.
    let listeners = daemon::Listeners::bind(&config)
        .await
        .map_err(|e| CliError::failure(e.to_string()))?;
    let Some(store) = open_with_retries(&config, &mut stop).await? else {
        return Ok(());
    };
    // Refuse to start rather than answer nothing: every request writes.
    store.ensure_writable()?;
    let file = crate::store::database_file(&config.database.url)
        .and_then(|p| std::path::absolute(p).ok())
        .map_or_else(
            || crate::config::redact_url(&config.database.url),
            |p| p.display().to_string(),
        );
    tracing::info!(database = %file, "database open");
    let source = config.source.clone();
    let handle = daemon::start_on(Arc::new(config), &store, listeners)
        .await
        .map_err(|e| CliError::failure(e.to_string()))?;
    // systemd (Type=notify): listening now. Nothing without NOTIFY_SOCKET.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    while let Event::Reload = stop.next().await {
        reload(&handle, &source).await;
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

/// Open the database. PostgreSQL that cannot be reached yet (a node that
/// boots before its database, a database failing over) is tried again,
/// with a growing delay up to 30 s, until it answers or the process is
/// told to stop (`None`); every other problem ends `serve` at once. The
/// ports are bound meanwhile but nothing answers: the NAS fails over.
async fn open_with_retries(config: &Config, stop: &mut Stop) -> Result<Option<Store>, CliError> {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        match Store::open(&config.database, OpenMode::Serve).await {
            Ok(s) => return Ok(Some(s)),
            Err(e @ crate::store::StoreError::Unreachable { .. }) => {
                tracing::warn!("{e}; trying again in {} s", delay.as_secs());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait() => return Ok(None),
                }
                delay = (delay * 2).min(std::time::Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Read the configuration file again and serve with it (SIGHUP,
/// `systemctl reload`). A file that does not load is refused with the
/// message a start would give, and the running configuration stays.
async fn reload(handle: &daemon::ServerHandle, source: &crate::config::ConfigSource) {
    let crate::config::ConfigSource::File(path) = source else {
        tracing::warn!("SIGHUP: no configuration file to reload (serving the built-in defaults)");
        return;
    };
    let stats = &handle.stats;
    match Config::load(Some(path)) {
        Err(e) => {
            stats
                .config_reload_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("configuration not reloaded; the running one stays: {e}");
        }
        Ok(new) => {
            warn_if_config_readable(&new);
            for w in new.warnings() {
                tracing::warn!("{w}");
            }
            let done = handle.reload(new).await;
            for key in &done.need_restart {
                tracing::warn!(
                    "{key} changed: that takes a restart; the old value serves until then"
                );
            }
            stats
                .config_reloads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stats.config_loaded_at.store(
                chrono::Utc::now().timestamp(),
                std::sync::atomic::Ordering::Relaxed,
            );
            tracing::info!(file = %path.display(), "configuration reloaded");
        }
    }
}

/// What a signal asks.
enum Event {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT (Ctrl-C) stop, SIGHUP reloads; registered when made:
/// a signal that comes while nobody waits is delivered to the next
/// [`Stop::wait`] or [`Stop::next`].
struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn new() -> Stop {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Stop {
                signals: signal(SignalKind::terminate())
                    .and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
                    .ok(),
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Stop {}
    }

    /// Until a stop; a SIGHUP meanwhile is kept for [`Stop::next`].
    async fn wait(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }

    /// The next stop or reload.
    async fn next(&mut self) -> Event {
        #[cfg(unix)]
        if let Some(hup) = &mut self.hangup {
            tokio::select! {
                _ = Self::wait_stop(&mut self.signals) => return Event::Stop,
                _ = hup.recv() => return Event::Reload,
            }
        }
        self.wait().await;
        Event::Stop
    }

    #[cfg(unix)]
    async fn wait_stop(
        signals: &mut Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    ) {
        match signals {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// The config file holds the shared secrets: warn when others can read it.
fn warn_if_config_readable(config: &Config) {
    if let Some(w) = config_readable_warning(config) {
        tracing::warn!("{w}");
    }
}

/// The warning for a config file every user can read (it holds the shared
/// secrets), if it is one; `serve` logs it, `check-config` prints it.
pub(crate) fn config_readable_warning(config: &Config) -> Option<String> {
    #[cfg(unix)]
    if let crate::config::ConfigSource::File(path) = &config.source {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o004 != 0 {
                return Some(format!(
                    "{} is readable by every user on this machine and holds the RADIUS shared secrets; \
                     restrict it (chmod 640, owned by root and the radgate group)",
                    path.display()
                ));
            }
        }
    }
    None
}
