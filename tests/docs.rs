//! Facts the README states that the code decides: checked here so that
//! the document cannot go stale without a failing test.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_readme_names_the_current_schema_version() {
    let migrations =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".sql")
            })
            .count();
    let readme = read("README.md");
    let want = format!("This version's schema is v{migrations}.");
    assert!(
        readme.contains(&want),
        "README.md should say {want:?} (one schema version per migration)"
    );
}

#[test]
fn the_containerfile_keeps_the_config_private() {
    // SECURITY.md: the config holds the shared secrets, 0640.
    let c = read("deploy/Containerfile");
    assert!(
        !c.contains("644"),
        "the Containerfile suggests a world-readable config"
    );
    assert!(c.contains("chmod 640"));
}

/// The `[...]` toml blocks of the NAS guides, as a venue admin copies them:
/// refused while the guide's placeholder secret is in them (it is public),
/// valid once a secret of one's own replaces it.
#[test]
fn the_guides_config_blocks_are_valid_once_the_secret_is_set() {
    for guide in [
        "deploy/mikrotik.md",
        "deploy/other-nas.md",
        "deploy/ironwifi.md",
    ] {
        let text = read(guide);
        let block = text
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap_or_else(|| panic!("{guide} has no toml block"));
        let as_is = radgate::config::Config::from_toml_str(block, Path::new(guide));
        let err = as_is.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("placeholder"), "{guide}: {err:?}");
        let own = block.replace(
            "use-a-long-random-shared-secret",
            "a-secret-of-our-own-1234",
        );
        let c = radgate::config::Config::from_toml_str(&own, Path::new(guide))
            .unwrap_or_else(|e| panic!("{guide}: {e}"));
        assert_eq!(
            c.database.url, "sqlite:///var/lib/radgate/radgate.db",
            "{guide}: the database where deploy/radgate.service keeps it"
        );
    }
}
