"""The vendored proto is the contract amplifier-core 2.0.2 ships (as generated code only).

`bedrock-host serve` is built from host-test/proto/amplifier_module.proto; the Python side speaks
amplifier-core's generated `amplifier_module_pb2`. If the two descriptors differ, the server and
every amplifier-core client would silently disagree about field numbers or types.
"""

from pathlib import Path

from amplifier_core._grpc_gen import amplifier_module_pb2
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parents[2] / "host-test" / "proto"


def _compiled(tmp_path: Path) -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path / "amplifier_module.pb"
    status = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", "amplifier_module.proto"]
    )
    assert status == 0, "protoc failed on host-test/proto/amplifier_module.proto"
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert len(files) == 1
    return files[0]


def _normalised(fd: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """Without what the Python generator strips (json_name) and what is not contract (comments)."""
    fd = descriptor_pb2.FileDescriptorProto.FromString(fd.SerializeToString())
    fd.ClearField("source_code_info")

    def strip(messages):
        for message in messages:
            for field in list(message.field) + list(message.extension):
                field.ClearField("json_name")
            strip(message.nested_type)

    strip(fd.message_type)
    return fd


def test_vendored_proto_equals_the_wheels_descriptor(tmp_path):
    wheel = descriptor_pb2.FileDescriptorProto()
    amplifier_module_pb2.DESCRIPTOR.CopyToProto(wheel)
    ours = _normalised(_compiled(tmp_path))
    theirs = _normalised(wheel)
    assert ours.name == theirs.name == "amplifier_module.proto"
    # Compare piece by piece first so a failure names the message or service that differs.
    assert [m.name for m in ours.message_type] == [m.name for m in theirs.message_type]
    for mine, upstream in zip(ours.message_type, theirs.message_type, strict=True):
        assert mine == upstream, f"message {mine.name} differs from amplifier-core 2.0.2"
    assert list(ours.enum_type) == list(theirs.enum_type)
    assert list(ours.service) == list(theirs.service)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
