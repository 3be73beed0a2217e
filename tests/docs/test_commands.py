"""Every command shown in README.md and docs/*.md runs, on a fresh database, as the page shows it.

The convention the pages follow (docs/architecture.md, "The pages' commands"):

* Shell commands are shown in ```` ```console ```` blocks only; a line starting with ``$ `` is a
  command, a command whose line ends with `` \\`` continues on the next line, and every other line
  is output shown to the reader (not compared). Other shell-like fences (``sh``, ``bash``,
  ``shell``) are refused, so nothing looks runnable that is not run; a synopsis is ``text``.
* ``<!-- not run: reason -->`` on the line just before a fence leaves that block out (``make run``
  and ``make test`` themselves: they install and run everything; the test runs what ``make run``
  does as ``qabilet serve --demo-session`` on a free port instead).
* A command that fails on purpose says so at the end of its line: ``# exit status N``; it must
  then exit with N. Any other command must exit with 0.
* ``` ```python ``` blocks run too, in order, in one interpreter per page (the page's namespace
  carries over from block to block), in the same temporary directory.

How a page runs: its commands run in order in one ``bash`` (so a variable set by one command is
seen by the next), in a new temporary directory as the working directory, with the project's
``.venv/bin`` first on ``PATH`` (``qabilet`` and ``python`` are the project's), every
``QABILET_*`` variable of the caller's environment removed and ``QABILET_DATABASE_URL`` naming a
fresh SQLite file there (``sqlite:///…/qabilet.db``: the default's file name, so the page's words
about ``qabilet.db`` hold). A ``qabilet serve …`` command starts in the background (its output in
the file it names, or kept by the test), on a free port instead of the page's (8000, its default,
or another 80xx: every such number in the page's commands, as in ``--port 8000`` and
``127.0.0.1:8000``, becomes one free port), and the next command waits until the server answers
on it; the server is stopped at the end of the page. A failing
command fails the test naming the page, the line and its output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: seconds a command may take (a demonstration bank is built in about 30 s on two cores)
COMMAND_TIMEOUT = 240
#: seconds a server may take to answer after it was started (it may build the bank first)
SERVER_TIMEOUT = 180

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->")
EXPECTED_STATUS = re.compile(r"#\s*exit status (\d+)\s*$")
SERVE = re.compile(r"(?:^|[;&|(]\s*)(?:\w+=\S*\s+)*qabilet\s+serve\b")
#: the ports a page may name (8000, the default, and its neighbours); each becomes a free one
PORT = re.compile(r"\b80\d\d\b")
SHELL_FENCES = {"sh", "bash", "shell", "zsh", "console"}


@dataclass
class Block:
    """A fenced block of a page: its language, first line (1-based) and lines."""

    language: str
    line: int
    lines: list[str]
    not_run: str | None


@dataclass
class Command:
    line: int
    text: str
    expected: int


def blocks(page: Path) -> list[Block]:
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, language = m.groups()
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.search(before)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence[:3]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        out.append(Block(language.lower(), i + 1, body, marker.group(1) if marker else None))
        i = j + 1
    return out


def commands(block: Block) -> list[Command]:
    """The commands of a ``console`` block (``$ `` lines with their `` \\`` continuations)."""
    out: list[Command] = []
    i = 0
    while i < len(block.lines):
        line = block.lines[i]
        if not line.startswith("$ "):
            i += 1
            continue
        number, text = block.line + 1 + i, line[2:]
        while text.endswith("\\") and i + 1 < len(block.lines):
            i += 1
            text = text + "\n" + block.lines[i]
        m = EXPECTED_STATUS.search(text)
        out.append(Command(number, text, int(m.group(1)) if m else 0))
        i += 1
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QABILET_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent),
               QABILET_DATABASE_URL=f"sqlite:///{workdir / 'qabilet.db'}", COLUMNS="100",
               HOME=env.get("HOME", str(workdir)))
    env.pop("PYTHONPATH", None)
    return env


class Shell:
    """One ``bash`` for a page: commands run in it one by one, each with its output in a file."""

    def __init__(self, workdir: Path, logdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.logdir, self.n = workdir, logdir, 0
        self.servers: list[tuple[int, Path]] = []  # (process group, its output)
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=workdir, env=env, text=True, start_new_session=True)
        self._send("set -m")  # background jobs in process groups of their own, stopped as one

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def _wait(self, done: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done.exists():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def run(self, text: str, timeout: float = COMMAND_TIMEOUT) -> tuple[int | None, str]:
        """Run a command; its exit status (None: timed out or the shell died) and output."""
        self.n += 1
        out, done = self.logdir / f"{self.n}.out", self.logdir / f"{self.n}.rc"
        self._send(f"{{ {text}\n}} >{out} 2>&1 </dev/null; echo $? >{done}.tmp; mv {done}.tmp {done}")
        finished = self._wait(done, timeout)
        output = out.read_text(errors="replace") if out.exists() else ""
        if not finished:
            return None, output + f"\n[no exit status after {timeout:.0f} s]"
        return int(done.read_text()), output

    def serve(self, text: str, port: int) -> tuple[bool, str]:
        """Start a server command in the background; wait until it answers on ``port``."""
        self.n += 1
        out, pid = self.logdir / f"{self.n}.out", self.logdir / f"{self.n}.pid"
        self._send(f"{{ {text.rstrip().rstrip('&')}\n}} >{out} 2>&1 </dev/null &\n"
                   f"jobs -p %% >{pid}.tmp; mv {pid}.tmp {pid}")
        if not self._wait(pid, 10):
            return False, "[the shell did not start the server]"
        group = int(pid.read_text().split()[0])
        self.servers.append((group, out))
        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline:
            if _answers(port):
                return True, out.read_text(errors="replace")
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return False, out.read_text(errors="replace") + "\n[the server exited]"
            time.sleep(0.2)
        return False, out.read_text(errors="replace") + f"\n[no answer on {port}]"

    def close(self) -> None:
        for group, _ in self.servers:
            _stop(group)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _stop(self.proc.pid)


def _stop(group: int) -> None:
    """SIGTERM to a process group; SIGKILL after 15 s."""
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


# -- the pages follow the convention ------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_is_shown_only_in_console_blocks(page):
    bad = [f"{_where(page, b.line)}: ```{b.language} (commands go in ```console, synopses in "
           f"```text)" for b in blocks(page) if b.language in SHELL_FENCES - {"console"}]
    bad += [f"{_where(page, b.line)}: a console block without a `$ ` command"
            for b in blocks(page) if b.language == "console" and not commands(b)]
    assert not bad, "\n".join(bad)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them."""
    out = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


#: a relative path that climbs out of its folder, and a Markdown file's name
UPWARD = re.compile(r"(?<![\w.])((?:\.\./)+[\w.\-/]*)")
MD_NAME = re.compile(r"\b([\w\-]+\.md)\b")
def _in_repository(path: Path) -> bool:
    """Whether ``path`` is a file or folder of this repository."""
    resolved = path.resolve()
    return resolved.is_relative_to(ROOT) and resolved.exists()


#: the names of the repository's Markdown files
_MD_FILES = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}


@pytest.mark.parametrize("page", [*PAGES, ROOT / "notebooks" / "README.md",
                                  ROOT / "benchmarks" / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    # a path written out (``../x/y``) or a page named (``X.md``) must be one of the repository's,
    # whether or not it is a link: a clone holds nothing beside it
    bad = [p for p in UPWARD.findall(text) if not _in_repository(page.parent / p)]
    bad += [name for name in MD_NAME.findall(text) if name not in _MD_FILES]
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        if not path.is_relative_to(ROOT) or not path.exists():
            bad.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            bad.append(f"{target} (no such heading)")
    assert not bad, f"{page.relative_to(ROOT)} points outside the repository: {bad}"


def test_the_settings_table_lists_every_setting():
    """docs/http.md's table of settings names every ``QABILET_*`` setting, and no other."""
    import dataclasses

    from qabilet.api.settings import Settings

    fields = (getattr(Settings, "model_fields", None)
              or {f.name: f for f in dataclasses.fields(Settings)})
    names = {f"QABILET_{name.upper()}" for name in fields}
    for module in ("itembank/database.py", "attestation/accounts.py"):  # their own variables
        names |= set(re.findall(r'=\s*"(QABILET_[A-Z0-9_]+[A-Z0-9])"', (ROOT / module).read_text()))
    text = (ROOT / "docs" / "http.md").read_text(encoding="utf-8")
    table = text[text.index("## Settings"):]
    shown = set(re.findall(r"QABILET_[A-Z0-9_]+[A-Z0-9]", table))
    assert names <= shown, f"settings missing from docs/http.md: {sorted(names - shown)}"
    assert shown <= names, f"docs/http.md lists settings that do not exist: {sorted(shown - names)}"


# -- the commands run -----------------------------------------------------------------------------


def _showing(language: str) -> list[Path]:
    """The pages with a block of ``language`` to run (the others have nothing to test here)."""
    return [p for p in PAGES if any(b.language == language and not b.not_run for b in blocks(p))]


@pytest.mark.parametrize("page", _showing("console"), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_run(page, tmp_path):
    runnable = [b for b in blocks(page) if b.language == "console" and not b.not_run]
    todo = [c for b in runnable for c in commands(b)]
    if not shutil.which("curl") or not shutil.which("jq"):
        skip_or_fail("the pages' commands use curl and jq (Debian: apt-get install curl jq)")
    workdir, logdir = tmp_path / "work", tmp_path / "log"
    workdir.mkdir()
    logdir.mkdir()
    ports = {p: str(_free_port()) for c in todo for p in PORT.findall(c.text)}
    ports.setdefault("8000", str(_free_port()))
    shell = Shell(workdir, logdir, _environment(workdir))
    ran, began, slow = 0, time.monotonic(), []
    try:
        for command in todo:
            started = time.monotonic()
            text = PORT.sub(lambda m: ports[m.group()], command.text)
            where = _where(page, command.line)
            if SERVE.search(text):
                if "--port" not in text:
                    text = re.sub(r"(qabilet\s+serve\b)", rf"\1 --port {ports['8000']}", text,
                                  count=1)
                port = int(re.search(r"--port[= ](\d+)", text).group(1))
                ok, output = shell.serve(text, port)
                assert ok, f"{where}: `{command.text}` did not answer on its port:\n{output}"
                ran += 1
                slow.append((time.monotonic() - started, command.line))
                continue
            status, output = shell.run(text)
            assert status == command.expected, (
                f"{where}: `{command.text}` exited with {status} (expected {command.expected}):"
                f"\n{output}")
            ran += 1
            slow.append((time.monotonic() - started, command.line))
    finally:
        shell.close()
    slowest = ", ".join(f"line {line} {s:.1f} s" for s, line in sorted(slow, reverse=True)[:3])
    print(f"\n{page.relative_to(ROOT)}: {ran} commands in {time.monotonic() - began:.1f} s "
          f"(slowest: {slowest})")


RUNNER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for line, code in blocks:
    try:
        exec(compile(code, sys.argv[2], "exec"), namespace)
    except BaseException:
        print(f"the python block at line {line} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


@pytest.mark.parametrize("page", _showing("python"), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_python_runs(page, tmp_path):
    import json

    # each block padded to its place in the page, so that a traceback names the page's line
    code = [(b.line, "\n" * b.line + "\n".join(b.lines)) for b in blocks(page)
            if b.language == "python" and not b.not_run]
    (tmp_path / "blocks.json").write_text(json.dumps(code))
    env = _environment(tmp_path)
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run([str(BIN / "python"), "-c", RUNNER, "blocks.json",
                          str(page.relative_to(ROOT))], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert out.returncode == 0, f"{page.relative_to(ROOT)}:\n{out.stdout}\n{out.stderr}"


if __name__ == "__main__":  # pragma: no cover - a page at a time: python test_commands.py README.md
    sys.exit(pytest.main([__file__, "-k", " or ".join(sys.argv[1:]) or "", "-s"]))
