"""`bedrock-host complete --json --request FILE`: the same provider without gRPC or Python."""

import subprocess
from pathlib import Path

from amplifier_core.message_models import ChatRequest, ChatResponse

from conftest import Emulator, host_bin


def cli_complete(emulator: Emulator, request: ChatRequest, workdir: Path) -> ChatResponse:
    """The CLI's answer to `request`, configured to the emulator through the environment."""
    path = workdir / "request.json"
    path.write_text(request.model_dump_json(exclude_none=True))
    run = subprocess.run(
        [host_bin(), "complete", "--json", "--request", str(path)],
        env=emulator.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"bedrock-host complete failed: {run.stderr}"
    return ChatResponse.model_validate_json(run.stdout)
