"""What a pod's container does with the image and command it is given, as far as the simulated
cluster can run it: the busybox image's `sh -c` with the applets validation's probe uses
(`ip -6 addr show dev IF`, `echo`, `$(...)`, `wget -q -T N -O - URL`, `||`), each as busybox
prints it. An image the simulation does not have fails to pull (Kubernetes: the container waits
with reason `ErrImagePull`); a command that is not there fails the container (`StartError`,
exit code 128, for the entrypoint; `sh: X: not found`, 127, inside the script).

The script's network is the caller's: `interface(name)` gives an interface's `ip` lines or
None, `connect(url)` the response body or the error wget prints.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

# Images the simulated nodes can pull: busybox from ECR Public's Docker official images or
# Docker Hub, by tag or digest.
_BUSYBOX = re.compile(
    r"^(?:public\.ecr\.aws/docker/library/|(?:docker\.io/)?(?:library/)?)busybox"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
SHELLS = ("sh", "/bin/sh")


@dataclass
class Outcome:
    output: str
    exit_code: int


class ImagePullError(Exception):
    """The image cannot be pulled: the container never starts."""


def check_image(image: str) -> None:
    if not _BUSYBOX.match(image or ""):
        raise ImagePullError(
            f'failed to pull and unpack image "{image}": not found in the simulated registry'
        )


def _split(script: str, separator: str) -> list[str]:
    """`script` split on `separator` outside quotes and $(...)."""
    parts, depth, quote, current = [], 0, "", ""
    index = 0
    while index < len(script):
        char = script[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif script.startswith("$(", index):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0 and script.startswith(separator, index):
            parts.append(current)
            current = ""
            index += len(separator)
            continue
        current += char
        index += 1
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


class Shell:
    def __init__(
        self,
        interface: Callable[[str], str | None],
        connect: Callable[[str, float], tuple[str | None, str]],
    ) -> None:
        self.interface = interface
        self.connect = connect
        self._stderr: list[str] = []

    def _error(self, text: str, code: int) -> tuple[str, int]:
        """A failure: its message goes to stderr (the pod's log too, never to a $(...))."""
        self._stderr.append(text)
        return "", code

    def run(self, script: str) -> Outcome:
        out: list[str] = []
        code = 0
        for statement in _split(script, ";"):
            self._stderr = []
            text, code = self._or_list(statement)
            out += [*self._stderr, text]
        return Outcome("".join(out), code)

    def _or_list(self, statement: str) -> tuple[str, int]:
        text, code = "", 1
        for command in _split(statement, "||"):
            text_one, code = self._command(command)
            text += text_one
            if code == 0:
                break
        return text, code

    def _expand(self, word: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            text, _ = self._or_list(match.group(1))
            return text.rstrip("\n")

        return re.sub(r"\$\(([^()]*)\)", substitute, word)

    def _command(self, command: str) -> tuple[str, int]:
        # Substitutions first (inside double quotes too), then words, as sh does.
        try:
            words = shlex.split(self._expand(command))
        except ValueError:
            return self._error("sh: syntax error: unterminated quoted string\n", 2)
        if not words:
            return "", 0
        name, args = words[0], words[1:]
        if name == "echo":
            return " ".join(args) + "\n", 0
        if name == "ip":
            return self._ip(args)
        if name == "wget":
            return self._wget(args)
        return self._error(f"sh: {name}: not found\n", 127)

    def _ip(self, args: list[str]) -> tuple[str, int]:
        if args[:3] != ["-6", "addr", "show"] or len(args) != 5 or args[3] != "dev":
            return self._error("ip: unsupported arguments (simulation)\n", 1)
        lines = self.interface(args[4])
        if lines is None:
            return self._error(f'Device "{args[4]}" does not exist.\n', 1)
        return lines, 0

    def _wget(self, args: list[str]) -> tuple[str, int]:
        timeout, output, url = 900.0, None, None
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "-q":
                pass
            elif arg == "-T" and index + 1 < len(args):
                timeout = float(args[index + 1])
                index += 1
            elif arg == "-O" and index + 1 < len(args):
                output = args[index + 1]
                index += 1
            elif not arg.startswith("-"):
                url = arg
            index += 1
        if url is None:
            return self._error("wget: no URL given\n", 1)
        if output != "-":
            return self._error("wget: can't open output file: Read-only file system\n", 1)
        body, error = self.connect(url, timeout)
        if body is None:
            return self._error(f"wget: {error}\n", 1)
        return body, 0
