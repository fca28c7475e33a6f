"""The built functions load as Lambda loads them: Python 3.13, the task root, the layer and the
runtime's own SDK on the path, nothing from this project's virtual environment, the template's
environment. The unit tests import from `.venv`, which holds every dev dependency, so a package the
layer lacks is invisible to them (aws_xray_sdk, which Powertools' Tracer needs, once was)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import lambda_build

PYTHON = lambda_build.find_python()
pytestmark = [
    pytest.mark.skipif(PYTHON is None, reason=lambda_build.WHERE_TO_GET_IT),
    # one worker builds once for all of them (`--dist loadgroup` in `make unit`)
    pytest.mark.xdist_group("lambda-artifacts"),
]
FUNCTIONS = lambda_build.functions()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert PYTHON is not None
    return lambda_build.build(tmp_path_factory.mktemp("sam-build"), PYTHON)


def test_the_template_names_eleven_functions_on_one_handler() -> None:
    assert len(FUNCTIONS) == 12
    assert {f.handler for f in FUNCTIONS} == {"app.handler"}


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_handler_imports_from_the_built_artifacts_alone(
    built: Path, function: lambda_build.Function
) -> None:
    assert PYTHON is not None
    module, name = function.handler.rsplit(".", 1)
    check = (
        f"import {module}\n"
        f"assert callable({module}.{name})\n"
        # nothing came from outside Lambda's path (a stray site-packages would hide a gap)
        "import os\n"
        "roots = sys.path[:3]\n"
        "stray = sorted({m.__name__.split('.')[0] for m in list(sys.modules.values())\n"
        "    if getattr(m, '__file__', None) and 'site-packages' in m.__file__\n"
        "    and not any(m.__file__.startswith(r) for r in roots)})\n"
        "assert not stray, stray\n"
    )
    done = subprocess.run(
        lambda_build.import_command(PYTHON, function, built, check),
        env=lambda_build.lambda_environment(function, built),
        cwd=built / "functions" / function.logical_id,
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_handler_traces_its_aws_calls_and_patches_nothing_else(
    built: Path, function: lambda_build.Function
) -> None:
    # Given the handler loaded as Lambda loads it (tracing is on under Lambda's variables)
    module = function.handler.rsplit(".", 1)[0]
    check = (
        f"import {module}\n"
        "from aws_xray_sdk.core.patcher import _PATCHED_MODULES\n"
        "print(sorted(_PATCHED_MODULES))\n"
    )
    # When it is imported
    done = subprocess.run(
        lambda_build.import_command(PYTHON or "", function, built, check),
        env=lambda_build.lambda_environment(function, built),
        cwd=built / "functions" / function.logical_id,
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    # Then botocore's calls are traced, and no patcher of a library the functions never use
    # was imported (each costs import time on every cold start: bench/cold_start.py)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "['botocore']"


def test_the_layer_holds_the_pinned_packages_and_nothing_for_development(built: Path) -> None:
    layer = built / "layer" / "python"
    installed = {
        p.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-"):
        p.name.removesuffix(".dist-info").rsplit("-", 1)[1]
        for p in layer.glob("*.dist-info")
    }  # fmt: skip
    pinned = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in lambda_build.requirements(lambda_build.layer_source() / "requirements.txt")
    }
    # every package pip put there is pinned (none came in unpinned, as a dependency), at its pin
    assert installed == pinned
    for tooling in ("moto", "pytest", "flask", "local", "tests"):
        assert not (layer / tooling).exists(), f"{tooling} is in the layer"


def test_the_layer_pins_what_the_tests_run() -> None:
    # the same version of every package the tests import from .venv as Lambda imports from the
    # layer (requirements.txt, installed by `make setup`)
    layer = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in lambda_build.requirements(lambda_build.layer_source() / "requirements.txt")
    }
    tested = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in lambda_build.requirements(lambda_build.ROOT / "requirements.txt")
    }
    assert set(tested) <= set(layer)
    assert {name: layer[name] for name in tested} == tested
