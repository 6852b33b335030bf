"""Starting and stopping a `bedrock-host serve` process, and the authenticated channel to it.

The provider runs outside Python: `bedrock-host serve` hosts the sandboxed Wasm component and
speaks amplifier-core's gRPC module protocol. This module owns that process: it starts it on a
free loopback port behind a fresh random bearer token (so no other local user can spend the
credentials it holds), waits for its `READY:<port>` line, keeps the tail of its stderr for error
messages, and stops it (SIGTERM, then SIGKILL) when the module is cleaned up or the interpreter
exits.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import importlib.metadata
import logging
import os
import queue
import secrets
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import weakref
from pathlib import Path

import grpc

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
"""Seconds to wait for `READY:<port>`: a cold start compiles the component (tens of seconds on
2 cores); later starts load it from the compile cache in well under a second."""

STOP_TIMEOUT_S = 10.0
"""Seconds a SIGTERMed server gets to finish in-flight calls before it is killed."""

_STDERR_TAIL_LINES = 40

_live: weakref.WeakSet[HostProcess] = weakref.WeakSet()


class HostStartError(RuntimeError):
    """`bedrock-host serve` could not be started or did not become ready."""


DISTRIBUTION = "amplifier-module-provider-bedrock"

HOST_EXECUTABLE = "bedrock-host.exe" if os.name == "nt" else "bedrock-host"


def find_host_binary(host_command: str | None) -> str:
    """The bedrock-host executable: config `host_command`, else $BEDROCK_HOST_BIN, else
    `bedrock-host` on PATH, else the one this package's wheel installed (`bundled_host_binary`).

    A `host_command` or $BEDROCK_HOST_BIN that names nothing executable is an error, not a
    reason to look further.
    """
    explicit = host_command or os.environ.get("BEDROCK_HOST_BIN")
    resolved = shutil.which(explicit or "bedrock-host")
    if resolved is None and not explicit:
        resolved = bundled_host_binary()
    if resolved is None:
        if explicit:
            raise HostStartError(
                f"host: cannot find the bedrock-host executable `{explicit}` (from "
                f"{'the module config `host_command`' if host_command else 'BEDROCK_HOST_BIN'}); "
                "give the path of an executable file"
            )
        raise HostStartError(
            "host: cannot find the bedrock-host executable: it is not on PATH and this package "
            "was installed without it (no Rust toolchain at install time). Install a Rust "
            "toolchain (https://rustup.rs) and reinstall the package (`pip install ./python` "
            "builds it in), or build it with `cargo install --locked --path host-test` and put "
            "it on PATH, or set the module config `host_command` or BEDROCK_HOST_BIN to its path"
        )
    return resolved


def bundled_host_binary() -> str | None:
    """The `bedrock-host` this package's wheel installed, if it carried one.

    The installer puts it in the environment's scripts directory (`bin/` of the venv), which is
    not on PATH while the venv is not activated. The distribution's RECORD says where it went
    (wherever the installer's scheme put scripts); the scripts directory is the fallback when the
    metadata cannot be read.
    """
    candidates: list[Path] = []
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates += [Path(f.locate()) for f in files if f.name == HOST_EXECUTABLE]
    candidates.append(Path(sysconfig.get_path("scripts")) / HOST_EXECUTABLE)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    return None


class HostProcess:
    """One `bedrock-host serve` child process, private to one mount."""

    def __init__(self, binary: str, extra_args: list[str]):
        self._binary = binary
        self._extra_args = list(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._token_dir: tempfile.TemporaryDirectory[str] | None = None
        self.token = secrets.token_urlsafe(32)
        self.port: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> str:
        """Start the server and return its `host:port` once it printed `READY:<port>`."""
        self._token_dir = tempfile.TemporaryDirectory(prefix="bedrock-host-")
        token_file = Path(self._token_dir.name) / "token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.token)
        argv = [
            self._binary,
            "serve",
            "--port",
            "0",
            "--token-file",
            str(token_file),
            *self._extra_args,
        ]
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as e:
            self._remove_token_file()
            raise HostStartError(f"host: cannot start {self._binary}: {e.strerror}") from None
        _live.add(self)
        ready: queue.Queue[str | None] = queue.Queue()
        self._spawn(self._read_stdout, ready)
        self._spawn(self._read_stderr)
        try:
            line = await asyncio.to_thread(ready.get, True, READY_TIMEOUT_S)
        except queue.Empty:
            line = None
            reason = f"did not print READY:<port> within {READY_TIMEOUT_S:.0f} s"
        except BaseException:  # cancelled while waiting: the server must not outlive the mount
            self.kill_now()
            raise
        else:
            reason = "exited before it was ready" if line is None else f"printed {line!r}"
        if line is not None and line.startswith("READY:") and line[6:].isdigit():
            self.port = int(line[6:])
            return f"127.0.0.1:{self.port}"
        await self.stop()
        raise HostStartError(f"host: `bedrock-host serve` {reason}{self._describe_exit()}")

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="bedrock-host-io")
        thread.start()
        self._threads.append(thread)

    def _read_stdout(self, ready: queue.Queue[str | None]) -> None:
        """Hand the first line to `start`, then drain stdout so the server never blocks on it."""
        assert self._proc and self._proc.stdout
        first = self._proc.stdout.readline()
        ready.put(first.decode(errors="replace").strip() if first else None)
        for _ in iter(lambda: self._proc.stdout.read(65536), b""):
            pass

    def _read_stderr(self) -> None:
        """Keep the last lines (for error messages) and forward each to this module's logger.

        The server never writes secrets to stderr (its own tests check that).
        """
        assert self._proc and self._proc.stderr
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr_tail.append(line)
            logger.debug("bedrock-host[%s]: %s", self._proc.pid, line)

    def _describe_exit(self) -> str:
        status = self._proc.poll() if self._proc else None
        parts = [] if status is None else [f" (exit status {status})"]
        if self._stderr_tail:
            parts.append("; its stderr ended with:\n" + "\n".join(self._stderr_tail))
        return "".join(parts)

    async def stop(self) -> None:
        """SIGTERM, wait for in-flight calls, SIGKILL if it does not exit; idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5.0)
        self._threads.clear()
        if proc is not None:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self._remove_token_file()
        _live.discard(self)

    def _remove_token_file(self) -> None:
        if self._token_dir is not None:
            self._token_dir.cleanup()
            self._token_dir = None

    def kill_now(self) -> None:
        """Last resort at interpreter exit, when no event loop is left to `stop` with."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._remove_token_file()


@atexit.register
def _kill_leftovers() -> None:
    """Never leave a server behind when the embedding program forgot the module's cleanup."""
    for host in list(_live):
        host.kill_now()


MAX_MESSAGE_BYTES = 32 << 20
"""The server's gRPC message limit both ways; gRPC's 4 MiB receive default would refuse a long
answer (or a conversation with images) with a transport error instead of reaching the server's
own clear one."""


MAX_METADATA_BYTES = 1 << 20
"""Response metadata accepted: a Complete call's hook events (up to 256 KiB of JSON, base64 on
the wire, see `provider.EVENTS_MAX_BYTES`). gRPC's defaults (8 KiB, and never over 16 KiB) would
fail the call itself over a long list of events."""


def open_channel(endpoint: str) -> grpc.aio.Channel:
    """An asyncio channel to a `bedrock-host serve` at `host:port`."""
    return grpc.aio.insecure_channel(
        endpoint,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # gRPC refuses metadata between its soft and hard limits at random: both are set.
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
        ],
    )
