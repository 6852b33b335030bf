//! The `amplifier.module` messages for the gRPC conversion target, from the host's vendored proto
//! (messages only: the converters need no services).

fn main() {
    let proto_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host-test/proto");
    let proto = proto_dir.join("amplifier_module.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir]).expect("the vendored proto parses");
    prost_build::Config::new().compile_fds(descriptors).expect("prost generates the messages");
}
