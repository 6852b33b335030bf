#!/usr/bin/env python3
"""One prompt through a real Amplifier session (amplifier-core's AmplifierSession) with this
provider, against the local Bedrock emulator: no AWS account needed.

    pip install ./python                    # from the repository root
    python python/examples/session.py "Hello"
    python python/examples/session.py --model anthropic.claude-sonnet-5 "Hello"   # Messages API
    python python/examples/session.py --bedrock "Explain SigV4 in one sentence"   # real Bedrock

It takes the provider entry (module and config) of bundle.yaml beside it, starts
`bedrock-host emulator` (the executable the module itself uses: the one the install bundled, or
`bedrock-host` on PATH, or $BEDROCK_HOST_BIN), points the entry's config at the emulator and
runs the prompt. The session's orchestrator and context are the two smallest modules a session
needs, from modules/ here; bundle.yaml names Amplifier's own loop-basic and context-simple,
which Amplifier fetches from GitHub. The answer goes to stdout, the rest to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import yaml  # PyYAML, an amplifier-core dependency
from amplifier_core import AmplifierSession

from amplifier_module_provider_bedrock.host import find_host_binary

HERE = Path(__file__).resolve().parent
# The orchestrator and context modules: found by name (amplifier_module_<id>) on sys.path. The
# provider is found through its installed entry point (amplifier.modules: provider-bedrock).
sys.path.insert(0, str(HERE / "modules"))


class Emulator:
    """`bedrock-host emulator --port 0`: its URL and credentials from the banner it prints."""

    def __init__(self, binary: str):
        self.proc = subprocess.Popen(
            [binary, "emulator", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        banner = self.proc.stdout.readline() + self.proc.stdout.readline()
        url = re.search(r"listening on (http://\S+)", banner)
        keys = dict(re.findall(r"(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)=(\S+)", banner))
        if not url or len(keys) != 2:
            self.stop()
            raise RuntimeError(f"unexpected emulator banner: {banner!r}")
        self.url = url.group(1)
        self.keys = keys
        # The rest of the banner (and anything later) must not fill the pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def config(self) -> dict[str, str]:
        """Provider config for the emulator: both Bedrock APIs (InvokeModel and the Messages
        API) at its URL, signed with its credentials."""
        return {
            "endpoint_url": self.url,
            "mantle_endpoint_url": self.url,
            "aws_access_key_id": self.keys["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.keys["AWS_SECRET_ACCESS_KEY"],
        }

    def calls(self) -> list[str]:
        """What the emulator served: `operation model` per Bedrock call."""
        with urllib.request.urlopen(f"{self.url}/_emulator/requests", timeout=10) as reply:
            return [f"{r['operation']} {r['model_id']}" for r in json.loads(reply.read())]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def bundle_provider(path: Path) -> dict:
    """The provider-bedrock entry of a bundle: {"module", "source", "config"}."""
    bundle = yaml.safe_load(path.read_text())
    return next(p for p in bundle["providers"] if p["module"] == "provider-bedrock")


async def run(prompt: str, provider_config: dict) -> str:
    session = AmplifierSession(
        {
            "session": {"orchestrator": "loop-single-turn", "context": "context-list"},
            "providers": [{"module": "provider-bedrock", "config": provider_config}],
        }
    )
    try:
        await session.initialize()
        return await session.execute(prompt)
    finally:
        await session.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt", nargs="?", default="Hello")
    parser.add_argument("--model", help="default_model (else the bundle's)")
    parser.add_argument("--bundle", type=Path, default=HERE / "bundle.yaml")
    parser.add_argument(
        "--bedrock", action="store_true", help="call real Bedrock (your AWS credentials)"
    )
    args = parser.parse_args()

    config = dict(bundle_provider(args.bundle).get("config") or {})
    if args.model:
        config["default_model"] = args.model
    binary = find_host_binary(config.get("host_command"))
    print(f"bedrock-host: {binary}", file=sys.stderr)
    if args.bedrock:
        print(asyncio.run(run(args.prompt, config)))
        return 0

    # The emulator accepts only its own credentials: none of the caller's AWS settings (a
    # profile, an API key in AWS_BEARER_TOKEN_BEDROCK) may reach the server the module starts.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    config.pop("aws_profile", None)
    emulator = Emulator(binary)
    try:
        print(f"emulator: {emulator.url}", file=sys.stderr)
        print(asyncio.run(run(args.prompt, {**config, **emulator.config()})))
        for call in emulator.calls():
            print(f"emulator served: {call}", file=sys.stderr)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
