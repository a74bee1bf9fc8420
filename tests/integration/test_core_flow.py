"""nsqd core, flow control and timing: RDY across consumers, message timeouts and redelivery,
TOUCH, REQ with delay, DPUB, sample_rate, heartbeats. Timings use IDENTIFY msg_timeout=1000 /
heartbeat_interval=1000 (the minimums) and generous margins; waits poll /stats with a deadline."""

import time

import cnsq

FAST = {"msg_timeout": 1000}

# Upper bound slack for timeout/deferral processing. Go nsqd 1.3 scans a new channel's timers
# only after its next 5 s channel-list refresh, so liveness bounds stay NSQ-compatible.
LATE = 7.0


# ---------------------------------------------------------------------------------------------
# RDY flow control


def test_rdy_bounds_in_flight(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [f"m{i}".encode() for i in range(10)])
    with nsqd.consumer(topic, channel, rdy=3) as sub:
        first = sub.read_messages(3)
        sub.expect_no_frame(0.5)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=3, depth=7)
        cl = ch["clients"][0]
        assert (cl["ready_count"], cl["in_flight_count"], cl["message_count"]) == (3, 3, 3)
        sub.fin(first[0])
        sub.read_message()  # exactly one more
        sub.expect_no_frame(0.4)
        nsqd.wait_channel(topic, channel, in_flight_count=3, depth=6)


def test_rdy_zero_pauses_and_raising_resumes(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=0) as sub, nsqd.connect() as pub:
        pub.mpub(topic, [f"m{i}".encode() for i in range(5)])
        sub.expect_no_frame(0.4)
        nsqd.wait_channel(topic, channel, depth=5, in_flight_count=0)
        sub.rdy(2)
        got = sub.read_messages(2)
        sub.expect_no_frame(0.3)
        sub.rdy(0)
        for m in got:
            sub.fin(m)
        sub.expect_no_frame(0.4)
        nsqd.wait_channel(topic, channel, depth=3, in_flight_count=0)
        sub.rdy(10)
        got = sub.read_messages(3)
        for m in got:
            sub.fin(m)
        nsqd.wait_channel(topic, channel, depth=0, in_flight_count=0)


def test_lowering_rdy_below_in_flight_stops_delivery(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [f"m{i}".encode() for i in range(10)])
    with nsqd.consumer(topic, channel, rdy=4) as sub:
        got = sub.read_messages(4)
        sub.rdy(2)
        sub.fin(got[0])
        sub.fin(got[1])
        sub.expect_no_frame(0.5)  # 2 in flight == RDY 2
        sub.fin(got[2])
        sub.read_message()  # now 1 in flight < 2
        sub.expect_no_frame(0.4)


def test_messages_distributed_among_consumers(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    subs = [nsqd.consumer(topic, channel, rdy=1) for _ in range(3)]
    try:
        with nsqd.connect() as pub:
            pub.mpub(topic, [b"a", b"b", b"c"])
        got = [s.read_message(timeout=5) for s in subs]  # each holds exactly one
        assert sorted(m.body for m in got) == [b"a", b"b", b"c"]
        for s in subs:
            s.expect_no_frame(0.2)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=3, client_count=3)
        assert sorted(c["in_flight_count"] for c in ch["clients"]) == [1, 1, 1]
    finally:
        for s in subs:
            s.close()


def test_consumers_never_exceed_their_own_rdy(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    a = nsqd.consumer(topic, channel, rdy=2)
    b = nsqd.consumer(topic, channel, rdy=3)
    try:
        with nsqd.connect() as pub:
            pub.mpub(topic, [f"m{i}".encode() for i in range(20)])
        ga = a.read_messages(2)
        gb = b.read_messages(3)
        a.expect_no_frame(0.4)
        b.expect_no_frame(0.1)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=5, depth=15)
        by_port = {int(c["remote_address"].rsplit(":", 1)[1]): c for c in ch["clients"]}
        assert by_port[a.local_port]["in_flight_count"] == 2
        assert by_port[a.local_port]["ready_count"] == 2
        assert by_port[b.local_port]["in_flight_count"] == 3
        assert by_port[b.local_port]["ready_count"] == 3
        assert len({m.id for m in ga + gb}) == 5
    finally:
        a.close()
        b.close()


def test_all_messages_delivered_once_across_consumers(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    subs = [nsqd.consumer(topic, channel, rdy=5) for _ in range(3)]
    try:
        bodies = [f"msg-{i}".encode() for i in range(90)]
        with nsqd.connect() as pub:
            for i in range(0, 90, 10):
                pub.mpub(topic, bodies[i:i + 10])
        got = cnsq.collect_messages(subs, 90, timeout=10, fin=True)
        all_msgs = [m for ms in got.values() for m in ms]
        assert sorted(m.body for m in all_msgs) == sorted(bodies)
        assert len({m.id for m in all_msgs}) == 90
        assert all(m.attempts == 1 for m in all_msgs)
        for s in subs:
            s.expect_no_frame(0.1)
        nsqd.wait_channel(topic, channel, depth=0, in_flight_count=0, message_count=90)
    finally:
        for s in subs:
            s.close()


def test_new_consumer_gets_remaining_messages(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [b"1", b"2", b"3", b"4"])
    with nsqd.consumer(topic, channel, rdy=2) as a:
        ga = a.read_messages(2)
        with nsqd.consumer(topic, channel, rdy=10) as b:
            gb = b.read_messages(2)
            b.expect_no_frame(0.3)
    assert sorted(m.body for m in ga + gb) == [b"1", b"2", b"3", b"4"]


# ---------------------------------------------------------------------------------------------
# timeouts, TOUCH, REQ


def test_msg_timeout_redelivers_with_attempts_incremented(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1, identify=FAST) as sub, nsqd.connect() as pub:
        pub.pub(topic, b"slow")
        m1 = sub.read_message()
        t1 = time.monotonic()
        m2 = sub.read_message(timeout=1 + LATE)
        waited = time.monotonic() - t1
        assert (m2.id, m2.body, m2.attempts) == (m1.id, b"slow", 2)
        assert 0.9 <= waited <= 1 + LATE, waited
        ch = nsqd.wait_channel(topic, channel, timeout_count=1, in_flight_count=1)
        assert ch["requeue_count"] == 0
        assert ch["message_count"] == 1
        sub.fin(m2)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0)
        cl = ch["clients"][0]
        assert (cl["message_count"], cl["finish_count"], cl["requeue_count"]) == (2, 1, 0)


def test_fin_after_timeout_fails_but_keeps_connection(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [b"a", b"b"])
    with nsqd.consumer(topic, channel, rdy=1, identify=FAST) as sub:
        m = sub.read_message()
        sub.rdy(0)
        ch = nsqd.wait_channel(topic, channel, timeout_count=1, timeout=1 + LATE)
        assert ch["requeue_count"] == 0
        sub.fin(m)
        assert sub.expect_error("E_FIN_FAILED") == \
            f"E_FIN_FAILED FIN {m.id_str} failed ID not in flight"
        sub.assert_open_subscribed()


def test_disconnect_requeues_in_flight_at_once(nsqd, unique_name):
    """cnsq (unlike nsqd 1.3, which waits for the message timeout) puts a disconnected client's
    in-flight messages back at once: another consumer gets them long before msg_timeout, with
    attempts kept, counted as a requeue, not a timeout (docs/protocol.md)."""
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.pub(topic, b"orphan")
    a = nsqd.consumer(topic, channel, rdy=1, identify={"msg_timeout": 60000})
    m1 = a.read_message()
    with nsqd.consumer(topic, channel, rdy=1) as b:
        t0 = time.monotonic()
        a.close()
        m2 = b.read_message(timeout=5)
        assert time.monotonic() - t0 < 5  # far below the 60 s msg_timeout
        assert (m2.id, m2.attempts, m2.body) == (m1.id, 2, b"orphan")
        b.fin(m2)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0, requeue_count=1)
        assert ch["timeout_count"] == 0


def test_touch_extends_timeout(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1, identify={"msg_timeout": 2000}) as sub, \
            nsqd.connect() as pub:
        pub.pub(topic, b"long job")
        m = sub.read_message()
        t0 = time.monotonic()
        for target in (1.0, 2.0, 3.0):
            sub.expect_no_frame(max(0.0, t0 + target - time.monotonic()))
            sub.touch(m)
        sub.expect_no_frame(max(0.0, t0 + 3.5 - time.monotonic()))  # 3.5 s > 2 s timeout
        sub.fin(m)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0)
        assert ch["timeout_count"] == 0
        assert ch["clients"][0]["finish_count"] == 1
        sub.expect_no_frame(0.3)


def test_touch_does_not_outlive_max_msg_timeout(nsqd_factory, unique_name):
    d = nsqd_factory("--max-msg-timeout=2s")
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=1, identify={"msg_timeout": 1500}) as sub, \
            d.connect() as pub:
        pub.pub(topic, b"x")
        m = sub.read_message()
        t0 = time.monotonic()
        redelivered = None
        while time.monotonic() - t0 < 2 + LATE:
            sub.touch(m)
            try:
                redelivered = sub.read_message(timeout=0.4)
                break
            except cnsq.FrameTimeout:
                continue
        assert redelivered is not None, "TOUCH kept the message in flight past max-msg-timeout"
        assert redelivered.attempts == 2
        assert 1.8 <= time.monotonic() - t0 <= 2 + LATE


def test_req_with_delay_defers_redelivery(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.pub(topic, b"later")
        m1 = sub.read_message()
        t0 = time.monotonic()
        sub.req(m1, 1500)
        ch = nsqd.wait_channel(topic, channel, deferred_count=1, in_flight_count=0)
        assert ch["depth"] == 0
        assert ch["requeue_count"] == 1
        m2 = sub.read_message(timeout=1.5 + LATE)
        waited = time.monotonic() - t0
        assert 1.4 <= waited <= 1.5 + LATE, waited
        assert (m2.id, m2.attempts) == (m1.id, 2)
        sub.fin(m2)
        ch = nsqd.wait_channel(topic, channel, deferred_count=0, in_flight_count=0)
        cl = ch["clients"][0]
        assert (cl["requeue_count"], cl["finish_count"]) == (1, 1)


def test_req_delay_clamped_to_max_req_timeout(nsqd_factory, unique_name):
    d = nsqd_factory("--max-req-timeout=2s")
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=1) as sub, d.connect() as pub:
        pub.pub(topic, b"clamped")
        m = sub.read_message()
        t0 = time.monotonic()
        sub.req(m, 3600000)  # not an error: clamped to 2 s
        m2 = sub.read_message(timeout=2 + LATE)
        assert 1.8 <= time.monotonic() - t0 <= 2 + LATE
        assert m2.attempts == 2


def test_requeued_message_goes_to_other_consumer(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as a:
        with nsqd.connect() as pub:
            pub.pub(topic, b"hot potato")
        m = a.read_message()
        a.rdy(0)
        with nsqd.consumer(topic, channel, rdy=1) as b:
            a.req(m, 0)
            m2 = b.read_message()
            assert (m2.id, m2.attempts) == (m.id, 2)


# ---------------------------------------------------------------------------------------------
# deferred publishing


def test_dpub_not_delivered_before_delay(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=5) as sub, nsqd.connect() as pub:
        t0 = time.monotonic()
        pub.dpub(topic, 1500, b"deferred")
        pub.pub(topic, b"immediate")
        assert sub.read_message().body == b"immediate"
        ch = nsqd.wait_channel(topic, channel, deferred_count=1)
        assert ch["depth"] == 0
        m = sub.read_message(timeout=1.5 + LATE)
        waited = time.monotonic() - t0
        assert m.body == b"deferred" and m.attempts == 1
        assert 1.4 <= waited <= 1.5 + LATE, waited
        sub.fin(m)
        nsqd.wait_channel(topic, channel, deferred_count=0, message_count=2)


def test_http_pub_defer(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub:
        t0 = time.monotonic()
        nsqd.pub(topic, b"http-deferred", defer=1200)
        nsqd.wait_channel(topic, channel, deferred_count=1)
        m = sub.read_message(timeout=1.2 + LATE)
        assert m.body == b"http-deferred"
        assert 1.1 <= time.monotonic() - t0 <= 1.2 + LATE


def test_deferred_messages_ordered_by_time(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=5) as sub, nsqd.connect() as pub:
        pub.dpub(topic, 1600, b"second")
        pub.dpub(topic, 800, b"first")
        got = sub.read_messages(2, timeout=1.6 + LATE)
        assert [m.body for m in got] == [b"first", b"second"]


# ---------------------------------------------------------------------------------------------
# sampling


def test_sample_rate_delivers_a_sample(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    n = 400
    with nsqd.connect() as pub:
        pub.mpub(topic, [f"s{i}".encode() for i in range(n)])
    with nsqd.connect() as sub:
        r = sub.identify(feature_negotiation=True, sample_rate=50)
        assert r["sample_rate"] == 50
        sub.sub(topic, channel)
        sub.rdy(n)
        received = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                received.append(sub.read_message(timeout=0.5))
            except cnsq.FrameTimeout:
                ch = nsqd.channel_stats(topic, channel)
                if ch and ch["depth"] == 0:
                    break
        # about half (nsqd 1.3 skips a message when rand(100) > sample_rate)
        assert 0.3 * n <= len(received) <= 0.75 * n, len(received)
        ch = nsqd.wait_channel(topic, channel, depth=0, in_flight_count=len(received))
        assert ch["clients"][0]["sample_rate"] == 50


# ---------------------------------------------------------------------------------------------
# heartbeats


def test_heartbeats_at_negotiated_interval(nsqd, unique_name):
    with nsqd.connect() as c:
        c.identify(heartbeat_interval=1000)
        c.sub(unique_name("t"), unique_name("c"))
        times = []
        t0 = time.monotonic()
        while len(times) < 3:
            ftype, data = c.read_frame(timeout=3)
            assert (ftype, data) == (cnsq.FRAME_RESPONSE, cnsq.HEARTBEAT)
            times.append(time.monotonic())
            c.nop()
        gaps = [b - a for a, b in zip([t0] + times, times)]
        assert all(0.6 <= g <= 1.7 for g in gaps), gaps
        # answering with NOP kept it alive past 2 intervals
        c.assert_open_subscribed()


def test_heartbeats_before_sub(nsqd):
    with nsqd.connect() as c:
        c.identify(heartbeat_interval=1000)
        ftype, data = c.read_frame(timeout=3)
        assert (ftype, data) == (cnsq.FRAME_RESPONSE, cnsq.HEARTBEAT)


def test_client_not_answering_heartbeats_is_closed(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        c.identify(heartbeat_interval=1000)
        c.sub(topic, channel)
        t0 = time.monotonic()  # last command
        frames = c.assert_closed(timeout=8)
        elapsed = time.monotonic() - t0
        assert all(f == (cnsq.FRAME_RESPONSE, cnsq.HEARTBEAT) for f in frames), frames
        assert len(frames) >= 1
        assert 1.5 <= elapsed <= 5.0, elapsed
    nsqd.wait_channel(topic, channel, client_count=0)


def test_any_command_counts_as_activity(nsqd, unique_name):
    """The read deadline is 2 x heartbeat after the last command of any kind."""
    topic = unique_name("t")
    with nsqd.connect() as c:
        c.identify(heartbeat_interval=1000)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.5:
            c.send_cmd(f"PUB {topic}", b"keepalive")
            ftype, data = c.read_frame(timeout=2)
            while data == cnsq.HEARTBEAT:  # not answered on purpose
                ftype, data = c.read_frame(timeout=2)
            assert (ftype, data) == (cnsq.FRAME_RESPONSE, b"OK")
            time.sleep(0.5)
        c.assert_open(topic)


def test_heartbeat_disabled_sends_none(nsqd):
    with nsqd.connect() as c:
        assert c.identify(heartbeat_interval=-1) == b"OK"
        c.expect_no_frame(1.5, answer_heartbeats=None)
        c.assert_open()
