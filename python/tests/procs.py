"""Which `bedrock-host serve` processes this test process has as children (Linux /proc)."""

import os
from pathlib import Path


def serve_children() -> list[int]:
    """Live (not yet reaped) child processes of ours whose command line is `… serve …`."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited while we looked
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"serve" in argv:
            found.append(int(entry.name))
    return found
