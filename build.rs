fn main() {
    gst_plugin_version_helper::info();
    origin();
    compile_kserve_protocol();
}

/// The plugin's origin, which `gst-inspect-1.0` shows as its "Origin URL": the README where
/// an installation under `GST_AUTOENCODER_PREFIX` puts it (default `/usr`, the Debian
/// package's). The project has no public web page to name instead.
fn origin() {
    println!("cargo:rerun-if-env-changed=GST_AUTOENCODER_PREFIX");
    let prefix = std::env::var("GST_AUTOENCODER_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr".into());
    let package = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    println!(
        "cargo:rustc-env=GST_AUTOENCODER_ORIGIN=file://{}/share/doc/{package}/README.md",
        prefix.trim_end_matches('/')
    );
}

/// The KServe v2 gRPC protocol with Triton's extensions (`triton/proto/`), compiled to Rust
/// client code. protox parses the files in Rust, so no `protoc` binary is needed.
fn compile_kserve_protocol() {
    let dir = "triton/proto";
    let files = [format!("{dir}/grpc_service.proto")];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed={dir}/model_config.proto");
    let descriptors = protox::compile(&files, [dir]).expect("triton/proto parses");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(descriptors)
        .expect("the KServe v2 client compiles");
}
