"""Fixtures: the bedrock-host binary, a local Bedrock emulator, and the module mounted on it.

Everything runs against real processes: `bedrock-host emulator` stands in for Bedrock Runtime
(SigV4-verified, scripted through its loopback control endpoints), and the module starts its own
`bedrock-host serve` exactly as it does in production.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core._grpc_gen import amplifier_module_pb2_grpc as pb_grpc
from amplifier_core.testing import MockCoordinator

import amplifier_module_provider_bedrock
from amplifier_module_provider_bedrock.host import HostProcess, open_channel
from amplifier_module_provider_bedrock.provider import server_config

REPO = Path(__file__).resolve().parents[2]
RESPONSES = REPO / "testdata" / "responses"
REGION = "us-east-1"


def host_bin() -> str:
    """The bedrock-host binary under test ($BEDROCK_HOST_BIN, set by python/run-tests)."""
    path = os.environ.get("BEDROCK_HOST_BIN")
    if not path:
        pytest.fail("BEDROCK_HOST_BIN is not set: run the tests with python/run-tests")
    return path


def anthropic_answer(name: str) -> dict[str, Any]:
    """The Anthropic Messages body of a recorded response in testdata/responses/."""
    return json.loads(json.loads((RESPONSES / name).read_text())["response"]["body_utf8"])


class Emulator:
    """A `bedrock-host emulator --port 0` process and its control endpoints."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [host_bin(), "emulator", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        listening = self.proc.stdout.readline()
        creds = self.proc.stdout.readline()
        url = re.search(r"listening on (http://\S+)", listening)
        keys = dict(re.findall(r"(AWS_\w+)=(\S+)", creds))
        if not url or set(keys) != {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}:
            self.proc.kill()
            raise RuntimeError(f"unexpected emulator banner: {listening!r} {creds!r}")
        self.url = url.group(1)
        self.access_key_id = keys["AWS_ACCESS_KEY_ID"]
        self.secret_access_key = keys["AWS_SECRET_ACCESS_KEY"]

    def push(self, anthropic_message: dict[str, Any]) -> None:
        """Answer the next Bedrock call with this Anthropic Messages response."""
        req = urllib.request.Request(
            f"{self.url}/_emulator/push",
            data=json.dumps(anthropic_message).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as reply:
            assert reply.status < 300

    def requests(self) -> list[dict[str, Any]]:
        """Every request the emulator received so far, oldest first."""
        with urllib.request.urlopen(f"{self.url}/_emulator/requests", timeout=10) as reply:
            return json.loads(reply.read())

    def provider_config(self) -> dict[str, Any]:
        """Module config that points the server at this emulator (both of Bedrock's APIs:
        InvokeModel and the Messages API) with its credentials."""
        return {
            "aws_region": REGION,
            "endpoint_url": self.url,
            "mantle_endpoint_url": self.url,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }

    def cli_env(self) -> dict[str, str]:
        """Environment for a `bedrock-host` CLI run against this emulator."""
        env = dict(os.environ)
        env.update(
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=self.url,
            AWS_ENDPOINT_URL_BEDROCK_MANTLE=self.url,
            AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID=self.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.secret_access_key,
        )
        return env

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session", autouse=True)
def no_ambient_aws(tmp_path_factory):
    """The developer's AWS setup must not change what the servers under test see.

    Every server gets its credentials from the test (module config) or has none at all; no
    environment variables, no ~/.aws files, no instance metadata lookups.
    """
    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            patch.delenv(name)
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture
def emulator():
    """A fresh emulator per test: a scripted answer left unconsumed by a failing test must not
    answer the next test's call."""
    emu = Emulator()
    yield emu
    emu.stop()


@pytest.fixture
def module_path() -> Path:
    """The installed package (overrides the amplifier-core plugin's directory-name guess).

    The installed copy, not python/…: amplifier-core's validator refuses to import a package
    from a second location once it is loaded from one.
    """
    return Path(amplifier_module_provider_bedrock.__file__).parent


COMPONENT_EVENTS = (
    "llm:request:debug",
    "llm:response:debug",
    "llm:request:raw",
    "llm:response:raw",
    "provider:config_warning",
    "provider:tool_sequence_repaired",
    "provider:model_fallback",
    "provider:throttle",
    "provider:retry",
    "provider:continuation",
    "llm:stream_block_start",
    "llm:stream_block_delta",
    "llm:stream_thinking_delta",
    "llm:stream_block_end",
    "llm:stream_aborted",
    "provider:events_truncated",
)
"""Every event the component emits besides llm:request/llm:response (README "Hook events"), and
the server's truncation marker: hooks register by name, so a recorder needs them all."""

ALL_EVENTS = ("llm:request", "llm:response", *COMPONENT_EVENTS)


class Recorder:
    """Every hook event emitted on a coordinator, as (name, data)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event: str, data: dict[str, Any]):
        from amplifier_core.models import HookResult

        self.events.append((event, dict(data)))
        return HookResult(action="continue")

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def register(self, hooks: Any, events: tuple[str, ...] = ALL_EVENTS) -> Recorder:
        """Record these events (by default every one the module can emit) on `hooks`."""
        for event in events:
            hooks.register(event, self, name=f"recorder-{id(self)}-{event}")
        return self


@pytest_asyncio.fixture
async def mounted(emulator):
    """(provider, coordinator, recorder): the module mounted on the emulator, cleaned up after."""
    coordinator = MockCoordinator()
    recorder = Recorder()
    for event in ("llm:request", "llm:response"):
        coordinator.hooks.register(event, recorder, name=f"test-recorder-{event}")
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, emulator.provider_config())
    try:
        yield coordinator.get("providers", "bedrock"), coordinator, recorder
    finally:
        await cleanup()


class RawServer:
    """A `bedrock-host serve` started by the test itself, spoken to with the bare stubs."""

    def __init__(self, host: HostProcess, endpoint: str):
        self.host = host
        self.endpoint = endpoint
        self.channel = open_channel(endpoint)
        self.provider = pb_grpc.ProviderServiceStub(self.channel)
        self.lifecycle = pb_grpc.ModuleLifecycleStub(self.channel)
        self.metadata = (("authorization", f"Bearer {host.token}"),)


@pytest_asyncio.fixture
async def server(emulator):
    """A server (behind its bearer token) mounted with the emulator's provider config."""
    host = HostProcess(host_bin(), [])
    raw = RawServer(host, await host.start())
    try:
        mounted = await raw.lifecycle.Mount(
            pb.MountRequest(
                config=server_config(emulator.provider_config()), module_id="provider-bedrock"
            ),
            metadata=raw.metadata,
        )
        assert mounted.success, mounted.error
        yield raw
    finally:
        await raw.channel.close()
        await host.stop()
