"""Failures: mapped to amplifier-core's llm_errors, refused without the bearer token, and
secrets never visible in logs, events or exceptions."""

import logging
import traceback

import grpc
import pytest
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core.llm_errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
)
from amplifier_core.message_models import ChatRequest
from amplifier_core.testing import MockCoordinator

import amplifier_module_provider_bedrock

from conftest import Recorder

BAD_REQUESTS = {
    "no_messages": ChatRequest(messages=[]),
    "orphan_tool_result": ChatRequest(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "toolu_nobody", "content": "42"},
        ]
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
async def test_invalid_request_is_a_validation_error(mounted, emulator, case):
    provider, _, recorder = mounted
    before = len(emulator.requests())
    with pytest.raises(InvalidRequestError) as caught:
        await provider.complete(BAD_REQUESTS[case])
    error = caught.value
    assert str(error).startswith("validation:"), str(error)
    assert error.provider == "bedrock" and not error.retryable
    assert len(emulator.requests()) == before, "an invalid request must not reach Bedrock"
    [event] = recorder.named("llm:response")
    assert event["status"] == "error" and event["error_kind"] == "validation"
    assert event["error"] == str(error)


@pytest.mark.asyncio
async def test_a_request_over_the_message_limit_is_an_invalid_request_not_a_rate_limit(mounted, emulator):
    """A 40 MB conversation is refused by gRPC's size check: an orchestrator must not retry it."""
    provider, _, _ = mounted
    before = len(emulator.requests())
    huge = ChatRequest(messages=[{"role": "user", "content": "x" * (40 << 20)}])
    with pytest.raises(InvalidRequestError) as caught:
        await provider.complete(huge)
    error = caught.value
    assert not error.retryable, error
    assert str(error).startswith("validation: the request is larger than"), str(error)
    assert "20 MB" in str(error), str(error)
    assert len(emulator.requests()) == before


@pytest.mark.asyncio
async def test_the_server_requires_its_bearer_token(server):
    for metadata in (
        (),
        (("authorization", "Bearer not-the-token"),),
        (("authorization", server.host.token),),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.provider.GetInfo(pb.Empty(), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert server.host.token not in (caught.value.details() or "")
    info = await server.provider.GetInfo(pb.Empty(), metadata=server.metadata)
    assert info.id == "bedrock"


CANARIES = {
    "aws_secret_access_key": "CANARY-secret-access-key-6f1d",
    "aws_session_token": "CANARY-session-token-93ab",
    "aws_bearer_token_bedrock": "CANARY-bearer-token-c2e7",
    "token": "CANARY-module-token-51f0",
}


def _everything_visible(caplog, recorder, error: BaseException | None) -> str:
    """All a user or a log collector could see: log records, events, the error and its chain."""
    text = [caplog.text, repr(recorder.events)]
    if error is not None:
        text += traceback.format_exception(error)
    chained = error
    while chained is not None:
        text += [str(chained), repr(chained)]
        chained = chained.__cause__ or chained.__context__
    return "\n".join(text)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "secret", ["aws_secret_access_key", "aws_session_token", "aws_bearer_token_bedrock"]
)
async def test_secrets_stay_out_of_logs_events_and_errors(emulator, caplog, secret):
    caplog.set_level(logging.DEBUG)
    config = {
        **emulator.provider_config(),
        secret: CANARIES[secret],
        "debug": True,
        "raw_debug": True,
    }
    coordinator = MockCoordinator()
    # Every event, the component's forwarded ones (debug and raw bodies and headers) included.
    recorder = Recorder().register(coordinator.hooks)
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, config)
    error = None
    try:
        # A wrong secret or an unknown token fails the call with `auth:`; either way the call
        # ran with the canary in hand, which is what is checked.
        await coordinator.get("providers", "bedrock").complete(
            ChatRequest(messages=[{"role": "user", "content": "leak?"}])
        )
    except LLMError as e:
        error = e
        assert str(e).startswith("auth:"), str(e)
    finally:
        await cleanup()
    assert len(recorder.named("llm:response")) == 1
    assert recorder.named("llm:request:raw"), "the forwarded raw events are part of what is checked"
    visible = _everything_visible(caplog, recorder, error)
    assert "bedrock-host[" in caplog.text, "the server's stderr is part of what is checked"
    assert CANARIES[secret] not in visible


@pytest.mark.asyncio
async def test_module_token_stays_out_of_errors(server, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        await amplifier_module_provider_bedrock.mount(
            MockCoordinator(), {"endpoint": server.endpoint, "token": CANARIES["token"]}
        )
    assert CANARIES["token"] not in _everything_visible(caplog, Recorder(), caught.value)


class _Failed(grpc.RpcError):
    """A failed call as grpc reports one: a code, details and trailing metadata."""

    def __init__(self, code, details, metadata):
        self._code, self._details, self._metadata = code, details, metadata

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._metadata


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("access-denied", "AccessDeniedError"),
        ("unauthenticated", "AuthenticationError"),
        ("timed-out", "LLMTimeoutError"),
        ("unreachable", "ProviderUnavailableError"),
        ("model", "NotFoundError"),
        ("config", "ConfigurationError"),
        ("host-deadline-exceeded", "LLMTimeoutError"),
    ],
)
def test_the_kind_chooses_the_error_not_the_message(kind, expected):
    """The server's kind metadata decides; words in the message that suggest another kind do not."""
    from amplifier_module_provider_bedrock.errors import from_rpc_error

    failed = _Failed(grpc.StatusCode.INTERNAL, "bedrock: access denied, model not found, timed out", (("x-bedrock-error-kind", kind),))
    error = from_rpc_error(failed, "m")
    assert type(error).__name__ == expected, error
    assert str(error) == "bedrock: access denied, model not found, timed out"


def test_without_a_kind_the_code_decides():
    from amplifier_module_provider_bedrock.errors import from_rpc_error

    assert type(from_rpc_error(_Failed(grpc.StatusCode.UNAVAILABLE, "", ()), None)).__name__ == "ProviderUnavailableError"
    assert type(from_rpc_error(_Failed(grpc.StatusCode.INTERNAL, "model: x", ()), None)) is LLMError


@pytest.mark.asyncio
async def test_an_unknown_model_through_serve_is_a_not_found_error(mounted, emulator):
    """End to end: the component's `model:` kind reaches Python through serve's metadata."""
    from amplifier_core.llm_errors import NotFoundError

    provider, _, _ = mounted
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}], model="anthropic.claude-nonexistent-v9:0")
    with pytest.raises(NotFoundError) as caught:
        await provider.complete(request)
    assert str(caught.value).startswith("model:"), str(caught.value)
