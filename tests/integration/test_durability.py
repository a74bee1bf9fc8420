"""Disk queues, nsqd.dat and restarts (issue 4, docs/durability.md): spill and drain with exact
counts, SIGTERM keeping queued, in-flight and deferred messages (attempts and due times kept),
kill -9 in durable mode (--mem-queue-size=0 --sync-every=1) losing no acknowledged message,
injected corruption, a full disk (a tiny loop-mounted ext4), metadata round trip, the data-path
lock."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

import cnsq

DURABLE = ("--mem-queue-size=0", "--sync-every=1")


def create(d, topic, *channels):
    assert d.post("/topic/create", params={"topic": topic}).status == 200
    for c in channels:
        r = d.post("/channel/create", params={"topic": topic, "channel": c})
        assert r.status == 200, r.body


def drain(d, topic, channel, quiet=0.5, rdy=2500, timeout=30):
    """Subscribes and FINs everything until nothing arrives for `quiet` seconds: the bodies in
    arrival order, with (attempts, arrival wall time) per message."""
    got = []
    deadline = time.monotonic() + timeout
    with d.consumer(topic, channel, rdy=rdy) as sub:
        while time.monotonic() < deadline:
            try:
                m = sub.read_message(timeout=quiet)
            except cnsq.FrameTimeout:
                return got
            got.append((m.body, m.attempts, time.time()))
            sub.fin(m)
    raise AssertionError(f"still receiving after {timeout}s ({len(got)} messages)")


def bodies(n, prefix="m", size=0):
    return [f"{prefix}{i:05d}".encode().ljust(size, b".") for i in range(n)]


# ---------------------------------------------------------------------------------------------
# spill and drain


def test_spill_and_drain_counts_exact(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=10")
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    sent = bodies(1000)
    with d.connect() as pub:
        for i in range(0, 1000, 100):
            pub.mpub(topic, sent[i:i + 100])
    d.wait_channel(topic, channel, depth=1000, backend_depth=990, message_count=1000)
    d.wait_topic(topic, depth=0, backend_depth=0, message_count=1000)
    with d.consumer(topic, channel, rdy=1000) as sub:
        got = sub.read_messages(1000, timeout=20)
        d.wait_channel(topic, channel, depth=0, backend_depth=0, in_flight_count=1000)
        for m in got:
            sub.fin(m)
        sub.expect_no_frame(0.3)
    assert sorted(m.body for m in got) == sent  # each exactly once
    assert {m.attempts for m in got} == {1}
    d.wait_channel(topic, channel, depth=0, backend_depth=0, in_flight_count=0)


def test_topic_backlog_spills_then_drains_into_new_channel(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=10")
    topic, channel = unique_name("t"), unique_name("c")
    sent = bodies(500)
    d.mpub(topic, sent)
    d.wait_topic(topic, depth=500, backend_depth=490, message_count=500)
    got = drain(d, topic, channel)
    assert sorted(b for b, _, _ in got) == sent
    d.wait_topic(topic, depth=0, backend_depth=0)
    d.wait_channel(topic, channel, depth=0, backend_depth=0, message_count=500)


def test_mem_queue_size_zero_goes_through_disk(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=0")
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    sent = bodies(50)
    d.mpub(topic, sent[:25])
    with d.connect() as pub:
        for b in sent[25:]:
            pub.pub(topic, b)
    d.wait_channel(topic, channel, depth=50, backend_depth=50)
    assert sorted(b for b, _, _ in drain(d, topic, channel)) == sent


def test_ephemeral_channel_full_drops_and_counts(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=5")
    topic, channel = unique_name("t"), unique_name("c") + "#ephemeral"
    with d.consumer(topic, channel) as sub:  # RDY 0: nothing is delivered
        d.mpub(topic, bodies(8))
        ch = d.wait_channel(topic, channel, depth=5, message_count=8)
        assert (ch["backend_depth"], ch["dropped_count"]) == (0, 3)
        sub.rdy(10)
        assert len(sub.read_messages(5)) == 5
        sub.expect_no_frame(0.3)
    assert not list(d.data_path.glob("*ephemeral*"))


# ---------------------------------------------------------------------------------------------
# SIGTERM: memory, in flight, deferred


def test_sigterm_keeps_queued_in_flight_and_deferred(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=100")
    topic, channel, held = unique_name("t"), unique_name("c"), unique_name("held")
    create(d, topic, channel)
    queued = bodies(20, "q")
    d.mpub(topic, queued)
    d.mpub(held, bodies(5, "h"))  # no channel: the topic holds them
    sub = d.consumer(topic, channel, rdy=4)
    flight = sub.read_messages(4)  # in flight at shutdown, attempts 1
    sub.rdy(0)
    sub.req(flight[0], 2500)  # deferred by the consumer, attempts kept
    t_req = time.time()
    with d.connect() as pub:
        pub.dpub(topic, 3000, b"dpub-1")
        pub.dpub(topic, 3000, b"dpub-2")
    t_dpub = time.time()
    d.wait_channel(topic, channel, depth=16, in_flight_count=3, deferred_count=3)
    assert d.stop() == 0
    sub.close()
    dat = d.data_path / "nsqd.dat"
    assert dat.exists()
    d.start()
    ch = d.wait_channel(topic, channel, depth=19, deferred_count=3, in_flight_count=0)
    assert ch["backend_depth"] == 19
    d.wait_topic(held, depth=5)
    got = drain(d, topic, channel, quiet=4.5)
    by_body = {}
    for body, attempts, at in got:
        assert body not in by_body, f"{body!r} delivered twice"
        by_body[body] = (attempts, at)
    assert set(by_body) == set(queued) | {b"dpub-1", b"dpub-2"}
    for m in flight[1:]:
        assert by_body[m.body][0] == 2  # delivered once before the restart
    assert by_body[flight[0].body][0] == 2
    assert by_body[flight[0].body][1] >= t_req + 2.5 - 0.05  # not before its due time
    for b in (b"dpub-1", b"dpub-2"):
        assert by_body[b][0] == 1
        assert by_body[b][1] >= t_dpub + 3.0 - 0.05
    in_flight = {m.body for m in flight}
    assert all(by_body[b][0] == 1 for b in queued if b not in in_flight)
    assert sorted(b for b, _, _ in drain(d, held, "c")) == bodies(5, "h")


# ---------------------------------------------------------------------------------------------
# kill -9 in durable mode


def _publisher(d, topic, kind, tag, acked, lock, stop):
    i = 0
    try:
        if kind == "http":
            while not stop.is_set():
                body = f"{tag}-{kind}-{i}".encode()
                r = cnsq.post(d.url("/pub"), body, {"topic": topic}, timeout=5)
                if r.status != 200:
                    return
                with lock:
                    acked.append(body)
                i += 1
            return
        with d.connect() as c:
            while not stop.is_set():
                batch = [f"{tag}-{kind}-{i}-{k}".encode() for k in range(5 if kind == "mpub" else 1)]
                if kind == "mpub":
                    c.mpub(topic, batch)
                elif kind == "dpub":
                    c.dpub(topic, 300, batch[0])
                else:
                    c.pub(topic, batch[0])
                with lock:
                    acked.extend(batch)
                i += 1
    except Exception:  # the daemon was killed mid-request: that one is not acknowledged
        return


def test_kill9_in_durable_mode_loses_no_acknowledged_message(nsqd_factory, unique_name):
    d = nsqd_factory(*DURABLE)
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    acked, lock = [], threading.Lock()
    for rnd in range(5):
        stop = threading.Event()
        threads = [threading.Thread(target=_publisher,
                                    args=(d, topic, kind, f"r{rnd}", acked, lock, stop))
                   for kind in ("pub", "mpub", "dpub", "http")]
        for t in threads:
            t.start()
        time.sleep(0.4)
        d.kill()
        stop.set()
        for t in threads:
            t.join(10)
        d.start()
    assert len(acked) > 100, len(acked)
    got = [b for b, _, _ in drain(d, topic, channel, quiet=1.0)]
    missing = set(acked) - set(got)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"


def test_durable_mode_keeps_command_order(nsqd_factory, unique_name):
    d = nsqd_factory(*DURABLE)
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    with d.connect() as c:
        data = b"".join(b"PUB " + topic.encode() + b"\n" + cnsq.encode_body(b"p%d" % i)
                        for i in range(30))
        c.send_raw(data + b"NOP\n")
        for _ in range(30):
            c.expect_response(b"OK")
        c.mpub(topic, [b"mp1", b"mp2"])
        c.dpub(topic, 100, b"dp")
    d.pub(topic, b"http")
    d.mpub(topic, [b"hm1", b"hm2"])
    d.wait_channel(topic, channel, depth=36, backend_depth=36, deferred_count=0)  # dp is due
    assert len(drain(d, topic, channel)) == 36


# ---------------------------------------------------------------------------------------------
# corruption


def _corrupt(files):
    """Flips the first record's size bytes, truncates mid-record, overwrites with garbage."""
    with open(files[1], "r+b") as f:
        f.write(b"\xff\xff\xff\xff")
    size = files[2].stat().st_size
    os.truncate(files[2], size // 2 + 7)
    files[3].write_bytes(b"\xde\xad\xbe\xef" * (files[3].stat().st_size // 4))


def test_corruption_is_survived_and_reported(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=0", "--max-bytes-per-file=4096")
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    sent = bodies(200, size=100)  # 130 bytes a record on disk: 31 a file
    d.mpub(topic, sent)
    d.wait_channel(topic, channel, depth=200)
    assert d.stop() == 0
    files = sorted(d.data_path.glob(f"{topic}:{channel}.diskqueue.0*.dat"))
    assert len(files) >= 6, files
    _corrupt(files)
    d.start()
    got = [b for b, _, _ in drain(d, topic, channel)]
    assert len(got) == len(set(got)) and set(got) <= set(sent)
    assert len(got) >= 31 * 3  # the intact files at least
    ch = d.wait_channel(topic, channel, depth=0, backend_depth=0)
    assert ch["corrupt_count"] >= 3, ch
    assert len(list(d.data_path.glob("*.bad"))) >= 3
    assert d.ping().body == b"OK"
    d.mpub(topic, [b"after-1", b"after-2"])  # still serving
    assert sorted(b for b, _, _ in drain(d, topic, channel)) == [b"after-1", b"after-2"]


def test_garbage_queue_metadata_is_survived(nsqd_factory, unique_name):
    d = nsqd_factory("--mem-queue-size=0")
    topic, channel = unique_name("t"), unique_name("c")
    create(d, topic, channel)
    d.mpub(topic, bodies(10))
    assert d.stop() == 0
    (d.data_path / f"{topic}:{channel}.diskqueue.meta.dat").write_bytes(b"\x00garbage\n")
    d.start()
    assert sorted(b for b, _, _ in drain(d, topic, channel)) == bodies(10)


# ---------------------------------------------------------------------------------------------
# a full disk


@pytest.fixture
def tiny_fs(tmp_path):
    """A 4 MiB ext4 image mounted with a loop device (skips when this machine forbids it)."""
    img, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root and mkfs.ext4 for a loop-mounted filesystem")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True, capture_output=True)
    r = subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"mount -o loop is not permitted here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_fails_publishes_then_recovers(nsqd_factory, unique_name, tiny_fs):
    d = nsqd_factory("--mem-queue-size=0", "--sync-timeout=200ms", data_path=tiny_fs / "data")
    try:
        topic, channel = unique_name("t"), unique_name("c")
        create(d, topic, channel)
        acked = bodies(5, "before", 2000)
        d.mpub(topic, acked)
        _fill(tiny_fs / "filler")
        with d.connect() as c:
            err = None
            for i in range(200):
                body = f"full{i:03d}".encode().ljust(2000, b".")
                c.send_cmd(f"PUB {topic}", body)
                ftype, data = c.read_frame()
                if ftype == cnsq.FRAME_ERROR:
                    err = data.decode()
                    break
                acked.append(body)
            assert err and err.startswith("E_PUB_FAILED PUB failed disk queue write failed"), err
            assert "No space left on device" in err
            c.assert_closed()
        r = d.post("/pub", b"x" * 2000, {"topic": topic})
        assert r.status == 500 and "No space left" in r.json()["message"], (r.status, r.body)
        r = d.ping()
        assert r.status == 500 and r.body.startswith(b"NOK - "), (r.status, r.body)
        assert d.stats()["health"].startswith("NOK")
        os.unlink(tiny_fs / "filler")  # space again: health recovers without a publish
        cnsq.wait_until(lambda: d.ping().status == 200, timeout=5, desc="/ping OK again")
        assert d.stats()["health"] == "OK"
        d.pub(topic, b"after")
        acked.append(b"after")
        got = [b for b, _, _ in drain(d, topic, channel)]
        assert sorted(got) == sorted(acked)  # refused ones left nothing behind
    finally:
        assert d.stop() == 0


# ---------------------------------------------------------------------------------------------
# nsqd.dat


def test_metadata_round_trip_with_paused_state(nsqd_factory, unique_name):
    d = nsqd_factory()
    t1, t2, t3 = unique_name("t1"), unique_name("t2"), unique_name("t3")
    create(d, t1, "a", "b")
    create(d, t2, "c")
    create(d, t3)
    create(d, unique_name("e") + "#ephemeral", "x#ephemeral")
    eph = d.consumer(t1, "e#ephemeral")
    assert d.post("/channel/pause", params={"topic": t1, "channel": "b"}).status == 200
    assert d.post("/topic/pause", params={"topic": t2}).status == 200
    d.pub(t2, b"held while paused")
    dat = d.data_path / "nsqd.dat"

    def written():
        m = json.loads(dat.read_text())
        return m if {t["name"] for t in m["topics"]} == {t1, t2, t3} and any(
            c["paused"] for t in m["topics"] for c in t["channels"] or []) else None

    cnsq.wait_until(written, desc="nsqd.dat with the paused channel")
    assert d.stop() == 0
    eph.close()
    meta = json.loads(dat.read_text())
    assert meta["version"] == "1.3.0"
    topics = {t["name"]: t for t in meta["topics"]}
    assert set(topics) == {t1, t2, t3}  # no ephemerals
    assert {c["name"]: c["paused"] for c in topics[t1]["channels"]} == {"a": False, "b": True}
    assert topics[t2]["paused"] is True and not topics[t1]["paused"]
    assert not topics[t3]["channels"]
    d.start()
    assert d.wait_channel(t1, "b", paused=True)
    assert d.wait_channel(t1, "a", paused=False)
    assert d.channel_stats(t1, "e#ephemeral") is None
    d.wait_topic(t2, paused=True, depth=1)
    d.wait_topic(t3)
    assert d.post("/topic/delete", params={"topic": t3}).status == 200
    assert d.post("/topic/unpause", params={"topic": t2}).status == 200
    cnsq.wait_until(lambda: {t["name"]: t["paused"] for t in json.loads(dat.read_text())
                             ["topics"]} == {t1: False, t2: False}, desc="nsqd.dat rewritten")
    assert [b for b, _, _ in drain(d, t2, "c")] == [b"held while paused"]


def test_broken_metadata_refuses_to_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    broken = b'{"topics": [{"name": "t", "paused": false, "channels": [}'
    (data / "nsqd.dat").write_bytes(broken)
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--data-path={data}", f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", cwd=tmp_path, timeout=10)
    out = cp.stdout + cp.stderr
    assert cp.returncode != 0, out
    assert "failed to parse metadata" in out and "nsqd.dat" in out, out
    assert (data / "nsqd.dat").read_bytes() == broken  # left alone


def test_second_nsqd_on_the_data_path_refuses(nsqd, tmp_path):
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--data-path={nsqd.data_path}",
                         f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", cwd=tmp_path, timeout=5)
    assert cp.returncode != 0
    assert "in use" in cp.stdout + cp.stderr
    assert nsqd.ping().body == b"OK"
