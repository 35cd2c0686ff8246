//! Fetches the plotly.js bundle the app serves: the "basic" build (scatter and bar traces, all the
//! charts use), a quarter of the full bundle's size and about four times quicker for a browser to
//! start. It comes from the npm registry at build time (`npm ci` in `OUT_DIR`, pinned by
//! `js/package-lock.json`), so no third-party file is committed. Without npm or the registry the
//! app serves the full bundle that the `plotly` crate embeds instead, and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(plotly_basic)");
    println!("cargo::rerun-if-changed=js/package.json");
    println!("cargo::rerun-if-changed=js/package-lock.json");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    match fetch(&manifest.join("js"), &out.join("js")) {
        Ok(bundle) => {
            std::fs::copy(bundle, out.join("plotly-basic.min.js")).expect("OUT_DIR is writable");
            println!("cargo::rustc-cfg=plotly_basic");
        }
        Err(why) => println!(
            "cargo::warning=serving the full plotly.js bundle from the plotly crate (slower to start in a \
             browser): could not fetch the basic bundle from npm: {why}"
        ),
    }
}

fn fetch(source: &Path, work: &Path) -> Result<PathBuf, String> {
    let bundle = work.join("node_modules/plotly.js-basic-dist-min/plotly-basic.min.js");
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(source.join(file), work.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    let status = Command::new("npm")
        .args(["ci", "--prefer-offline", "--no-audit", "--no-fund", "--silent", "--fetch-retries=1"])
        .args(["--fetch-timeout=30000"])
        .current_dir(work)
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    if !status.success() {
        return Err(format!("`npm ci` failed ({status})"));
    }
    if !bundle.is_file() {
        return Err(format!("{} is missing after `npm ci`", bundle.display()));
    }
    Ok(bundle)
}
