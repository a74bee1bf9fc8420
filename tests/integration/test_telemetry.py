"""Telemetry (docs/telemetry.md): e2e latency percentiles in /stats, the statsd push seen by a raw
UDP listener (packet size, whole lines, pacing over the interval, counter deltas, names), the
time-weighted averages and message rates cnsq adds to /stats, and /metrics (Prometheus text
0.0.4, checked structurally here and with `promtool check metrics` when it is installed)."""

import re
import shutil
import socket
import subprocess
import threading
import time

import cnsq

LINE_RE = re.compile(r"^([^:|\s]+):(-?\d+(?:\.\d+)?)\|([cg])$")


class UdpListener:
    """Collects (monotonic arrival time, datagram) on a free 127.0.0.1 UDP port."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.packets.append((time.monotonic(), data))

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.packets)

    def lines(self):
        """Every line received so far as (name, value, type)."""
        out = []
        for _, data in self.snapshot():
            for line in data.decode().split("\n")[:-1]:
                m = LINE_RE.match(line)
                assert m, f"malformed statsd line {line!r} in {data!r}"
                out.append((m.group(1), float(m.group(2)), m.group(3)))
        return out

    def counter_sum(self, name):
        return sum(v for n, v, t in self.lines() if n == name and t == "c")

    def counter_values(self, name):
        return [v for n, v, t in self.lines() if n == name and t == "c"]

    def last_gauge(self, name):
        vals = [v for n, v, t in self.lines() if n == name and t == "g"]
        return vals[-1] if vals else None

    def names(self):
        return {n for n, _, _ in self.lines()}


def pushes(packets, gap=0.5):
    """Groups packets into pushes: a push's packets are at most (interval - 1s) / n apart, and
    the next push starts at least ~1s after the last packet of the previous one."""
    groups = []
    for t, data in packets:
        if groups and t - groups[-1][-1][0] < gap:
            groups[-1].append((t, data))
        else:
            groups.append([(t, data)])
    return groups


def create_channel(d, topic, channel):
    for path, params in (("/topic/create", {"topic": topic}),
                         ("/channel/create", {"topic": topic, "channel": channel})):
        r = d.post(path, params=params)
        assert r.status == 200, f"{path} -> {r.status} {r.body!r}"


def statsd_nsqd(nsqd_factory, udp, *args, interval="1s", prefix="n"):
    return nsqd_factory(f"--statsd-address=127.0.0.1:{udp.port}", f"--statsd-interval={interval}",
                        f"--statsd-prefix={prefix}", *args)


# ---------------------------------------------------------------------------------------------
# e2e processing latency


def test_e2e_latency_percentiles(nsqd_factory, unique_name):
    d = nsqd_factory("--e2e-processing-latency-percentile=0.5,0.99")
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=10) as sub:
        d.mpub(topic, [b"1", b"2", b"3"])
        for m in sub.read_messages(3):
            sub.fin(m)
        d.wait_channel(topic, channel, in_flight_count=0)

    def e2e():  # results are recomputed in the background, a few hundred ms behind at most
        t = d.topic_stats(topic)
        c = t["channels"][0]["e2e_processing_latency"]
        ok = c.get("count") == 3 and t["e2e_processing_latency"]["count"] == 3
        return (c, t["e2e_processing_latency"]) if ok else None

    lat, t = cnsq.wait_until(e2e, desc="e2e count 3 in the channel and the topic")
    quantiles = sorted(p["quantile"] for p in lat["percentiles"])
    assert quantiles == [0.5, 0.99]
    assert all(p["value"] > 0 for p in lat["percentiles"])
    assert sorted(p["quantile"] for p in t["percentiles"]) == [0.5, 0.99]


def test_e2e_topic_merges_channels_and_orders_values(nsqd_factory, unique_name):
    d = nsqd_factory("--e2e-processing-latency-percentile=1.0,0.5")
    topic = unique_name("t")
    held = {}
    with d.consumer(topic, "fast", rdy=10) as fast, d.consumer(topic, "slow", rdy=10) as slow:
        d.mpub(topic, [b"a", b"b", b"c", b"d"])
        for m in fast.read_messages(4):
            fast.fin(m)
        held = slow.read_messages(4)
        time.sleep(0.3)  # the slow channel finishes 300 ms later
        for m in held:
            slow.fin(m)
        d.wait_channel(topic, "slow", in_flight_count=0)
    # results are recomputed in the background (at most a few hundred ms behind): poll
    def settled():
        t = d.topic_stats(topic)
        c = {x["channel_name"]: x["e2e_processing_latency"] for x in t["channels"]}
        if (c["fast"]["count"], c["slow"]["count"], t["e2e_processing_latency"]["count"]) \
                == (4, 4, 8):
            return c["fast"], c["slow"], t["e2e_processing_latency"]
        return None

    f, s, t = cnsq.wait_until(settled, desc="counts 4, 4 and 8")
    fv = {p["quantile"]: p["value"] for p in f["percentiles"]}
    sv = {p["quantile"]: p["value"] for p in s["percentiles"]}
    tv = {p["quantile"]: p["value"] for p in t["percentiles"]}
    assert [p["quantile"] for p in t["percentiles"]] == [1.0, 0.5]  # nsqd's (flag) order
    assert sv[1.0] >= 0.3e9 > fv[1.0]
    assert tv[1.0] == sv[1.0]  # the maximum over both channels is exact
    assert fv[0.5] <= tv[0.5] <= sv[0.5]


def test_e2e_count_exact_at_high_fin_rates(nsqd_factory, unique_name):
    """Above ~1000 FINs/s a channel records a random sample of latencies (docs/telemetry.md),
    but counts every FIN: count and the lifetime _count stay exact."""
    d = nsqd_factory("--e2e-processing-latency-percentile=0.99,0.5")
    topic, channel, n = unique_name("t"), unique_name("c"), 20000
    with d.consumer(topic, channel, rdy=500) as sub:
        for i in range(0, n, 1000):
            d.mpub(topic, [b"%d" % j for j in range(i, i + 1000)])
        done = 0
        while done < n:
            batch = sub.read_messages(min(200, n - done))
            sub.send_raw(b"".join(b"FIN " + m.id + b"\n" for m in batch))
            done += len(batch)
        d.wait_channel(topic, channel, in_flight_count=0, timeout=10)

    def settled():
        t = d.topic_stats(topic)
        c = t["channels"][0]["e2e_processing_latency"]
        return c if c["count"] == n and t["e2e_processing_latency"]["count"] == n else None

    c = cnsq.wait_until(settled, desc=f"count {n}")
    v = {p["quantile"]: p["value"] for p in c["percentiles"]}
    assert 0 < v[0.5] <= v[0.99] < 60e9
    m = parse_prometheus(d.get("/metrics").text)
    e2e = "nsqd_channel_e2e_processing_latency_seconds"
    assert sample(m, e2e, e2e + "_count", topic=topic, channel=channel) == n


def test_e2e_disabled_by_default(nsqd, unique_name):
    topic, channel = unique_name("t"), unique_name("c")
    with nsqd.consumer(topic, channel, rdy=1) as sub:
        nsqd.pub(topic, b"x")
        sub.fin(sub.read_message())
    nsqd.wait_channel(topic, channel, in_flight_count=0)
    assert nsqd.channel_stats(topic, channel)["e2e_processing_latency"] == \
        {"count": 0, "percentiles": None}
    assert nsqd.topic_stats(topic)["e2e_processing_latency"] == {"count": 0, "percentiles": None}


# ---------------------------------------------------------------------------------------------
# cnsq's additions to /stats: time-weighted averages and rates


def test_time_weighted_averages(nsqd_factory, unique_name):
    d = nsqd_factory("--statsd-interval=1s")  # the averaging interval, also without statsd
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=5) as sub:
        d.mpub(topic, [b"1", b"2", b"3"])
        held = sub.read_messages(3)
        # two whole intervals with 3 in flight and RDY 5
        c = cnsq.wait_until(lambda: (lambda c: c if c["in_flight_avg"] == 3 else None)(
            d.channel_stats(topic, channel)), timeout=5, desc="in_flight_avg 3")
        assert c["ready_avg"] == 5
        assert c["in_flight_count"] == 3
        for m in held:
            sub.fin(m)
        c = cnsq.wait_until(lambda: (lambda c: c if c["in_flight_avg"] == 0 else None)(
            d.channel_stats(topic, channel)), timeout=5, desc="in_flight_avg 0")
        assert c["ready_avg"] == 5
    # the consumer is gone: RDY falls to 0
    cnsq.wait_until(lambda: d.channel_stats(topic, channel)["ready_avg"] == 0, timeout=5,
                    desc="ready_avg 0")


def test_time_weighted_average_is_weighted_by_time(nsqd_factory, unique_name):
    d = nsqd_factory("--statsd-interval=2s")
    topic, channel = unique_name("t"), unique_name("c")
    with d.consumer(topic, channel, rdy=10) as sub:
        d.mpub(topic, [b"%d" % i for i in range(10)])
        held = sub.read_messages(10)
        seen = []

        def partial():
            c = d.channel_stats(topic, channel)
            seen.append(c["in_flight_avg"])
            return c if 0 < c["in_flight_avg"] < 10 else None

        # hold 10 for about half an interval, then 0: some interval averages strictly between
        time.sleep(0.9)
        for m in held:
            sub.fin(m)
        c = cnsq.wait_until(partial, timeout=6, desc="a partial in_flight_avg")
        assert 0 < c["in_flight_avg"] < 10, seen


def test_message_rates(nsqd_factory, unique_name):
    d = nsqd_factory()
    topic, channel = unique_name("t"), unique_name("c")
    create_channel(d, topic, channel)
    t = d.topic_stats(topic)
    for key in ("message_rate_1m", "message_rate_5m", "message_rate_15m"):
        assert t[key] == 0 and t["channels"][0][key] == 0
    d.mpub(topic, [b"m"] * 100)
    # the rates tick every 5 s: within one tick of a 100-message burst the instant rate is
    # 100 / (at most 5 s)
    t = cnsq.wait_until(lambda: (lambda t: t if t["message_rate_1m"] > 0 else None)(
        d.topic_stats(topic)), timeout=8, desc="a topic rate")
    c = t["channels"][0]
    for x in (t, c):
        assert 0 < x["message_rate_15m"] <= x["message_rate_5m"] <= x["message_rate_1m"], x
    # a topic's first tick covers a whole 5 s period (a channel's starts when it appeared)
    assert t["message_rate_1m"] <= 100 / 4.9, t
    first = t["message_rate_1m"]
    # no more messages: the next tick decays the 1-minute rate
    t = cnsq.wait_until(lambda: (lambda t: t if t["message_rate_1m"] < first else None)(
        d.topic_stats(topic)), timeout=8, desc="the 1m rate to decay")
    assert t["message_rate_1m"] > 0


# ---------------------------------------------------------------------------------------------
# statsd


def test_statsd_packets_bounded_whole_lines_and_spread(nsqd_factory):
    udp = UdpListener()
    try:
        d = statsd_nsqd(nsqd_factory, udp, "--statsd-udp-packet-size=100", interval="3s")
        for t in range(6):
            for c in range(3):
                create_channel(d, f"t{t}", f"c{c}")
        # two whole pushes
        groups = cnsq.wait_until(lambda: (lambda g: g if len(g) >= 3 else None)(
            pushes(udp.snapshot())), timeout=12, desc="three pushes")
    finally:
        udp.close()
    for _, data in udp.snapshot():
        assert len(data) <= 100, data
        assert data.endswith(b"\n"), data  # whole lines only
    udp.lines()  # every line well formed (asserts)
    for g in groups[:2]:
        names = [LINE_RE.match(line).group(1) for _, data in g
                 for line in data.decode().split("\n")[:-1]]
        # one push: 6 topics x 4 stats, 18 channels x 10, 7 memory gauges
        assert len(names) == 6 * 4 + 18 * 10 + 7, names
        assert len(set(names)) == len(names)
        span = g[-1][0] - g[0][0]
        assert len(g) >= 40
        assert 1.4 <= span <= 2.3, f"{len(g)} packets over {span:.2f}s (want ~2s)"
        # evenly: no more than a fifth of the packets in any 200 ms
        times = [t for t, _ in g]
        worst = max(sum(1 for u in times if t <= u < t + 0.2) for t in times)
        assert worst <= len(g) / 5, f"{worst} of {len(g)} packets within 200 ms"


def test_statsd_names_and_gauges(nsqd_factory, unique_name):
    udp = UdpListener()
    try:
        d = nsqd_factory(f"--statsd-address=127.0.0.1:{udp.port}", "--statsd-interval=1s",
                         "--broadcast-address=127.0.0.1",
                         "--e2e-processing-latency-percentile=1.0,0.999,0.5")
        prefix = f"nsq.127_0_0_1_{d.http_port}."
        with d.consumer("tn", "cn", rdy=7) as sub:
            d.mpub("tn", [b"12345", b"67"])
            m = sub.read_messages(2)
            sub.fin(m[0])
            d.wait_channel("tn", "cn", in_flight_count=1)
            want = prefix + "topic.tn.channel.cn.in_flight_avg"
            ready = prefix + "topic.tn.channel.cn.ready_avg"
            # a whole interval with 1 in flight and RDY 7 (an earlier push may cover the
            # moments before RDY arrived, e.g. under a slow sanitizer build)
            cnsq.wait_until(lambda: udp.last_gauge(want) == 1 and udp.last_gauge(ready) == 7,
                            timeout=8, desc="in_flight_avg gauge 1 and ready_avg 7")
            names = udp.names()
            c = d.channel_stats("tn", "cn")
            t = d.topic_stats("tn")
            assert udp.last_gauge(prefix + "topic.tn.channel.cn.ready_avg") == 7
            assert udp.last_gauge(prefix + "topic.tn.channel.cn.clients") == 1
            assert udp.last_gauge(prefix + "topic.tn.channel.cn.in_flight_count") == 1
            for q, suffix in ((1.0, "100"), (0.999, "99_9"), (0.5, "50")):
                for base, x in (("topic.tn.", t), ("topic.tn.channel.cn.", c)):
                    name = prefix + base + "e2e_processing_latency_" + suffix
                    assert name in names
                    value = [p["value"] for p in x["e2e_processing_latency"]["percentiles"]
                             if p["quantile"] == q][0]
                    assert udp.last_gauge(name) == int(value)
            for stat in ("rss_bytes", "heap_in_use_bytes", "heap_idle_bytes", "message_bytes",
                         "message_count"):
                assert prefix + "mem." + stat in names
            assert udp.last_gauge(prefix + "mem.rss_bytes") > 0
            assert udp.counter_sum(prefix + "topic.tn.message_bytes") == 7
    finally:
        udp.close()


def test_statsd_counter_deltas_sum_to_totals(nsqd_factory):
    udp = UdpListener()
    try:
        d = statsd_nsqd(nsqd_factory, udp)
        create_channel(d, "td", "cd")
        total = 0
        for k in (5, 8, 13, 21):
            d.mpub("td", [b"x" * 3] * k)
            total += k
            time.sleep(1.2)  # about one push per batch
        for name, want in (("n.topic.td.message_count", total),
                           ("n.topic.td.message_bytes", 3 * total),
                           ("n.topic.td.channel.cd.message_count", total)):
            cnsq.wait_until(lambda: udp.counter_sum(name) == want, timeout=5,
                            desc=f"{name} deltas to sum to {want}")
            vals = udp.counter_values(name)
            assert all(v >= 0 for v in vals)
            assert sum(1 for v in vals if v > 0) >= 3, vals  # spread over several pushes
    finally:
        udp.close()


def test_statsd_recreated_topic_never_negative(nsqd_factory):
    udp = UdpListener()
    try:
        d = statsd_nsqd(nsqd_factory, udp)
        create_channel(d, "tr", "cr")
        d.mpub("tr", [b"x"] * 20)
        cnsq.wait_until(lambda: udp.counter_sum("n.topic.tr.message_count") == 20, timeout=5,
                        desc="20 counted")
        # delete and recreate within one interval, with fewer messages than before
        assert d.post("/topic/delete", params={"topic": "tr"}).status == 200
        create_channel(d, "tr", "cr")
        d.mpub("tr", [b"x"] * 3)
        for name in ("n.topic.tr.message_count", "n.topic.tr.channel.cr.message_count"):
            cnsq.wait_until(lambda: udp.counter_sum(name) == 23, timeout=5,
                            desc=f"{name} 20 + 3")
            assert all(v >= 0 for v in udp.counter_values(name)), udp.counter_values(name)
        # a recreated channel with more messages than before still counts from 0 (its epoch)
        assert d.post("/channel/delete", params={"topic": "tr", "channel": "cr"}).status == 200
        create_channel(d, "tr", "cr")
        d.mpub("tr", [b"x"] * 30)
        cnsq.wait_until(lambda: udp.counter_sum("n.topic.tr.channel.cr.message_count") == 53,
                        timeout=5, desc="channel 20 + 3 + 30")
        assert all(v >= 0 for n, v, _ in udp.lines() if n.endswith("_count"))
    finally:
        udp.close()


def test_statsd_exclude_ephemeral_and_mem_stats_off(nsqd_factory):
    udp = UdpListener()
    try:
        d = statsd_nsqd(nsqd_factory, udp, "--statsd-exclude-ephemeral",
                        "--statsd-mem-stats=false")
        create_channel(d, "te", "ce")
        create_channel(d, "te", "eph#ephemeral")
        with d.consumer("tx#ephemeral", "c", rdy=1):
            cnsq.wait_until(lambda: "n.topic.te.channel.ce.depth" in udp.names(), timeout=5,
                            desc="a push")
            time.sleep(1.2)
            names = udp.names()
    finally:
        udp.close()
    assert not [n for n in names if "ephemeral" in n]
    assert not [n for n in names if n.startswith("n.mem.")]


def test_statsd_shutdown_sends_the_rest_at_once(nsqd_factory):
    udp = UdpListener()
    try:
        d = statsd_nsqd(nsqd_factory, udp, "--statsd-udp-packet-size=100", interval="4s")
        for t in range(4):
            create_channel(d, f"t{t}", "c")
        # the first push spreads its packets over 3 s: stop nsqd soon after it starts
        cnsq.wait_until(lambda: udp.snapshot(), timeout=8, desc="the first packet")
        time.sleep(0.5)
        assert d.stop() == 0
        time.sleep(0.3)
    finally:
        udp.close()
    names = [n for n, _, _ in udp.lines()]
    assert len(names) == 4 * 4 + 4 * 10 + 7, names  # the whole push arrived
    g = pushes(udp.snapshot())
    assert len(g) == 1
    assert g[-1][-1][0] - g[0][0][0] < 1.5  # not spread over 3 s: the rest left at exit


def test_statsd_unreachable_does_not_affect_the_broker(nsqd_factory, unique_name):
    port = cnsq.free_udp_port()  # nothing listens: sends fail with ECONNREFUSED
    d = nsqd_factory(f"--statsd-address=127.0.0.1:{port}", "--statsd-interval=1s")
    topic, channel = unique_name("t"), unique_name("c")
    deadline = time.monotonic() + 3.5
    n = 0
    with d.consumer(topic, channel, rdy=10) as sub:
        while time.monotonic() < deadline:
            d.pub(topic, b"x")
            sub.fin(sub.read_message())
            n += 1
            time.sleep(0.05)
    d.wait_channel(topic, channel, message_count=n, in_flight_count=0)
    assert d.ping().status == 200
    drops = d.log_text().count("STATSD: dropped")
    assert drops <= 1, d.log_tail()  # one warning per 10 s at most


# ---------------------------------------------------------------------------------------------
# /metrics


def parse_prometheus(text):
    """Structural check of text format 0.0.4; -> {family: {"type", "help", "samples": [(name,
    labels dict, value)]}}."""
    fams = {}
    order = []
    current = None
    sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
    assert text.endswith("\n")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in fams, f"family {name} declared twice"
            fams[name] = {"help": line.split(" ", 3)[3], "samples": []}
            order.append(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and "type" not in fams[name]
            assert typ in ("counter", "gauge", "summary", "untyped")
            fams[name]["type"] = typ
            continue
        m = sample_re.match(line)
        assert m, f"bad sample line {line!r}"
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        base = current
        allowed = {base}
        if fams[base]["type"] == "summary":
            allowed |= {base + "_sum", base + "_count"}
        assert name in allowed, f"sample {name} outside its family {base}"
        labels = {k: v for k, v, _ in label_re.findall(labels_text)}
        fams[base]["samples"].append((name, labels, float(value)))
    for name, f in fams.items():
        assert "type" in f
        if f["type"] == "counter":
            assert name.endswith("_total")
        assert f["samples"], f"empty family {name}"
    return fams


def sample(fams, family, name=None, **labels):
    for n, l, v in fams[family]["samples"]:
        if n == (name or family) and all(l.get(k) == w for k, w in labels.items()):
            return v
    raise AssertionError(f"no sample {name or family} {labels}")


def test_metrics_prometheus_text(nsqd_factory, unique_name):
    d = nsqd_factory("--e2e-processing-latency-percentile=0.99,0.5")
    topic, channel = "tm", "cm"
    with d.consumer(topic, channel, rdy=10) as sub:
        d.mpub(topic, [b"abc", b"de", b"f"])
        msgs = sub.read_messages(3)
        sub.req(msgs[0])
        sub.fin(sub.read_message())
        for m in msgs[1:]:
            sub.fin(m)
        d.wait_channel(topic, channel, in_flight_count=0, requeue_count=1)
        e2e_count = f'nsqd_channel_e2e_processing_latency_seconds_count{{topic="{topic}",' \
            f'channel="{channel}"}} 3\n'
        # e2e results are recomputed in the background, a few hundred ms behind
        r = cnsq.wait_until(lambda: (lambda r: r if e2e_count in r.text else None)(
            d.get("/metrics")), desc="the e2e summary to count 3")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    text = r.text
    fams = parse_prometheus(text)
    assert sample(fams, "nsqd_topic_messages_total", topic=topic) == 3
    assert sample(fams, "nsqd_topic_message_bytes_total", topic=topic) == 6
    assert sample(fams, "nsqd_channel_messages_total", topic=topic, channel=channel) == 3
    assert sample(fams, "nsqd_channel_requeued_total", topic=topic, channel=channel) == 1
    assert sample(fams, "nsqd_channel_depth", topic=topic, channel=channel) == 0
    assert sample(fams, "nsqd_channel_clients", topic=topic, channel=channel) == 1
    e2e = "nsqd_channel_e2e_processing_latency_seconds"
    assert fams[e2e]["type"] == "summary"
    assert sample(fams, e2e, e2e + "_count", topic=topic, channel=channel) == 3
    q99 = sample(fams, e2e, topic=topic, channel=channel, quantile="0.99")
    assert 0 < q99 < 10
    assert sample(fams, e2e, e2e + "_sum", topic=topic, channel=channel) >= q99
    assert sample(fams, "nsqd_topic_e2e_processing_latency_seconds",
                  "nsqd_topic_e2e_processing_latency_seconds_count", topic=topic) == 3
    assert sample(fams, "nsqd_channel_messages_per_second", topic=topic, channel=channel,
                  window="5m") >= 0
    assert sample(fams, "process_resident_memory_bytes") > 0
    assert sample(fams, "nsqd_healthy") == 1
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
