"""Mounting: the server process each mount starts (or the one it is pointed at), its
configuration, and that every process a mount started is gone after its cleanup."""

import asyncio

import pytest
from amplifier_core.llm_errors import AuthenticationError, ConfigurationError
from amplifier_core.message_models import ChatRequest
from amplifier_core.testing import MockCoordinator

import amplifier_module_provider_bedrock
from amplifier_module_provider_bedrock.host import HostStartError

from procs import serve_children


@pytest.mark.asyncio
async def test_bad_config_value_fails_the_mount_and_stops_the_server(emulator):
    config = {**emulator.provider_config(), "temperature": "hot"}
    with pytest.raises(ConfigurationError) as caught:
        await amplifier_module_provider_bedrock.mount(MockCoordinator(), config)
    assert str(caught.value).startswith("config:") and "temperature" in str(caught.value)
    assert serve_children() == []


@pytest.mark.asyncio
async def test_missing_binary_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("BEDROCK_HOST_BIN", "/nonexistent/bedrock-host")
    with pytest.raises(RuntimeError, match="cannot find the bedrock-host executable"):
        await amplifier_module_provider_bedrock.mount(MockCoordinator(), {})


@pytest.mark.asyncio
async def test_a_server_that_dies_at_start_is_reported_with_its_stderr(tmp_path):
    fake = tmp_path / "bedrock-host"
    fake.write_text("#!/bin/sh\necho 'config: simulated start failure' >&2\nexit 3\n")
    fake.chmod(0o755)
    config = {"host_command": str(fake)}
    with pytest.raises(HostStartError) as caught:
        await amplifier_module_provider_bedrock.mount(MockCoordinator(), config)
    message = str(caught.value)
    assert message.startswith("host: `bedrock-host serve` exited before it was ready")
    assert "(exit status 3)" in message
    assert message.endswith("config: simulated start failure")
    assert serve_children() == []


@pytest.mark.asyncio
async def test_module_on_an_external_server_uses_token_or_token_file(server, emulator, tmp_path):
    wrong = {"endpoint": server.endpoint, "token": "wrong-token"}
    with pytest.raises(AuthenticationError) as caught:
        await amplifier_module_provider_bedrock.mount(MockCoordinator(), wrong)
    assert caught.value.provider == "bedrock"

    token_file = tmp_path / "token"
    token_file.write_text(server.host.token + "\n")
    coordinator = MockCoordinator()
    config = {
        **emulator.provider_config(),
        "endpoint": server.endpoint,
        "token_file": str(token_file),
    }
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, config)
    try:
        assert coordinator.get("providers", "bedrock").get_info().id == "bedrock"
    finally:
        await cleanup()
    # The module did not start this server, so its cleanup must leave it running.
    assert serve_children() == [server.host.pid]


@pytest.mark.asyncio
async def test_two_mounts_two_servers_no_leftovers(emulator):
    assert serve_children() == []
    first, second = MockCoordinator(), MockCoordinator()
    cleanups = await asyncio.gather(
        amplifier_module_provider_bedrock.mount(first, emulator.provider_config()),
        amplifier_module_provider_bedrock.mount(second, emulator.provider_config()),
    )
    assert len(serve_children()) == 2
    a, b = first.get("providers", "bedrock"), second.get("providers", "bedrock")
    assert a is not b
    answers = await asyncio.gather(
        *(
            p.complete(ChatRequest(messages=[{"role": "user", "content": f"n{i}"}]))
            for i, p in enumerate((a, b))
        )
    )
    assert [r.content[0].text for r in answers] == [
        "Hello from the local Bedrock emulator! You said: n0",
        "Hello from the local Bedrock emulator! You said: n1",
    ]
    for cleanup in cleanups:
        await cleanup()
        await cleanup()  # idempotent
    assert serve_children() == []


@pytest.mark.asyncio
async def test_host_args_reach_the_server():
    """`host_args` are extra `serve` arguments: here its embedded emulator, with no AWS config."""
    coordinator = MockCoordinator()
    cleanup = await amplifier_module_provider_bedrock.mount(
        coordinator, {"host_args": ["--emulator"]}
    )
    try:
        answer = await coordinator.get("providers", "bedrock").complete(
            ChatRequest(messages=[{"role": "user", "content": "via host_args"}])
        )
    finally:
        await cleanup()
    assert (
        answer.content[0].text == "Hello from the local Bedrock emulator! You said: via host_args"
    )
    assert serve_children() == []
