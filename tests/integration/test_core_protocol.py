"""nsqd core, TCP V2 commands: IDENTIFY, SUB, PUB, MPUB, DPUB, RDY, FIN, REQ, TOUCH, CLS, NOP
and the message frame, as NSQ 1.3 behaves (nsqd/protocol_v2.go, client_v2.go,
protocol_v2_test.go). Error codes are in test_core_errors.py, flow control and timing in
test_core_flow.py."""

import json
import re
import time

import pytest

import cnsq

IDENTIFY_KEYS = {
    "max_rdy_count", "version", "max_msg_timeout", "msg_timeout", "tls_v1", "deflate",
    "deflate_level", "max_deflate_level", "snappy", "sample_rate", "auth_required",
    "output_buffer_size", "output_buffer_timeout",
}


def client_stats(nsqd, topic, channel):
    ch = nsqd.channel_stats(topic, channel)
    assert ch is not None, f"channel {topic}/{channel} missing from /stats"
    return ch["clients"] or []


# ---------------------------------------------------------------------------------------------
# IDENTIFY


def test_identify_without_feature_negotiation_answers_ok(nsqd):
    with nsqd.connect() as c:
        assert c.identify({"client_id": "plain", "hostname": "h"}) == b"OK"
        c.assert_open()


def test_identify_feature_negotiation_exact_keys_and_defaults(nsqd):
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, client_id="fn")
    assert isinstance(r, dict), r
    assert set(r) == IDENTIFY_KEYS, sorted(r)
    assert r["max_rdy_count"] == 2500
    assert isinstance(r["version"], str) and r["version"]
    assert r["max_msg_timeout"] == 15 * 60 * 1000
    assert r["msg_timeout"] == 60 * 1000
    assert r["tls_v1"] is False
    assert r["deflate"] is False
    assert r["deflate_level"] == 6
    assert r["max_deflate_level"] == 6
    assert r["snappy"] is False
    assert r["sample_rate"] == 0
    assert r["auth_required"] is False
    assert r["output_buffer_size"] == 16 * 1024
    assert r["output_buffer_timeout"] == 250


def test_identify_response_reflects_client_settings(nsqd):
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, msg_timeout=5000, sample_rate=42,
                       output_buffer_size=1024, output_buffer_timeout=100,
                       heartbeat_interval=2000)
        assert r["msg_timeout"] == 5000
        assert r["sample_rate"] == 42
        assert r["output_buffer_size"] == 1024
        assert r["output_buffer_timeout"] == 100
        c.assert_open()


def test_identify_response_reflects_server_flags(nsqd_factory):
    d = nsqd_factory("--max-rdy-count=50", "--max-msg-timeout=2m", "--max-deflate-level=3",
                     "--msg-timeout=30s", "--output-buffer-timeout=100ms")
    with d.connect() as c:
        r = c.identify(feature_negotiation=True)
    assert r["max_rdy_count"] == 50
    assert r["max_msg_timeout"] == 120000
    assert r["max_deflate_level"] == 3
    assert r["deflate_level"] == 3  # min(6, max-deflate-level)
    assert r["msg_timeout"] == 30000
    assert r["output_buffer_timeout"] == 100


def test_identify_disabling_output_buffering(nsqd):
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, output_buffer_size=-1)
    # nsqd: size -1 means unbuffered (a 1-byte buffer) and no flush timeout
    assert r["output_buffer_size"] == 1
    assert r["output_buffer_timeout"] == 0


def test_identify_output_buffer_timeout_minus_one(nsqd):
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, output_buffer_timeout=-1)
    assert r["output_buffer_timeout"] == 0


def test_identify_limits_are_inclusive(nsqd):
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, heartbeat_interval=60000, msg_timeout=900000,
                       output_buffer_size=65536, output_buffer_timeout=30000, sample_rate=99)
        assert r["msg_timeout"] == 900000
        assert r["output_buffer_size"] == 65536
        assert r["sample_rate"] == 99
    with nsqd.connect() as c:
        r = c.identify(feature_negotiation=True, heartbeat_interval=1000, msg_timeout=1000,
                       output_buffer_size=64, output_buffer_timeout=25)
        assert r["msg_timeout"] == 1000
        assert r["output_buffer_size"] == 64
        assert r["output_buffer_timeout"] == 25


def test_identify_ignores_unknown_fields(nsqd):
    with nsqd.connect() as c:
        assert c.identify({"client_id": "x", "long_id": "x", "short_id": "x",
                           "some_future_field": {"a": [1, 2]}}) == b"OK"
        c.assert_open()


def test_identify_metadata_shows_in_stats(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        c.identify(client_id="my-client", hostname="my-host.example", user_agent="cnsq-test/1.0",
                   feature_negotiation=True, sample_rate=7)
        c.sub(topic, channel)
        clients = client_stats(nsqd, topic, channel)
        assert len(clients) == 1
        cl = clients[0]
        assert cl["client_id"] == "my-client"
        assert cl["hostname"] == "my-host.example"
        assert cl["user_agent"] == "cnsq-test/1.0"
        assert cl["sample_rate"] == 7
        assert cl["version"] == "V2"
        assert cl["remote_address"] == f"127.0.0.1:{c.local_port}"


def test_client_without_identify_is_named_after_its_address(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        c.sub(topic, channel)
        cl = client_stats(nsqd, topic, channel)[0]
        assert cl["client_id"] == "127.0.0.1"
        assert cl["hostname"] == "127.0.0.1"
        assert cl["user_agent"] == ""


# ---------------------------------------------------------------------------------------------
# SUB


def test_sub_creates_topic_and_channel(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        c.sub(topic, channel)
        ch = nsqd.wait_channel(topic, channel, client_count=1)
        assert ch["depth"] == 0 and ch["in_flight_count"] == 0
        assert len(ch["clients"]) == 1


def test_sub_without_identify_is_allowed(nsqd, unique_name):
    with nsqd.connect() as c:
        c.sub(unique_name("t"), unique_name("c"))
        c.assert_open_subscribed()


@pytest.mark.parametrize("topic, channel", [
    ("a", "b"),
    ("x" * 64, "y" * 64),
    ("with.dots_and-dashes", "Chan_1.2-3"),
    ("eph#ephemeral", "chan"),
    ("topic", "chan#ephemeral"),
    ("t" * 54 + "#ephemeral", "c" * 54 + "#ephemeral"),
])
def test_sub_accepts_valid_names(nsqd, topic, channel):
    with nsqd.connect() as c:
        c.sub(topic, channel)
        c.assert_open_subscribed()


# ---------------------------------------------------------------------------------------------
# PUB / MPUB / DPUB and the message frame


def test_pub_ok_and_counted(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.connect() as c:
        c.pub(topic, b"hello")
        c.pub(topic, b"world!")
    t = nsqd.wait_topic(topic, message_count=2)
    assert t["depth"] == 2  # no channel yet: the topic holds them
    assert t["message_bytes"] == len(b"hello") + len(b"world!")
    assert t["channels"] == []


def test_pub_delivers_message_frame(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    body = b"\x00binary\nbody\r\n with bytes \xff\xfe"
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        t0 = time.time_ns()
        pub.pub(topic, body)
        m = sub.read_message()
        t1 = time.time_ns()
    assert m.body == body
    assert m.attempts == 1
    assert re.fullmatch(rb"[0-9a-f]{16}", m.id), m.id
    assert t0 - 5 * 10**9 <= m.timestamp <= t1 + 5 * 10**9, (t0, m.timestamp, t1)


def test_message_ids_are_unique(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [f"m{i}".encode() for i in range(50)])
        pub.mpub(topic, [f"n{i}".encode() for i in range(50)])
    with nsqd.consumer(topic, channel, rdy=100) as sub:
        msgs = sub.read_messages(100)
    assert len({m.id for m in msgs}) == 100


def test_mpub_publishes_all(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    bodies = [f"msg-{i}".encode() for i in range(10)] + [b"x"]
    with nsqd.connect() as pub:
        pub.mpub(topic, bodies)
    nsqd.wait_topic(topic, message_count=len(bodies), depth=len(bodies))
    with nsqd.consumer(topic, channel, rdy=100) as sub:
        got = sub.read_messages(len(bodies))
        sub.expect_no_frame(0.3)
    assert sorted(m.body for m in got) == sorted(bodies)
    assert all(m.attempts == 1 for m in got)


def test_mpub_single_message(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.connect() as pub:
        pub.mpub(topic, [b"only"])
    nsqd.wait_topic(topic, message_count=1)


def test_pub_on_subscribed_connection(nsqd, unique_name):
    """A consumer connection can publish too (responses interleave with messages)."""
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel) as c:
        c.pub(topic, b"self")
        c.rdy(1)
        m = c.read_message()
        assert m.body == b"self"
        c.fin(m)
        c.assert_open_subscribed()


def test_each_channel_gets_a_copy(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.consumer(topic, "ch1", rdy=10) as a, nsqd.consumer(topic, "ch2", rdy=10) as b:
        with nsqd.connect() as pub:
            pub.pub(topic, b"fanout")
        ma, mb = a.read_message(), b.read_message()
    assert ma.body == mb.body == b"fanout"
    assert ma.id == mb.id
    assert ma.attempts == mb.attempts == 1


def test_channel_created_later_gets_only_later_messages(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.consumer(topic, "first", rdy=10) as a:
        with nsqd.connect() as pub:
            pub.pub(topic, b"one")
            assert a.read_message().body == b"one"
            with nsqd.consumer(topic, "second", rdy=10) as b:
                pub.pub(topic, b"two")
                assert b.read_message().body == b"two"
                b.expect_no_frame(0.3)
            assert a.read_message().body == b"two"


def test_topic_holds_messages_until_first_channel(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [b"a", b"b", b"c"])
    nsqd.wait_topic(topic, depth=3)
    with nsqd.consumer(topic, channel, rdy=10) as sub:
        got = sub.read_messages(3)
    assert sorted(m.body for m in got) == [b"a", b"b", b"c"]
    nsqd.wait_topic(topic, depth=0)


def test_dpub_ok_counts_as_deferred(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.dpub(topic, 60000, b"later")
        ch = nsqd.wait_channel(topic, channel, deferred_count=1)
        assert ch["depth"] == 0
        assert ch["message_count"] == 1
        sub.expect_no_frame(0.3)


def test_dpub_zero_delay_is_immediate(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.dpub(topic, 0, b"now")
        assert sub.read_message(timeout=2).body == b"now"


# ---------------------------------------------------------------------------------------------
# RDY / FIN / REQ / TOUCH


def test_rdy_without_count_means_one(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as pub:
        pub.mpub(topic, [b"1", b"2", b"3"])
    with nsqd.consumer(topic, channel) as sub:
        sub.send_cmd("RDY")
        sub.read_message()
        sub.expect_no_frame(0.4)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=1)
        assert ch["clients"][0]["ready_count"] == 1


def test_fin_completes_message(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.pub(topic, b"x")
        m = sub.read_message()
        nsqd.wait_channel(topic, channel, in_flight_count=1)
        sub.fin(m)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0)
        cl = ch["clients"][0]
        assert cl["finish_count"] == 1
        assert cl["message_count"] == 1
        assert cl["in_flight_count"] == 0
        # FIN is silent; a second FIN of the same id fails (not fatal)
        sub.fin(m)
        err = sub.expect_error("E_FIN_FAILED")
        assert err == f"E_FIN_FAILED FIN {m.id_str} failed ID not in flight"
        sub.assert_open_subscribed()


def test_req_zero_redelivers_with_attempts_incremented(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.pub(topic, b"again")
        m1 = sub.read_message()
        sub.req(m1, 0)
        m2 = sub.read_message(timeout=3)
        assert (m2.id, m2.body, m2.attempts) == (m1.id, b"again", 2)
        sub.req(m2, 0)
        m3 = sub.read_message(timeout=3)
        assert m3.attempts == 3
        sub.fin(m3)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0)
        assert ch["requeue_count"] == 2
        assert ch["timeout_count"] == 0
        assert ch["message_count"] == 1
        cl = ch["clients"][0]
        assert (cl["requeue_count"], cl["finish_count"], cl["message_count"]) == (2, 1, 3)


def test_touch_is_silent_and_keeps_message(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.pub(topic, b"t")
        m = sub.read_message()
        sub.touch(m)
        sub.expect_no_frame(0.2)
        nsqd.wait_channel(topic, channel, in_flight_count=1)
        sub.fin(m)
        nsqd.wait_channel(topic, channel, in_flight_count=0)


def test_fin_of_another_clients_message_fails(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as a, nsqd.consumer(topic, channel) as b:
        with nsqd.connect() as pub:
            pub.pub(topic, b"mine")
        m = a.read_message()
        b.fin(m)
        assert b.expect_error("E_FIN_FAILED") == \
            f"E_FIN_FAILED FIN {m.id_str} failed client does not own message"
        b.req(m, 0)
        assert b.expect_error("E_REQ_FAILED") == \
            f"E_REQ_FAILED REQ {m.id_str} failed client does not own message"
        b.touch(m)
        assert b.expect_error("E_TOUCH_FAILED") == \
            f"E_TOUCH_FAILED TOUCH {m.id_str} failed client does not own message"
        b.assert_open_subscribed()
        a.fin(m)
        nsqd.wait_channel(topic, channel, in_flight_count=0)


# ---------------------------------------------------------------------------------------------
# NOP / CLS


def test_nop_has_no_response(nsqd):
    with nsqd.connect() as c:
        c.nop()
        c.nop()
        c.expect_no_frame(0.3)
        c.assert_open()


def test_cls_answers_close_wait_and_stops_delivery(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub, nsqd.connect() as pub:
        pub.mpub(topic, [b"1", b"2", b"3"])
        m = sub.read_message()
        sub.cls()
        sub.rdy(10)  # ignored while closing
        sub.fin(m)  # finishing in-flight messages is still allowed
        sub.expect_no_frame(0.5)
        ch = nsqd.wait_channel(topic, channel, in_flight_count=0)
        assert ch["depth"] == 2
        assert ch["clients"][0]["ready_count"] == 0


def test_cls_then_client_disconnect(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub:
        sub.cls()
    nsqd.wait_channel(topic, channel, client_count=0)


def test_commands_accept_crlf(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        c.send_raw(f"SUB {topic} {channel}\r\n".encode())
        c.expect_response(b"OK")
        c.send_raw(b"RDY 1\r\n")
        with nsqd.connect() as pub:
            pub.send_raw(f"PUB {topic}\r\n".encode() + cnsq.encode_body(b"crlf"))
            pub.expect_response(b"OK")
        m = c.read_message()
        assert m.body == b"crlf"
        c.send_raw(b"FIN " + m.id + b"\r\n")
        nsqd.wait_channel(topic, channel, in_flight_count=0)


def test_pipelined_commands_in_one_write(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.connect() as c:
        data = (b"IDENTIFY\n" + cnsq.encode_body(json.dumps({"client_id": "pipe"}).encode())
                + f"PUB {topic}\n".encode() + cnsq.encode_body(b"p1")
                + f"SUB {topic} {channel}\n".encode() + b"RDY 5\n"
                + f"PUB {topic}\n".encode() + cnsq.encode_body(b"p2"))
        c.send_raw(data)
        # responses in order: OK (IDENTIFY), OK (PUB), OK (SUB), OK (PUB), interleaved with
        # messages once RDY applies
        oks, bodies = 0, []
        deadline = time.monotonic() + 5
        while (oks < 4 or len(bodies) < 2) and time.monotonic() < deadline:
            ftype, data = c.read_frame()
            if ftype == cnsq.FRAME_RESPONSE:
                assert data == b"OK"
                oks += 1
            else:
                assert ftype == cnsq.FRAME_MESSAGE, (ftype, data)
                bodies.append(cnsq.Message.decode(data).body)
        assert oks == 4
        assert sorted(bodies) == [b"p1", b"p2"]
