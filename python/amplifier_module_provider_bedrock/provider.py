"""The Amplifier provider: amplifier-core's Provider protocol over `bedrock-host serve`'s gRPC.

Every completion crosses one gRPC call: the ChatRequest is encoded with upstream's proto
conventions (see `convert`), the server runs it through the sandboxed Wasm component (which
validates it, signs it and calls Bedrock), and the proto ChatResponse is decoded back. Errors
arrive as gRPC statuses carrying the component's prefixed message and become amplifier-core
`llm_errors` (see `errors`).

The component's own hook events of a call (retries, throttling, model fallback, continuation,
config warnings, stream blocks, debug events) cannot travel in the proto, which has no event
channel; the server returns them in the call's gRPC metadata once the call is over, and they are
emitted here on the coordinator's hooks between our `llm:request` and `llm:response`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import grpc
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core._grpc_gen import amplifier_module_pb2_grpc as pb_grpc
from amplifier_core.correlation import new_request_id
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

EVENTS_REQUEST_KEY = "x-bedrock-events-max-bytes"
"""Request metadata asking `bedrock-host serve` for a Complete call's hook events, and how many
bytes of event JSON we accept (the server sends none unless asked)."""

EVENTS_METADATA_KEY = "x-bedrock-events-bin"
"""Response or error-status metadata with the call's events: a JSON array of {"name", "data"}."""

EVENTS_MAX_BYTES = 256 * 1024
"""Bytes of event JSON asked for per call: the server's own cap. The channel accepts this much
response metadata (see `host.MAX_METADATA_BYTES`); beyond it the server drops the bulky events
(stream deltas, debug bodies) first and ends the list with `provider:events_truncated`."""

_OWN_EVENTS = frozenset({LLM_REQUEST, LLM_RESPONSE})
"""Emitted by this module itself, each once per call: never forwarded from the server."""


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

        Emits `llm:request` before the call and `llm:response` after it (also on failure), and
        between them the component's events of the call, all with one `request_id`.
        """
        if isinstance(request, dict):
            request = ChatRequest.model_validate(request)
        overrides = {k: v for k, v in kwargs.items() if k in ChatRequest.model_fields}
        if overrides:
            request = ChatRequest.model_validate({**request.model_dump(), **overrides})
        model = request.model or self._default_model
        proto = convert.request_to_proto(request)
        # One correlation id for the whole call, chosen here and set on every event of it.
        # amplifier-core pairs a call's events by `request_id`, and an explicit value wins and
        # becomes the id of the call in flight. So the component's own id (another UUID, made in
        # the sandbox) must not be forwarded: the first forwarded event would re-point the call,
        # and our `llm:response` would no longer match our `llm:request`. Leaving the id out of
        # forwarded events is no better: the kernel stamps only llm:request/llm:response and
        # provider:retry/provider:throttle, so a continuation or fallback would carry none.
        request_id = new_request_id()
        await self._emit(
            LLM_REQUEST,
            {
                "provider": PROVIDER,
                "model": model,
                "message_count": len(request.messages),
                "stream": bool(request.stream),
                "max_tokens": request.max_output_tokens,
                "request_id": request_id,
            },
        )
        started = time.monotonic()
        call = self._conn.provider.Complete(
            proto,
            metadata=(*self._conn.metadata, (EVENTS_REQUEST_KEY, str(EVENTS_MAX_BYTES))),
        )
        try:
            reply = await call
        except grpc.aio.AioRpcError as e:
            error = from_rpc_error(e, model)
            # A failure answered before any response headers arrives as trailers only, so the
            # events are in whichever metadata the status came with.
            await self._forward_events(request_id, e.initial_metadata(), e.trailing_metadata())
            await self._emit_error(model, started, error, request_id)
            raise error from e
        await self._forward_events(
            request_id, await call.initial_metadata(), await call.trailing_metadata()
        )
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
                # Bedrock's own id; `request_id` is the kernel's correlation field.
                "bedrock_request_id": metadata.get("request_id"),
                "request_id": request_id,
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

    async def _emit_error(
        self, model: str, started: float, error: LLMError, request_id: str
    ) -> None:
        await self._emit(
            LLM_RESPONSE,
            {
                "provider": PROVIDER,
                "model": model,
                "status": "error",
                "duration_ms": _elapsed_ms(started),
                "error": str(error),
                "error_kind": error_kind(error),
                "request_id": request_id,
            },
        )

    async def _forward_events(self, request_id: str, *metadata: Any) -> None:
        """Emit the component's events of one call, in order, as the call's (`request_id`).

        They come after the call, not as they happened: the proto has no channel to stream them
        on. Unreadable event metadata is logged and skipped; it never fails a completion.
        """
        for name, data in _events_from_metadata(*metadata):
            if name not in _OWN_EVENTS:
                await self._emit(name, {**data, "request_id": request_id})

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        hooks = getattr(self._coordinator, "hooks", None)
        if hooks is not None:
            await hooks.emit(event, data)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _events_from_metadata(*metadata: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (name, data) events in the first of these gRPC metadata that has any."""
    for md in metadata:
        for key, value in md or ():
            if key != EVENTS_METADATA_KEY:
                continue
            try:
                entries = json.loads(value)
                events = [(e["name"], e["data"]) for e in entries]
                if all(isinstance(n, str) and isinstance(d, dict) for n, d in events):
                    return events
                reason = "an entry has no string name or object data"
            except (ValueError, TypeError, KeyError) as e:
                reason = f"{type(e).__name__}: {e}"
            logger.warning("bedrock-host sent unreadable %s metadata (%s)", key, reason)
            return []
    return []


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
