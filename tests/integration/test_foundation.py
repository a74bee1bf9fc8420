"""Foundation: the daemons start, answer /ping, parse flags and config files as nsqd 1.3 does
(Go flag package conventions), and stop cleanly on SIGTERM/SIGINT. Also checks the test
fixtures themselves (daemons are stopped even when a test fails)."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cnsq

HERE = Path(__file__).resolve().parent

# Every nsqd flag named in shared/NSQ-FACTS.md ("nsqd flags (defaults)").
NSQD_FLAGS = """
tcp-address http-address https-address data-path
config version log-level log-prefix node-id
broadcast-address broadcast-tcp-port broadcast-http-port lookupd-tcp-address
mem-queue-size max-bytes-per-file sync-every sync-timeout
msg-timeout max-msg-timeout max-msg-size max-body-size max-req-timeout
max-heartbeat-interval max-rdy-count max-output-buffer-size max-output-buffer-timeout
min-output-buffer-timeout output-buffer-timeout max-channel-consumers
statsd-address statsd-prefix statsd-interval statsd-mem-stats statsd-udp-packet-size
statsd-exclude-ephemeral
e2e-processing-latency-percentile e2e-processing-latency-window-time
tls-cert tls-key tls-root-ca-file tls-client-auth-policy tls-required tls-min-version
deflate max-deflate-level snappy
auth-http-address http-client-connect-timeout http-client-request-timeout
""".split()

NSQLOOKUPD_FLAGS = """
tcp-address http-address broadcast-address inactive-producer-timeout tombstone-lifetime
""".split()


def flag_listed(text, name):
    return re.search(r"(?<![\w-])--?" + re.escape(name) + r"(?![\w-])", text) is not None


def combined(cp):
    return (cp.stdout or "") + (cp.stderr or "")


# ---------------------------------------------------------------------------------------------
# start / ping


def test_nsqd_starts_and_answers_ping(nsqd):
    r = nsqd.get("/ping")
    assert r.status == 200
    assert r.body == b"OK"
    assert nsqd.running()


def test_nsqlookupd_starts_and_answers_ping(nsqlookupd):
    r = nsqlookupd.get("/ping")
    assert r.status == 200
    assert r.body == b"OK"


def test_nsqd_and_nsqlookupd_side_by_side(nsqd_factory, nsqlookupd):
    a = nsqd_factory()
    b = nsqd_factory()
    for d in (a, b, nsqlookupd):
        assert d.get("/ping").body == b"OK"
    assert len({a.tcp_port, a.http_port, b.tcp_port, b.http_port,
                nsqlookupd.tcp_port, nsqlookupd.http_port}) == 6


def test_nsqd_tcp_port_accepts_connections(nsqd):
    with nsqd.connect() as c:
        # a V2 client is silent until it sends a command: just check the socket is open
        c.expect_no_frame(0.2)


# ---------------------------------------------------------------------------------------------
# --help / --version / bad flags


def test_nsqd_help_exits_0_and_lists_every_flag():
    cp = cnsq.run_binary("nsqd", "--help")
    assert cp.returncode == 0, combined(cp)
    text = combined(cp)
    missing = [f for f in NSQD_FLAGS if not flag_listed(text, f)]
    assert not missing, f"--help does not list: {missing}\n{text}"


@pytest.mark.parametrize("form", ["-help", "-h"])
def test_nsqd_help_short_forms(form):
    cp = cnsq.run_binary("nsqd", form)
    assert cp.returncode == 0, combined(cp)
    assert flag_listed(combined(cp), "mem-queue-size")


def test_nsqlookupd_help_lists_its_flags():
    cp = cnsq.run_binary("nsqlookupd", "--help")
    assert cp.returncode == 0, combined(cp)
    text = combined(cp)
    missing = [f for f in NSQLOOKUPD_FLAGS if not flag_listed(text, f)]
    assert not missing, f"nsqlookupd --help does not list: {missing}\n{text}"


@pytest.mark.parametrize("prog", ["nsqd", "nsqlookupd"])
@pytest.mark.parametrize("form", ["--version", "-version"])
def test_version_exits_0_and_prints_a_version(prog, form):
    cp = cnsq.run_binary(prog, form)
    assert cp.returncode == 0, combined(cp)
    assert re.search(r"\d+\.\d+\.\d+", combined(cp)), combined(cp)


@pytest.mark.parametrize("prog", ["nsqd", "nsqlookupd"])
def test_unknown_flag_fails_with_a_message(prog, tmp_path):
    cp = cnsq.run_binary(prog, "--no-such-flag=1", cwd=tmp_path)
    assert cp.returncode != 0
    assert "no-such-flag" in combined(cp), combined(cp)


@pytest.mark.parametrize("args, mention", [
    (["--mem-queue-size=abc"], "mem-queue-size"),
    (["--msg-timeout=notaduration"], "msg-timeout"),
    (["--max-deflate-level=42"], "max-deflate-level"),
    (["--node-id=1024"], "node-id"),
    (["--e2e-processing-latency-percentile=1.5"], ""),
    (["--mem-queue-size"], "mem-queue-size"),  # value missing at the end
])
def test_nsqd_bad_flag_values_fail(args, mention, tmp_path):
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", f"--data-path={tmp_path}",
                         *args, cwd=tmp_path)
    assert cp.returncode != 0, f"nsqd {args} should fail; output:\n{combined(cp)}"
    assert combined(cp).strip(), "a failing nsqd must say why"
    if mention:
        assert mention in combined(cp), combined(cp)


# ---------------------------------------------------------------------------------------------
# flag forms, config file, log level


def test_flag_value_separated_by_space(nsqd_factory):
    d = nsqd_factory("--mem-queue-size", "5", "--log-level", "debug", "--msg-timeout", "30s",
                     flag_style="space")
    assert d.get("/ping").body == b"OK"


def test_single_dash_flags(nsqd_factory):
    d = nsqd_factory("-mem-queue-size=5", "-max-rdy-count", "100", flag_style="single-dash")
    assert d.get("/ping").body == b"OK"


def test_bool_flag_forms(nsqd_factory):
    d = nsqd_factory("--snappy", "--deflate=false", "--statsd-mem-stats=true",
                     "--statsd-exclude-ephemeral")
    assert d.get("/ping").body == b"OK"


def test_repeatable_and_list_flags(nsqd_factory):
    p1, p2 = cnsq.free_ports(2)
    d = nsqd_factory(f"--lookupd-tcp-address=127.0.0.1:{p1}",
                     f"--lookupd-tcp-address=127.0.0.1:{p2}",
                     "--e2e-processing-latency-percentile=0.99",
                     "--e2e-processing-latency-percentile=0.5,0.95",
                     "--sync-timeout=500ms", "--max-msg-timeout=1h2m3s")
    assert d.get("/ping").body == b"OK"


def test_config_file_is_accepted(nsqd_factory, tmp_path):
    cfg = tmp_path / "nsqd.cfg"
    cfg.write_text(textwrap.dedent("""\
        # nsqd config (TOML, keys are flag names with '-' made '_')
        mem_queue_size = 5
        max_rdy_count = 42
        msg_timeout = "30s"
        log_level = "debug"
        statsd_prefix = "nsq.%s"
        """))
    d = nsqd_factory(f"--config={cfg}")
    assert d.get("/ping").body == b"OK"


def test_config_file_values_are_validated(tmp_path):
    """A bad value in the config file must stop nsqd: proves the file is really read."""
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("max_deflate_level = 42\n")
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--config={cfg}", f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", f"--data-path={tmp_path}",
                         cwd=tmp_path)
    assert cp.returncode != 0, combined(cp)
    assert combined(cp).strip()


def test_flags_override_config_file(nsqd_factory, tmp_path):
    cfg = tmp_path / "override.cfg"
    cfg.write_text("max_deflate_level = 42\nmem_queue_size = 5\n")
    d = nsqd_factory(f"--config={cfg}", "--max-deflate-level=5")
    assert d.get("/ping").body == b"OK"


def test_missing_config_file_fails(tmp_path):
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--config={tmp_path / 'nope.cfg'}",
                         f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", f"--data-path={tmp_path}",
                         cwd=tmp_path)
    assert cp.returncode != 0, combined(cp)


@pytest.mark.parametrize("level", ["debug", "info", "warn", "error", "fatal", "DEBUG"])
def test_log_levels_accepted(nsqd_factory, level):
    d = nsqd_factory(f"--log-level={level}")
    assert d.get("/ping").body == b"OK"


def test_debug_log_level_logs_more_than_error_level(nsqd_factory):
    verbose = nsqd_factory("--log-level=debug")
    quiet = nsqd_factory("--log-level=fatal")
    for d in (verbose, quiet):
        for _ in range(3):
            d.get("/ping")
            d.get("/no_such_endpoint")
    time.sleep(0.3)
    assert verbose.stop() == 0
    assert quiet.stop() == 0
    v = verbose.log_text().splitlines()[1:]  # line 0 is our "$ command" line
    q = quiet.log_text().splitlines()[1:]
    assert len(v) > 0, "--log-level=debug printed nothing"
    assert len(v) > len(q), (v, q)


def test_bad_log_level_fails(tmp_path):
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", "--log-level=chatty", f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", f"--data-path={tmp_path}",
                         cwd=tmp_path)
    assert cp.returncode != 0
    assert combined(cp).strip()


# ---------------------------------------------------------------------------------------------
# signals, restart, exit codes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_nsqd_exits_0_on_signal(nsqd, sig):
    with nsqd.connect():  # a connected client must not block shutdown
        time.sleep(0.3)  # let nsqd register it (Go nsqd 1.3 races on conns accepted mid-shutdown)
        t0 = time.monotonic()
        nsqd.send_signal(sig)
        rc = nsqd.wait(10)
    assert rc == 0, nsqd.log_tail()
    assert time.monotonic() - t0 < 10
    nsqd.expect_exit = True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_nsqlookupd_exits_0_on_signal(nsqlookupd, sig):
    nsqlookupd.send_signal(sig)
    assert nsqlookupd.wait(10) == 0, nsqlookupd.log_tail()
    nsqlookupd.expect_exit = True


def test_stop_returns_exit_code(nsqd):
    assert nsqd.stop() == 0
    assert not nsqd.running()
    assert nsqd.returncode == 0


def test_restart_on_same_ports_and_data_path(nsqd):
    tcp, http, data = nsqd.tcp_port, nsqd.http_port, nsqd.data_path
    c = nsqd.connect()  # leave a connection behind: the ports must still be reusable
    time.sleep(0.3)  # let nsqd register it (Go nsqd 1.3 races on conns accepted mid-shutdown)
    try:
        rc = nsqd.restart()
    finally:
        c.close()
    assert rc == 0
    assert (nsqd.tcp_port, nsqd.http_port, nsqd.data_path) == (tcp, http, data)
    assert nsqd.get("/ping").body == b"OK"
    assert nsqd.starts == 2


def test_restart_right_after_sigkill(nsqd):
    """Clients' test suites kill -9 nsqd and restart it on the same ports at once
    (SO_REUSEADDR)."""
    with nsqd.connect():
        rc = nsqd.kill()
    assert rc == -signal.SIGKILL
    nsqd.start()
    assert nsqd.get("/ping").body == b"OK"


# ---------------------------------------------------------------------------------------------
# the fixtures themselves


def test_missing_bin_dir_gives_a_clear_message(monkeypatch):
    monkeypatch.delenv("CNSQ_BIN_DIR", raising=False)
    with pytest.raises(AssertionError, match="CNSQ_BIN_DIR"):
        cnsq.binary("nsqd")
    monkeypatch.setenv("CNSQ_BIN_DIR", "/nonexistent/cnsq/bin")
    with pytest.raises(AssertionError, match="CNSQ_BIN_DIR"):
        cnsq.binary("nsqd")


def test_daemon_that_cannot_start_reports_its_log(nsqd_factory):
    with pytest.raises(AssertionError) as ei:
        nsqd_factory("--no-such-flag-at-all")
    msg = str(ei.value)
    assert "exited with code" in msg and "log" in msg


INNER_TEST = '''
import os, signal, pytest

def test_raises_with_running_nsqd(nsqd, tmp_path):
    open(os.environ["PIDFILE"], "w").write(str(nsqd.pid))
    raise RuntimeError("deliberate failure")

def test_hangs_forever(nsqd):
    open(os.environ["PIDFILE2"], "w").write(str(nsqd.pid))
    import time
    time.sleep(3600)
'''


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): check its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def test_fixture_stops_daemons_when_a_test_fails(tmp_path):
    """Runs an inner pytest session whose tests fail (one raises, one overruns the per-test time
    limit) and checks that their nsqd processes were stopped and their logs shown."""
    cnsq.binary("nsqd")  # fail early with a clear message when the binary is missing
    inner = tmp_path / "inner"
    inner.mkdir()
    for name in ("conftest.py", "cnsq.py", "pytest.ini"):
        (inner / name).write_text((HERE / name).read_text())
    (inner / "test_inner.py").write_text(INNER_TEST)
    env = dict(os.environ, PIDFILE=str(tmp_path / "pid"), PIDFILE2=str(tmp_path / "pid2"),
               CNSQ_TEST_TIMEOUT="3")
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         str(inner)], cwd=inner, env=env, capture_output=True, text=True,
                        timeout=120)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 1, out
    assert "2 failed" in out, out
    assert "deliberate failure" in out, out
    assert "exceeded CNSQ_TEST_TIMEOUT" in out, out
    assert "nsqd[tcp" in out and " log" in out, "daemon log not attached to the report:\n" + out
    for f in ("pid", "pid2"):
        pid = int((tmp_path / f).read_text())
        assert not _pid_alive(pid), f"nsqd pid {pid} still running after the failed test"
