"""The in-tree PEP 517 build backend of amplifier-module-provider-bedrock (pyproject.toml's
`backend-path`): one install gives a working module, with `bedrock-host` inside when it can be
built.

With cargo (a Rust toolchain) and the repository's `host-test` crate beside this directory (a
checkout, or a `git+…#subdirectory=python` install), it builds through maturin
(`bindings = "bin"`): the wheel carries the `bedrock-host` binary, which the installer puts in
the environment's scripts directory, as ruff and uv ship theirs. It is built with the
workspace's `release` profile, as `cargo install` builds it (pyproject.toml `[tool.maturin]`);
the first build compiles wasmtime (about 20 minutes on 2 cores). Otherwise it builds through setuptools: a pure-Python
wheel whose module finds `bedrock-host` on PATH.

`BEDROCK_HOST_BUILD` overrides the choice: `auto` (the default, as above), `never` (the
pure-Python wheel even where cargo is), `always` (fail instead of falling back). maturin's own
`MATURIN_PEP517_ARGS` still applies, e.g. `--profile dev` to reuse a workspace's debug build.
The sdist is always the pure-Python one: the host's sources live outside this directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
HOST_CRATE = PROJECT.parent / "host-test" / "Cargo.toml"

MATURIN = "maturin>=1.9,<2"
SETUPTOOLS = "setuptools>=77"  # PEP 639 `license = "MIT"` with `license-files`

_MODES = ("auto", "always", "never")


def _say(message: str) -> None:
    print(f"amplifier-module-provider-bedrock: {message}", file=sys.stderr, flush=True)


def _find_cargo() -> str | None:
    """cargo on PATH, else rustup's default place (then put on PATH for maturin's own lookup)."""
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    cargo = home / "bin" / ("cargo.exe" if os.name == "nt" else "cargo")
    if cargo.is_file() and os.access(cargo, os.X_OK):
        os.environ["PATH"] = os.pathsep.join([str(cargo.parent), os.environ.get("PATH", "")])
        return str(cargo)
    return None


def _is_host_crate(manifest: Path) -> bool:
    """Whether this Cargo.toml is the bedrock-host crate's (not some other `host-test`)."""
    try:
        return 'name = "bedrock-host"' in manifest.read_text(encoding="utf-8")
    except OSError:
        return False


def _bundles_host() -> bool:
    """Whether this build compiles `bedrock-host` into the wheel (see the module docstring)."""
    mode = os.environ.get("BEDROCK_HOST_BUILD", "").strip().lower() or "auto"
    if mode not in _MODES:
        raise ValueError(f"BEDROCK_HOST_BUILD={mode!r}: expected one of {', '.join(_MODES)}")
    if mode == "never":
        return False
    if not _is_host_crate(HOST_CRATE):
        missing = f"its Rust crate ({HOST_CRATE}) is not here (an sdist, or python/ alone)"
    elif _find_cargo() is None:
        missing = "cargo is not installed (Rust toolchain: https://rustup.rs)"
    else:
        return True
    if mode == "always":
        raise RuntimeError(
            f"BEDROCK_HOST_BUILD=always, but bedrock-host cannot be built: {missing}"
        )
    _say(f"bedrock-host is not bundled: {missing}; the module will look for it on PATH")
    return False


def _backend():
    if _bundles_host():
        try:
            import maturin
        except ImportError:  # a build without isolation, in an environment without maturin
            raise RuntimeError(
                f"building bedrock-host into the wheel needs {MATURIN} in the build environment "
                "(pip installs it unless --no-build-isolation); or set BEDROCK_HOST_BUILD=never "
                "for the pure-Python package"
            ) from None
        return maturin
    from setuptools import build_meta

    return build_meta


def get_requires_for_build_wheel(config_settings=None):
    return [MATURIN] if _bundles_host() else [SETUPTOOLS]


def get_requires_for_build_editable(config_settings=None):
    return get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings=None):
    return [SETUPTOOLS]


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _backend().prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    backend = _backend()
    # maturin's metadata is the same for both kinds of wheel; it has no editable variant.
    hook = getattr(backend, "prepare_metadata_for_build_editable", None)
    hook = hook or backend.prepare_metadata_for_build_wheel
    return hook(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    backend = _backend()
    if backend.__name__ == "maturin":
        _say("building bedrock-host with cargo for the wheel (the first build takes minutes)")
    return backend.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    backend = _backend()
    if backend.__name__ == "maturin":
        _say("building bedrock-host with cargo for the wheel (the first build takes minutes)")
    return backend.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    from setuptools import build_meta

    return build_meta.build_sdist(sdist_directory, config_settings)
