"""A real amplifier-core session runs a prompt through this module to the Bedrock emulator.

Both ways amplifier-core finds a module are exercised: an app's module source resolver (which
makes the loader validate the provider first, by mounting it on a test coordinator and cleaning
it up, so the module is mounted twice), and plain entry-point discovery of the installed
distribution (`amplifier.modules` → `provider-bedrock`).
"""

import logging
from pathlib import Path

import pytest
from amplifier_core import AmplifierSession
from amplifier_core.module_sources import ModuleNotFoundError as SourceNotFoundError

import amplifier_module_provider_bedrock

from procs import serve_children

MODULES = Path(__file__).parents[1] / "examples" / "modules"


class DirectorySource:
    def __init__(self, path: Path):
        self._path = path

    def resolve(self) -> Path:
        return self._path


class FixtureResolver:
    """An app-layer resolver: module id → package directory."""

    def __init__(self):
        self._paths = {
            "loop-single-turn": MODULES / "amplifier_module_loop_single_turn",
            "context-list": MODULES / "amplifier_module_context_list",
            "provider-bedrock": Path(amplifier_module_provider_bedrock.__file__).parent,
        }

    def resolve(self, module_id, source_hint=None, profile_hint=None):
        if module_id not in self._paths:
            raise SourceNotFoundError(module_id)
        return DirectorySource(self._paths[module_id])


@pytest.mark.asyncio
@pytest.mark.parametrize("discovery", ["source_resolver", "entry_point"])
async def test_session_answers_a_prompt_through_the_module(emulator, discovery, caplog):
    caplog.set_level(logging.INFO, logger="amplifier_core.loader")
    prompt = f"Bonjour via {discovery}"
    config = {
        "session": {"orchestrator": "loop-single-turn", "context": "context-list"},
        "providers": [{"module": "provider-bedrock", "config": emulator.provider_config()}],
    }
    session = AmplifierSession(config)
    if discovery == "source_resolver":
        await session.coordinator.mount("module-source-resolver", FixtureResolver())
    seen = []

    async def record(event, data):
        seen.append(event)

    for event in ("llm:request", "llm:response"):
        session.coordinator.hooks.register(event, record, name=f"session-test-{event}")
    before = len(emulator.requests())
    try:
        await session.initialize()
        assert list(session.coordinator.get("providers")) == ["bedrock"]
        answer = await session.execute(prompt)
    finally:
        await session.cleanup()

    assert answer == f"Hello from the local Bedrock emulator! You said: {prompt}"
    calls = emulator.requests()[before:]
    assert [(c["operation"], c["model_id"]) for c in calls] == [
        ("invoke", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    ]
    # The last user message carries a cache point: prompt caching is on by default.
    cached = {"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}
    assert calls[0]["body"]["messages"] == [{"role": "user", "content": [cached]}]
    assert seen == ["llm:request", "llm:response"]
    if discovery == "source_resolver":
        assert "[module:validated] provider-bedrock" in caplog.text
    assert serve_children() == [], "the session's cleanup must stop every server it started"


SONNET_5 = "anthropic.claude-sonnet-5"


@pytest.mark.asyncio
async def test_session_with_default_model_sonnet_5_goes_through_the_messages_api(emulator):
    """`default_model: anthropic.claude-sonnet-5` in a bundle: the turn goes to Bedrock's
    Messages API (`bedrock-mantle`), the bare id in the body, not to InvokeModel."""
    prompt = "Bonjour, Sonnet 5"
    config = {
        "session": {"orchestrator": "loop-single-turn", "context": "context-list"},
        "providers": [
            {
                "module": "provider-bedrock",
                "config": {**emulator.provider_config(), "default_model": SONNET_5},
            }
        ],
    }
    session = AmplifierSession(config)
    await session.coordinator.mount("module-source-resolver", FixtureResolver())
    events = []

    async def record(event, data):
        events.append((event, dict(data)))

    for event in ("llm:request", "llm:response"):
        session.coordinator.hooks.register(event, record, name=f"session-test-{event}")
    before = len(emulator.requests())
    try:
        await session.initialize()
        answer = await session.execute(prompt)
    finally:
        await session.cleanup()

    assert answer == f"Hello from the local Bedrock emulator! You said: {prompt}"
    calls = emulator.requests()[before:]
    assert [(c["path"], c["operation"], c["model_id"]) for c in calls] == [
        ("/anthropic/v1/messages", "messages", SONNET_5)
    ]
    assert calls[0]["body"]["model"] == SONNET_5
    assert "anthropic_version" not in calls[0]["body"]
    cached = {"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}
    assert calls[0]["body"]["messages"] == [{"role": "user", "content": [cached]}]
    assert [name for name, _ in events] == ["llm:request", "llm:response"]
    request, response = events[0][1], events[1][1]
    assert (request["model"], response["model"], response["status"]) == (SONNET_5, SONNET_5, "ok")
    assert serve_children() == [], "the session's cleanup must stop every server it started"
