"""Starting probes and watching them: the zygote client, the spawn fallback, limits and kills."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from autograder import course
from autograder.i18n import _
from autograder.probe import cgroups


@dataclass
class Limits:
    call_seconds: float = 10.0
    cell_seconds: float = 60.0
    submission_seconds: float = 120.0
    memory_bytes: int = 2 * 1024**3
    output_bytes: int = 1024 * 1024
    processes: int = 256  # tasks (threads too) a probe may hold at once: DataLoader workers fit, a fork bomb not
    cpu_cores: float = 1.0  # CPU time a probe may use, however many processes it spreads it over
    # What the judge reads from a probe, counted on its own side: a submission can write on the probe's socket.
    reply_bytes: int = 64 * 1024**2  # one reply, refused from its length before it is read
    case_reply_bytes: int = 64 * 1024**2  # everything sent while one cell or one call runs
    submission_reply_bytes: int = 512 * 1024**2  # everything sent for one submission, restarts included
    submission_replies: int = 20_000  # replies for one submission, restarts included


class OutputBuffer:
    """A submission's captured output: the first `cap` bytes kept, the rest counted and dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            room = self.cap - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        with self.lock:
            text = self.kept.decode("utf-8", errors="replace")
            if self.dropped:
                text += "\n" + _("[… {count} more bytes of output were dropped]").format(count=self.dropped)
            return text


def _pump_output(stream: BinaryIO, sink: OutputBuffer) -> None:
    while True:
        try:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        except (OSError, ValueError):
            return
        if not chunk:
            return
        sink.add(chunk)


class Probe:
    """One running probe: send it a job, read its replies as events, kill it."""

    group: cgroups.ProbeGroup | None = None  # its control group, where the launcher made one
    oom_killed = False  # whether the kernel's memory cap stopped it (known once it is killed)
    reply_limit = 64 * 1024**2  # the byte cap of one reply (the judge sets its Limits' own), read per reply

    def __init__(self, pid: int, inbox: BinaryIO, outbox: BinaryIO, output: BinaryIO, sink: OutputBuffer,
                 launcher: Launcher, slot: int | None) -> None:
        self.pid = pid
        self.outbox = outbox
        self.launcher = launcher
        self.slot = slot
        # Few replies wait at a time: a probe that sends faster than the judge reads is held up, not buffered.
        self.events: queue.Queue = queue.Queue(maxsize=4)
        self.closed = False
        self.output_thread = threading.Thread(target=_pump_output, args=(output, sink), daemon=True)
        self.output_thread.start()
        threading.Thread(target=self._read_replies, args=(inbox,), daemon=True).start()

    def _read_replies(self, inbox: BinaryIO) -> None:
        """Turn the probe's replies into events (kind, header, value, bytes read), whatever it sends.

        "frame" is a decoded reply, "unreadable" one that could not be decoded (the stream is still in step),
        "broken" a stream that cannot be read on (a reply over the cap, cut short, or any other failure), "eof"
        its end. Nothing here raises: a dead reader would leave the judge waiting out its limits."""
        from autograder import wire

        try:
            while not self.closed:
                body = wire.read_frame(inbox, self.reply_limit)
                if body is None:
                    self._put(("eof", None, None, 0))
                    return
                try:
                    header, value = wire.decode(body, header_limit=wire.MAX_HEADER_BYTES)
                except wire.WireError as exc:
                    self._put(("unreadable", str(exc), None, 8 + len(body)))
                    continue
                self._put(("frame", header, value, 8 + len(body)))
        except Exception as exc:  # noqa: BLE001 - a failure to read is a bad reply, never a dead reader
            self._put(("broken", str(exc) or type(exc).__name__, None, 0))

    def _put(self, event: tuple) -> None:
        while not self.closed:
            try:
                self.events.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def send(self, frame: bytes) -> bool:
        try:
            self.outbox.write(frame)
            self.outbox.flush()
            return True
        except (OSError, ValueError):
            return False

    def next_event(self, timeout: float) -> tuple | None:
        try:
            return self.events.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def rss_bytes(self) -> int:
        return self.launcher.rss_bytes(self)

    def kill(self) -> None:
        self.launcher.kill(self)

    def exit_code(self, timeout: float = 2.0) -> int | None:
        return self.launcher.exit_code(self, timeout)

    def close(self) -> None:
        self.closed = True
        self.kill()
        self.output_thread.join(timeout=2.0)


@lru_cache(maxsize=1)
def gpu_machine() -> bool:
    """Whether this machine has a GPU a probe may use (whether or not the checks run CUDA cases on it).

    The device files say so without starting anything; where they are elsewhere (WSL, some containers)
    torch is asked, here in the judge, which never forks a process that uses CUDA."""
    if any(os.path.exists(path) for path in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")):
        return True
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken driver is no usable GPU
        return False


def _memory_of(pid: int) -> int:
    """The memory a process holds of its own: its proportional share of anonymous and shared-memory pages.

    Pages of mapped libraries are left out: they are torch's, shared with the zygote, and with CUDA
    (cuBLAS, cuDNN) they alone reach gigabytes a probe did not ask for. What a submission allocates,
    tensors included, is anonymous memory, or shared memory if it tries /dev/shm. A page shared by n
    processes (a tensor an honest `os.fork()` child reads copy-on-write) counts 1/n in each, so a
    family of processes sums to what it holds, not n times it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            fields = dict(line.split(":", 1) for line in handle if line.startswith(("Pss_Anon:", "Pss_Shmem:")))
        if fields:
            return sum(int(value.split()[0]) for value in fields.values()) * 1024
    except (OSError, ValueError):
        pass
    try:  # kernels before 5.7 lack the proportional split: resident pages, counted in every process
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if line.startswith(("RssAnon:", "RssShmem:")))
        if fields:
            return sum(int(value.split()[0]) for value in fields.values()) * 1024
        with open(f"/proc/{pid}/statm") as handle:  # kernels before 4.5 lack the split counters
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(pid: int) -> list[int]:
    """pid and every process below it, read from /proc/<pid>/task/<tid>/children (cheap, no /proc scan)."""
    found, queue = [], [pid]
    while queue and len(found) < 4096:
        current = queue.pop()
        found.append(current)
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as handle:
                    queue.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


class Launcher:
    """How probes are started. Subclasses: the zygote (Linux) and plain spawning (everywhere)."""

    isolation_note = ""

    def start(self, sink: OutputBuffer, slot: int, scratch: str, memory_bytes: int | None = None) -> Probe:
        raise NotImplementedError

    def rss_bytes(self, probe: Probe) -> int:
        return _memory_of(probe.pid)

    def kill(self, probe: Probe) -> None:
        raise NotImplementedError

    def exit_code(self, probe: Probe, timeout: float) -> int | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ZygoteLauncher(Launcher):
    """Forks probes from a warm zygote process (Linux)."""

    def __init__(self, hide: list[str], limits: Limits) -> None:
        from autograder.probe import sandbox

        self.uids = sandbox.UidReservation() if os.geteuid() == 0 else None
        self.hide = hide
        self.limits = limits
        self.visible = course.visible_paths()
        self.groups = cgroups.Groups.create() if os.geteuid() == 0 else cgroups.Groups()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The zygote, and so every probe forked from it, holds only the allow-listed environment: a token or
        # password the grader was given never reaches a probe's memory, /proc/self/environ included.
        env = dict(sandbox.probe_environment(os.environ), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.probe.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            env=env,
        )
        theirs.close()
        self.control = ours
        self.send_lock = threading.Lock()
        self.state = threading.Condition()
        self.pids: dict[int, int] = {}
        self.exits: dict[int, int] = {}
        self.ready = False
        self.next_id = 0
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                data = self.control.recv(65536)
            except OSError:
                data = b""
            with self.state:
                if not data:
                    self.ready = None
                    self.state.notify_all()
                    return
                message = json.loads(data)
                if "ready" in message:
                    self.ready = True
                elif "exit" in message:
                    self.exits[message["exit"]] = message["code"]
                elif "id" in message:
                    self.pids[message["id"]] = message.get("pid", -1)
                self.state.notify_all()

    def wait_ready(self, timeout: float = 60.0) -> None:
        with self.state:
            self.state.wait_for(lambda: self.ready is not False, timeout)
            if not self.ready:
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(_("the probe zygote did not start:\n{log}").format(log=tail))

    def start(self, sink: OutputBuffer, slot: int, scratch: str, memory_bytes: int | None = None) -> Probe:
        self.wait_ready()
        ours, theirs = socket.socketpair()
        out_read, out_write = os.pipe()
        # An address-space cap breaks CUDA, which reserves large virtual ranges: use it on CPU-only machines.
        # Where CUDA is, the same limit caps what the probe may hold on the GPU, which probes share.
        cap = memory_bytes or self.limits.memory_bytes
        cuda_machine = gpu_machine()
        uid = self.uids.uid(slot) if self.uids is not None else None
        group = self.groups.probe_group(cap, self.limits.processes, self.limits.cpu_cores)
        counted = group is not None and "memory" in group.dirs
        spec = {"scratch": scratch, "hide": self.hide, "slot": slot, "uid": uid,
                "memory_bytes": None if cuda_machine else cap, "gpu_memory_bytes": cap if cuda_machine else None,
                "package": str(course.PACKAGE_DIR), "visible": self.visible,
                "cgroups": group.paths if group else [], "caps": self.groups.note,
                "processes": None if group is not None and "pids" in group.dirs else self.limits.processes,
                # tmpfs pages are charged to the group as shared memory, so under a memory group the cap
                # holds them; without one each is kept small.
                "tmpfs_bytes": cap if counted else 64 * 1024**2}
        with self.send_lock:
            self.next_id += 1
            request_id = self.next_id
            socket.send_fds(self.control, [json.dumps({"id": request_id, "spec": spec}).encode()],
                            [theirs.fileno(), out_write])
        theirs.close()
        os.close(out_write)
        with self.state:
            self.state.wait_for(lambda: request_id in self.pids or self.ready is None, 30.0)
            pid = self.pids.pop(request_id, -1)
        if pid <= 0:
            if group is not None:
                group.remove()
            raise RuntimeError(_("the probe zygote could not fork a probe"))
        probe = Probe(pid, ours.makefile("rb"), ours.makefile("wb"), os.fdopen(out_read, "rb"), sink, self, slot)
        probe.group = group
        return probe

    def _uid(self, probe: Probe) -> int | None:
        return self.uids.uid(probe.slot) if self.uids is not None and probe.slot is not None else None

    def rss_bytes(self, probe: Probe) -> int:
        """What the probe's whole family holds: its memory group's count, where it has one (each page once,
        however many processes share it, orphans in new sessions included); else the proportional shares
        of every process below it: in its own PID namespace orphans are re-parented to its pid 1, so they
        are still below it. (Not a scan of /proc: the judge polls every probe ten times a second.)"""
        counted = probe.group.memory_bytes() if probe.group is not None and not probe.group.removed else None
        if counted is not None:
            return counted
        return sum(_memory_of(pid) for pid in _descendants(probe.pid))

    def kill(self, probe: Probe) -> None:
        """Kill the probe and everything it started: its process group, its control group, its uid's processes.

        The probe is pid 1 of its own PID namespace where that holds, and the kernel kills the rest of the
        namespace with it; the group and uid sweeps catch what any of that missed. Its group goes last."""
        group = probe.group
        uid = self._uid(probe)
        if group is not None or uid is not None:
            # The family first: the namespace's waiter then exits as its pid 1 did (a segfault stays a segfault in
            # the judge's message), which a kill of the whole process group first would overwrite with SIGKILL.
            if group is not None and not group.removed:
                group.kill(spare=probe.pid)
            self._kill_uid(uid)
            with self.state:
                self.state.wait_for(lambda: probe.pid in self.exits, 0.5)
        for attempt in range(3):
            try:
                os.killpg(probe.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            stragglers = group.kill() if group is not None and not group.removed else []
            stragglers += self._kill_uid(uid)
            if not stragglers:
                break
            time.sleep(0.01 * (attempt + 1))
        if group is not None and not group.removed:
            probe.oom_killed = probe.oom_killed or group.oom_killed()
            group.remove()

    @staticmethod
    def _kill_uid(uid: int | None) -> list[int]:
        pids = _pids_of_uid(uid) if uid is not None else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return pids

    def exit_code(self, probe: Probe, timeout: float) -> int | None:
        with self.state:
            self.state.wait_for(lambda: probe.pid in self.exits, timeout)
            return self.exits.pop(probe.pid, None)

    def close(self) -> None:
        try:
            self.control.close()
        finally:
            self.process.kill()
            self.process.wait()
            self.groups.close()
            if self.uids is not None:
                self.uids.release()


class SpawnLauncher(Launcher):
    """Starts each probe as a fresh interpreter: for platforms without fork, and as a fallback."""

    isolation_note = "separate process only (no fork server, no namespaces on this platform)"

    def __init__(self) -> None:
        self.processes: dict[int, subprocess.Popen] = {}

    def start(self, sink: OutputBuffer, slot: int, scratch: str, memory_bytes: int | None = None) -> Probe:
        os.makedirs(scratch, exist_ok=True)
        kwargs = {"start_new_session": True} if os.name == "posix" else {}
        from autograder.probe import sandbox

        env = dict(sandbox.probe_environment(os.environ), MPLBACKEND="Agg", HOME=scratch, MPLCONFIGDIR=scratch)
        process = subprocess.Popen(
            [sys.executable, "-m", "autograder.probe.serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=scratch, env=env, **kwargs,
        )
        self.processes[process.pid] = process
        return Probe(process.pid, process.stdout, process.stdin, process.stderr, sink, self, None)

    def kill(self, probe: Probe) -> None:
        process = self.processes.get(probe.pid)
        if process is None:
            return
        if os.name == "posix":
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process.kill()

    def exit_code(self, probe: Probe, timeout: float) -> int | None:
        process = self.processes.get(probe.pid)
        try:
            return process.wait(timeout) if process else None
        except subprocess.TimeoutExpired:
            return None


def make_launcher(hide: list[str], limits: Limits, fork: bool | None = None) -> Launcher:
    """The zygote where fork and namespaces exist (Linux), a fresh interpreter a probe elsewhere."""
    use_fork = fork if fork is not None else (sys.platform.startswith("linux") and hasattr(os, "fork"))
    return ZygoteLauncher(hide, limits) if use_fork else SpawnLauncher()


def describe_exit(code: int | None) -> str:
    """How a probe's process ended, from its exit status (None: not known), for a student to read."""
    if code is None:
        return _("the process ended")
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = _("signal {number}").format(number=-code)
        if name == "SIGSEGV":
            return _("the process was killed by {signal} (a segmentation fault)").format(signal=name)
        return _("the process was killed by {signal}").format(signal=name)
    return _("the process exited with status {code} (os._exit or a crash)").format(code=code)
