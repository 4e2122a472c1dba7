//! Generates the control API's messages and service (proto/gracewire/v1) with tonic-prost-build,
//! parsing the .proto files with protox so that no protoc binary is needed to build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["../proto/gracewire/v1/control.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let files = protox::compile(protos, ["../proto"])?;
    tonic_prost_build::configure()
        // `--json` prints these messages; their field names are the views' (api::views), so
        // the same JSON reads as either.
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .message_attribute(".", "#[serde(default)]")
        .btree_map(".")
        // Refuses a request with too many repeated entries before decoding it (api::codec).
        .codec_path("crate::api::codec::BoundedCodec")
        .compile_fds(files)?;
    Ok(())
}
