//! Release builds embed the dashboard's built files (`dashboard/dist`, see src/dashboard.rs),
//! which rust-embed finds by listing the folder: Cargo only learns of a rebuilt dashboard
//! (new content-hashed file names) through this script. Debug builds read the folder at run
//! time and need no rebuild.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    if std::path::Path::new("dashboard/dist").exists() {
        println!("cargo:rerun-if-changed=dashboard/dist");
    } else {
        // Seen again once `npm run build` creates dist.
        println!("cargo:rerun-if-changed=dashboard");
    }
}
