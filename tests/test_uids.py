"""Probe uids are exclusive across grader processes: one grader's straggler sweep never kills another's probes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.probe import sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="probes run under their own uid only when graded as root")


def test_two_graders_never_hold_the_same_uid_and_a_released_uid_is_reused():
    first, second = sandbox.UidReservation(), sandbox.UidReservation()
    try:
        a0, a1 = first.uid(0), first.uid(1)
        b0 = second.uid(0)
        assert len({a0, a1, b0}) == 3
        assert first.uid(0) == a0, "a slot keeps its uid"
        first.release()
        third = sandbox.UidReservation()
        assert third.uid(0) == a0
        third.release()
    finally:
        first.release()
        second.release()


def test_a_uid_held_by_another_process_is_skipped_and_freed_when_that_process_dies():
    code = ("import sys, time; from autograder.probe import sandbox; r = sandbox.UidReservation(); "
            "print(r.uid(0), flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        mine = sandbox.UidReservation()
        assert mine.uid(0) != held
        mine.release()
    finally:
        holder.kill()
        holder.wait()
    after = sandbox.UidReservation()
    assert after.uid(0) == held, "the kernel released the dead holder's lock"
    after.release()
