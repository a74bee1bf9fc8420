"""nsqd core, HTTP API as in NSQ 1.3 (nsqd/http.go, internal/http_api, nsqd/http_test.go):
/ping, /info, /pub (+ cnsq's /put alias), /mpub (+ /mput), /stats, /topic/*, /channel/*,
/config/:opt, error statuses with {"message": CODE} bodies and the X-NSQ-Content-Type header."""

import json
import struct
import time

import pytest

import cnsq

NSQ_CT = "nsq; version=1.0"


def assert_ok(r, body=b""):
    assert r.status == 200, (r.status, r.body)
    assert r.body == body, r.body
    assert r.header("X-NSQ-Content-Type") == NSQ_CT, dict(r.headers)


def assert_err(r, status, message):
    assert r.status == status, (r.status, r.body)
    assert r.json() == {"message": message}, r.body
    assert r.header("X-NSQ-Content-Type") == NSQ_CT, dict(r.headers)
    assert (r.header("Content-Type") or "").startswith("application/json"), dict(r.headers)


def read_all(nsqd, topic, channel, n, rdy=100):
    with nsqd.consumer(topic, channel, rdy=rdy) as sub:
        msgs = sub.read_messages(n)
        sub.expect_no_frame(0.3)
        for m in msgs:
            sub.fin(m)
    return msgs


# ---------------------------------------------------------------------------------------------
# /ping, /info, unknown routes


def test_ping(nsqd):
    r = nsqd.get("/ping")
    assert (r.status, r.body) == (200, b"OK")


def test_info_fields(nsqd):
    before = int(time.time())
    r = nsqd.get("/info")
    assert r.status == 200
    assert r.header("X-NSQ-Content-Type") == NSQ_CT
    info = r.json()
    for key in ("version", "broadcast_address", "hostname", "http_port", "tcp_port",
                "start_time", "max_heartbeat_interval", "max_output_buffer_size",
                "max_output_buffer_timeout", "max_deflate_level"):
        assert key in info, (key, info)
    assert isinstance(info["version"], str) and info["version"]
    assert info["tcp_port"] == nsqd.tcp_port
    assert info["http_port"] == nsqd.http_port
    assert isinstance(info["hostname"], str) and info["hostname"]
    assert isinstance(info["broadcast_address"], str) and info["broadcast_address"]
    assert before - 60 <= info["start_time"] <= before + 5
    assert info["max_heartbeat_interval"] == 60 * 10**9
    assert info["max_output_buffer_size"] == 65536
    assert info["max_output_buffer_timeout"] == 30 * 10**9
    assert info["max_deflate_level"] == 6


def test_info_reflects_flags(nsqd_factory):
    d = nsqd_factory("--broadcast-address=my.host.example", "--max-heartbeat-interval=90s",
                     "--max-output-buffer-size=1000", "--max-output-buffer-timeout=5s",
                     "--max-deflate-level=4")
    info = d.get_json("/info")
    assert info["broadcast_address"] == "my.host.example"
    assert info["max_heartbeat_interval"] == 90 * 10**9
    assert info["max_output_buffer_size"] == 1000
    assert info["max_output_buffer_timeout"] == 5 * 10**9
    assert info["max_deflate_level"] == 4


def test_unknown_path_is_404(nsqd):
    assert_err(nsqd.get("/not_found"), 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path", [("POST", "/stats"), ("GET", "/pub"),
                                          ("GET", "/mpub"), ("GET", "/topic/create"),
                                          ("POST", "/info")])
def test_wrong_method_is_405(nsqd, method, path):
    r = cnsq.http_request(method, nsqd.url(path + "?topic=x"), body=b"x" if method == "POST"
                          else None)
    assert_err(r, 405, "METHOD_NOT_ALLOWED")


# ---------------------------------------------------------------------------------------------
# /pub and /put


@pytest.mark.parametrize("path", ["/pub", "/put"])
def test_pub(nsqd, unique_name, path):
    topic, channel = unique_name("t"), unique_name("c")
    body = b"http body\nwith newline \x00 and bytes \xff"
    assert_ok(nsqd.post(path, body, {"topic": topic}), b"OK")
    t = nsqd.wait_topic(topic, message_count=1, depth=1)
    assert t["message_bytes"] == len(body)
    (m,) = read_all(nsqd, topic, channel, 1)
    assert (m.body, m.attempts) == (body, 1)


@pytest.mark.parametrize("query, body, status, message", [
    ("", b"x", 400, "MISSING_ARG_TOPIC"),
    ("?channel=c", b"x", 400, "MISSING_ARG_TOPIC"),
    ("?topic=bad!topic", b"x", 400, "INVALID_TOPIC"),
    ("?topic=" + "t" * 65, b"x", 400, "INVALID_TOPIC"),
    ("?topic=ok", b"", 400, "MSG_EMPTY"),
    ("", b"", 400, "MSG_EMPTY"),  # the body is checked first
    ("?topic=ok&defer=abc", b"x", 400, "INVALID_DEFER"),
    ("?topic=ok&defer=-1", b"x", 400, "INVALID_DEFER"),
    ("?topic=ok&defer=3600001", b"x", 400, "INVALID_DEFER"),
])
def test_pub_errors(nsqd, query, body, status, message):
    assert_err(nsqd.post("/pub" + query, body), status, message)
    stats = nsqd.stats()
    assert all(t["message_count"] == 0 for t in stats["topics"]), stats


def test_pub_defer_bounds_accepted(nsqd, unique_name):
    topic = unique_name("t")
    assert_ok(nsqd.post("/pub", b"x", {"topic": topic, "defer": 0}), b"OK")
    assert_ok(nsqd.post("/pub", b"x", {"topic": topic, "defer": 3600000}), b"OK")
    nsqd.wait_topic(topic, message_count=2)


def test_pub_defer_counts_as_deferred(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    assert nsqd.post("/topic/create", params={"topic": topic}).status == 200
    assert nsqd.post("/channel/create", params={"topic": topic, "channel": channel}).status == 200
    nsqd.pub(topic, b"later", defer=60000)
    ch = nsqd.wait_channel(topic, channel, deferred_count=1)
    assert ch["depth"] == 0 and ch["message_count"] == 1


def test_pub_max_size(nsqd_factory, unique_name):
    d = nsqd_factory("--max-msg-size=100")
    topic = unique_name("t")
    assert_ok(d.post("/pub", b"x" * 100, {"topic": topic}), b"OK")
    assert_err(d.post("/pub", b"x" * 101, {"topic": topic}), 413, "MSG_TOO_BIG")
    assert_err(d.post("/pub", b"x" * 5000, {"topic": topic}), 413, "MSG_TOO_BIG")
    d.wait_topic(topic, message_count=1)


# ---------------------------------------------------------------------------------------------
# /mpub and /mput


@pytest.mark.parametrize("path", ["/mpub", "/mput"])
def test_mpub_text(nsqd, unique_name, path):
    topic, channel = unique_name("t"), unique_name("c")
    body = b"one\ntwo\n\nthree\nfour\n"  # empty lines are skipped
    assert_ok(nsqd.post(path, body, {"topic": topic}), b"OK")
    nsqd.wait_topic(topic, message_count=4, depth=4)
    msgs = read_all(nsqd, topic, channel, 4)
    assert sorted(m.body for m in msgs) == sorted([b"one", b"two", b"three", b"four"])


def test_mpub_text_without_trailing_newline(nsqd, unique_name):
    topic = unique_name("t")
    assert_ok(nsqd.post("/mpub", b"a\nb\nc", {"topic": topic}), b"OK")
    nsqd.wait_topic(topic, message_count=3)


@pytest.mark.parametrize("path", ["/mpub", "/mput"])
@pytest.mark.parametrize("flag", ["true", "1", "yes"])  # unknown values count as true
def test_mpub_binary(nsqd, unique_name, path, flag):
    topic, channel = unique_name("t"), unique_name("c")
    bodies = [b"bin\none", b"\x00\x01\x02", b"three", b"4" * 100, b"five\n"]
    payload = cnsq.encode_mpub_body(bodies)
    assert_ok(nsqd.post(path, payload, {"topic": topic, "binary": flag}), b"OK")
    nsqd.wait_topic(topic, message_count=5)
    msgs = read_all(nsqd, topic, channel, 5)
    assert sorted(m.body for m in msgs) == sorted(bodies)


def test_mpub_binary_false_is_text(nsqd, unique_name):
    topic = unique_name("t")
    assert_ok(nsqd.post("/mpub", b"a\nb", {"topic": topic, "binary": "false"}), b"OK")
    nsqd.wait_topic(topic, message_count=2)


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "MISSING_ARG_TOPIC"),
    ("?topic=bad!topic", 400, "INVALID_TOPIC"),
])
def test_mpub_topic_errors(nsqd, query, status, message):
    assert_err(nsqd.post("/mpub" + query, b"a\nb"), status, message)


def test_mpub_limits(nsqd_factory, unique_name):
    d = nsqd_factory("--max-msg-size=100", "--max-body-size=1000")
    topic = unique_name("t")
    # text: one oversized line rejects the whole request
    assert_err(d.post("/mpub", b"ok\n" + b"x" * 101 + b"\nok", {"topic": topic}), 413,
               "MSG_TOO_BIG")
    # text: body over max-body-size
    assert_err(d.post("/mpub", (b"y" * 99 + b"\n") * 11, {"topic": topic}), 413, "BODY_TOO_BIG")
    # binary: over max-body-size, an oversized message, a bad count
    big = cnsq.encode_mpub_body([b"z" * 100] * 11)
    assert_err(d.post("/mpub", big, {"topic": topic, "binary": "true"}), 413, "BODY_TOO_BIG")
    assert_err(d.post("/mpub", cnsq.encode_mpub_body([b"z" * 101]),
                      {"topic": topic, "binary": "true"}), 413, "BAD_MESSAGE")
    assert_err(d.post("/mpub", struct.pack(">I", 0), {"topic": topic, "binary": "true"}), 413,
               "BAD_BODY")
    assert_err(d.post("/mpub", cnsq.encode_mpub_body([b"ok", b""]),
                      {"topic": topic, "binary": "true"}), 413, "BAD_MESSAGE")
    t = d.topic_stats(topic)
    assert t is None or t["message_count"] == 0, t
    # within limits
    assert_ok(d.post("/mpub", (b"y" * 99 + b"\n") * 10, {"topic": topic}), b"OK")
    assert_ok(d.post("/mpub", cnsq.encode_mpub_body([b"z" * 100] * 9),
                     {"topic": topic, "binary": "true"}), b"OK")
    d.wait_topic(topic, message_count=19)


# ---------------------------------------------------------------------------------------------
# /topic/* and /channel/*


def test_topic_create_and_delete(nsqd, unique_name):
    topic = unique_name("t")
    assert_ok(nsqd.post("/topic/create", params={"topic": topic}))
    t = nsqd.wait_topic(topic, depth=0, message_count=0, paused=False)
    assert t["channels"] == []
    assert_ok(nsqd.post("/topic/create", params={"topic": topic}))  # idempotent
    assert_ok(nsqd.post("/topic/delete", params={"topic": topic}))
    nsqd.wait_topic_gone(topic)
    assert_err(nsqd.post("/topic/delete", params={"topic": topic}), 404, "TOPIC_NOT_FOUND")


def test_channel_create_and_delete(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    assert_ok(nsqd.post("/topic/create", params={"topic": topic}))
    assert_ok(nsqd.post("/channel/create", params={"topic": topic, "channel": channel}))
    ch = nsqd.wait_channel(topic, channel, depth=0, client_count=0, paused=False)
    assert ch["clients"] == []
    assert_ok(nsqd.post("/channel/delete", params={"topic": topic, "channel": channel}))
    nsqd.wait_channel_gone(topic, channel)
    assert nsqd.topic_stats(topic) is not None
    assert_err(nsqd.post("/channel/delete", params={"topic": topic, "channel": channel}), 404,
               "CHANNEL_NOT_FOUND")


@pytest.mark.parametrize("action", ["create", "delete", "empty", "pause", "unpause"])
def test_topic_endpoint_errors(nsqd, action):
    assert_err(nsqd.post(f"/topic/{action}"), 400, "MISSING_ARG_TOPIC")
    if action in ("create", "empty"):
        assert_err(nsqd.post(f"/topic/{action}", params={"topic": "bad!topic"}), 400,
                   "INVALID_TOPIC")
    if action != "create":
        assert_err(nsqd.post(f"/topic/{action}", params={"topic": "nosuchtopic"}), 404,
                   "TOPIC_NOT_FOUND")


@pytest.mark.parametrize("action", ["create", "delete", "empty", "pause", "unpause"])
def test_channel_endpoint_errors(nsqd, unique_name, action):
    topic = unique_name("t")
    assert_ok(nsqd.post("/topic/create", params={"topic": topic}))
    path = f"/channel/{action}"
    assert_err(nsqd.post(path), 400, "MISSING_ARG_TOPIC")
    assert_err(nsqd.post(path, params={"topic": "bad!t", "channel": "c"}), 400,
               "INVALID_ARG_TOPIC")
    assert_err(nsqd.post(path, params={"topic": topic}), 400, "MISSING_ARG_CHANNEL")
    assert_err(nsqd.post(path, params={"topic": topic, "channel": "bad!c"}), 400,
               "INVALID_ARG_CHANNEL")
    assert_err(nsqd.post(path, params={"topic": "nosuchtopic", "channel": "c"}), 404,
               "TOPIC_NOT_FOUND")
    if action != "create":
        assert_err(nsqd.post(path, params={"topic": topic, "channel": "nosuchchannel"}), 404,
                   "CHANNEL_NOT_FOUND")


def test_topic_pause_and_unpause_flags(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    assert_ok(nsqd.post("/topic/create", params={"topic": topic}))
    assert_ok(nsqd.post("/channel/create", params={"topic": topic, "channel": channel}))
    assert_ok(nsqd.post("/topic/pause", params={"topic": topic}))
    nsqd.wait_topic(topic, paused=True)
    assert_ok(nsqd.post("/channel/pause", params={"topic": topic, "channel": channel}))
    nsqd.wait_channel(topic, channel, paused=True)
    assert_ok(nsqd.post("/topic/unpause", params={"topic": topic}))
    nsqd.wait_topic(topic, paused=False)
    assert_ok(nsqd.post("/channel/unpause", params={"topic": topic, "channel": channel}))
    nsqd.wait_channel(topic, channel, paused=False)


# ---------------------------------------------------------------------------------------------
# /stats


def test_stats_json_empty(nsqd):
    r = nsqd.get("/stats", {"format": "json"})
    assert r.status == 200
    assert r.header("X-NSQ-Content-Type") == NSQ_CT
    s = r.json()
    for key in ("version", "health", "start_time", "topics", "producers"):
        assert key in s, (key, s)
    assert s["health"] == "OK"
    assert s["topics"] == []
    assert isinstance(s["start_time"], int)
    assert abs(s["start_time"] - nsqd.get_json("/info")["start_time"]) <= 1


def test_stats_include_mem(nsqd):
    assert isinstance(nsqd.stats()["memory"], dict)  # included by default, as in nsqd
    assert isinstance(nsqd.stats(include_mem=True)["memory"], dict)
    assert "memory" not in nsqd.stats(include_mem=False)


def test_stats_text(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel):
        nsqd.pub(topic, b"x")
        r = nsqd.get("/stats")
        assert r.status == 200
        text = r.text
        assert "Health: OK" in text
        assert topic in text and channel in text
        assert "depth" in text
        r2 = nsqd.get("/stats", {"format": "text"})
        assert r2.status == 200 and topic in r2.text


def test_stats_topic_and_channel_filters(nsqd, unique_name):
    t1, t2 = unique_name("ta"), unique_name("tb")
    for t in (t1, t2):
        nsqd.post("/topic/create", params={"topic": t})
        for c in ("c1", "c2"):
            nsqd.post("/channel/create", params={"topic": t, "channel": c})
    s = nsqd.stats()
    assert sorted(t["topic_name"] for t in s["topics"]) == sorted([t1, t2])
    s = nsqd.stats(topic=t1)
    assert [t["topic_name"] for t in s["topics"]] == [t1]
    assert sorted(c["channel_name"] for c in s["topics"][0]["channels"]) == ["c1", "c2"]
    s = nsqd.stats(topic=t1, channel="c2")
    assert [t["topic_name"] for t in s["topics"]] == [t1]
    assert [c["channel_name"] for c in s["topics"][0]["channels"]] == ["c2"]
    assert not nsqd.stats(topic="no_such_topic")["topics"]  # nsqd 1.3 says null here
    s = nsqd.stats(topic=t1, channel="no_such_channel")
    assert not s["topics"] or not s["topics"][0]["channels"]


def test_stats_sorted_by_name(nsqd, unique_name):
    names = ["zeta", "alpha", "mu"]
    for n in names:
        nsqd.post("/topic/create", params={"topic": n})
        for c in names:
            nsqd.post("/channel/create", params={"topic": n, "channel": c})
    s = nsqd.stats()
    assert [t["topic_name"] for t in s["topics"]] == sorted(names)
    for t in s["topics"]:
        assert [c["channel_name"] for c in t["channels"]] == sorted(names)


def test_stats_include_clients(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel):
        for params in ({}, {"include_clients": True}):
            ch = nsqd.stats(**params)["topics"][0]["channels"][0]
            assert len(ch["clients"]) == 1 and ch["client_count"] == 1
        ch = nsqd.stats(include_clients=False)["topics"][0]["channels"][0]
        assert not ch["clients"]  # [] or null
        assert ch["client_count"] == 1


# ---------------------------------------------------------------------------------------------
# /config


def test_config_get(nsqd_factory):
    d = nsqd_factory("--mem-queue-size=123", "--max-rdy-count=77")
    assert json.loads(d.get("/config/mem_queue_size").body) == 123
    assert json.loads(d.get("/config/max_rdy_count").body) == 77
    assert json.loads(d.get("/config/nsqlookupd_tcp_addresses").body) == []
    r = d.get("/config/msg_timeout")
    assert r.status == 200 and json.loads(r.body) == 60 * 10**9  # durations in ns
    assert d.get("/config/log_level").status == 200


def test_config_unknown_option(nsqd):
    assert_err(nsqd.get("/config/no_such_option"), 400, "INVALID_OPTION")
    assert_err(nsqd.put("/config/no_such_option", b"1"), 400, "INVALID_OPTION")
    assert_err(nsqd.put("/config/mem_queue_size", b"5"), 400, "INVALID_OPTION")  # not settable


def test_config_put_lookupd_addresses(nsqd, nsqlookupd_factory):
    l1, l2 = nsqlookupd_factory(), nsqlookupd_factory()
    addrs = [l1.tcp_addr, l2.tcp_addr]
    r = nsqd.put("/config/nsqlookupd_tcp_addresses", json.dumps(addrs).encode())
    assert r.status == 200, r.body
    assert json.loads(r.body) == addrs
    assert json.loads(nsqd.get("/config/nsqlookupd_tcp_addresses").body) == addrs
    r = nsqd.put("/config/nsqlookupd_tcp_addresses", b"[]")
    assert r.status == 200 and json.loads(r.body) == []
    assert_err(nsqd.put("/config/nsqlookupd_tcp_addresses", b"not json"), 400, "INVALID_VALUE")


def test_config_put_log_level(nsqd):
    assert nsqd.put("/config/log_level", b"fatal").status == 200
    assert nsqd.put("/config/log_level", b"debug").status == 200
    assert_err(nsqd.put("/config/log_level", b"bad"), 400, "INVALID_VALUE")
    assert_err(nsqd.put("/config/log_level", b""), 413, "INVALID_VALUE")
