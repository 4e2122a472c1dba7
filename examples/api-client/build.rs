//! Client stubs from the repo's proto, as any Rust user of the API would make them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../../proto/gracewire/v1/control.proto";
    println!("cargo:rerun-if-changed={proto}");
    let files = protox::compile([proto], ["../../proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(files)?;
    Ok(())
}
