"""Packaging: what `pip install ./python` declares and builds, and how the module finds the
`bedrock-host` executable (the wheel may carry one). The install itself, into a fresh venv, is
tested from cargo (host-test/tests/amplifier_python.rs), where the built host is at hand."""

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import amplifier_core._grpc_gen
import pytest

import amplifier_module_provider_bedrock
from amplifier_module_provider_bedrock import host

PYTHON_DIR = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PYTHON_DIR / "pyproject.toml").read_text())


def imported_top_level(paths) -> set[str]:
    """The top-level names of every absolute import in these files."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_imported_distribution_is_declared():
    """A fresh install must be importable: every third-party import of the package, and of
    amplifier-core's generated gRPC code it loads (grpc, google.protobuf: amplifier-core does
    not declare them), comes from a declared dependency."""
    ours = Path(amplifier_module_provider_bedrock.__file__).parent.glob("*.py")
    grpc_gen = Path(amplifier_core._grpc_gen.__file__).parent.glob("*.py")
    modules = imported_top_level([*ours, *grpc_gen]) - set(sys.stdlib_module_names) - {"__future__"}
    declared = {
        re.match(r"[A-Za-z0-9._-]+", dep).group(0).lower().replace("_", "-")
        for dep in PYPROJECT["project"]["dependencies"]
    }
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        module: providers.get(module)
        for module in modules - {"amplifier_module_provider_bedrock"}
        if not {d.lower().replace("_", "-") for d in providers.get(module, [])} & declared
    }
    assert {"grpc", "google", "amplifier_core"} <= modules
    assert undeclared == {}, f"imported but not in pyproject.toml dependencies: {undeclared}"


def executable(directory: Path, name: str = "bedrock-host") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A bedrock-host in each place the module looks: config, $BEDROCK_HOST_BIN, PATH, wheel."""
    found = {name: executable(tmp_path / name) for name in ("config", "env", "path", "bundled")}
    monkeypatch.setenv("BEDROCK_HOST_BIN", str(found["env"]))
    monkeypatch.setenv("PATH", str(found["path"].parent))
    monkeypatch.setattr(host, "bundled_host_binary", lambda: str(found["bundled"]))
    return found


def test_lookup_order_is_config_then_env_then_path_then_the_bundled_one(places, monkeypatch):
    assert host.find_host_binary(str(places["config"])) == str(places["config"])
    assert host.find_host_binary(None) == str(places["env"])
    monkeypatch.delenv("BEDROCK_HOST_BIN")
    assert host.find_host_binary(None) == str(places["path"])
    monkeypatch.setenv("PATH", str(places["path"].parent.parent / "empty"))
    assert host.find_host_binary(None) == str(places["bundled"])


def test_a_named_host_that_is_missing_is_an_error_not_a_fallback(places, tmp_path, monkeypatch):
    with pytest.raises(host.HostStartError, match="from the module config `host_command`"):
        host.find_host_binary(str(tmp_path / "nowhere" / "bedrock-host"))
    monkeypatch.setenv("BEDROCK_HOST_BIN", str(tmp_path / "nowhere" / "bedrock-host"))
    with pytest.raises(host.HostStartError, match="from BEDROCK_HOST_BIN"):
        host.find_host_binary(None)


def test_no_host_anywhere_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("BEDROCK_HOST_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(host, "bundled_host_binary", lambda: None)
    with pytest.raises(host.HostStartError) as caught:
        host.find_host_binary(None)
    assert "installed without it" in str(caught.value)
    assert "pip install ./python" in str(caught.value)


def test_the_bundled_host_is_the_one_in_the_scripts_dir(tmp_path, monkeypatch):
    """Without an installed wheel's RECORD naming it, the scripts directory is where to look."""
    monkeypatch.setattr(host.importlib.metadata, "distribution", missing_distribution)
    monkeypatch.setattr(host.sysconfig, "get_path", lambda name: str(tmp_path / "bin"))
    assert host.bundled_host_binary() is None
    bundled = executable(tmp_path / "bin")
    assert host.bundled_host_binary() == str(bundled.resolve())


def missing_distribution(name):
    raise importlib.metadata.PackageNotFoundError(name)


@pytest.fixture
def backend(monkeypatch):
    """The in-tree build backend (pyproject.toml `backend-path`), loaded from its file."""
    spec = importlib.util.spec_from_file_location(
        "bedrock_build", PYTHON_DIR / "_build" / "bedrock_build.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delenv("BEDROCK_HOST_BUILD", raising=False)
    monkeypatch.setattr(module, "_find_cargo", lambda: "/usr/bin/cargo")
    return module


def test_backend_points_at_the_pyproject_it_serves(backend):
    assert PYPROJECT["build-system"]["build-backend"] == "bedrock_build"
    assert PYPROJECT["build-system"]["backend-path"] == ["_build"]
    maturin = PYPROJECT["tool"]["maturin"]
    assert (PYTHON_DIR / maturin["manifest-path"]).resolve() == backend.HOST_CRATE
    assert maturin["bindings"] == "bin" and maturin["profile"] == "release"


def test_backend_bundles_the_host_with_cargo_and_its_crate(backend, monkeypatch):
    assert backend.get_requires_for_build_wheel() == [backend.MATURIN]
    assert backend.get_requires_for_build_editable() == [backend.MATURIN]
    assert backend.get_requires_for_build_sdist() == [backend.SETUPTOOLS]
    monkeypatch.setenv("BEDROCK_HOST_BUILD", "never")
    assert backend.get_requires_for_build_wheel() == [backend.SETUPTOOLS]


def test_backend_falls_back_to_pure_python_without_cargo_or_crate(backend, monkeypatch, tmp_path):
    monkeypatch.setattr(backend, "_find_cargo", lambda: None)
    assert backend.get_requires_for_build_wheel() == [backend.SETUPTOOLS]
    monkeypatch.setenv("BEDROCK_HOST_BUILD", "always")
    with pytest.raises(RuntimeError, match="cargo is not installed"):
        backend.get_requires_for_build_wheel()
    monkeypatch.setattr(backend, "_find_cargo", lambda: "/usr/bin/cargo")
    monkeypatch.setattr(backend, "HOST_CRATE", tmp_path / "Cargo.toml")
    with pytest.raises(RuntimeError, match="its Rust crate"):
        backend.get_requires_for_build_wheel()
    monkeypatch.setenv("BEDROCK_HOST_BUILD", "auto")
    assert backend.get_requires_for_build_wheel() == [backend.SETUPTOOLS]
    monkeypatch.setenv("BEDROCK_HOST_BUILD", "sometimes")
    with pytest.raises(ValueError, match="BEDROCK_HOST_BUILD"):
        backend.get_requires_for_build_wheel()
