//! `radgate backup FILE`: a consistent copy of the SQLite database, taken
//! while the server runs (how: `store/sqlite/backup.rs`).
//!
//! FILE is never half-written: the copy goes into a temporary file next to
//! it (same directory, so same file system), is synced, opened and checked,
//! and only then takes FILE's name (a rename; without `--force` a hard
//! link, which fails rather than replace a FILE that appeared meanwhile),
//! and the directory is synced.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{style, CliError};
use crate::config::{redact_url, Config};
use crate::store::sqlite::backup::{backup_to, check_backup, BackupInfo};
use crate::store::StoreError;

pub async fn run(file: PathBuf, force: bool, config: &Config) -> Result<(), CliError> {
    let url = &config.database.url;
    if crate::store::postgres::is_postgres_url(url) {
        return Err(CliError::input(format!(
            "the configured database ({}) is PostgreSQL: `radgate backup` copies SQLite \
             databases. Back PostgreSQL up with its own tool, while radgate serves: \
             pg_dump --format=custom --file radgate.dump 'postgres://…' (restore into an empty \
             database with pg_restore --dbname 'postgres://…' radgate.dump); see the README, \
             \"Backups and restore\"",
            redact_url(url)
        )));
    }
    let Some(db) = crate::store::database_file(url) else {
        return Err(CliError::input(format!(
            "the configured database ({url}) is in memory: there is no file to back up"
        )));
    };
    let db = std::path::absolute(&db).unwrap_or(db);
    if config.is_builtin() {
        eprintln!(
            "{} no configuration file found (--config, $RADGATE_CONFIG, ./radgate.toml, \
             /etc/radgate/radgate.toml): built-in defaults, database {}",
            style::note_prefix(),
            db.display()
        );
    }
    let db_meta = match std::fs::metadata(&db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Missing(db.display().to_string()).into())
        }
        Err(e) => return Err(CliError::failure(format!("{}: {e}", db.display()))),
        Ok(m) if m.len() == 0 => {
            return Err(StoreError::Missing(format!("{} (the file is empty)", db.display())).into())
        }
        Ok(m) => m,
    };
    let target = check_target(&file, &db, &db_meta, force)?;
    let dir = target.parent().expect("checked: FILE has a directory");
    let name = target.file_name().expect("checked: FILE has a name");
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:08x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    ));
    // The copy holds every code in clear: as private as the database
    // (0640 as radgate creates it), never more than 0660.
    let mode = db_meta.permissions().mode() & 0o660;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode | 0o600)
        .open(&tmp)
        .map_err(|e| {
            CliError::failure(format!(
                "FILE: cannot write in the directory {}: {e}",
                dir.display()
            ))
        })?;
    let busy = config.database.busy_timeout;
    let made = {
        let (db, tmp) = (db.clone(), tmp.clone());
        tokio::task::spawn_blocking(move || {
            backup_to(&db, &tmp, busy)?;
            check_backup(&tmp)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::CommitFailed(e.to_string())))
    };
    let info = match made {
        Ok(info) => info,
        Err(e) => {
            remove_tmp(&tmp);
            return Err(CliError::failure(format!(
                "no backup written ({} left as it was): {e}",
                target.display()
            )));
        }
    };
    if let Err(e) = install(&tmp, &target, force) {
        remove_tmp(&tmp);
        return Err(e);
    }
    // The new name is durable once the directory is.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        return Err(CliError::failure(format!(
            "FILE: wrote {} but could not sync its directory: {e}",
            target.display()
        )));
    }
    report(&target, &info);
    Ok(())
}

/// FILE made absolute, after the checks: a file name in an existing
/// directory, not the database nor one of its own files, not there yet
/// unless `force`.
fn check_target(
    file: &Path,
    db: &Path,
    db_meta: &std::fs::Metadata,
    force: bool,
) -> Result<PathBuf, CliError> {
    if file.as_os_str().is_empty() {
        return Err(CliError::input("FILE: must not be empty"));
    }
    let target = std::path::absolute(file)
        .map_err(|e| CliError::input(format!("FILE: {}: {e}", file.display())))?;
    let meta = std::fs::metadata(&target).ok();
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(CliError::input(format!(
            "FILE: {} is a directory; give a file name in it",
            target.display()
        )));
    };
    if meta.as_ref().is_some_and(|m| m.is_dir()) || file.to_string_lossy().ends_with('/') {
        return Err(CliError::input(format!(
            "FILE: {} is a directory; give a file name in it, e.g. {}",
            target.display(),
            target.join("radgate-backup.db").display()
        )));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(CliError::input(format!(
                "FILE: {} is not a directory",
                dir.display()
            )))
        }
        Err(_) => {
            return Err(CliError::input(format!(
                "FILE: the directory {} does not exist (create it first)",
                dir.display()
            )))
        }
    }
    // The same file by another name (a symlink, a hard link, `./`, `..`).
    let same_inode = meta
        .as_ref()
        .is_some_and(|m| m.dev() == db_meta.dev() && m.ino() == db_meta.ino());
    let real_db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let real_target = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join(name);
    if same_inode || real_target == real_db {
        return Err(CliError::input(format!(
            "FILE: {} is the database itself; give another file",
            target.display()
        )));
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut own = real_db.clone().into_os_string();
        own.push(suffix);
        if real_target.as_os_str() == own {
            return Err(CliError::input(format!(
                "FILE: {} is the database's own {suffix} file; give another file",
                target.display()
            )));
        }
    }
    if meta.is_some() && !force {
        return Err(CliError::input(format!(
            "FILE: {} already exists; give --force to replace it",
            target.display()
        )));
    }
    Ok(target)
}

/// Give the checked copy FILE's name.
fn install(tmp: &Path, target: &Path, force: bool) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::failure(format!(
            "FILE: cannot write {}: {e}; no backup written",
            target.display()
        ))
    };
    if force {
        return std::fs::rename(tmp, target).map_err(fail);
    }
    // A hard link never replaces a file that appeared since the check.
    match std::fs::hard_link(tmp, target) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::input(format!(
            "FILE: {} already exists (it appeared during the backup); give --force to \
                 replace it; no backup written",
            target.display()
        ))),
        // A file system without hard links.
        Err(_) if !target.exists() => std::fs::rename(tmp, target).map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

/// Remove the temporary copy and a rollback journal SQLite may have left.
fn remove_tmp(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    let mut journal = tmp.as_os_str().to_owned();
    journal.push("-journal");
    let _ = std::fs::remove_file(journal);
}

fn report(target: &Path, info: &BackupInfo) {
    println!(
        "wrote {}: {} ({} bytes), {} code(s), {} session(s), schema version v{}; integrity check ok",
        target.display(),
        human_size(info.bytes),
        info.bytes,
        info.codes,
        info.sessions,
        info.schema_version
    );
    if info.schema_version != info.known_schema_version {
        let which = if info.schema_version < info.known_schema_version {
            "older"
        } else {
            "newer"
        };
        eprintln!(
            "{} the backup's schema v{} is {which} than this radgate's (v{}): it is the schema \
             of the radgate that serves the database; restore it with that version (a newer \
             radgate migrates it when `serve` starts)",
            style::note_prefix(),
            info.schema_version,
            info.known_schema_version
        );
    }
}

/// 1234567 -> "1.2 MB" (decimal units, as `ls -h --si`).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_ls() {
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1_234_567), "1.2 MB");
        assert_eq!(human_size(20_480), "20.5 kB");
    }
}
