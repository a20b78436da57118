"""bench.mixed's own parts: the `--workers` option (and the launcher that runs it) and CPU
accounting over process trees."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.mixed import (
    PhaseResult,
    Processes,
    StealWatch,
    account,
    describe_workers,
    machine_seconds,
    parse_nice,
    parse_workers,
    steal_peak,
)
from devtools import launcher
from devtools.launcher import Stack
from devtools.stack import PROCESSES, Process


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


def _group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def test_killing_a_service_run_as_several_workers_leaves_none_of_them(tmp_path: Path, monkeypatch):
    """A kill (a fault test's, or a stop that outlived its grace) ends uvicorn's supervisor
    and its workers together: a worker left behind would keep serving on the port."""
    tiny = Process("tiny", "tests.unit.tiny_app:create_app", 0, "EH_TINY_")
    monkeypatch.setattr(launcher, "PROCESSES", [*PROCESSES, tiny])
    ports = {p.name: 8100 + i for i, p in enumerate(PROCESSES)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ports["tiny"] = s.getsockname()[1]
    stack = Stack(data_dir=tmp_path, ports=ports, workers={"tiny": 2})
    running = stack.start("tiny")
    pgid = running.popen.pid
    try:
        stack.wait_ready(["tiny"], timeout=30)
        deadline = time.monotonic() + 20
        while len(_group(pgid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_group(pgid)) >= 3  # the supervisor and two workers
        stack.stop("tiny", kill=True)
        deadline = time.monotonic() + 10
        while _group(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _group(pgid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def test_the_machines_busy_and_stolen_time_are_read_apart():
    busy, steal = machine_seconds()
    assert busy > 0 and steal >= 0
    cpu = Processes({}).cpu()
    assert cpu["machine"] >= busy and cpu["steal"] >= steal


def test_the_worst_second_of_steal_is_found_in_a_burst_the_average_hides():
    # 30 s of samples four times a second, no steal except 0.6 cores for two seconds.
    samples, stolen = [], 0.0
    for i in range(121):
        t = i * 0.25
        samples.append((t, stolen))
        stolen += 0.6 * 0.25 if 10 <= t < 12 else 0.0
    assert stolen / 30 < 0.05
    assert steal_peak(samples) == pytest.approx(0.6)
    assert steal_peak(samples[:40]) == 0.0  # before the burst
    assert steal_peak([(0.0, 0.0), (0.5, 0.1)]) == 0.0  # shorter than a window: nothing to say


def test_the_steal_watch_samples_through_the_phase():
    with StealWatch(interval=0.1) as watch:
        time.sleep(1.25)
    times = [t for t, _ in watch.samples]
    stolen = [s for _, s in watch.samples]
    assert len(times) >= 10 and times == sorted(times) and times[-1] - times[0] >= 1.2
    assert stolen == sorted(stolen)  # a counter since boot
    assert watch.peak() == steal_peak(watch.samples)


def test_a_phase_records_its_worst_second_of_steal(monkeypatch):
    monkeypatch.setattr(StealWatch, "peak", lambda self: 0.42)
    result = account(Processes({}), lambda: PhaseResult("p", 0.1, {}, {}))
    assert result.steal_peak == 0.42
    assert result.to_json()["steal_peak_cores"] == 0.42


def _feed_server(items: list[dict[str, Any]], asked: list[dict[str, str]]):
    """The referrer's feed, newest first, `limit` per page with a cursor (an index here)."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/notifications"
        assert request.headers["Authorization"] == "Bearer edu-token"
        params = dict(request.url.params)
        asked.append(params)
        start, limit = int(params.get("cursor", "0")), int(params["limit"])
        page = items[start : start + limit]
        more = start + limit < len(items)
        return httpx.Response(200, json={"items": page, "next_cursor": str(start + limit) if more else None})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_outcome_alerts_pairs_each_decision_with_its_alert_across_pages():
    from datetime import UTC, datetime, timedelta

    from bench.mixed import World, outcome_alerts

    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    world = World("http://gw", "http://consent", {"demo-education": "edu-token"}, "agency-1")
    world.decided = {"r1": t0, "r2": t0 + timedelta(seconds=1), "r3": t0 + timedelta(seconds=2)}

    def alert(rid: str | None, at: datetime, kind: str = "referral.decided") -> dict[str, Any]:
        return {"kind": kind, "referral_id": rid, "created_at": at.isoformat().replace("+00:00", "Z")}

    items = [  # newest first, as the feed answers
        alert("r3", t0 + timedelta(seconds=2, milliseconds=40)),
        alert(None, t0 + timedelta(seconds=1, milliseconds=900), kind="consent.withdrawn"),
        alert("r2", t0 + timedelta(seconds=1, milliseconds=250)),
        alert("r1", t0 + timedelta(seconds=1), kind="referral.linked"),  # not the outcome alert
        alert("older", t0 - timedelta(seconds=5)),  # before the phase: reading stops here
        alert("much-older", t0 - timedelta(seconds=60)),
        alert("r1", t0 - timedelta(seconds=90)),  # an earlier phase's, on a page never read
        alert("oldest", t0 - timedelta(seconds=120)),
    ]
    asked: list[dict[str, str]] = []
    lags, missing = outcome_alerts(world, page=2, client=_feed_server(items, asked))
    assert sorted(round(x, 3) for x in lags) == [0.04, 0.25]
    assert missing == 1  # r1 had no outcome alert in the phase
    # r1 still missing, yet the page at cursor "6" is not asked for: it is all before the phase.
    assert [a.get("cursor") for a in asked] == [None, "2", "4"]


def test_outcome_alerts_with_no_decisions_reads_nothing():
    from bench.mixed import World, outcome_alerts

    asked: list[dict[str, str]] = []
    world = World("http://gw", "http://consent", {"demo-education": "edu-token"}, "agency-1")
    assert outcome_alerts(world, client=_feed_server([], asked)) == ([], 0)
    assert asked == []


def test_background_nice_option_is_an_increment_from_0_to_19():
    assert parse_nice("0") == 0
    assert parse_nice("10") == 10
    assert parse_nice("19") == 19
    for bad in ("-5", "20", "ten", "", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="from 0 to 19"):
            parse_nice(bad)
