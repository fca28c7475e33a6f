"""Build the functions and their layer as `sam build` lays them out, and load them as Lambda does.

`sam build` (BuildMethod python3.13) puts a layer's source and its pinned requirements under
`python/` (mounted at /opt/python), and each function's CodeUri, with its own requirements, at
the task root (/var/task). Lambda's Python runtime puts the task root first on the path, then the
layers, then its own packages (boto3 and what it needs). This module builds the same tree with a
python3.13 (packages for the host's platform: the layer is built for arm64, whose compiled wheels
an x86_64 host cannot load; the names and versions are the same), reads the functions, handlers
and environment from template.yaml, and imports a handler with nothing else on the path.

    python tools/lambda_build.py find-python      # the python3.13 `make build` uses, or why none
    python tools/lambda_build.py build OUT        # the artifacts, as above
    python tools/lambda_build.py compile DIR      # byte-compile a build (`make build` does)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "3.13"
# What Lambda's python3.13 runtime brings of its own (its SDK), pinned as requirements.txt pins it.
RUNTIME_PACKAGES = ("boto3", "botocore")
WHERE_TO_GET_IT = (
    "python3.13 not found (looked on PATH, in pyenv, asdf and uv): install Python 3.13, e.g. "
    "`pyenv install 3.13`, or set PYTHON313=/path/to/python3.13"
)


def find_python() -> str | None:
    """A python3.13: $PYTHON313, then PATH, then the version managers' usual places."""
    home = Path.home()
    pyenv = Path(os.environ.get("PYENV_ROOT", home / ".pyenv"))
    managed = (  # the newest patch release first
        pyenv / "versions" / f"{RUNTIME}*",
        home / ".asdf" / "installs" / "python" / f"{RUNTIME}*",
        home / ".local" / "share" / "uv" / "python" / f"cpython-{RUNTIME}*",
    )
    candidates = [
        os.environ.get("PYTHON313", ""),
        shutil.which("python3.13") or "",
        *(p for where in managed for p in sorted(glob.glob(f"{where}/bin/python3.13"))[::-1]),
        "/usr/local/bin/python3.13",
        "/opt/homebrew/bin/python3.13",
    ]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode == 0 and done.stdout.strip() == RUNTIME:
            return candidate
    return None


def template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    from local.template import load  # the embedded AWS reads templates as CloudFormation does

    return load(path)


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]


def functions(stack: str = "v6migrate") -> list[Function]:
    """Every AWS::Serverless::Function of template.yaml, with its Globals applied."""
    from local.template import Resolver

    doc = template()
    # the parameters' defaults; a resource's Ref or attribute stands in as `<stack>-<logical id>`
    resolve = Resolver(doc, stack, "eu-west-1", "111122223333")
    for logical in doc["Resources"]:
        resolve.refs[logical] = f"{stack}-{logical}"
        for attribute in ("Arn", "Name"):
            resolve.attributes[(logical, attribute)] = f"{stack}-{logical}-{attribute}"
    defaults = doc.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in doc["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **resource["Properties"]}
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        environment = {key: str(value) for key, value in resolve.resolve(variables).items()}
        found.append(Function(logical_id, ROOT / properties["CodeUri"], properties["Handler"],
                              environment))  # fmt: skip
    return found


def layer_source() -> Path:
    doc = template()
    (uri,) = [r["Properties"]["ContentUri"] for r in doc["Resources"].values()
              if r["Type"] == "AWS::Serverless::LayerVersion"]  # fmt: skip
    return ROOT / uri


def requirements(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _pip(python: str, target: Path, requirements: list[str]) -> None:
    if not requirements:
        return
    done = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(target), *requirements],  # compiled once, after
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip install into {target} failed:\n{done.stderr[-2000:]}")


def runtime_requirements() -> list[str]:
    pinned = requirements(ROOT / "requirements.txt")
    return [r for r in pinned if r.split("==")[0].lower() in RUNTIME_PACKAGES]


def build(out: Path, python: str) -> Path:
    """out/layer/python (the layer), out/functions/<id> (each task root), out/runtime (the
    runtime's own SDK). Returns out."""
    source = layer_source()
    layer = out / "layer" / "python"
    shutil.copytree(source, layer, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _pip(python, layer, requirements(source / "requirements.txt"))
    for function in functions():
        task = out / "functions" / function.logical_id
        shutil.copytree(function.code_uri, task, ignore=shutil.ignore_patterns("__pycache__"))
        _pip(python, task, requirements(function.code_uri / "requirements.txt"))
    _pip(python, out / "runtime", runtime_requirements())
    compile_bytecode(python, out)
    return out


def compile_bytecode(python: str, out: Path) -> None:
    """Byte-compile what was built, as `make build` does after `sam build`: Lambda's code and
    layers are read-only, so Python cannot cache what it compiles and would compile every module
    again on every cold start. Unchecked hashes: the zip keeps sources' times only to two seconds,
    and the code never changes after the build."""
    done = subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"compileall {out} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def lambda_environment(function: Function, out: Path) -> dict[str, str]:
    """The variables Lambda sets (its reserved ones) and the template's, nothing of this shell."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"v6migrate-{function.logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(out / "functions" / function.logical_id),
        "LAMBDA_RUNTIME_DIR": str(out / "runtime"),
        "_HANDLER": function.handler,
        **function.environment,
    }


def import_command(python: str, function: Function, out: Path, statement: str) -> list[str]:
    """A fresh interpreter with Lambda's path (task root, layer, runtime), no site-packages and,
    as on Lambda's read-only code, no bytecode written, running `statement` after it has the
    path."""
    path = [str(out / "functions" / function.logical_id), str(out / "layer" / "python"),
            str(out / "runtime")]  # fmt: skip
    return [python, "-I", "-S", "-B", "-c", f"import sys; sys.path[:0] = {path!r}\n{statement}"]


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "find-python":
        found = find_python()
        if found is None:
            raise SystemExit(WHERE_TO_GET_IT)
        print(found)
        return
    if len(sys.argv) == 3 and sys.argv[1] == "compile":
        python = find_python()
        if python is None:
            raise SystemExit(WHERE_TO_GET_IT)
        compile_bytecode(python, Path(sys.argv[2]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "build":
        python = find_python()
        if python is None:
            raise SystemExit(WHERE_TO_GET_IT)
        print(build(Path(sys.argv[2]), python))
        return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
