"""bench.mixed's own parts: the `--workers` option and CPU accounting over process trees."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.mixed import Processes, describe_workers, parse_workers
from devtools.launcher import Stack
from devtools.stack import PROCESSES


def test_workers_option_names_web_processes_and_small_counts():
    assert parse_workers("referrals=2, assessments=3") == {"referrals": 2, "assessments": 3}
    assert parse_workers("") == {}
    assert describe_workers({"referrals": 2, "consent": 1}) == "referrals x2"
    for bad, says in [
        ("notifications-worker=2", "not one of"),
        ("referals=2", "not one of"),
        ("referrals=0", "1 to 4"),
        ("referrals=9", "1 to 4"),
        ("referrals", "1 to 4"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            parse_workers(bad)


def test_a_stack_starts_a_service_as_several_workers(tmp_path: Path, monkeypatch):
    started: list[list[str]] = []

    class Popen:
        def __init__(self, cmd: list[str], **_kw: Any) -> None:
            started.append(cmd)

    monkeypatch.setattr(subprocess, "Popen", Popen)
    ports = {p.name: 8100 + i for i, p in enumerate(PROCESSES)}
    stack = Stack(data_dir=tmp_path, ports=ports, workers={"referrals": 2, "notifications-worker": 2})
    stack.start("referrals")
    stack.start("consent")
    assert started[0][-2:] == ["--workers", "2"] and str(ports["referrals"]) in started[0]
    assert "--workers" not in started[1]
    with pytest.raises(ValueError, match="not a web process"):
        stack.start("notifications-worker")


def test_cpu_counts_a_process_with_its_children_live_and_reaped():
    """A parent that sleeps, with one child that burns CPU and exits (reaped: the parent's
    cutime) and one that burns and stays (live: read from its own stat)."""
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess,sys,time\n"
            f"subprocess.run([sys.executable,'-c',{burn!r}])\n"
            f"live=subprocess.Popen([sys.executable,'-c',{burn + 'time.sleep(30)'!r}])\n"
            "time.sleep(30)\n",
        ],
        start_new_session=True,  # its own process group: ended below with its children
    )
    try:
        procs = Processes({"tree": parent.pid})
        deadline = time.monotonic() + 20
        while procs.cpu()["tree"] < 0.55 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert procs.cpu()["tree"] >= 0.55  # two children of 0.3 s each, well above the parent's own
        assert procs.rss()["tree"] > 0 and procs.pss()["tree"] > 0
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
