"""Processes for the dispatch benchmark: Redis, the SMTP sink, and /proc accounting.

Everything listens on 127.0.0.1 on a free port and is started in its own
process group, so :meth:`Service.stop` ends exactly what was started (by
process id) and nothing else.  CPU time and memory come from ``/proc``
(``stat`` fields 14-15 for user and system ticks, ``status`` for VmRSS and
VmHWM), so no extra package is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class Service:
    """A child process in its own session (process group), stopped by id."""

    def __init__(self, name: str, argv: Sequence[str], **popen: object) -> None:
        self.name = name
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            list(argv), start_new_session=True, **popen
        )

    @property
    def pid(self) -> int:
        """The process id of the started process."""
        return int(self.process.pid)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # A worker's children may outlive their parent for a moment; end the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_redis(port: int, folder: Path) -> Service:
    """redis-server on 127.0.0.1:``port``, no persistence, files in ``folder``."""
    service = Service(
        "redis",
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return service


class SmtpSink(Service):
    """An SMTP server that accepts and discards everything, writing nothing per message.

    Debian postfix's ``smtp-sink`` (C, event-driven) when installed, run
    without ``-c`` (its counter is a write to stdout per message, a cost no
    real server pays); else ``dispatch_sink.py``, an asyncio sink.  What
    arrived is checked from outside: the bytes the sink read from its sockets
    (``rchar`` in /proc/<pid>/io), against the bytes of the messages sent.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        binary = shutil.which("smtp-sink") or (
            "/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None
        )
        if binary is not None:
            argv = [binary, "-m", "1024"]
            if os.geteuid() == 0:
                argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without it
            argv += [f"127.0.0.1:{port}", "1024"]
            self.kind = "smtp-sink (Debian postfix), C, event-driven, discards messages"
        else:
            argv = [sys.executable, str(HERE / "dispatch_sink.py"), str(port)]
            self.kind = "dispatch_sink.py (asyncio), discards messages"
        super().__init__("smtp sink", argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port)

    @property
    def bytes_read(self) -> int:
        """Bytes the sink has read so far (sockets included), from /proc/<pid>/io."""
        for line in Path(f"/proc/{self.pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise RuntimeError("no rchar in /proc/<pid>/io")

    def wait_for_bytes(self, expected: int, timeout: float = 10.0) -> int:
        """Wait until the sink has read ``expected`` bytes (or ``timeout``); returns the count."""
        deadline = time.monotonic() + timeout
        while (got := self.bytes_read) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        return got


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (by scanning /proc/*/stat for the parent id)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(entry.path, "stat").read_bytes()
            # Field 4 (ppid) follows the parenthesised command, which may hold spaces.
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children_of(p)]
        tree.extend(frontier)
    return tree


def pids_named(name: str) -> list[int]:
    """Processes whose command name (``/proc/<pid>/comm``) is ``name``."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(entry.path, "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2 :].split()
    # After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` value (VmRSS, VmHWM) from /proc/<pid>/status; 0 if unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by named groups of processes between start() and stop().

    Each group is a function returning its pids now; :meth:`refresh` (called
    by :class:`RssSampler` while a run goes on) notes processes that appear
    later (a PostgreSQL backend per new connection) and the last reading of
    each, so a process that exits before :meth:`stop` still counts.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._start: dict[int, float] = {}
        self._last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._machine = (0.0, 0.0)
        self._lock = threading.Lock()
        self.used: dict[str, float] = {}
        self.machine_busy = 0.0
        self.machine_total = 0.0

    def start(self) -> None:
        """Take the starting readings."""
        self._start = {pid: cpu_seconds(pid) for find in self.groups.values() for pid in find()}
        self._machine = machine_busy_seconds()
        self.refresh()

    def refresh(self) -> None:
        """Read every process of every group now (new ones count from zero)."""
        with self._lock:
            for name, find in self.groups.items():
                last = self._last[name]
                for pid in set(find()) | set(last):
                    seconds = cpu_seconds(pid)
                    if seconds:  # 0 when the process has gone: keep its last reading
                        last[pid] = seconds

    def stop(self) -> None:
        """Take the final readings; ``used`` maps each group to its CPU seconds."""
        self.refresh()
        busy, total = machine_busy_seconds()
        self.machine_busy = busy - self._machine[0]
        self.machine_total = total - self._machine[1]
        self.used = {
            name: sum(max(s - self._start.get(pid, 0.0), 0.0) for pid, s in last.items())
            for name, last in self._last.items()
        }


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of a process tree every ``interval`` seconds."""

    def __init__(self, root: int, meter: CpuMeter | None = None, interval: float = 0.05) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.root = root
        self.meter = meter
        self.interval = interval
        self.peak_kb = 0
        self.pids: list[int] = process_tree(root)
        self._stop_event = threading.Event()

    def run(self) -> None:
        rescan = time.monotonic() + 1.0
        while not self._stop_event.is_set():
            if time.monotonic() > rescan:  # a replaced child process joins the tree
                self.pids = sorted(set(self.pids) | set(process_tree(self.root)))
                if self.meter is not None:
                    self.meter.refresh()
                rescan = time.monotonic() + 1.0
            total = sum(status_kb(pid, "VmRSS") for pid in self.pids)
            self.peak_kb = max(self.peak_kb, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """End sampling (joins the thread)."""
        self._stop_event.set()
        self.join()


def high_water_kb(pids: Iterable[int]) -> dict[int, int]:
    """VmHWM (peak resident set, tracked by the kernel) of each live pid."""
    return {pid: status_kb(pid, "VmHWM") for pid in pids if Path(f"/proc/{pid}").exists()}


def machine_description() -> str:
    """nproc and the CPU model, from /proc/cpuinfo."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = status_kb_meminfo()
    return f"{os.cpu_count()} CPUs ({model}), {memory / 1024 / 1024:.1f} GiB RAM"


def status_kb_meminfo() -> int:
    """MemTotal in kB from /proc/meminfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0
