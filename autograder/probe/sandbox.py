"""Isolation for a probe process, applied right after it is forked.

A probe's world is allow-listed, not the host minus a list: a root file system of read-only binds of
what it needs (system libraries, the interpreter and its packages, the public package, datasets/) plus
its scratch directory, private tmpfs for /tmp, /var/tmp and /dev/shm, a fresh /proc of a new PID
namespace, a new IPC namespace (System V segments die with it), no network, control-group caps, and an
unprivileged uid with no way back. Where the platform refuses a step, the probe still runs and the
result records what was in force.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import glob
import os
import platform
import resource
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from autograder.probe import cgroups

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
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
            import fcntl  # POSIX only: this module is imported on every platform

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
    package: str | None = None  # the public package, shown without its check definitions
    visible: list[str] = field(default_factory=list)  # other read-only trees a probe needs (datasets/)
    cgroups: list[str] = field(default_factory=list)  # the probe's control groups, joined before anything forks
    caps: str = ""  # what those groups cap, for the isolation note
    processes: int | None = None  # RLIMIT_NPROC for the probe's own uid, where no pids group counts them
    tmpfs_bytes: int = 64 * 1024 * 1024  # each of /tmp, /var/tmp and /dev/shm


# What a probe's environment may hold: nothing else the grader has (tokens, passwords) reaches the zygote.
ENV_NAMES = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "MPLBACKEND", "MPLCONFIGDIR",
             "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PYTHONIOENCODING",
             "PYTHONWARNINGS", "PYTHONNOUSERSITE", "PYTHONFAULTHANDLER", "NBGRADER_EXECUTION",
             "AUTOGRADER_DEVICE", "AUTOGRADER_COURSE", "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_VISIBLE_DEVICES",
             "SYSTEMROOT", "WINDIR", "TEMP", "TMP", "PATHEXT", "COMSPEC"}  # the last six: what Windows needs
ENV_PREFIXES = ("LC_", "OMP_", "MKL_", "OPENBLAS_", "KMP_", "CUDA_", "PYTORCH_")


def probe_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed part of `environ`: what the interpreter, torch and the course's loaders read."""
    return {k: v for k, v in environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


# Host files a probe reads besides the interpreter's own trees: the dynamic loader's cache, users and time zones.
SYSTEM_TREES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr/bin", "/usr/sbin", "/usr/lib",
                "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/share/zoneinfo", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/hosts")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/kfd", "/dev/dri", "/dev/dxg")
# The package's own folders a probe reads: its side's code and the public message catalogs; anything else in it
# (judge/, checks/ with the hidden checks and their catalog, reports/, authoring/, templates/) stays out.
PROBE_SUBPACKAGES = ("probe", "locale")
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


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


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           options: str | None = None) -> None:
    _check(libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                      flags, options.encode() if options else None), f"mount {fstype or source} on {target}")


def _locked_flags(path: str) -> int:
    """The flags of the mount holding `path` that a bind of it must keep (a user namespace may not drop them)."""
    found = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
    return sum(ms for st, ms in pairs if found & st)


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


class _NewRoot:
    """A root file system on a tmpfs, built from read-only binds of what a probe needs, then pivoted into."""

    def __init__(self, libc: ctypes.CDLL, stage: str) -> None:
        self.libc = libc
        self.stage = stage
        self.bound: list[str] = []  # real host paths already visible inside

    def inside(self, path: str) -> str:
        return self.stage + path

    def place(self, path: str, depth: int = 0) -> str | None:
        """Make `path` exist inside the root as the host has it (symlinks recreated, and their targets
        placed too); returns the real host path of its last component, which the caller binds."""
        if depth > 16 or not os.path.lexists(path):
            return None
        current = "/"
        parts = [p for p in os.path.normpath(path).split("/") if p]
        for i, part in enumerate(parts):
            host = os.path.join(current, part)
            inner = self.inside(host)
            if os.path.islink(host):
                target = os.readlink(host)
                if not os.path.lexists(inner):
                    os.symlink(target, inner)
                rest = parts[i + 1:]
                return self.place(os.path.normpath(os.path.join(current, target, *rest)), depth + 1)
            if i == len(parts) - 1:
                if not os.path.lexists(inner):
                    if os.path.isdir(host):
                        os.mkdir(inner, 0o755)
                    else:
                        os.close(os.open(inner, os.O_WRONLY | os.O_CREAT, 0o644))
                return host
            if not os.path.lexists(inner):
                os.mkdir(inner, 0o755)
            current = host
        return "/"

    def bind(self, path: str, writable: bool = False, devices: bool = False, over: bool = False) -> None:
        """Bind host `path` at the same place inside, read-only unless `writable`; skipped if already visible
        through an earlier bind, unless `over` (a mount that replaces what is there)."""
        real = self.place(path)
        if real is None or (not over and any(_under(os.path.realpath(real), tree) for tree in self.bound)):
            return
        target = self.inside(real)
        _mount(self.libc, real, target, None, MS_BIND)
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | _locked_flags(real) | (0 if writable else MS_RDONLY)
        if not devices:
            flags |= MS_NODEV
        _mount(self.libc, None, target, None, flags)
        self.bound.append(os.path.realpath(real))

    def tmpfs(self, path: str, size: int, mode: str = "1777", readonly: bool = False) -> None:
        if not os.path.lexists(self.inside(path)):
            os.makedirs(self.inside(path), 0o755)
        flags = MS_NOSUID | MS_NODEV | (MS_RDONLY | MS_NOEXEC if readonly else 0)
        _mount(self.libc, "tmpfs", self.inside(path), "tmpfs", flags, f"mode={mode},size={size},nr_inodes=16384")

    def package(self, package: str) -> None:
        """The public package: its top-level modules and the probe-side subpackages, not its checks.

        Binding the package directory whole and covering checks/ would show whatever is added to it later;
        binding the named parts shows nothing that was not chosen (an allow-list)."""
        real = self.place(package)
        if real is None:
            return
        self.tmpfs(real, 1024 * 1024, mode="0755")
        for entry in sorted(os.listdir(real)):
            host = os.path.join(real, entry)
            if (entry.endswith(".py") and os.path.isfile(host)) or (entry in PROBE_SUBPACKAGES and os.path.isdir(host)):
                self.bind(host, over=True)
        self.bound.append(os.path.realpath(real))
        _mount(self.libc, None, self.inside(real), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

    def devices(self, gpu: bool) -> None:
        self.tmpfs("/dev", 1024 * 1024, mode="0755")
        for device in DEVICES:
            if os.path.exists(device):
                self.bind(device, writable=True, devices=True, over=True)
        if gpu:
            for device in sorted({p for pattern in GPU_DEVICES for p in glob.glob(pattern)}):
                self.bind(device, writable=True, devices=True, over=True)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, self.inside(f"/dev/{name}"))

    def cover(self, path: str) -> None:
        """An empty read-only mount over `path`, where it is visible inside (a hidden path a bind brought in)."""
        inner = self.inside(path)
        if os.path.isdir(inner) and not os.path.islink(inner):
            _mount(self.libc, "tmpfs", inner, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")

    def pivot(self, workdir: str) -> None:
        """Make the new root this process's /, detach the host's entirely, and seal the root read-only."""
        os.chdir(self.stage)
        os.mkdir(".host", 0o700)
        number = SYS_PIVOT_ROOT.get(platform.machine())
        if number is None:
            raise OSError(errno.ENOSYS, f"pivot_root: no system call number known for {platform.machine()}")
        _check(self.libc.syscall(number, b".", b".host"), "pivot_root")
        try:
            os.chdir("/")
            _check(self.libc.umount2(b"/.host", MNT_DETACH), "detach the host's root")
            os.rmdir("/.host")
            _mount(self.libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
            os.chdir(workdir)
        except OSError as exc:  # the host is still reachable below: this probe must not run at all
            raise RuntimeError(f"the sandbox's new root could not be sealed: {exc}") from exc


def _interpreter_trees(exclude: list[str]) -> list[str]:
    """The interpreter's prefixes and every import path, except any that holds a path a probe must not read."""
    found = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *sys.path, *os.environ.get("LD_LIBRARY_PATH", "").split(":")]
    keep = []
    for path in found:
        if not path or not os.path.isabs(path) or not os.path.exists(path):
            continue
        path = os.path.dirname(path) if os.path.isfile(path) else path  # a zip on sys.path: its folder
        if any(_under(os.path.realpath(hidden), os.path.realpath(path)) for hidden in exclude):
            continue
        keep.append(path)
    return sorted(set(keep), key=len)


def _gpu_devices() -> bool:
    return any(glob.glob(pattern) for pattern in GPU_DEVICES)


def _build_root(libc: ctypes.CDLL, spec: SandboxSpec) -> bool:
    """The allow-listed file system: the host's system libraries, the interpreter, its packages, the public
    package, datasets/, the scratch directory (the only writable host path), fresh /proc, /dev, /tmp, /var/tmp
    and /dev/shm. Another copy of the course anywhere on the host is simply not there. Returns whether its
    /proc is a fresh one (of the probe's own PID namespace) rather than the host's."""
    stage = os.path.join(spec.scratch, ".root")
    os.mkdir(stage, 0o700)
    _mount(libc, "tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m,nr_inodes=16384")
    try:
        root = _NewRoot(libc, stage)
        never = [*spec.hide, spec.scratch]
        gpu = _gpu_devices()
        # The private tmpfs first: a checkout, an environment or the scratch directory under /tmp is bound on top.
        root.devices(gpu)
        root.tmpfs("/dev/shm", spec.tmpfs_bytes)
        for path in ("/tmp", "/var/tmp"):
            root.tmpfs(path, spec.tmpfs_bytes)
        for tree in [*SYSTEM_TREES, *_interpreter_trees(never), *spec.visible, *(["/sys"] if gpu else [])]:
            root.bind(tree)
        if spec.package:
            root.package(spec.package)
        root.bind(spec.scratch, writable=True, over=True)
        os.makedirs(root.inside("/proc"), exist_ok=True)
        try:
            _mount(libc, "proc", root.inside("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            fresh_proc = True
        except OSError:  # a container that masks parts of its /proc refuses a new one: keep its own, masks and all
            _mount(libc, "/proc", root.inside("/proc"), None, MS_BIND | MS_REC)
            fresh_proc = False
        for path in spec.hide:
            root.cover(path)
    except BaseException:
        libc.umount2(stage.encode(), MNT_DETACH)
        os.rmdir(stage)
        raise
    root.pivot(spec.scratch)
    os.rmdir(".root")  # the stage's mount point, seen through the scratch bind: nothing left on the host
    return fresh_proc


def _as_init(libc: ctypes.CDLL) -> None:
    """In a new PID namespace the next child is its pid 1: fork it and return in it; this process only waits.

    When pid 1 ends, the kernel kills every process left in the namespace, however it detached (a new
    session, a double fork), so the probe is that child. This process stays outside, holds nothing of the
    submission's, and exits as the child did, which is what the judge is told."""
    child = os.fork()
    if child == 0:
        return
    os.closerange(0, 65536)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF if code >= 0 else 128 - code)


def _fresh_proc(libc: ctypes.CDLL) -> bool:
    """Without a new root, still a /proc that shows only the probe's own processes."""
    try:
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return True
    except OSError:
        return False


def enter(spec: SandboxSpec) -> str:
    """Isolate the calling (just-forked, single-threaded) process; returns a description of what holds.

    The order matters: a new session and limits; the control groups, joined before anything can fork;
    new namespaces (mount, network, PID, IPC: the probe is single-threaded right after fork, as unshare needs),
    then a fork, since a new PID namespace takes effect in the children; in the child, which is pid 1 of its
    namespace, the allow-listed root; last the drop to an unprivileged user with no way back."""
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
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    caps = [spec.caps] if spec.cgroups and cgroups.join(spec.cgroups) else []
    root = os.geteuid() == 0
    if root:
        uid = gid = spec.uid if spec.uid is not None else UID_BASE + spec.slot
    else:
        uid, gid = os.getuid(), os.getgid()
    held = []
    namespaces = _unshare(libc, root, uid, gid)
    if namespaces is None:
        held.append(f"no namespaces ({os.strerror(ctypes.get_errno())})")
    else:
        held.append(namespaces)
        if "PID" in namespaces:
            _as_init(libc)
    private_python = False
    if namespaces is not None:
        try:
            fresh_proc = _build_root(libc, spec)
            proc = "" if fresh_proc else ", the host's /proc"
            held.append(f"an allow-listed read-only root, private /tmp, /var/tmp and /dev/shm of "
                        f"{spec.tmpfs_bytes // 1024**2} MiB{proc}")
        except OSError as exc:
            held.append(f"no allow-listed root ({exc.strerror or exc}); hidden paths")
            try:
                _hide_paths(libc, spec.hide)
                if root:
                    _expose_interpreter(libc, [sys.base_prefix, sys.prefix, *sys.path[1:]])
            except OSError as inner:
                held.append(f"paths readable ({inner.strerror})")
            if "PID" in namespaces and not _fresh_proc(libc):
                held.append("the host's /proc")
            os.chdir(spec.scratch)
    else:
        # Without a mount namespace a privately installed interpreter cannot be re-exposed, and an
        # unprivileged uid could import nothing more: grading would fail for the grader's reasons.
        private_python = root and any(_blocking_ancestor(p) for p in (sys.base_prefix, sys.prefix) if os.path.exists(p))
        os.chdir(spec.scratch)
    held.extend(caps)
    if root:
        if private_python:
            held.append("still root: the Python installation is not readable by other users")
        else:
            if spec.processes:
                resource.setrlimit(resource.RLIMIT_NPROC, (spec.processes, spec.processes))
                held.append(f"at most {spec.processes} processes")
            os.chown(spec.scratch, uid, uid)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            held.append(f"unprivileged uid {uid}")
    # A change of credentials clears the parent-death signal: set it (again) now. The parent is the
    # namespace's waiter or the zygote; either way this process must not outlive it.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    for name in ("HOME", "MPLCONFIGDIR"):
        os.environ[name] = spec.scratch
    os.environ["TMPDIR"] = "/tmp"
    return ", ".join(held)


def _unshare(libc: ctypes.CDLL, root: bool, uid: int, gid: int) -> str | None:
    """New namespaces, the most the platform allows: mount, network, PID and IPC (inside a user namespace
    when not root), else mount and network only; None where none can be made (the errno says why)."""
    user = 0 if root else CLONE_NEWUSER
    for flags, name in ((CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC, "mount, network, PID and IPC"),
                        (CLONE_NEWNS | CLONE_NEWNET, "mount and network")):
        if libc.unshare(flags | user) != 0:
            continue
        if not root:
            try:
                _write("/proc/self/setgroups", "deny")
                _write("/proc/self/uid_map", f"{uid} {uid} 1")
                _write("/proc/self/gid_map", f"{gid} {gid} 1")
            except OSError:
                return None
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
        return f"{'user, ' if user else ''}{name} namespaces"
    return None


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
