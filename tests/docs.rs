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
