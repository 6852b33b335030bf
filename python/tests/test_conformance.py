"""amplifier-core's own conformance checks for provider modules, run on this module.

`ProviderStructuralTests` / `ProviderBehaviorTests` are amplifier-core's exported test classes
(fixtures from its pytest plugin; `module_path` points at the installed package, see conftest);
they mount the module with an empty config, so the server must mount without any.
"""

import pytest
from amplifier_core.validation import ProviderValidator
from amplifier_core.validation.behavioral import ProviderBehaviorTests
from amplifier_core.validation.structural import ProviderStructuralTests

from procs import serve_children


class TestBedrockProviderStructural(ProviderStructuralTests):
    """amplifier-core's structural checks (ProviderValidator with no config)."""


class TestBedrockProviderBehavior(ProviderBehaviorTests):
    """amplifier-core's behavioural checks: mount, get_info, list_models, name, parse_tool_calls."""


@pytest.mark.asyncio
async def test_validator_passes_with_a_real_config(module_path, emulator):
    result = await ProviderValidator().validate(module_path, config=emulator.provider_config())
    assert result.passed, [f"{c.name}: {c.message}" for c in result.errors]
    assert {c.name for c in result.checks if c.passed} >= {
        "module_importable",
        "mount_exists",
        "mount_signature",
        "protocol_compliance",
        "provider_name",
        "provider_get_info",
        "provider_list_models",
        "provider_complete",
        "provider_parse_tool_calls",
    }
    assert serve_children() == [], "validation cleans up the server its mount started"


@pytest.mark.asyncio
async def test_info_and_models(mounted):
    provider, coordinator, _ = mounted
    info = provider.get_info()
    assert provider.name == info.id == "bedrock" and provider.priority == 100
    assert coordinator.get("providers") == {"bedrock": provider}
    models = await provider.list_models()
    ids = [m.id for m in models]
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in ids
    assert all(m.context_window > 0 and m.max_output_tokens > 0 for m in models)
