"""pytest fixtures for cnsq's integration tests (see cnsq.py for the helpers themselves).

Fixtures:
  nsqd_factory(*args, **kw) -> cnsq.Nsqd   start an nsqd (extra flags as args) on free ports
  nsqd                                      one started nsqd with default flags
  nsqlookupd_factory(*args, **kw) -> cnsq.Nsqlookupd
  nsqlookupd                                one started nsqlookupd
  unique_name                               a fresh topic/channel name per call
Every daemon a test starts is stopped at teardown (SIGTERM, 10 s, SIGKILL), even when the test
fails; its log is attached to the report of a failing test, and teardown fails when a daemon
crashed during the test, hung on SIGTERM, or exited non-zero after it.

CNSQ_TEST_TIMEOUT (seconds, default 90) bounds each test's run time.
"""

import itertools
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cnsq  # noqa: E402

TEST_TIMEOUT = float(os.environ.get("CNSQ_TEST_TIMEOUT", "90"))


def _register(request, daemon):
    node = request.node
    if not hasattr(node, "cnsq_daemons"):
        node.cnsq_daemons = []
    node.cnsq_daemons.append(daemon)


def _teardown(daemons):
    problems = []
    for d in daemons:
        try:
            for p in d.finish():
                problems.append(p + "\n" + d.log_tail())
        except Exception as e:  # keep stopping the others
            problems.append(f"{d.name}: teardown error {e!r}")
    if problems:
        pytest.fail("daemon problems at teardown:\n" + "\n\n".join(problems), pytrace=False)


def _make_factory(request, tmp_path, cls, prefix):
    started = []
    counter = itertools.count(1)

    def factory(*args, wait=True, **kw):
        n = next(counter)
        d = cls(tmp_path / f"{prefix}{n}", args=args, **kw)
        started.append(d)
        _register(request, d)
        d.start(wait=wait)
        return d

    factory.started = started
    return factory


@pytest.fixture
def nsqd_factory(request, tmp_path):
    """Starts nsqd processes: nsqd_factory("--mem-queue-size=10", data_path=..., tcp_port=...,
    http_port=..., rlimit_fsize=..., wait=True)."""
    factory = _make_factory(request, tmp_path, cnsq.Nsqd, "nsqd")
    try:
        yield factory
    finally:
        _teardown(factory.started)


@pytest.fixture
def nsqd(nsqd_factory):
    return nsqd_factory()


@pytest.fixture
def nsqlookupd_factory(request, tmp_path):
    factory = _make_factory(request, tmp_path, cnsq.Nsqlookupd, "nsqlookupd")
    try:
        yield factory
    finally:
        _teardown(factory.started)


@pytest.fixture
def nsqlookupd(nsqlookupd_factory):
    return nsqlookupd_factory()


_names = itertools.count(1)


@pytest.fixture
def unique_name(request):
    """unique_name("t") -> "t_<test>_<n>": valid NSQ names (<= 64 chars) unique in the run."""
    base = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in request.node.name)

    def make(prefix="t"):
        return f"{prefix}_{base[:40]}_{next(_names)}"

    return make


# ---------------------------------------------------------------------------------------------
# per-test time limit and daemon logs in failure reports


class CnsqTestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    def on_alarm(signum, frame):
        raise CnsqTestTimeout(f"test exceeded CNSQ_TEST_TIMEOUT={TEST_TIMEOUT}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("setup", "call") and rep.failed:
        for d in getattr(item, "cnsq_daemons", []):
            try:
                text = d.log_text()
            except Exception as e:  # pragma: no cover
                text = f"(could not read log: {e!r})"
            lines = text.splitlines()[-cnsq.LOG_TAIL_LINES * 2:]
            rep.sections.append((f"{d.name} log", "\n".join(lines)))
