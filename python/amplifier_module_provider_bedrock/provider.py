"""The Amplifier provider: amplifier-core's Provider protocol over `bedrock-host serve`'s gRPC.

Every completion crosses one gRPC call: the ChatRequest is encoded with upstream's proto
conventions (see `convert`), the server runs it through the sandboxed Wasm component (which
validates it, signs it and calls Bedrock), and the proto ChatResponse is decoded back. Errors
arrive as gRPC statuses carrying the component's prefixed message and become amplifier-core
`llm_errors` (see `errors`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import grpc
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core._grpc_gen import amplifier_module_pb2_grpc as pb_grpc
from amplifier_core.events import LLM_REQUEST, LLM_RESPONSE
from amplifier_core.llm_errors import ConfigurationError, LLMError
from amplifier_core.message_models import ChatRequest, ChatResponse, ToolCall
from amplifier_core.models import ModelInfo, ProviderInfo

from . import convert
from .errors import PROVIDER, error_kind, from_rpc_error
from .host import HostProcess, find_host_binary, open_channel

logger = logging.getLogger(__name__)

MODULE_ID = "provider-bedrock"

DEFAULT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
"""The server's `default_model` default; named here only for the `model` field of events."""

MODULE_KEYS = frozenset(
    {"endpoint", "host_command", "host_args", "token", "token_file", "priority"}
)
"""Config keys this Python module consumes itself; every other key is the server's."""

CONTROL_TIMEOUT_S = 30.0
"""Deadline for Mount, GetInfo, ListModels and ParseToolCalls: none of them calls Bedrock."""

CLEANUP_TIMEOUT_S = 5.0


def server_config(config: dict[str, Any]) -> dict[str, str]:
    """The provider config as `MountRequest.config` strings (the server parses and validates).

    Booleans become "true"/"false" (Python's str would give "True"), numbers their str, lists
    and mappings JSON; None means "not set" and is left out, as are the module's own keys.
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        if key in MODULE_KEYS or value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            out[key] = str(value)
        else:
            out[key] = convert.dump_json(value)
    return out


def _endpoint_token(config: dict[str, Any]) -> str | None:
    """The bearer token for a server at config `endpoint`: `token`, else `token_file`'s text."""
    if config.get("token"):
        return str(config["token"])
    if config.get("token_file"):
        return Path(config["token_file"]).read_text().strip()
    return None


class _Connection:
    """The channel, stubs and bearer metadata of one mounted server (and the process, if ours)."""

    def __init__(self, endpoint: str, token: str | None, host: HostProcess | None):
        self.channel = open_channel(endpoint)
        self.provider = pb_grpc.ProviderServiceStub(self.channel)
        self.lifecycle = pb_grpc.ModuleLifecycleStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.host = host
        self._closed = False

    async def close(self) -> None:
        """Cleanup RPC, close the channel, stop our server process; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.lifecycle.Cleanup(
                pb.Empty(), metadata=self.metadata, timeout=CLEANUP_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as e:
            logger.debug("bedrock-host Cleanup failed: %s", e.code().name)
        await self.channel.close()
        if self.host is not None:
            await self.host.stop()


class BedrockProvider:
    """Claude on AWS Bedrock, through a `bedrock-host serve` process (amplifier-core Provider)."""

    def __init__(
        self,
        connection: _Connection,
        info: ProviderInfo,
        coordinator: Any,
        config: dict[str, Any],
    ):
        self._conn = connection
        self._info = info
        self._coordinator = coordinator
        self._default_model = str(config.get("default_model") or DEFAULT_MODEL)
        self.priority = config.get("priority", 100)

    @property
    def name(self) -> str:
        return self._info.id

    def get_info(self) -> ProviderInfo:
        """The server's ProviderInfo, fetched once at mount."""
        return self._info

    async def list_models(self) -> list[ModelInfo]:
        try:
            reply = await self._conn.provider.ListModels(
                pb.Empty(), metadata=self._conn.metadata, timeout=CONTROL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e, None) from e
        return [convert.model_info_from_proto(m) for m in reply.models]

    async def complete(self, request: ChatRequest | dict[str, Any], **kwargs: Any) -> ChatResponse:
        """One completion. `kwargs` that name ChatRequest fields override them (on a copy).

        Emits `llm:request` before the call and `llm:response` after it (also on failure).
        """
        if isinstance(request, dict):
            request = ChatRequest.model_validate(request)
        overrides = {k: v for k, v in kwargs.items() if k in ChatRequest.model_fields}
        if overrides:
            request = ChatRequest.model_validate({**request.model_dump(), **overrides})
        model = request.model or self._default_model
        proto = convert.request_to_proto(request)
        await self._emit(
            LLM_REQUEST,
            {
                "provider": PROVIDER,
                "model": model,
                "message_count": len(request.messages),
                "stream": bool(request.stream),
                "max_tokens": request.max_output_tokens,
            },
        )
        started = time.monotonic()
        try:
            reply = await self._conn.provider.Complete(proto, metadata=self._conn.metadata)
        except grpc.aio.AioRpcError as e:
            error = from_rpc_error(e, model)
            await self._emit_error(model, started, error)
            raise error from e
        response = convert.response_from_proto(reply)
        metadata = response.metadata or {}
        usage = response.usage
        await self._emit(
            LLM_RESPONSE,
            {
                "provider": PROVIDER,
                "model": metadata.get("model", model),
                "status": "ok",
                "duration_ms": _elapsed_ms(started),
                "usage": usage.model_dump(mode="json", exclude_none=True) if usage else {},
                "finish_reason": response.finish_reason,
                # Not `request_id`: the kernel uses that field to correlate a turn's events.
                "bedrock_request_id": metadata.get("request_id"),
            },
        )
        return response

    def parse_tool_calls(self, response: ChatResponse) -> list[ToolCall]:
        """The response's tool calls: the server already parsed each call's arguments.

        Local, because the protocol method is synchronous; the tests check that it agrees with
        the server's ParseToolCalls RPC.
        """
        return list(response.tool_calls or [])

    async def close(self) -> None:
        await self._conn.close()

    async def _emit_error(self, model: str, started: float, error: LLMError) -> None:
        await self._emit(
            LLM_RESPONSE,
            {
                "provider": PROVIDER,
                "model": model,
                "status": "error",
                "duration_ms": _elapsed_ms(started),
                "error": str(error),
                "error_kind": error_kind(error),
            },
        )

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        hooks = getattr(self._coordinator, "hooks", None)
        if hooks is not None:
            await hooks.emit(event, data)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def mount(coordinator: Any, config: dict[str, Any] | None = None):
    """Mount the provider as `bedrock` and return its async cleanup.

    With config `endpoint` (`host:port`) it uses that running server (bearer token from
    `token` or `token_file`); otherwise it starts its own `bedrock-host serve` (binary from
    `host_command`, $BEDROCK_HOST_BIN or PATH, extra CLI arguments from `host_args`). Every other
    key is the server's provider config (README's Configuration table), sent with Mount.
    """
    config = dict(config or {})
    host: HostProcess | None = None
    if config.get("endpoint"):
        endpoint, token = str(config["endpoint"]), _endpoint_token(config)
    else:
        host = HostProcess(
            find_host_binary(config.get("host_command")), config.get("host_args") or []
        )
        endpoint = await host.start()
        token = host.token
    conn = _Connection(endpoint, token, host)
    try:
        mounted = await conn.lifecycle.Mount(
            pb.MountRequest(config=server_config(config), module_id=MODULE_ID),
            metadata=conn.metadata,
            timeout=CONTROL_TIMEOUT_S,
        )
        if not mounted.success:
            raise ConfigurationError(mounted.error, provider=PROVIDER)
        info = await conn.provider.GetInfo(
            pb.Empty(), metadata=conn.metadata, timeout=CONTROL_TIMEOUT_S
        )
    except grpc.aio.AioRpcError as e:
        await conn.close()
        raise from_rpc_error(e, None) from e
    except BaseException:
        await conn.close()
        raise
    provider = BedrockProvider(conn, convert.provider_info_from_proto(info), coordinator, config)
    await coordinator.mount("providers", provider, name=provider.name)
    logger.info("mounted provider %r (bedrock-host at %s)", provider.name, endpoint)
    return provider.close
