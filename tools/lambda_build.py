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


class _Tag(dict[str, Any]):
    """A CloudFormation short-form function (!Ref, !Sub, ...) read as its long form."""


def _template_loader() -> Any:
    import yaml  # only here: `find-python` runs before any virtual environment exists

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: Any, suffix: str, node: Any) -> _Tag:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return _Tag({name: value})

    Loader.add_multi_constructor("!", construct)
    return Loader


def template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_template_loader())  # noqa: S506
    return loaded


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]


class _Resolver:
    """Plain values for the environment's intrinsic functions, as a deploy with the parameters'
    defaults would give (a resource's Ref stands in as `<stack>-<logical id>`)."""

    def __init__(self, doc: dict[str, Any], stack: str) -> None:
        self.doc, self.stack = doc, stack
        self.parameters = {
            k: str(v.get("Default", "")) for k, v in doc.get("Parameters", {}).items()
        }

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((name, arg),) = node.items()
        if name == "Ref":
            pseudo = {"AWS::StackName": self.stack, "AWS::Region": "eu-west-1",
                      "AWS::AccountId": "111122223333", "AWS::Partition": "aws",
                      "AWS::NoValue": None}  # fmt: skip
            if arg in pseudo:
                return pseudo[arg]
            return self.parameters.get(arg, f"{self.stack}-{arg}")
        if name == "Fn::If":
            condition, yes, no = arg
            return self.value(yes if self.condition(condition) else no)
        if name == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            for key in [*self.parameters, "AWS::StackName", "AWS::Region", "AWS::AccountId",
                        "AWS::Partition"]:  # fmt: skip
                text = text.replace("${" + key + "}", str(self.value({"Ref": key})))
            return text
        if name == "Fn::GetAtt":
            return f"{self.stack}-{arg[0]}-{arg[1]}"
        raise ValueError(f"no stand-in for {name} in a function's environment")

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.doc["Conditions"][name]))

    def _evaluate(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((name, arg),) = node.items()
            if name == "Fn::Not":
                return not self._evaluate(arg[0])
            if name == "Fn::Equals":
                return self._evaluate(arg[0]) == self._evaluate(arg[1])
            if name == "Fn::And":
                return all(self._evaluate(a) for a in arg)
            if name == "Fn::Or":
                return any(self._evaluate(a) for a in arg)
            if name == "Condition":
                return self.condition(arg)
        return self.value(node)


def functions(stack: str = "v6migrate") -> list[Function]:
    """Every AWS::Serverless::Function of template.yaml, with its Globals applied."""
    doc = template()
    resolve = _Resolver(doc, stack)
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
        environment = {}
        for key, node in variables.items():
            value = resolve.value(node)
            if value is not None:
                environment[key] = str(value)
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
