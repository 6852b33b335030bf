"""The README's emulator section, word for word: `bedrock-host emulator` prints what a client
needs, and its boto3 snippet gets an answer from it."""

import contextlib
import io
import os
import pathlib
import re
import subprocess

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_boto3_snippet() -> str:
    text = README.read_text()
    section = text[text.index("## The emulator") :]
    start = section.index("boto3 talks to it as to Bedrock:")
    block = re.search(r"```python\n(.*?)```", section[start:], re.S)
    assert block, "the README's emulator section has a boto3 snippet"
    return block.group(1)


def test_the_readme_boto3_snippet_gets_an_answer_from_the_emulator():
    emulator = subprocess.Popen(
        [os.environ["BEDROCK_HOST_BIN"], "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [emulator.stdout.readline() for _ in range(6)]
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines[0]).group(1)
        printed = "".join(lines)
        for needed in ("AKIDEMULATOREXAMPLE01", "region: us-east-1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-5"):
            assert needed in printed, printed
        snippet = readme_boto3_snippet()
        assert "http://127.0.0.1:4000" in snippet
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(snippet.replace("http://127.0.0.1:4000", url), {})
        assert out.getvalue().strip() == "Hello from the local Bedrock emulator! You said: Hi"
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
