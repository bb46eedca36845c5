"""A real XRootD server on localhost for the remote-input tests (Debian's `xrootd-server`).

.ci/run installs the package when run as root and sets EGCALIB_REQUIRE_XROOTD=1, so the tests fail
rather than skip when the server cannot run; elsewhere they skip without `xrootd` on the PATH.
xrootd refuses to run as root: as root it drops to `nobody` (-R), so what it serves must be
readable by all.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# The client's retries shortened so a server that is down fails in seconds, not minutes (the
# defaults suit the grid; egcalib.core.remote_files leaves them to the site). Set in the
# environment of the tests' Snakemake runs and, before the client first starts, of this process.
CLIENT_ENV = {
    "XRD_CONNECTIONRETRY": "1",
    "XRD_CONNECTIONWINDOW": "2",
    "XRD_REQUESTTIMEOUT": "20",
    "XRD_STREAMERRORWINDOW": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readable_directory(prefix: str) -> Path:
    """A new directory under the system temp dir that the server's user can read."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class XRootDServer:
    """``xrootd`` serving ``export`` (a readable_directory) on a free localhost port."""

    def __init__(self, export: Path):
        if shutil.which("xrootd") is None:
            if os.environ.get("EGCALIB_REQUIRE_XROOTD"):
                pytest.fail("EGCALIB_REQUIRE_XROOTD is set and xrootd is not on the PATH")
            pytest.skip("no xrootd server (Debian: apt-get install xrootd-server)")
        self.export = export
        self.port = free_port()
        self.state = readable_directory("egcalib-xrootd-state-")
        self.state.chmod(0o777)  # its admin and pid files, written as nobody
        self.config = self.state / "xrootd.cfg"
        self.config.write_text(
            f"all.export {export}\nxrd.port {self.port}\n"
            f"all.adminpath {self.state}\nall.pidpath {self.state}\n"
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The URL of the exported directory: root://localhost:PORT//export."""
        return f"root://localhost:{self.port}/{self.export}"

    def start(self, timeout: float = 30) -> None:
        user = ["-R", "nobody"] if os.geteuid() == 0 else []
        with (self.state / "server.log").open("w") as log:
            self.process = subprocess.Popen(
                ["xrootd", "-c", str(self.config), "-n", "egcalib", *user],
                cwd=self.state,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"xrootd exited: {(self.state / 'server.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"xrootd did not listen on port {self.port} in {timeout} s")

    def stop(self) -> None:
        """Kill the server at once (SIGKILL): connections break off mid-read."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
