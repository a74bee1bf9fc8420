"""nsqd core, /stats values: after a scripted sequence of operations every counter must equal
what the test did (nsqd/stats.go, client_v2.go). Polls until the values settle."""

import time

import cnsq

TOPIC_KEYS = {"topic_name", "channels", "depth", "backend_depth", "message_count",
              "message_bytes", "paused", "e2e_processing_latency"}
CHANNEL_KEYS = {"channel_name", "depth", "backend_depth", "in_flight_count", "deferred_count",
                "message_count", "requeue_count", "timeout_count", "client_count", "clients",
                "paused", "e2e_processing_latency"}
CLIENT_KEYS = {"client_id", "hostname", "version", "remote_address", "state", "ready_count",
               "in_flight_count", "message_count", "finish_count", "requeue_count", "connect_ts",
               "sample_rate", "deflate", "snappy", "user_agent", "tls", "tls_cipher_suite",
               "tls_version", "tls_negotiated_protocol", "tls_negotiated_protocol_is_mutual"}


def test_stats_field_sets(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel):
        nsqd.pub(topic, b"x")
        s = nsqd.stats()
        (t,) = s["topics"]
        assert TOPIC_KEYS <= set(t), TOPIC_KEYS - set(t)
        (ch,) = t["channels"]
        assert CHANNEL_KEYS <= set(ch), CHANNEL_KEYS - set(ch)
        (cl,) = ch["clients"]
        assert CLIENT_KEYS <= set(cl), CLIENT_KEYS - set(cl)
        assert cl["tls"] is False and cl["deflate"] is False and cl["snappy"] is False
        assert cl["state"] == 3  # subscribed
        now = int(time.time())
        assert now - 60 <= cl["connect_ts"] <= now + 5
        e2e = t["e2e_processing_latency"]
        assert isinstance(e2e, dict) and "count" in e2e and "percentiles" in e2e


def test_counters_after_scripted_session(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    bodies = [f"body-{i}".encode() for i in range(6)]
    with nsqd.connect() as pub:
        pub.pub(topic, bodies[0])
        pub.mpub(topic, bodies[1:5])
    nsqd.pub(topic, bodies[5])
    t = nsqd.wait_topic(topic, message_count=6, depth=6)
    assert t["message_bytes"] == sum(len(b) for b in bodies)
    assert t["backend_depth"] == 0

    with nsqd.connect() as sub:
        sub.identify(client_id="counter", user_agent="stats-test/1")
        sub.sub(topic, channel)
        nsqd.wait_topic(topic, depth=0)
        ch = nsqd.wait_channel(topic, channel, depth=6, message_count=6, client_count=1)
        assert (ch["in_flight_count"], ch["deferred_count"]) == (0, 0)

        sub.rdy(4)
        msgs = sub.read_messages(4)
        ch = nsqd.wait_channel(topic, channel, depth=2, in_flight_count=4)
        cl = ch["clients"][0]
        assert (cl["ready_count"], cl["in_flight_count"], cl["message_count"]) == (4, 4, 4)

        sub.fin(msgs[0])
        sub.fin(msgs[1])
        sub.req(msgs[2], 0)  # back to the queue, redelivered (RDY allows it)
        sub.req(msgs[3], 60000)  # deferred
        ch = nsqd.wait_channel(topic, channel, requeue_count=2, deferred_count=1)
        cl = ch["clients"][0]
        assert cl["finish_count"] == 2
        assert cl["requeue_count"] == 2

        # the REQ 0 message and the 2 queued ones arrive (3 fit under RDY 4)
        more = sub.read_messages(3)
        assert sum(1 for m in more if m.attempts == 2) == 1
        for m in more:
            sub.fin(m)
        ch = nsqd.wait_channel(topic, channel, depth=0, in_flight_count=0, deferred_count=1,
                               requeue_count=2, timeout_count=0, message_count=6)
        cl = ch["clients"][0]
        assert (cl["message_count"], cl["finish_count"], cl["requeue_count"],
                cl["in_flight_count"], cl["ready_count"]) == (7, 5, 2, 0, 4)
        assert cl["client_id"] == "counter"
        assert cl["user_agent"] == "stats-test/1"
    # the consumer left; the channel (not ephemeral) stays with its deferred message
    ch = nsqd.wait_channel(topic, channel, client_count=0, deferred_count=1)
    assert not ch["clients"]
    t = nsqd.wait_topic(topic, message_count=6)


def test_timeout_count_in_stats(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1, identify={"msg_timeout": 1000}) as sub:
        nsqd.pub(topic, b"expire me")
        sub.read_message()
        sub.rdy(0)
        ch = nsqd.wait_channel(topic, channel, timeout_count=1, timeout=10)
        assert ch["requeue_count"] == 0
        assert ch["in_flight_count"] == 0
        assert ch["depth"] == 1
        assert ch["message_count"] == 1
        cl = ch["clients"][0]
        assert (cl["in_flight_count"], cl["message_count"], cl["finish_count"],
                cl["requeue_count"]) == (0, 1, 0, 0)


def test_each_channel_counts_its_copy(nsqd, unique_name):
    topic = unique_name("t")
    assert nsqd.post("/topic/create", params={"topic": topic}).status == 200
    for c in ("a", "b", "c"):
        assert nsqd.post("/channel/create", params={"topic": topic, "channel": c}).status == 200
    nsqd.mpub(topic, [b"1", b"2", b"3"])
    for c in ("a", "b", "c"):
        nsqd.wait_channel(topic, c, depth=3, message_count=3)
    nsqd.wait_topic(topic, depth=0, message_count=3)


def test_producers_with_pub_counts(nsqd, unique_name):
    topic = unique_name("t")
    with nsqd.connect() as pub:
        pub.identify(client_id="producer-1", user_agent="pub/1")
        pub.pub(topic, b"a")
        pub.mpub(topic, [b"b", b"c"])
        pub.dpub(topic, 1000, b"d")

        def producer():
            for p in nsqd.stats()["producers"] or []:
                if p.get("client_id") == "producer-1":
                    return p
            return None

        p = cnsq.wait_until(producer, desc="producer-1 in /stats producers")
        assert p["user_agent"] == "pub/1"
        assert p["remote_address"] == f"127.0.0.1:{pub.local_port}"
        assert p["pub_counts"] == [{"topic": topic, "count": 4}]
    cnsq.wait_until(lambda: not any(p.get("client_id") == "producer-1"
                                    for p in nsqd.stats()["producers"] or []),
                    desc="producer gone after disconnect")


def test_consumer_is_not_a_producer(nsqd, unique_name):
    with nsqd.consumer(unique_name("t"), unique_name("c")):
        assert not nsqd.stats()["producers"]


def test_http_publishes_are_counted(nsqd, unique_name):
    topic = unique_name("t")
    nsqd.pub(topic, b"abc")
    nsqd.mpub(topic, [b"de", b"f"])
    nsqd.mpub(topic, [b"ghij"], binary=True)
    t = nsqd.wait_topic(topic, message_count=4, depth=4)
    assert t["message_bytes"] == 10


