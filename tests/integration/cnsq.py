"""Helpers for cnsq's integration tests (standard library only).

- Daemon / Nsqd / Nsqlookupd: run the real binaries from $CNSQ_BIN_DIR on free 127.0.0.1 ports,
  wait for GET /ping, stop them (SIGTERM, then SIGKILL after 10 s), restart on the same ports and
  data path, send signals, check exit codes, show their logs.
- http_request / get / post / put: tiny urllib wrappers returning HttpResponse(status, headers, body).
- NsqConn: a raw NSQ TCP V2 client on a plain socket.
- wait_until / wait_channel / wait_topic: poll (e.g. /stats) until a condition holds, with a deadline.

Fixtures built on these live in conftest.py.
"""

import ctypes
import json
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple
from pathlib import Path

READY_TIMEOUT = 10.0  # seconds for a daemon to answer GET /ping with "OK"
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL_LINES = 80


class CnsqError(AssertionError):
    """A helper-level failure (daemon missing, not ready, crashed...). An AssertionError so that
    pytest reports it as a test failure with its message."""


# ---------------------------------------------------------------------------------------------
# binaries and ports


def bin_dir():
    d = os.environ.get("CNSQ_BIN_DIR")
    if not d:
        raise CnsqError(
            "CNSQ_BIN_DIR is not set: point it at the directory holding the built nsqd and "
            "nsqlookupd (e.g. CNSQ_BIN_DIR=/work/main/build/bin; build with `cmake -S . -B build "
            "&& cmake --build build`). ctest sets it automatically.")
    p = Path(d)
    if not p.is_dir():
        raise CnsqError(f"CNSQ_BIN_DIR={d} is not a directory (did the build run?)")
    return p


def binary(name):
    path = bin_dir() / name
    if not path.is_file() or not os.access(path, os.X_OK):
        raise CnsqError(f"{name} binary not found or not executable at {path} "
                        f"(CNSQ_BIN_DIR={os.environ.get('CNSQ_BIN_DIR')}); build it first")
    return path


def free_ports(n=1, host="127.0.0.1", kind=socket.SOCK_STREAM):
    """n distinct free ports (bind to port 0; the sockets stay open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, kind)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def free_udp_port(host="127.0.0.1"):
    return free_ports(1, host, socket.SOCK_DGRAM)[0]


def run_binary(name, *args, timeout=20, env=None, cwd=None):
    """Runs a binary to completion (for --help, --version, bad flags): CompletedProcess with text
    stdout/stderr. Fails if it does not exit within timeout."""
    exe = binary(name)
    try:
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              errors="replace")
    except subprocess.TimeoutExpired as e:
        def txt(x):
            return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
        raise CnsqError(f"`{name} {' '.join(map(str, args))}` did not exit within {timeout}s "
                        f"(it was killed)\nstdout: {txt(e.stdout)}\nstderr: {txt(e.stderr)}"
                        ) from None


def _preexec(rlimit_fsize=None):
    """Child setup before exec: die with the parent (so a killed test run leaves no daemon
    behind) and optionally cap file sizes (to make disk writes fail)."""
    def fn():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass
        if rlimit_fsize is not None:
            import resource
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (rlimit_fsize, rlimit_fsize))
    return fn


# ---------------------------------------------------------------------------------------------
# HTTP


class HttpResponse(namedtuple("HttpResponse", "status headers body")):
    """(status, headers, body bytes); headers is case-insensitive (email.message.Message)."""

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"response is not JSON ({e}): status {self.status} "
                                 f"body {self.body[:500]!r}") from None

    def header(self, name, default=None):
        return self.headers.get(name, default)


def _url(base, path, params):
    url = base.rstrip("/") + path if base else path
    if params:
        q = urllib.parse.urlencode(params, doseq=True)
        url += ("&" if "?" in url else "?") + q
    return url


def http_request(method, url, body=None, headers=None, timeout=10.0):
    """One HTTP request with urllib. Never raises for HTTP error statuses."""
    data = body
    if isinstance(data, str):
        data = data.encode()
    if data is None and method in ("POST", "PUT"):
        data = b""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResponse(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        try:
            payload = e.read()
        finally:
            e.close()
        return HttpResponse(e.code, e.headers, payload)


def get(url, params=None, **kw):
    return http_request("GET", _url("", url, params), **kw)


def post(url, body=b"", params=None, **kw):
    return http_request("POST", _url("", url, params), body=body, **kw)


def put(url, body=b"", params=None, **kw):
    return http_request("PUT", _url("", url, params), body=body, **kw)


def get_json(url, params=None, **kw):
    r = get(url, params, **kw)
    assert r.status == 200, f"GET {url} -> {r.status} {r.body[:500]!r}"
    return r.json()


# ---------------------------------------------------------------------------------------------
# polling


def wait_until(predicate, timeout=5.0, interval=0.02, desc="condition"):
    """Calls predicate() until it returns a truthy value (returned) or timeout passes (fails,
    showing the last value or exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # keep polling; report the last error on timeout
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {desc}; last: {last!r}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# daemons


class Daemon:
    """A cnsq daemon process on 127.0.0.1 ports. Subclasses say how to build the command line."""

    binary_name = None

    def __init__(self, workdir, args=(), tcp_port=None, http_port=None, env=None,
                 rlimit_fsize=None, ready_timeout=READY_TIMEOUT, flag_style="equals"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if tcp_port is None or http_port is None:
            tp, hp = free_ports(2)
            tcp_port = tcp_port or tp
            http_port = http_port or hp
        self.tcp_port = tcp_port
        self.http_port = http_port
        self.args = [str(a) for a in args]
        self.env = env
        self.rlimit_fsize = rlimit_fsize
        self.ready_timeout = ready_timeout
        self.flag_style = flag_style  # how base flags are spelled: equals | space | single-dash
        self.proc = None
        self.starts = 0
        self.log_paths = []
        self.returncodes = []  # exit codes of earlier runs (restart)
        self.expect_exit = False  # a test that makes the daemon exit on purpose sets this
        self.stopped_by_test = False
        self._pipe_thread = None

    # command line
    def base_flags(self):
        return [("tcp-address", f"127.0.0.1:{self.tcp_port}"),
                ("http-address", f"127.0.0.1:{self.http_port}")]

    def base_args(self):
        out = []
        for name, value in self.base_flags():
            if self.flag_style == "space":
                out += [f"--{name}", value]
            elif self.flag_style == "single-dash":
                out.append(f"-{name}={value}")
            else:
                out.append(f"--{name}={value}")
        return out

    def command(self):
        return [str(binary(self.binary_name)), *self.base_args(), *self.args]

    @property
    def name(self):
        return f"{self.binary_name}[tcp {self.tcp_port}, http {self.http_port}]"

    @property
    def tcp_addr(self):
        return f"127.0.0.1:{self.tcp_port}"

    @property
    def http_addr(self):
        return f"127.0.0.1:{self.http_port}"

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self):
        return self.log_paths[-1] if self.log_paths else None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # lifecycle
    def start(self, wait=True):
        if self.running():
            raise CnsqError(f"{self.name} is already running")
        cmd = self.command()
        self.starts += 1
        log_path = self.workdir / f"{self.binary_name}.{self.starts}.log"
        self.log_paths.append(log_path)
        self.expect_exit = False
        self.stopped_by_test = False
        if self.rlimit_fsize is None:
            with open(log_path, "wb") as log:
                log.write(("$ " + " ".join(cmd) + "\n").encode())
                log.flush()
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, cwd=self.workdir,
                                             env=self.env, preexec_fn=_preexec())
        else:
            # file size limits would also hit a log file: log through a pipe instead
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env=self.env, preexec_fn=_preexec(self.rlimit_fsize))
            self._pipe_thread = threading.Thread(target=self._copy_pipe,
                                                 args=(self.proc.stdout, log_path, cmd),
                                                 daemon=True)
            self._pipe_thread.start()
        if wait:
            self.wait_ready()
        return self

    @staticmethod
    def _copy_pipe(pipe, log_path, cmd):
        with open(log_path, "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            for chunk in iter(lambda: pipe.read1(65536), b""):
                log.write(chunk)
                log.flush()

    def wait_ready(self, timeout=None):
        """Waits until GET /ping answers 200 "OK"; fails with the log tail otherwise."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.expect_exit = True  # reported right here
                raise CnsqError(f"{self.name} exited with code {rc} before answering /ping\n"
                                f"{self.log_tail()}")
            try:
                r = get(self.base_url + "/ping", timeout=1.0)
                if r.status == 200 and r.body.strip() == b"OK":
                    return self
                last = f"HTTP {r.status} {r.body[:200]!r}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.02)
        raise CnsqError(f"{self.name} did not answer GET /ping with OK within {timeout}s "
                        f"(last: {last})\n{self.log_tail()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    def send_signal(self, sig):
        if not self.running():
            raise CnsqError(f"{self.name} is not running (rc {self.returncode})")
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit and returns its exit code (fails on timeout). The exit
        then counts as expected at teardown."""
        self.expect_exit = True
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise CnsqError(f"{self.name} did not exit within {timeout}s\n"
                            f"{self.log_tail()}") from None
        self._join_pipe()
        return rc

    def _join_pipe(self):
        if self._pipe_thread is not None:
            self._pipe_thread.join(5)
            self._pipe_thread = None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig (SIGTERM), waits up to timeout, then SIGKILLs. Returns the exit code
        (negative for death by signal, as subprocess reports it). Marks the stop as expected."""
        if self.proc is None:
            return None
        self.stopped_by_test = True
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._join_pipe()
                raise CnsqError(f"{self.name} did not exit within {timeout}s of signal "
                                f"{signal.Signals(sig).name}; SIGKILLed it\n{self.log_tail()}")
        self._join_pipe()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (no clean shutdown); returns the exit code."""
        return self.stop(signal.SIGKILL)

    def restart(self, args=None, wait=True, sig=signal.SIGTERM):
        """Stops (if running) and starts again on the same ports (and data path). args replaces
        the extra arguments when given. Returns the previous run's exit code."""
        rc = self.stop(sig) if self.running() else self.returncode
        self.returncodes.append(rc)
        if args is not None:
            self.args = [str(a) for a in args]
        self.start(wait=wait)
        return rc

    def finish(self, check_exit=True):
        """Fixture teardown: stops the daemon; returns a list of problems (crashed during the
        test, hung on SIGTERM, non-zero exit after SIGTERM)."""
        problems = []
        if self.proc is None:
            return problems
        rc = self.proc.poll()
        if rc is not None:
            self._join_pipe()
            if not (self.expect_exit or self.stopped_by_test):
                problems.append(f"{self.name} exited on its own during the test with code {rc}")
            return problems
        try:
            rc = self.stop()
        except CnsqError as e:
            problems.append(str(e).splitlines()[0])
            return problems
        if check_exit and rc != 0:
            problems.append(f"{self.name} exited with code {rc} after SIGTERM (expected 0)")
        return problems

    # logs
    def log_text(self, all_runs=True):
        paths = self.log_paths if all_runs else self.log_paths[-1:]
        out = []
        for p in paths:
            try:
                out.append(Path(p).read_text(errors="replace"))
            except OSError:
                pass
        return "".join(out)

    def log_tail(self, lines=LOG_TAIL_LINES):
        text = self.log_text(all_runs=False)
        tail = text.splitlines()[-lines:]
        return f"--- {self.name} log ({self.log_path}), last {len(tail)} lines ---\n" + \
            "\n".join(tail)

    # HTTP
    def url(self, path, params=None):
        return _url(self.base_url, path, params)

    def get(self, path, params=None, **kw):
        return http_request("GET", self.url(path, params), **kw)

    def post(self, path, body=b"", params=None, **kw):
        return http_request("POST", self.url(path, params), body=body, **kw)

    def put(self, path, body=b"", params=None, **kw):
        return http_request("PUT", self.url(path, params), body=body, **kw)

    def get_json(self, path, params=None):
        return get_json(self.url(path, params))

    def ping(self):
        return self.get("/ping")


class Nsqd(Daemon):
    binary_name = "nsqd"

    def __init__(self, workdir, args=(), data_path=None, **kw):
        super().__init__(workdir, args, **kw)
        self.data_path = Path(data_path) if data_path else self.workdir / "data"
        self.data_path.mkdir(parents=True, exist_ok=True)

    def base_flags(self):
        return super().base_flags() + [("data-path", str(self.data_path))]

    def connect(self, timeout=5.0, magic=None):
        """A raw NsqConn (magic sent)."""
        return NsqConn("127.0.0.1", self.tcp_port, timeout=timeout,
                       magic=MAGIC_V2 if magic is None else magic)

    def consumer(self, topic, channel, rdy=None, identify=None, timeout=5.0):
        """Connect, IDENTIFY (when identify is a dict), SUB, and RDY (when given)."""
        c = self.connect(timeout=timeout)
        if identify is not None:
            c.identify(identify)
        c.sub(topic, channel)
        if rdy is not None:
            c.rdy(rdy)
        return c

    # HTTP helpers
    def pub(self, topic, body, **params):
        r = self.post("/pub", body, dict(topic=topic, **params))
        assert (r.status, r.body) == (200, b"OK"), f"/pub -> {r.status} {r.body!r}"
        return r

    def mpub(self, topic, bodies, binary=False):
        if binary:
            payload = encode_mpub_body(bodies)
            r = self.post("/mpub", payload, dict(topic=topic, binary="true"))
        else:
            r = self.post("/mpub", b"\n".join(_b(b) for b in bodies), dict(topic=topic))
        assert (r.status, r.body) == (200, b"OK"), f"/mpub -> {r.status} {r.body!r}"
        return r

    def stats(self, topic=None, channel=None, include_clients=None, include_mem=None):
        params = {"format": "json"}
        if topic is not None:
            params["topic"] = topic
        if channel is not None:
            params["channel"] = channel
        if include_clients is not None:
            params["include_clients"] = "true" if include_clients else "false"
        if include_mem is not None:
            params["include_mem"] = "true" if include_mem else "false"
        return self.get_json("/stats", params)

    def topic_stats(self, topic):
        """The topic's /stats entry, or None."""
        for t in self.stats(topic=topic).get("topics") or []:
            if t.get("topic_name") == topic:
                return t
        return None

    def channel_stats(self, topic, channel):
        t = self.topic_stats(topic)
        if t is None:
            return None
        for c in t.get("channels") or []:
            if c.get("channel_name") == channel:
                return c
        return None

    def wait_topic(self, topic, timeout=5.0, **expected):
        """Polls /stats until the topic exists with all expected field values; returns it."""
        return _wait_fields(lambda: self.topic_stats(topic), expected, timeout,
                            f"topic {topic!r}")

    def wait_channel(self, topic, channel, timeout=5.0, **expected):
        """Polls /stats until the channel exists with all expected field values; returns it."""
        return _wait_fields(lambda: self.channel_stats(topic, channel), expected, timeout,
                            f"channel {topic!r}/{channel!r}")

    def wait_topic_gone(self, topic, timeout=5.0):
        wait_until(lambda: self.topic_stats(topic) is None, timeout,
                   desc=f"topic {topic!r} to disappear from /stats")

    def wait_channel_gone(self, topic, channel, timeout=5.0):
        wait_until(lambda: self.channel_stats(topic, channel) is None, timeout,
                   desc=f"channel {topic!r}/{channel!r} to disappear from /stats")


class Nsqlookupd(Daemon):
    binary_name = "nsqlookupd"


def _wait_fields(fetch, expected, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fetch()
        if last is not None and all(last.get(k) == v for k, v in expected.items()):
            return last
        if time.monotonic() >= deadline:
            if last is None:
                raise AssertionError(f"{what} not in /stats after {timeout}s")
            diff = {k: (last.get(k), v) for k, v in expected.items() if last.get(k) != v}
            raise AssertionError(f"{what} after {timeout}s: (actual, expected) {diff}; "
                                 f"stats: {json.dumps(last)[:2000]}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# NSQ TCP protocol V2

MAGIC_V2 = b"  V2"
FRAME_RESPONSE = 0
FRAME_ERROR = 1
FRAME_MESSAGE = 2
FRAME_NAMES = {FRAME_RESPONSE: "response", FRAME_ERROR: "error", FRAME_MESSAGE: "message"}
HEARTBEAT = b"_heartbeat_"
MSG_HEADER_LEN = 26


def _b(x):
    if isinstance(x, str):
        return x.encode()
    return bytes(x)


def encode_body(body):
    body = _b(body)
    return struct.pack(">I", len(body)) + body


def encode_mpub_body(bodies):
    """[4B count]([4B size][data])* (the MPUB / binary /mpub payload, without outer length)."""
    bodies = [_b(b) for b in bodies]
    return struct.pack(">I", len(bodies)) + b"".join(encode_body(b) for b in bodies)


class ConnectionClosed(AssertionError):
    pass


class FrameTimeout(AssertionError):
    pass


class NsqError(AssertionError):
    """An error frame arrived where a response was expected."""

    def __init__(self, text):
        super().__init__(f"nsqd error frame: {text}")
        self.text = text
        self.code = text.split(" ", 1)[0]


class Message(namedtuple("Message", "timestamp attempts id body")):
    """A message frame: timestamp (ns), attempts, id (16 bytes), body (bytes)."""

    @property
    def id_str(self):
        return self.id.decode("ascii", "replace")

    @classmethod
    def decode(cls, data):
        if len(data) < MSG_HEADER_LEN:
            raise AssertionError(f"message frame too short ({len(data)} bytes): {data!r}")
        ts, attempts = struct.unpack(">qH", data[:10])
        return cls(ts, attempts, bytes(data[10:26]), bytes(data[26:]))


def _msg_id(m):
    if isinstance(m, Message):
        return m.id
    return _b(m)


class NsqConn:
    """A raw NSQ V2 connection. Frame reads take a timeout (default: the connection's) and fail
    with FrameTimeout; a closed connection raises ConnectionClosed."""

    def __init__(self, host="127.0.0.1", port=4150, timeout=5.0, magic=MAGIC_V2):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.closed_by_peer = False
        self.heartbeats = 0  # heartbeats answered (or skipped) by the helpers
        if magic:
            self.send_raw(magic)

    # plumbing
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        self.sock.sendall(_b(data))

    def send_cmd(self, line, body=None):
        """Sends `line\\n` (+ [4B len][body] when body is not None)."""
        data = _b(line) + b"\n"
        if body is not None:
            data += encode_body(body)
        self.send_raw(data)

    def has_buffered_frame(self):
        if len(self._buf) < 4:
            return False
        (size,) = struct.unpack(">I", self._buf[:4])
        return len(self._buf) >= 4 + size

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FrameTimeout("timed out waiting for a frame")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise FrameTimeout("timed out waiting for a frame") from None
        except (ConnectionResetError, BrokenPipeError) as e:
            self.closed_by_peer = True
            raise ConnectionClosed(f"connection reset by nsqd ({e})") from None
        if not chunk:
            self.closed_by_peer = True
            raise ConnectionClosed("nsqd closed the connection")
        self._buf += chunk

    def read_frame(self, timeout=None):
        """-> (frame_type, data bytes)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            while len(self._buf) < 4:
                self._fill(deadline)
            (size,) = struct.unpack(">I", self._buf[:4])
            if size < 4:
                raise AssertionError(f"bad frame size {size} (buffer {bytes(self._buf[:64])!r})")
            while len(self._buf) < 4 + size:
                self._fill(deadline)
        except FrameTimeout:
            raise FrameTimeout(f"no complete frame within {timeout}s "
                               f"(buffered {bytes(self._buf[:64])!r})") from None
        (ftype,) = struct.unpack(">i", self._buf[4:8])
        data = bytes(self._buf[8:4 + size])
        del self._buf[:4 + size]
        return ftype, data

    def _next_frame(self, timeout, answer_heartbeats):
        """Reads frames, answering (or skipping) heartbeats, until another frame arrives."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            ftype, data = self.read_frame(max(0.0, deadline - time.monotonic()))
            if ftype == FRAME_RESPONSE and data == HEARTBEAT and answer_heartbeats is not None:
                self.heartbeats += 1
                if answer_heartbeats:
                    self.nop()
                continue
            return ftype, data

    def read_response(self, timeout=None, answer_heartbeats=True):
        """Next response frame's data (heartbeats answered with NOP unless answer_heartbeats is
        False, or returned when it is None); raises NsqError on an error frame."""
        ftype, data = self._next_frame(timeout, answer_heartbeats)
        if ftype == FRAME_ERROR:
            raise NsqError(data.decode(errors="replace"))
        if ftype != FRAME_RESPONSE:
            raise AssertionError(f"expected a response frame, got {FRAME_NAMES.get(ftype, ftype)}"
                                 f" {data[:200]!r}")
        return data

    def expect_response(self, expected=b"OK", timeout=None):
        data = self.read_response(timeout)
        assert data == _b(expected), f"expected response {_b(expected)!r}, got {data!r}"
        return data

    def expect_error(self, prefix="E_", timeout=None):
        """Next non-heartbeat frame must be an error starting with prefix; returns its text."""
        ftype, data = self._next_frame(timeout, True)
        text = data.decode(errors="replace")
        assert ftype == FRAME_ERROR, (f"expected error {prefix!r}, got "
                                      f"{FRAME_NAMES.get(ftype, ftype)} frame {data[:200]!r}")
        assert text.startswith(prefix), f"expected error starting {prefix!r}, got {text!r}"
        return text

    def read_message(self, timeout=None, answer_heartbeats=True):
        """Next message frame, parsed. Heartbeats are answered with NOP (answer_heartbeats=True)
        or skipped silently (False). Any other frame fails."""
        ftype, data = self._next_frame(timeout, answer_heartbeats)
        if ftype != FRAME_MESSAGE:
            raise AssertionError(f"expected a message frame, got {FRAME_NAMES.get(ftype, ftype)}"
                                 f" {data[:200]!r}")
        return Message.decode(data)

    def read_messages(self, n, timeout=None, answer_heartbeats=True):
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        out = []
        for i in range(n):
            try:
                out.append(self.read_message(max(0.0, deadline - time.monotonic()),
                                             answer_heartbeats))
            except FrameTimeout:
                raise FrameTimeout(f"got {i} of {n} messages within {timeout}s: "
                                   f"{[m.body[:40] for m in out]}") from None
        return out

    def expect_no_frame(self, duration, answer_heartbeats=True):
        """Asserts that nothing but heartbeats arrives for duration seconds."""
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                ftype, data = self._next_frame(remaining, answer_heartbeats)
            except FrameTimeout:
                return
            raise AssertionError(f"expected no frame for {duration}s, got "
                                 f"{FRAME_NAMES.get(ftype, ftype)} {data[:200]!r}")

    expect_no_message = expect_no_frame

    def assert_closed(self, timeout=5.0):
        """Reads (and discards) frames until nsqd closes the connection; fails if it stays open
        for timeout seconds. Returns the frames received before the close."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                frames.append(self.read_frame(max(0.0, deadline - time.monotonic())))
            except ConnectionClosed:
                return frames
            except FrameTimeout:
                raise AssertionError(f"nsqd did not close the connection within {timeout}s "
                                     f"(frames received: {frames[:10]})") from None

    def assert_open(self, topic="probe_conn_open"):
        """Checks the connection is still usable: NOP is silent, so publish a probe message to
        a scratch topic and expect OK (use assert_open_subscribed on a consumer to leave the
        topics alone)."""
        self.pub(topic, b"probe")

    def assert_open_subscribed(self):
        """For a subscribed connection: FIN of an unknown id must answer E_FIN_FAILED (not
        fatal), proving the connection still works."""
        self.fin(b"0" * 16)
        self.expect_error("E_FIN_FAILED")

    # commands
    def identify(self, data=None, **fields):
        """IDENTIFY with a JSON body (data dict, updated with fields). Returns the parsed JSON
        response with feature_negotiation, else the raw response (b"OK"). Raises NsqError on an
        error frame."""
        body = dict(data or {})
        body.update(fields)
        self.send_cmd("IDENTIFY", json.dumps(body).encode())
        resp = self.read_response()
        if resp[:1] == b"{":
            return json.loads(resp)
        return resp

    def sub(self, topic, channel, check=True):
        self.send_cmd(f"SUB {topic} {channel}")
        if check:
            self.expect_response(b"OK")

    def rdy(self, count):
        self.send_cmd(f"RDY {count}")

    def fin(self, msg):
        self.send_cmd(b"FIN " + _msg_id(msg))

    def req(self, msg, delay_ms=0):
        self.send_cmd(b"REQ " + _msg_id(msg) + b" " + str(delay_ms).encode())

    def touch(self, msg):
        self.send_cmd(b"TOUCH " + _msg_id(msg))

    def nop(self):
        self.send_cmd("NOP")

    def cls(self, check=True):
        self.send_cmd("CLS")
        if check:
            self.expect_response(b"CLOSE_WAIT")

    def pub(self, topic, body, check=True):
        self.send_cmd(f"PUB {topic}", _b(body))
        if check:
            self.expect_response(b"OK")

    def mpub(self, topic, bodies, check=True):
        self.send_cmd(f"MPUB {topic}", encode_mpub_body(bodies))
        if check:
            self.expect_response(b"OK")

    def dpub(self, topic, delay_ms, body, check=True):
        self.send_cmd(f"DPUB {topic} {delay_ms}", _b(body))
        if check:
            self.expect_response(b"OK")

    def auth(self, secret):
        self.send_cmd("AUTH", _b(secret))


def collect_messages(conns, count, timeout=5.0, fin=True, answer_heartbeats=True):
    """Reads messages from several connections until count arrived in total (FINishing each when
    fin). Returns {conn: [Message, ...]} in arrival order. Fails on timeout."""
    got = {c: [] for c in conns}
    total = 0
    deadline = time.monotonic() + timeout
    while total < count:
        ready = [c for c in conns if c.has_buffered_frame()]
        if not ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FrameTimeout(f"got {total} of {count} messages within {timeout}s")
            ready, _, _ = select.select(conns, [], [], remaining)
            if not ready:
                continue
        for c in ready:
            try:
                ftype, data = c.read_frame(2.0)
            except FrameTimeout:
                continue  # a partial frame; select again
            if ftype == FRAME_RESPONSE and data == HEARTBEAT:
                if answer_heartbeats:
                    c.nop()
                continue
            if ftype != FRAME_MESSAGE:
                raise AssertionError(f"unexpected {FRAME_NAMES.get(ftype, ftype)} frame {data!r}")
            m = Message.decode(data)
            got[c].append(m)
            total += 1
            if fin:
                c.fin(m)
    return got
