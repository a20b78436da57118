"""The launcher starts background processes (notifications and its worker) at a lower CPU
priority than the request-serving ones, and at the same one when told not to."""

from __future__ import annotations

import os
import sys

import pytest

from devtools import launcher
from devtools.launcher import Stack, lower_priority
from devtools.stack import BACKGROUND_NICE, PROCESSES, ports_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleepers(monkeypatch):
    """Every process is a sleeping Python: only the launcher's handling of it is under test."""
    monkeypatch.setattr(launcher, "command", lambda proc: list(SLEEPER))
    stacks: list[Stack] = []
    yield stacks
    for stack in stacks:
        stack.stop_all()


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def test_background_processes_are_the_notifications_service_and_its_worker():
    assert {p.name for p in PROCESSES if p.background} == {"notifications", "notifications-worker"}


def test_background_processes_start_nicer_than_the_rest(sleepers, tmp_path):
    stack = Stack(data_dir=tmp_path, ports=ports_for(40100))
    sleepers.append(stack)
    own = nice_of(0)
    for proc in PROCESSES:
        stack.start(proc.name)
    for proc in PROCESSES:
        pid = stack.running[proc.name].popen.pid
        expected = min(19, own + BACKGROUND_NICE) if proc.background else own
        assert nice_of(pid) == expected, proc.name
    assert BACKGROUND_NICE > 0


def test_no_increment_keeps_every_process_at_the_launchers_priority(sleepers, tmp_path):
    stack = Stack(data_dir=tmp_path, ports=ports_for(40200), background_nice=0)
    sleepers.append(stack)
    own = nice_of(0)
    stack.start("notifications")
    stack.start("referrals")
    assert nice_of(stack.running["notifications"].popen.pid) == own
    assert nice_of(stack.running["referrals"].popen.pid) == own


def test_a_restart_after_a_kill_is_background_again(sleepers, tmp_path):
    """The fault tests kill -9 and restart notifications: it comes back at its priority."""
    stack = Stack(data_dir=tmp_path, ports=ports_for(40300))
    sleepers.append(stack)
    stack.start("notifications")
    stack.stop("notifications", kill=True)
    stack.start("notifications")
    assert nice_of(stack.running["notifications"].popen.pid) == min(19, nice_of(0) + BACKGROUND_NICE)


def test_lowering_is_capped_and_ignores_a_process_that_has_gone(sleepers, tmp_path):
    stack = Stack(data_dir=tmp_path, ports=ports_for(40400), background_nice=0)
    sleepers.append(stack)
    pid = stack.start("referrals").popen.pid
    lower_priority(pid, 100)
    assert nice_of(pid) == 19
    stack.stop("referrals", kill=True)
    lower_priority(pid, 5)  # reaped: nothing to do, no error
