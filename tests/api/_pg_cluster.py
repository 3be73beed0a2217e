"""A throwaway PostgreSQL cluster for fault tests: made, stopped and started by the test itself.

As ``.ci/run`` makes one when no server answers: Debian's ``initdb`` and ``pg_ctl``
(``/usr/lib/postgresql/<version>/bin``), trust authentication, a temporary folder, listening on
127.0.0.1 only, on a port free now; as the ``postgres`` user when the tests run as root (initdb
refuses root). Never the machine's shared server, which a test must not restart.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.api._server import free_port

__all__ = ["Cluster", "postgres_bin"]


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` (None: none)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name))

    return Path(max(found, key=version)).parent if found else None


class Cluster:
    """A PostgreSQL cluster in a temporary folder, with one database ``test``.

    Parameters
    ----------
    bin_dir : pathlib.Path
        The folder of ``initdb``, ``pg_ctl`` and ``createdb`` (:func:`postgres_bin`).

    Attributes
    ----------
    url : str
        ``postgresql://postgres@127.0.0.1:<port>/test``.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin, self.port = bin_dir, free_port()
        self.root = Path(tempfile.mkdtemp(prefix="qabilet-pg-"))  # not pytest's: postgres reads it
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/test"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n{log}")

    def create(self) -> Cluster:
        """``initdb``, start, ``createdb test``."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "test")
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients disconnected, a clean shutdown) or ``immediate``
        (every server process quits at once: a crash, recovered from the log at the next start).
        """
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server if it runs, and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # already gone; the folder goes anyway
        shutil.rmtree(self.root, ignore_errors=True)
