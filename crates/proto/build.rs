//! Compiles every contract under `proto/` with protox (no system `protoc`), generating prost
//! messages, tonic clients and servers, proto3-JSON (pbjson) impls, and the encoded descriptor
//! set that server reflection serves.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: Cargo shares a compiled build
    // script between checkouts of the same workspace that build into one target folder.
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = proto_files(&proto_root)?;
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    // Encoded by protox itself, the set keeps custom options such as `google.api.http`, which
    // the gateway reads; prost's own types would drop them.
    let descriptor_bytes = compiler.encode_file_descriptor_set();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("sse_descriptor.bin"), &descriptor_bytes)?;
    let file_descriptors = compiler.file_descriptor_set();

    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .include_file("_includes.rs")
        .compile_fds(file_descriptors)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".sse"])?;

    // `_includes.rs` nests every package's prost code in modules; the JSON mapping pbjson wrote
    // beside each package belongs in the same module, so a new package needs no edit here.
    for entry in fs::read_dir(&out_dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if let Some(package) = name.strip_suffix(".serde.rs") {
            let prost_file = out_dir.join(format!("{package}.rs"));
            let include = format!("include!(concat!(env!(\"OUT_DIR\"), \"/{name}\"));");
            let mut code = fs::read_to_string(&prost_file)?;
            if !code.contains(&include) {
                code.push_str(&format!("\n{include}\n"));
                fs::write(&prost_file, code)?;
            }
        }
    }
    Ok(())
}

/// Every `.proto` below `root`, in a stable order.
fn proto_files(root: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
