"""Isolation for a probe process, applied right after it is forked.

Order matters: a new session (so the whole process group can be killed), resource limits, new
mount and network namespaces (the probe is single-threaded right after fork, which unshare needs),
empty read-only mounts over the paths a submission must not read, and last a drop to an
unprivileged user with no way back. Where the platform refuses a step, the probe still runs and
the result records what was in force.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import sys
import threading
from dataclasses import dataclass, field

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

UID_BASE = 61000  # one uid a worker slot, so every process a probe leaves behind can be found
UID_COUNT = 4096
UID_LOCKS = "/run/autograder-uids" if os.path.isdir("/run") else "/tmp/autograder-uids"


class UidReservation:
    """Unprivileged uids held by this grader process, one a worker slot, exclusive across processes.

    A killed probe's stragglers are found and killed by uid, so two graders running at once (two
    shards on one machine, a test suite beside a batch) must never share one: each uid is held by an
    flock on a file under UID_LOCKS, which the kernel releases when the holder exits, however it exits.
    """

    def __init__(self) -> None:
        self.held: dict[int, tuple[int, int]] = {}  # slot → (uid, lock fd)
        self.lock = threading.Lock()

    def uid(self, slot: int) -> int:
        with self.lock:
            if slot in self.held:
                return self.held[slot][0]
            os.makedirs(UID_LOCKS, mode=0o700, exist_ok=True)
            taken = {uid for uid, _ in self.held.values()}
            for uid in range(UID_BASE, UID_BASE + UID_COUNT):
                if uid in taken:
                    continue
                fd = os.open(os.path.join(UID_LOCKS, f"{uid}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self.held[slot] = (uid, fd)
                return uid
            raise RuntimeError(f"no free probe uid in {UID_BASE}..{UID_BASE + UID_COUNT - 1}: "
                               f"{UID_COUNT} graders running at once?")

    def release(self) -> None:
        with self.lock:
            for _, fd in self.held.values():
                os.close(fd)
            self.held.clear()


@dataclass
class SandboxSpec:
    scratch: str
    hide: list[str] = field(default_factory=list)
    slot: int = 0
    uid: int | None = None  # the unprivileged uid to run as (root only); reserved by the launcher
    memory_bytes: int | None = None  # address-space cap; None where CUDA is in use
    gpu_memory_bytes: int | None = None  # what the CUDA allocator may hold, where CUDA is in use
    file_bytes: int = 64 * 1024 * 1024


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def cap_gpu_memory(limit: int) -> bool:
    """Cap what this process's CUDA allocator may hold at `limit` bytes per device, from when CUDA starts.

    Probes share a GPU, so one that fills it would make the others' CUDA cases fail for want of memory.
    The cap is queued on torch's lazy-initialisation hook: a probe that never touches the GPU never starts
    CUDA, and the first cell or call that does gets the cap before its first allocation. Asking for more
    then raises torch's OutOfMemoryError in that submission only. (A submission that resets the fraction
    itself can lift it: this guards against accidents, the process limits against the rest.)
    Returns whether the cap was queued."""
    import torch

    queue = getattr(torch.cuda, "_lazy_call", None)
    if queue is None or not torch.backends.cuda.is_built():
        return False

    def apply() -> None:
        try:
            for device in range(torch.cuda.device_count()):
                total = torch.cuda.get_device_properties(device).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, float(limit) / total), device)
        except Exception:  # noqa: BLE001 - an error here would fail CUDA's start-up itself; the cap is the lesser loss
            pass

    queue(apply)
    return True


def _set_limits(spec: SandboxSpec) -> None:
    import resource

    if spec.gpu_memory_bytes:
        cap_gpu_memory(spec.gpu_memory_bytes)

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (spec.file_bytes, spec.file_bytes))
    if spec.memory_bytes:
        with open("/proc/self/statm") as handle:
            current = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = current + spec.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _hide_paths(libc: ctypes.CDLL, paths: list[str]) -> None:
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    for path in paths:
        if os.path.isdir(path):
            _check(
                libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k"),
                f"hide {path}",
            )


def _blocking_ancestor(path: str) -> tuple[str, str] | None:
    """The highest directory on `path` that others cannot traverse, and its child on the way to `path`."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = "/"
    for part in parts:
        if not os.stat(current).st_mode & 0o001:
            return current, os.path.join(current, part)
        current = os.path.join(current, part)
    return None


def _expose_interpreter(libc: ctypes.CDLL, needed: list[str]) -> None:
    """Keep Python's own files reachable after the drop to an unprivileged uid.

    An interpreter installed under a private home (/root/.pyenv, say) is unreadable to that uid, and
    every lazy import would fail. Each blocking directory is replaced by an empty tmpfs that others
    may traverse, and only the entries on the way to the interpreter are bound back into it.
    """
    for _ in range(8):
        blocked: dict[str, set[str]] = {}
        for path in filter(os.path.exists, needed):
            found = _blocking_ancestor(path)
            if found:
                blocked.setdefault(found[0], set()).add(found[1])
        if not blocked:
            return
        for directory, children in blocked.items():
            keep = {child: os.open(child, os.O_PATH) for child in children}
            _check(libc.mount(b"tmpfs", directory.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0711,size=64k"),
                   f"cover {directory}")
            for child, fd in keep.items():
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.mkdir(child)
                else:
                    open(child, "w").close()
                _check(libc.mount(f"/proc/self/fd/{fd}".encode(), child.encode(), None, MS_BIND, None), f"bind {child}")
                os.close(fd)
            _check(libc.mount(b"none", directory.encode(), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None),
                   f"seal {directory}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter(spec: SandboxSpec) -> str:
    """Isolate the calling (just-forked, single-threaded) process; returns a description of what holds."""
    os.setsid()
    _set_limits(spec)
    os.makedirs(spec.scratch, exist_ok=True)
    if not sys.platform.startswith("linux"):
        os.chdir(spec.scratch)
        return "limits only (no namespaces on this platform)"
    libc = _libc()
    if libc is None:
        os.chdir(spec.scratch)
        return "limits only (libc not found)"
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    held = []
    if os.geteuid() == 0:
        uid = spec.uid if spec.uid is not None else UID_BASE + spec.slot
        try:
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
            _hide_paths(libc, spec.hide)
            _expose_interpreter(libc, [sys.base_prefix, sys.prefix, *sys.path[1:]])
            held.append("mount and network namespaces, hidden paths")
            private_python = False
        except OSError as exc:
            held.append(f"no namespaces ({exc.strerror})")
            # Without a mount namespace a privately installed interpreter cannot be re-exposed, and an
            # unprivileged uid could import nothing more: grading would fail for the grader's reasons.
            private_python = any(_blocking_ancestor(p) for p in (sys.base_prefix, sys.prefix) if os.path.exists(p))
        os.chdir(spec.scratch)
        if private_python:
            held.append("still root: the Python installation is not readable by other users")
        else:
            os.chown(spec.scratch, uid, uid)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            held.append(f"unprivileged uid {uid}")
    else:
        uid, gid = os.getuid(), os.getgid()
        try:
            _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET), "unshare")
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
            _hide_paths(libc, spec.hide)
            held.append("user, mount and network namespaces, hidden paths")
        except OSError as exc:
            held.append(f"no namespaces ({exc.strerror}); paths readable")
        os.chdir(spec.scratch)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.environ["HOME"] = spec.scratch
    os.environ["MPLCONFIGDIR"] = spec.scratch
    return ", ".join(held)


def prepare_plotting() -> None:
    """A headless backend, and the font cache loaded once, before any probe is forked."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    ax.set_title("warm-up")
    fig.canvas.draw()
    plt.close(fig)
    plt.show = lambda *args, **kwargs: None
