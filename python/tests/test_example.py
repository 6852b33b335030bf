"""examples/session.py, the README's Amplifier example: a real AmplifierSession with this
provider against the emulator it starts, for both of Bedrock's APIs."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "session.py"


@pytest.mark.parametrize(
    ("model_args", "served"),
    [
        ([], "invoke us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        (["--model", "anthropic.claude-sonnet-5"], "messages anthropic.claude-sonnet-5"),
    ],
)
def test_example_session_answers_through_the_emulator(model_args, served, tmp_path):
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), *model_args, "Hello, example"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "Hello from the local Bedrock emulator! You said: Hello, example\n"
    assert [line for line in run.stderr.splitlines() if line.startswith("emulator served:")] == [
        f"emulator served: {served}"
    ], run.stderr
