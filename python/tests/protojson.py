"""Proto messages compared as data: JSON-text fields parsed, since key order is not contract."""

import json

from google.protobuf.json_format import MessageToDict


def with_json_parsed(message, drop_metadata_keys=()) -> dict:
    """`message` as a dict with every `*_json` field (and ChatResponse.content) parsed.

    `drop_metadata_keys` are removed from a parsed top-level `metadata_json`.
    """

    def walk(value):
        if isinstance(value, dict):
            return {
                k: json.loads(v)
                if isinstance(v, str) and (k.endswith("Json") or k == "content")
                else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    data = walk(MessageToDict(message))
    for key in drop_metadata_keys:
        data.get("metadataJson", {}).pop(key, None)
    return data
