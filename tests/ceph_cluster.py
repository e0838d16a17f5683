"""A live sandbox Ceph cluster for the test session (mon, mgr, memstore OSD on loopback).

Built on the benchmark's sandbox recipe (benchmarks/cluster.py); the port is
chosen free at start, so concurrent test runs on one machine do not collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.cluster import Sandbox


def free_port() -> int:
    """A port free right now, drawn at random from a high range (fewer races between concurrent runs)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 60000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def ceph_available() -> str | None:
    """None when the Ceph daemons and python3-rados are here, else what is missing."""
    missing = [b for b in ("ceph-mon", "ceph-osd", "ceph-mgr", "rbd", "rados", "monmaptool") if not shutil.which(b)]
    try:
        import rados  # noqa: F401
    except ImportError:
        missing.append("python3-rados")
    return ", ".join(missing) or None


class CephCluster:
    """One running cluster: ``conf``, ``fsid``, and helpers to drive it.

    ``wrap`` prefixes every Ceph command and daemon (tests/releases.py: a chroot into another release's root).
    """

    def __init__(self, root: Path, wrap: tuple[str, ...] = ()) -> None:
        self.root = root
        self.wrap = wrap
        self.sandbox = self._start(root, wrap=wrap)
        try:
            self.conf = str(self.sandbox.conf)
            self.env = dict(os.environ, CEPH_CONF=self.conf)
            self.fsid = json.loads(self.ceph("fsid", "--format", "json").stdout)["fsid"]
            self._pools: set[str] = set()
            self.new_pool("rbd")
        except BaseException:
            _stop_and_wait(self.sandbox)
            raise

    @staticmethod
    def _start(root: Path, attempts: int = 3, wrap: tuple[str, ...] = ()) -> Sandbox:
        """Start the sandbox, retrying on a fresh port when a start fails (ports race on a busy machine)."""
        for attempt in range(attempts):
            try:
                sandbox = Sandbox.start(root, free_port(), memstore_bytes=1 << 30, wrap=wrap)
                # another run may have raced us to the port: make sure our mon answers with our fsid
                want = next(line.split("=", 1)[1].strip() for line in sandbox.conf.read_text().splitlines()
                            if line.startswith("fsid"))
                got = subprocess.run([*wrap, "ceph", "-c", str(sandbox.conf), "fsid"], capture_output=True, text=True,
                                     timeout=60).stdout.strip()
                if got != want:
                    raise RuntimeError(f"the mon on this port belongs to another cluster ({got!r})")
                return sandbox
            except Exception:
                _stop_and_wait(Sandbox(root, 0))
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _cmd(self, tool: str, args: Sequence[str], check: bool, stdin: bytes | None = None) -> subprocess.CompletedProcess[Any]:
        for attempt in range(5):
            proc = subprocess.run([*self.wrap, tool, "-c", self.conf, *map(str, args)], env=self.env, capture_output=True,
                                  input=stdin, timeout=300, cwd=self.root)
            # the ceph CLI (python-rados) may send its first command before it knows the fsid (zeros): the
            # mon refuses it with EPERM "problem getting command descriptions"; nothing happened, run it again
            if not (tool == "ceph" and b"problem getting command descriptions" in proc.stderr and attempt < 4):
                break
            time.sleep(0.2)
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                           proc.stderr.decode("utf-8", "replace"))

    def ceph(self, *args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._cmd("ceph", args, check)

    def rbd(self, *args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._cmd("rbd", args, check)

    def rados(self, *args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._cmd("rados", args, check)

    def rados_bytes(self, *args: Any) -> bytes:
        proc = subprocess.run([*self.wrap, "rados", "-c", self.conf, *map(str, args)], env=self.env, capture_output=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def new_pool(self, name: str) -> str:
        if name not in self._pools:
            self.ceph("osd", "pool", "create", name, "8")
            self.rbd("pool", "init", name)
            self._pools.add(name)
        return name

    def journaltools(self, *args: Any, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Run our CLI against this cluster in a subprocess: (exit code, stdout, stderr)."""
        exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools"
        cmd = [str(exe) if exe.exists() else "journaltools", "-c", self.conf, *map(str, args)]
        # in the sandbox's directory: files a command writes to its working directory (reset's default
        # backup) never land in the checkout
        proc = subprocess.run(cmd, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=600,
                              cwd=self.root)
        return proc.returncode, proc.stdout, proc.stderr

    def connect(self) -> Any:
        import rados

        cluster = rados.Rados(conffile=self.conf)
        cluster.connect(timeout=15)
        return cluster

    def stop(self) -> None:
        _stop_and_wait(self.sandbox)


def _stop_and_wait(sandbox: Sandbox, timeout: float = 15.0) -> None:
    """SIGTERM the sandbox's daemons, then SIGKILL whatever is still alive after ``timeout``."""
    import signal
    import time

    pids = []
    for pid_file in sandbox.root.glob("*.pid"):
        try:
            pids.append(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            continue
    sandbox.stop()
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_cluster() -> tuple[CephCluster, Path]:
    root = Path(tempfile.mkdtemp(prefix="journaltools-ceph-"))
    return CephCluster(root / "cluster"), root
