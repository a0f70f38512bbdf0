"""A control group per probe: caps on memory (shared memory included), processes and CPU, and a count of what
a probe holds that a fork cannot split or escape.

Every process a probe starts, however it detaches (a new session, a double fork), stays in its probe's group,
and each page is charged to one group once: an honest `os.fork()` whose children share a tensor copy-on-write
counts it once, and orphans are counted and killed with the rest. cgroup v2 is used where the grader's own
group can hand its controllers down; else the v1 hierarchies (memory, pids, cpu), each where it is mounted
and writable. Each step the machine refuses is left out and the note says which caps hold.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import signal
import time
from dataclasses import dataclass, field

CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _stat_fields(path: str) -> dict[str, int]:
    fields = {}
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            fields[name] = int(value)
    return fields


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, file-system type, super options) of each cgroup mount this process sees."""
    found = []
    for line in _read("/proc/self/mountinfo").splitlines():
        before, _, after = line.partition(" - ")
        fields, rest = before.split(), after.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4].replace("\\040", " "), rest[0], set(rest[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's group path per v1 controller, and under "" its v2 group."""
    groups = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def _inside(mount_root: str, mount_point: str, path: str) -> str | None:
    if path != mount_root and not path.startswith(mount_root.rstrip("/") + "/"):
        return None
    return os.path.join(mount_point, path[len(mount_root):].lstrip("/"))


@dataclass
class ProbeGroup:
    """One probe's groups: a directory per v1 hierarchy, or one v2 directory holding every controller."""

    version: int
    dirs: dict[str, str]  # controller → directory (in v2 the same directory for each)
    removed: bool = False

    @property
    def paths(self) -> list[str]:
        """The directories a probe joins (by writing its pid into each cgroup.procs)."""
        return sorted(set(self.dirs.values()))

    def memory_bytes(self) -> int | None:
        """Anonymous and shared memory charged to the group (tensors, /dev/shm and tmpfs files, SysV segments).

        Page cache of files read or written is left out: the kernel reclaims it under the cap itself."""
        folder = self.dirs.get("memory")
        if folder is None:
            return None
        try:
            stat = _stat_fields(os.path.join(folder, "memory.stat"))
        except (OSError, ValueError):
            return None
        if self.version == 2:
            return stat.get("anon", 0) + stat.get("shmem", 0)
        return stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_shmem", stat.get("shmem", 0))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going past its memory cap."""
        folder = self.dirs.get("memory")
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            return folder is not None and _stat_fields(os.path.join(folder, name)).get("oom_kill", 0) > 0
        except (OSError, ValueError):
            return False

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.paths:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in _read(os.path.join(folder, "cgroup.procs")).split())
        return sorted(found)

    def kill(self, spare: int | None = None) -> list[int]:
        """SIGKILL every process in the group but `spare`; returns the pids that were killed."""
        pids = [pid for pid in self.pids() if pid != spare]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def remove(self, wait: float = 1.0) -> bool:
        """Remove the directories once their processes are gone (killing any left); whether all went."""
        deadline = time.monotonic() + wait
        left = self.paths
        while left:
            self.kill()
            for folder in list(left):
                try:
                    os.rmdir(folder)
                    left.remove(folder)
                except FileNotFoundError:
                    left.remove(folder)
                except OSError:
                    pass
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.005)
        self.removed = not left
        return self.removed


@dataclass
class Groups:
    """The grader's parent groups (one a launcher, one directory a hierarchy) and the probe groups under them."""

    version: int = 0
    parents: dict[str, str] = field(default_factory=dict)
    note: str = "no cgroup caps"
    # Worker threads start probes at once: a shared counter read and written by two of them would give two
    # probes one group (and one cap). next() on itertools.count is atomic.
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    @classmethod
    def create(cls) -> Groups:
        """Parent groups for one launcher under this process's own groups; whatever is refused is left out."""
        groups = cls()
        if not os.path.exists("/proc/self/cgroup"):
            groups.note = "no cgroup caps (no cgroups on this platform)"
            return groups
        try:
            mounts, own = _mounts(), _own_groups()
        except (OSError, ValueError) as exc:
            groups.note = f"no cgroup caps ({exc})"
            return groups
        name = f"autograder-{os.getpid()}-{secrets.token_hex(3)}"
        if groups._try_v2(mounts, own, name) or groups._try_v1(mounts, own, name):
            return groups
        groups.note = "no cgroup caps (no writable memory, pids or cpu controller)"
        return groups

    def _try_v2(self, mounts: list, own: dict[str, str], name: str) -> bool:
        for root, point, kind, _ in mounts:
            if kind != "cgroup2" or "" not in own:
                continue
            base = _inside(root, point, own[""])
            try:
                if base is None or not set(CONTROLLERS) <= set(_read(os.path.join(base, "cgroup.controllers")).split()):
                    continue
                _sweep_stale(base)
                enable = " ".join(f"+{c}" for c in CONTROLLERS)
                _write(os.path.join(base, "cgroup.subtree_control"), enable)
                parent = os.path.join(base, name)
                os.mkdir(parent)
                try:
                    _write(os.path.join(parent, "cgroup.subtree_control"), enable)
                except OSError:
                    os.rmdir(parent)
                    raise
            except OSError:
                continue
            self.version, self.parents = 2, {c: parent for c in CONTROLLERS}
            self.note = "cgroup v2 caps on memory, processes and CPU"
            return True
        return False

    def _try_v1(self, mounts: list, own: dict[str, str], name: str) -> bool:
        for controller in CONTROLLERS:
            for root, point, kind, options in mounts:
                if kind != "cgroup" or controller not in options or controller not in own:
                    continue
                base = _inside(root, point, own[controller])
                if base is None:
                    continue
                try:
                    _sweep_stale(base)
                    parent = os.path.join(base, name)
                    os.mkdir(parent)
                except OSError:
                    continue
                self.parents[controller] = parent
                break
        if not self.parents:
            return False
        self.version = 1
        names = {"memory": "memory", "pids": "processes", "cpu": "CPU"}
        held = [names[c] for c in CONTROLLERS if c in self.parents]
        self.note = f"cgroup v1 caps on {', '.join(held[:-1]) + ' and ' if len(held) > 1 else ''}{held[-1]}"
        return True

    def has(self, controller: str) -> bool:
        return controller in self.parents

    def probe_group(self, memory_bytes: int, processes: int, cpu_cores: float) -> ProbeGroup | None:
        """A fresh group for one probe, with its caps written; None where none can be made."""
        if not self.parents:
            return None
        number = next(self.numbers)
        group = ProbeGroup(self.version, {})
        made: dict[str, str] = {}
        for controller, parent in self.parents.items():
            folder = made.get(parent) or os.path.join(parent, f"probe-{number}")
            try:
                if parent not in made:
                    os.mkdir(folder)
                    made[parent] = folder
                _set_caps(self.version, controller, folder, memory_bytes, processes, cpu_cores)
            except OSError:
                continue
            group.dirs[controller] = folder
        if not group.dirs:
            for folder in made.values():
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            return None
        return group

    def close(self) -> None:
        """Remove the parent groups (their probe groups are gone by now; any left are emptied first)."""
        for parent in sorted(set(self.parents.values())):
            _remove_tree(parent)
        self.parents.clear()


def hard_memory_cap(memory_bytes: int) -> int:
    """The kernel's cap: above the judge's, so the judge's poll normally stops a probe first with a clear message,
    and the kernel only catches what grows faster than the poll."""
    return memory_bytes + max(memory_bytes // 4, 256 * 1024**2)


def _set_caps(version: int, controller: str, folder: str, memory_bytes: int, processes: int, cpu_cores: float) -> None:
    quota = max(int(cpu_cores * CPU_PERIOD_US), 1000)
    hard = hard_memory_cap(memory_bytes)
    if version == 2:
        if controller == "memory":
            _write(os.path.join(folder, "memory.max"), str(hard))
            with contextlib.suppress(OSError):  # no swap on the machine: nothing to cap
                _write(os.path.join(folder, "memory.swap.max"), "0")
        elif controller == "pids":
            _write(os.path.join(folder, "pids.max"), str(processes))
        elif controller == "cpu":
            _write(os.path.join(folder, "cpu.max"), f"{quota} {CPU_PERIOD_US}")
        return
    if controller == "memory":
        _write(os.path.join(folder, "memory.limit_in_bytes"), str(hard))
        with contextlib.suppress(OSError):  # swap accounting off: the memory cap alone holds
            _write(os.path.join(folder, "memory.memsw.limit_in_bytes"), str(hard))
    elif controller == "pids":
        _write(os.path.join(folder, "pids.max"), str(processes))
    elif controller == "cpu":
        _write(os.path.join(folder, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
        _write(os.path.join(folder, "cpu.cfs_quota_us"), str(quota))


def join(paths: list[str]) -> list[str]:
    """Move the calling process into each group (done by the probe itself, before it can fork); the ones joined."""
    joined = []
    for folder in paths:
        try:
            _write(os.path.join(folder, "cgroup.procs"), str(os.getpid()))
            joined.append(folder)
        except OSError:
            continue
    return joined


def _remove_tree(folder: str) -> None:
    for entry in os.scandir(folder) if os.path.isdir(folder) else []:
        if entry.is_dir(follow_symlinks=False):
            _remove_tree(entry.path)
    ProbeGroup(0, {"": folder}).remove()


def _sweep_stale(base: str) -> None:
    """Remove parent groups a grader that was killed left behind (their pid is gone)."""
    try:
        entries = os.listdir(base)
    except OSError:
        return
    for entry in entries:
        parts = entry.split("-")
        if len(parts) == 3 and parts[0] == "autograder" and parts[1].isdigit() and not _alive(int(parts[1])):
            with contextlib.suppress(OSError):
                _remove_tree(os.path.join(base, entry))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
