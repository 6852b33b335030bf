"""gRPC status → amplifier-core `llm_errors`, keeping the server's stable message prefix.

`bedrock-host serve` reports a failed completion as a gRPC status whose details are the
component's prefixed message (`validation:`, `config:`, `auth:`, `model:`, `throttled:`,
`network:`, `bedrock:`) or the host's own (`host:`); the Rust test
`every_list_of_error_prefixes_is_the_one_in_error_kind` holds this list to the component's. The status code says how to react (retry or not); the prefix
refines the cases a code lumps together (a `model:` error arrives as INTERNAL, but is a
NotFoundError to an orchestrator; a `config:` one is a ConfigurationError).
"""

from __future__ import annotations

import grpc
from amplifier_core.llm_errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)

PROVIDER = "bedrock"

_BY_CODE: dict[grpc.StatusCode, type[LLMError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.PERMISSION_DENIED: AccessDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.UNAVAILABLE: ProviderUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: LLMTimeoutError,
}

# grpc-core's words for a message over a channel's size limit ("Sent message larger than max
# (N vs. M)", "Received message larger than max (N vs. M)").
_TOO_LARGE = "message larger than max"

_BY_PREFIX: dict[str, type[LLMError]] = {
    "model:": NotFoundError,
    "config:": ConfigurationError,
}


def from_rpc_error(error: grpc.aio.AioRpcError | grpc.RpcError, model: str | None) -> LLMError:
    """The llm_errors exception for a failed RPC; its message is the server's, unchanged.

    A status without details (e.g. a transport failure before the server answered) gets a
    `host:` message naming the status instead.
    """
    code = error.code()
    message = error.details() or f"host: the bedrock-host server failed the call ({code.name})"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _TOO_LARGE in message:
        # gRPC's own size check (this client's or the server's), not a rate limit: retrying the
        # same request can never succeed, so it is an invalid request, not retryable.
        return InvalidRequestError(
            f"validation: the request is larger than a call to bedrock-host serve takes ({message}); "
            "Bedrock itself takes at most 20 MB: send fewer or smaller images and documents, or a shorter conversation",
            provider=PROVIDER,
            model=model,
            retryable=False,
        )
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = next((c for p, c in _BY_PREFIX.items() if message.startswith(p)), LLMError)
    return cls(message, provider=PROVIDER, model=model)


def error_kind(error: LLMError) -> str:
    """The stable prefix of an error message (`validation`, `auth`, …), for events."""
    head, sep, _ = str(error).partition(":")
    return head if sep and head.isidentifier() else type(error).__name__
