"""Three "hosts" on one machine: Linux network namespaces joined by veth pairs.

Each host is a network namespace with its own interfaces, addresses and
ports (iproute2, as root).  The *data* host runs its own PostgreSQL
(``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin), its own redis-server
and a recording SMTP sink, on their standard ports *inside* that namespace,
so nothing touches the machine's own servers.  Two *worker* hosts each get a
point-to-point link to the data host; the test process (in the machine's
namespace) gets one too, to set up the store and read the results.  Every
address is link-local (169.254.K.0/28, K random per run), never routed off
the machine::

    test process  169.254.K.1 ──── 169.254.K.2  data host  (PostgreSQL :5432,
    worker host 1 169.254.K.6 ──── 169.254.K.5               Redis :6379,
    worker host 2 169.254.K.10 ─── 169.254.K.9               SMTP sink :2525)

:class:`Cluster` builds all of it and :meth:`Cluster.destroy` takes it down
(processes killed by pid, namespaces deleted), also when a test fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SINK = Path(__file__).resolve().parent / "recording_smtp_sink.py"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
SMTP_PORT = 2525


class NamespacesUnavailableError(RuntimeError):
    """This machine (or container) does not let us create network namespaces."""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def probe_namespaces() -> None:
    """Create and delete one namespace; raises NamespacesUnavailableError saying why not."""
    if shutil.which("ip") is None:
        raise NamespacesUnavailableError("iproute2's `ip` command is not installed")
    if os.geteuid() != 0:
        raise NamespacesUnavailableError("creating network namespaces needs root")
    name = f"nl-probe-{uuid.uuid4().hex[:6]}"
    try:
        _run("ip", "netns", "add", name)
    except subprocess.CalledProcessError as exc:
        raise NamespacesUnavailableError(f"`ip netns add` failed: {exc.stderr.strip()}") from exc
    with contextlib.suppress(subprocess.CalledProcessError):
        _run("ip", "netns", "del", name)


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (scripts/setup "
            "--dev installs the postgresql package)"
        )
    return Path(found[-1]).parent


def _free_subnet_octet() -> int:
    """K for 169.254.K.0/28, not used by any address on this machine now."""
    used = _run("ip", "-4", "-o", "addr").stdout
    candidates = [k for k in range(100, 250) if k != 169 and f"169.254.{k}." not in used]
    return random.choice(candidates)


@dataclass
class Host:
    """One network namespace."""

    namespace: str
    address: str  # this host's address on its link to the data host
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's network namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def start(
        self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process on this host, logging to ``log``.

        It also gets a hostname of its own (a UTS namespace named after the
        host), so Celery names each worker after the machine it runs on.
        """
        named = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"',
                 self.namespace, *argv]  # fmt: skip
        with log.open("ab") as out:
            self.processes.append(
                subprocess.Popen(
                    self.command(named),
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self.processes[-1]

    def pids(self) -> list[int]:
        """Every process running in this namespace now."""
        result = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True
        )
        return [int(p) for p in result.stdout.split()]

    def kill_everything(self) -> list[int]:
        """SIGKILL every process on the host at once, as a power cut would."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()
        return pids


class Cluster:
    """The data host, two worker hosts, and the links; see the module doc."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.tag = uuid.uuid4().hex[:5]
        self.k = _free_subnet_octet()
        self.data = Host(f"nl-{self.tag}-data", f"169.254.{self.k}.2")
        self.workers = [
            Host(f"nl-{self.tag}-w1", f"169.254.{self.k}.6"),
            Host(f"nl-{self.tag}-w2", f"169.254.{self.k}.10"),
        ]
        # The data host's address as seen from each worker host's link.
        self.data_address_for = {
            self.workers[0].namespace: f"169.254.{self.k}.5",
            self.workers[1].namespace: f"169.254.{self.k}.9",
        }
        self.sink_log = log_dir / "smtp-sink.log"
        self.pgdata: Path | None = None
        self._made: list[str] = []

    # -- building -----------------------------------------------------------------

    def build(self) -> None:
        """Namespaces, links, then PostgreSQL, Redis and the sink on the data host."""
        for host in (self.data, *self.workers):
            _run("ip", "netns", "add", host.namespace)
            self._made.append(host.namespace)
            _run("ip", "-n", host.namespace, "link", "set", "lo", "up")
        k, tag, data = self.k, self.tag, self.data.namespace
        # The test process's link: a veth with one end here, one on the data host.
        _run("ip", "link", "add", f"nl{tag}t", "type", "veth", "peer", "name", f"nl{tag}d",
             "netns", data)  # fmt: skip
        _run("ip", "addr", "add", f"169.254.{k}.1/30", "dev", f"nl{tag}t")
        _run("ip", "link", "set", f"nl{tag}t", "up")
        _run("ip", "-n", data, "addr", "add", f"169.254.{k}.2/30", "dev", f"nl{tag}d")
        _run("ip", "-n", data, "link", "set", f"nl{tag}d", "up")
        for number, worker in enumerate(self.workers, start=1):
            here, there = f"nl{tag}a{number}", f"nl{tag}b{number}"
            _run("ip", "-n", data, "link", "add", here, "type", "veth", "peer", "name", there,
                 "netns", worker.namespace)  # fmt: skip
            data_side = self.data_address_for[worker.namespace]
            _run("ip", "-n", data, "addr", "add", f"{data_side}/30", "dev", here)
            _run("ip", "-n", data, "link", "set", here, "up")
            _run("ip", "-n", worker.namespace, "addr", "add", f"{worker.address}/30", "dev", there)
            _run("ip", "-n", worker.namespace, "link", "set", there, "up")
        self._start_postgres()
        # Inside the data host's namespace "every interface" is its two links
        # and its own loopback: nothing outside this machine can reach them.
        everywhere = "0.0.0.0"  # noqa: S104
        self.data.start(
            ["redis-server", "--bind", everywhere, "--port", str(REDIS_PORT),
             "--protected-mode", "no", "--save", "", "--appendonly", "no"],
            self.log_dir / "redis.log",
        )  # fmt: skip
        self.data.start(
            [sys.executable, str(SINK), everywhere, str(SMTP_PORT), str(self.sink_log)],
            self.log_dir / "smtp-sink.out",
        )
        for port in (POSTGRES_PORT, REDIS_PORT, SMTP_PORT):
            self._wait_for_port(self.data.address, port)

    def _start_postgres(self) -> None:
        """initdb a private cluster (as the postgres user) and start it on the data host."""
        binaries = postgres_bin()
        owner = "postgres" if _user_exists("postgres") else "nobody"
        self.pgdata = Path(tempfile.mkdtemp(prefix=f"nl-{self.tag}-pg-"))
        entry = pwd.getpwnam(owner)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        as_owner = ["runuser", "-u", owner, "--"]
        data = str(self.pgdata / "data")
        _run(*as_owner, str(binaries / "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
             "--no-sync")  # fmt: skip
        with (self.pgdata / "data" / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 169.254.0.0/16 trust\n")
        options = (
            f"-c listen_addresses='*' -c port={POSTGRES_PORT} "
            f"-c unix_socket_directories='{self.pgdata}' -c fsync=off "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        log = self.pgdata / "postgres.log"
        pg_ctl = [*as_owner, str(binaries / "pg_ctl"), "-D", data, "-l", str(log),
                  "-o", options, "-w", "-t", "60", "start"]  # fmt: skip
        subprocess.run(self.data.command(pg_ctl), check=True, capture_output=True, text=True)

    def _wait_for_port(self, host: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")

    # -- using --------------------------------------------------------------------

    def database_url(self, database: str, *, from_host: Host | None = None) -> str:
        """The URL of ``database`` on the data host, as seen from ``from_host`` (or here)."""
        address = (
            self.data.address if from_host is None else self.data_address_for[from_host.namespace]
        )
        return f"postgresql+psycopg://postgres@{address}:{POSTGRES_PORT}/{database}"

    def redis_url(self, *, from_host: Host | None = None) -> str:
        address = (
            self.data.address if from_host is None else self.data_address_for[from_host.namespace]
        )
        return f"redis://{address}:{REDIS_PORT}/0"

    def smtp_url(self, *, from_host: Host | None = None) -> str:
        address = (
            self.data.address if from_host is None else self.data_address_for[from_host.namespace]
        )
        return f"smtp://{address}:{SMTP_PORT}"

    def accepted(self) -> list[tuple[float, str, str]]:
        """(time, client address, recipient) of every message the sink accepted so far."""
        if not self.sink_log.exists():
            return []
        rows = []
        for line in self.sink_log.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3:
                rows.append((float(parts[0]), parts[1], parts[2]))
        return rows

    # -- taking down --------------------------------------------------------------

    def destroy(self) -> None:
        """Stop everything started and delete the namespaces (links go with them)."""
        if self.pgdata is not None and (self.pgdata / "data" / "postmaster.pid").exists():
            owner = self.pgdata.owner()
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                subprocess.run(
                    ["runuser", "-u", owner, "--", str(postgres_bin() / "pg_ctl"), "-D",
                     str(self.pgdata / "data"), "-m", "immediate", "-w", "-t", "20", "stop"],
                    check=True, capture_output=True, timeout=30,
                )  # fmt: skip
        for host in (*self.workers, self.data):
            if host.namespace in self._made:
                host.kill_everything()
        for name in self._made:
            with contextlib.suppress(subprocess.CalledProcessError):
                _run("ip", "netns", "del", name)
        self._made.clear()
        # The test process's end of its link lives in this namespace; it goes
        # with its peer, but make sure.
        with contextlib.suppress(subprocess.CalledProcessError):
            _run("ip", "link", "del", f"nl{self.tag}t")
        if self.pgdata is not None:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            self.pgdata = None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
