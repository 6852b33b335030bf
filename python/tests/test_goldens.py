"""The converter goldens in testdata/grpc/ still say what the installed amplifier-core says.

The Rust server's converters are tested against those goldens (host-test/src/grpc/convert.rs);
this keeps the goldens honest: regenerated here with amplifier-core's own converters, they must
come out the same (testdata/grpc/make_goldens.py wrote them).
"""

import base64
import json
import pathlib

from amplifier_core import _engine
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb

from protojson import with_json_parsed

GOLDENS = pathlib.Path(__file__).resolve().parents[2] / "testdata" / "grpc"


def test_request_goldens_match_amplifier_core():
    cases = json.loads((GOLDENS / "requests.json").read_text())
    assert cases, "no request goldens"
    for case in cases:
        wire = base64.b64decode(case["proto_base64"])
        upstream = json.loads(_engine.proto_chat_request_to_json(wire))
        assert upstream == case["upstream_json"], case["name"]


def test_response_goldens_match_amplifier_core():
    cases = json.loads((GOLDENS / "responses.json").read_text())
    assert cases, "no response goldens"
    for case in cases:
        ours = pb.ChatResponse.FromString(
            _engine.json_to_proto_chat_response(json.dumps(case["json"]))
        )
        golden = pb.ChatResponse.FromString(base64.b64decode(case["upstream_proto_base64"]))
        # JSON-text fields as data: upstream writes `metadata_json` from a HashMap, so its key
        # order changes from one process to the next.
        assert with_json_parsed(ours) == with_json_parsed(golden), case["name"]
