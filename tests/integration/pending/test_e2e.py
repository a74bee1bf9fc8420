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


def test_e2e_latency_percentiles(nsqd_factory, unique_name):
    d = nsqd_factory("--e2e-processing-latency-percentile=0.5,0.99")
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=10) as sub:
        d.mpub(topic, [b"1", b"2", b"3"])
        for m in sub.read_messages(3):
            sub.fin(m)
        d.wait_channel(topic, channel, in_flight_count=0)

    def e2e():
        c = d.channel_stats(topic, channel)["e2e_processing_latency"]
        return c if c and c.get("count") == 3 else None

    lat = cnsq.wait_until(e2e, desc="e2e count 3")
    quantiles = sorted(p["quantile"] for p in lat["percentiles"])
    assert quantiles == [0.5, 0.99]
    assert all(p["value"] > 0 for p in lat["percentiles"])
    t = d.topic_stats(topic)["e2e_processing_latency"]
    assert t["count"] == 3
