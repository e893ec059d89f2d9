fn main() {
    gst_plugin_version_helper::info();
    compile_kserve_protocol();
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
