"""Amplifier provider module: Claude on AWS Bedrock through the sandboxed `bedrock-host`.

A drop-in for the Python "Amplifier AWS Bedrock Provider" module: the same module id
(`provider-bedrock`), mount name (`bedrock`) and config keys, but the provider itself runs in
`bedrock-host serve` (a Wasm sandbox that holds the credentials only per call), reached over
amplifier-core's own gRPC module protocol.
"""

from .provider import BedrockProvider, mount

__amplifier_module_type__ = "provider"

__all__ = ["BedrockProvider", "mount"]
