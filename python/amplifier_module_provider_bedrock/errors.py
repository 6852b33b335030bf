"""gRPC status → amplifier-core `llm_errors`, keeping the server's stable message prefix.

`bedrock-host serve` reports a failed completion as a gRPC status whose details are the
component's prefixed message (`validation:`, `config:`, `auth:`, `model:`, `throttled:`,
`network:`, `bedrock:`) or the host's own (`host:`); the Rust test
`every_list_of_error_prefixes_is_the_one_in_error_kind` holds this list to the component's.
The error class comes from the failure's typed kind, which the server sends as the
`x-bedrock-error-kind` metadata (`access-denied`, `timed-out`, `model`, …; `_BY_KIND`, which the
same Rust test holds to the component's and the host's kinds); the message is never read for
it. A status without that metadata (the channel failed before the server answered) is mapped
by its code.
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

# The metadata key and the table: one row per kind (`ErrorKind::name` in the component,
# `FailureKind::name` in the host).
ERROR_KIND_METADATA_KEY = "x-bedrock-error-kind"

_BY_KIND: dict[str, type[LLMError]] = {
    "validation": InvalidRequestError,
    "config": ConfigurationError,
    "unauthenticated": AuthenticationError,
    "access-denied": AccessDeniedError,
    "model": NotFoundError,
    "throttled": RateLimitError,
    "timed-out": LLMTimeoutError,
    "unreachable": ProviderUnavailableError,
    "unavailable": ProviderUnavailableError,
    "bedrock": LLMError,
    "host-deadline-exceeded": LLMTimeoutError,
    "host-memory-cap": LLMError,
    "host-internal": LLMError,
}

# Statuses without a kind: the channel's own failures.
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
    kind = _error_kind_of(error)
    cls = _BY_KIND.get(kind) if kind is not None else None
    if cls is None:
        cls = _BY_CODE.get(code, LLMError)
    return cls(message, provider=PROVIDER, model=model)


def _error_kind_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> str | None:
    """The `x-bedrock-error-kind` the server attached to a failed call, if any."""
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:  # an RpcError that is not a call (raised before one existed)
        return None
    for key, value in metadata:
        if key == ERROR_KIND_METADATA_KEY:
            return value.decode() if isinstance(value, bytes) else value
    return None


def error_kind(error: LLMError) -> str:
    """The stable prefix of an error message (`validation`, `auth`, …), for events."""
    head, sep, _ = str(error).partition(":")
    return head if sep and head.isidentifier() else type(error).__name__
