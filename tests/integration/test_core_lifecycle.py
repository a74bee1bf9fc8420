"""nsqd core, topic/channel lifecycle and robustness: pause/unpause, empty, delete, ephemeral
topics and channels, a full memory queue (E_PUB_FAILED / HTTP 503), size limits, truncated
frames, the data-path lock."""

import socket
import struct
import time

import cnsq


def create(nsqd, topic, *channels):
    assert nsqd.post("/topic/create", params={"topic": topic}).status == 200
    for c in channels:
        r = nsqd.post("/channel/create", params={"topic": topic, "channel": c})
        assert r.status == 200, r.body


# ---------------------------------------------------------------------------------------------
# pause


def test_paused_channel_holds_messages(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=10) as sub:
        nsqd.pub(topic, b"before")
        sub.fin(sub.read_message())
        assert nsqd.post("/channel/pause", params={"topic": topic, "channel": channel}).status \
            == 200
        nsqd.wait_channel(topic, channel, paused=True)
        nsqd.mpub(topic, [b"p1", b"p2"])
        sub.expect_no_frame(0.5)
        nsqd.wait_channel(topic, channel, depth=2, in_flight_count=0)
        nsqd.wait_topic(topic, depth=0)
        assert nsqd.post("/channel/unpause", params={"topic": topic, "channel": channel}) \
            .status == 200
        got = sub.read_messages(2)
        assert sorted(m.body for m in got) == [b"p1", b"p2"]


def test_paused_topic_holds_messages_in_topic(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=10) as sub:
        assert nsqd.post("/topic/pause", params={"topic": topic}).status == 200
        nsqd.wait_topic(topic, paused=True)
        nsqd.mpub(topic, [b"a", b"b", b"c"])
        sub.expect_no_frame(0.5)
        nsqd.wait_topic(topic, depth=3, message_count=3)
        nsqd.wait_channel(topic, channel, depth=0, message_count=0)
        assert nsqd.post("/topic/unpause", params={"topic": topic}).status == 200
        got = sub.read_messages(3)
        assert sorted(m.body for m in got) == [b"a", b"b", b"c"]
        nsqd.wait_topic(topic, depth=0, paused=False)


def test_pausing_one_channel_leaves_others(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.consumer(topic, "live", rdy=10) as live, \
            nsqd.consumer(topic, "frozen", rdy=10) as frozen:
        nsqd.post("/channel/pause", params={"topic": topic, "channel": "frozen"})
        nsqd.wait_channel(topic, "frozen", paused=True)
        nsqd.pub(topic, b"m")
        assert live.read_message().body == b"m"
        frozen.expect_no_frame(0.4)
        nsqd.wait_channel(topic, "frozen", depth=1)


def test_paused_channel_keeps_in_flight_work(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=10) as sub:
        nsqd.pub(topic, b"x")
        m = sub.read_message()
        nsqd.post("/channel/pause", params={"topic": topic, "channel": channel})
        nsqd.wait_channel(topic, channel, paused=True)
        sub.fin(m)  # FIN still works while paused
        nsqd.wait_channel(topic, channel, in_flight_count=0)
        sub.assert_open_subscribed()


# ---------------------------------------------------------------------------------------------
# empty


def test_empty_topic_drops_its_queue(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    nsqd.mpub(topic, [b"1", b"2", b"3", b"4", b"5"])
    nsqd.wait_topic(topic, depth=5)
    r = nsqd.post("/topic/empty", params={"topic": topic})
    assert (r.status, r.body) == (200, b"")
    t = nsqd.wait_topic(topic, depth=0)
    assert t["message_count"] == 5  # counters are not reset
    with nsqd.consumer(topic, channel, rdy=10) as sub:
        sub.expect_no_frame(0.4)
        nsqd.pub(topic, b"fresh")
        assert sub.read_message().body == b"fresh"


def test_empty_channel_drops_queued_and_in_flight(nsqd, unique_name):
    """nsqd 1.3's Channel.Empty also resets the in-flight and deferred sets."""
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub:
        nsqd.mpub(topic, [b"1", b"2", b"3", b"4"])
        nsqd.pub(topic, b"deferred", defer=60000)
        m = sub.read_message()
        sub.rdy(0)
        nsqd.wait_channel(topic, channel, depth=3, in_flight_count=1, deferred_count=1)
        r = nsqd.post("/channel/empty", params={"topic": topic, "channel": channel})
        assert (r.status, r.body) == (200, b"")
        ch = nsqd.wait_channel(topic, channel, depth=0, in_flight_count=0, deferred_count=0)
        assert ch["clients"][0]["in_flight_count"] == 0
        sub.fin(m)
        assert sub.expect_error("E_FIN_FAILED").endswith("failed ID not in flight")
        sub.rdy(5)
        sub.expect_no_frame(0.4)
        nsqd.pub(topic, b"after")
        assert sub.read_message().body == b"after"


# ---------------------------------------------------------------------------------------------
# delete


def test_delete_topic_closes_consumers_and_forgets_messages(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    sub = nsqd.consumer(topic, channel, rdy=0)
    try:
        nsqd.mpub(topic, [b"1", b"2"])
        nsqd.wait_channel(topic, channel, depth=2)
        assert nsqd.post("/topic/delete", params={"topic": topic}).status == 200
        nsqd.wait_topic_gone(topic)
        sub.assert_closed()
    finally:
        sub.close()
    nsqd.pub(topic, b"new life")
    t = nsqd.wait_topic(topic, message_count=1, depth=1)
    assert t["channels"] == []


def test_delete_channel_closes_its_consumers_only(nsqd, unique_name):
    topic = unique_name("t")
    gone = nsqd.consumer(topic, "gone", rdy=10)
    try:
        with nsqd.consumer(topic, "kept", rdy=10) as kept:
            assert nsqd.post("/channel/delete", params={"topic": topic, "channel": "gone"}) \
                .status == 200
            nsqd.wait_channel_gone(topic, "gone")
            gone.assert_closed()
            nsqd.pub(topic, b"still here")
            assert kept.read_message().body == b"still here"
    finally:
        gone.close()


# ---------------------------------------------------------------------------------------------
# ephemeral


def test_ephemeral_channel_vanishes_after_last_consumer(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c") + "#ephemeral"
    a = nsqd.consumer(topic, channel)
    b = nsqd.consumer(topic, channel)
    nsqd.wait_channel(topic, channel, client_count=2)
    a.close()
    nsqd.wait_channel(topic, channel, client_count=1)
    b.close()
    nsqd.wait_channel_gone(topic, channel)
    assert nsqd.topic_stats(topic) is not None  # a normal topic stays


def test_ephemeral_topic_vanishes_with_its_last_channel(nsqd, unique_name):
    topic = unique_name("t") + "#ephemeral"
    channel = unique_name("c") + "#ephemeral"
    with nsqd.consumer(topic, channel, rdy=1) as sub:
        nsqd.pub(topic, b"fleeting")
        assert sub.read_message().body == b"fleeting"
    nsqd.wait_topic_gone(topic)


def test_normal_channel_stays_after_consumers_leave(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel):
        pass
    ch = nsqd.wait_channel(topic, channel, client_count=0)
    nsqd.pub(topic, b"queued for later")
    nsqd.wait_channel(topic, channel, depth=1)
    assert ch["channel_name"] == channel


def test_ephemeral_channel_on_ephemeral_topic_with_other_channel(nsqd, unique_name):
    topic = unique_name("t") + "#ephemeral"
    with nsqd.consumer(topic, "keeper#ephemeral"):
        with nsqd.consumer(topic, "brief#ephemeral"):
            nsqd.wait_channel(topic, "brief#ephemeral", client_count=1)
        nsqd.wait_channel_gone(topic, "brief#ephemeral")
        assert nsqd.topic_stats(topic) is not None
    nsqd.wait_topic_gone(topic)


# ---------------------------------------------------------------------------------------------
# a full memory queue without a usable disk queue


def test_full_memory_queue_refuses_publishes(nsqd_factory, unique_name):
    """--mem-queue-size=10 and no way to write to disk (memory only, or a disk queue whose
    writes fail: file sizes are capped at 512 bytes, larger records get EFBIG): the 11th PUB
    gets E_PUB_FAILED (fatal) and /pub answers 500 with the disk error (503 QUEUE_FULL for a
    memory-only queue); the first 10 are all still delivered."""
    d = nsqd_factory("--mem-queue-size=10", rlimit_fsize=512)
    topic, channel = unique_name("t"), unique_name("c")
    body = lambda i: f"{i:04d}".encode() + b"." * 1000  # noqa: E731 (records > 512 bytes)
    with d.connect() as pub:
        for i in range(10):
            pub.pub(topic, body(i))
        pub.send_cmd(f"PUB {topic}", body(10))
        assert pub.expect_error("E_PUB_FAILED").startswith("E_PUB_FAILED PUB failed")
        pub.assert_closed()
    r = d.post("/pub", body(11), {"topic": topic})
    assert r.status == 500, (r.status, r.body)
    assert isinstance(r.json().get("message"), str) and r.json()["message"]
    r = d.post("/mpub", body(12) + b"\n" + body(13), {"topic": topic})
    assert r.status == 500, (r.status, r.body)
    d.wait_topic(topic, message_count=10)
    with d.consumer(topic, channel, rdy=20) as sub:
        got = sub.read_messages(10)
        sub.expect_no_frame(0.5)
        for m in got:
            sub.fin(m)
    assert sorted(m.body for m in got) == [body(i) for i in range(10)]
    # room again: publishing works
    with d.connect() as pub:
        pub.pub(topic, b"room again")


# ---------------------------------------------------------------------------------------------
# size limits


def test_tcp_size_limits(nsqd_factory, unique_name):
    """Mirrors nsqd's TestSizeLimits (max-msg-size 100, max-body-size 1000)."""
    d = nsqd_factory("--max-msg-size=100", "--max-body-size=1000")
    topic = unique_name("t")
    with d.connect() as c:
        c.pub(topic, b"x" * 100)  # exactly max-msg-size
        c.mpub(topic, [b"y" * 100] * 5)
        c.dpub(topic, 10, b"z" * 100)
        c.mpub(topic, [b"w" * 100] * 9 + [b"v" * 56])  # body 4 + 9 * 104 + 60 = 1000
    d.wait_topic(topic, message_count=17)
    with d.connect() as c:
        c.send_cmd(f"PUB {topic}", b"x" * 101)
        assert c.expect_error() == "E_BAD_MESSAGE PUB message too big 101 > 100"
        c.assert_closed()
    with d.connect() as c:
        c.send_cmd(f"MPUB {topic}", cnsq.encode_mpub_body([b"w" * 100] * 9 + [b"v" * 57]))
        assert c.expect_error() == "E_BAD_BODY MPUB body too big 1001 > 1000"
        c.assert_closed()
    d.wait_topic(topic, message_count=17)


def test_default_max_msg_size(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.connect() as c:
        c.pub(topic, b"m" * 1048576)
        c.send_cmd(f"PUB {topic}", b"m" * 1048577)
        assert c.expect_error() == "E_BAD_MESSAGE PUB message too big 1048577 > 1048576"
        c.assert_closed()
    assert nsqd.post("/pub", b"m" * 1048576, {"topic": topic}).status == 200
    nsqd.wait_topic(topic, message_count=2)


def test_big_messages_round_trip(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    big = bytes(range(256)) * 4096  # 1 MiB
    with nsqd.consumer(topic, channel, rdy=2) as sub, nsqd.connect() as pub:
        pub.pub(topic, big)
        nsqd.pub(topic, big[::-1])
        got = sub.read_messages(2, timeout=10)
    assert sorted(m.body for m in got) == sorted([big, big[::-1]])


# ---------------------------------------------------------------------------------------------
# truncated input, abrupt disconnects


TRUNCATED = [
    b" ",  # partial magic
    b"  V2SUB",  # partial command line
    b"  V2PUB t\n",  # no body size
    b"  V2PUB t\n\x00\x00",  # partial body size
    b"  V2PUB t\n\x00\x00\x00\x64" + b"x" * 10,  # partial body
    b"  V2MPUB t\n\x00\x00\x00\x20\x00\x00\x00\x03\x00\x00\x00\x05ab",  # partial MPUB
    b"  V2IDENTIFY\n\x00\x00\x00\x10{\"client",  # partial IDENTIFY
    b"  V2SUB a b\nRDY 1\nFIN 0123",  # partial FIN
    b"  V2" + b"A" * 70000,  # a long line without a newline
]


def test_truncated_frames_then_disconnect_leave_daemon_serving(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    for data in TRUNCATED:
        c = nsqd.connect(magic=b"")
        try:
            c.send_raw(data)
        except OSError:
            pass
        time.sleep(0.02)
        c.close()
    # a half-sent frame must not stall other clients
    stalled = nsqd.connect()
    stalled.send_raw(b"PUB " + topic.encode() + b"\n" + struct.pack(">I", 50) + b"partial")
    try:
        with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
            pub.pub(topic, b"fine")
            assert sub.read_message().body == b"fine"
        assert nsqd.ping().body == b"OK"
        t = nsqd.wait_topic(topic, message_count=1)
        assert t["message_count"] == 1
    finally:
        stalled.close()
    assert nsqd.running()


def test_consumer_disconnect_with_messages_in_flight(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    nsqd.mpub(topic, [f"{i}".encode() for i in range(5)])
    c = nsqd.consumer(topic, channel, rdy=5, identify={"msg_timeout": 60000})
    c.read_messages(5)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    c.close()
    nsqd.wait_channel(topic, channel, client_count=0)
    with nsqd.consumer(topic, channel, rdy=5) as sub:
        got = sub.read_messages(5, timeout=5)
        assert all(m.attempts == 2 for m in got)
        for m in got:
            sub.fin(m)
    ch = nsqd.wait_channel(topic, channel, in_flight_count=0, depth=0, requeue_count=5)
    assert ch["timeout_count"] == 0  # requeued at disconnect, not after msg_timeout


# ---------------------------------------------------------------------------------------------
# daemon-level


def test_data_path_is_locked_against_a_second_nsqd(nsqd, tmp_path):
    ports = cnsq.free_ports(2)
    cp = cnsq.run_binary("nsqd", f"--data-path={nsqd.data_path}",
                         f"--tcp-address=127.0.0.1:{ports[0]}",
                         f"--http-address=127.0.0.1:{ports[1]}", cwd=tmp_path, timeout=5)
    assert cp.returncode != 0, cp.stdout + cp.stderr
    assert (cp.stdout + cp.stderr).strip()
    assert nsqd.ping().body == b"OK"


def test_port_in_use_fails_to_start(nsqd, tmp_path):
    cp = cnsq.run_binary("nsqd", f"--data-path={tmp_path}",
                         f"--tcp-address=127.0.0.1:{nsqd.tcp_port}",
                         f"--http-address=127.0.0.1:{cnsq.free_port()}", cwd=tmp_path, timeout=5)
    assert cp.returncode != 0
    assert (cp.stdout + cp.stderr).strip()


def test_many_connections(nsqd, unique_name):
    topic = unique_name("t")
    conns = [nsqd.connect() for _ in range(100)]
    try:
        for i, c in enumerate(conns):
            c.send_cmd(f"PUB {topic}", f"{i}".encode())
        for c in conns:
            c.expect_response(b"OK")
    finally:
        for c in conns:
            c.close()
    nsqd.wait_topic(topic, message_count=100)
