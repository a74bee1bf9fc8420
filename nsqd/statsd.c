/* statsd: the push loop (see statsd.h).
 * Owns the expanded prefix, the counter-delta table, the packer and the paced UDP sender.
 * Leaves the line format, packing and pacing to stats/statsd_writer, the numbers to the stats
 * snapshot (which telemetry fills) and the timing to telemetry's interval timer. */
#include "nsqd/statsd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "nsqd/stats.h"
#include "stats/statsd_writer.h"

#define RESOLVE_LOG_EVERY_NS (60 * 1000000000LL) /* an unresolvable address: one log a minute */
#define BASE_MAX_BYTES 160                       /* "topic.<64>.channel.<64>" */
#define NAME_MAX_BYTES 256 /* base + ".<stat>" or ".e2e_processing_latency_<P>" */
#define LINE_MAX_BYTES 1024

struct statsd {
    nsqd_t *n;
    telemetry_t *tel;
    const nsqd_opts_t *o;
    char prefix[256];
    statsd_sender_t *sender; /* NULL until the address resolves */
    statsd_packer_t *packer;
    statsd_diff_t *diff;
    int64_t last_resolve_log;
};

/* ---- lines -------------------------------------------------------------------------------- */

static void counter(statsd_t *s, const char *name, uint64_t epoch, uint64_t cur)
{
    uint64_t delta;
    statsd_diff(s->diff, name, epoch, cur, &delta); /* on OOM delta is still right */
    statsd_packer_stat(s->packer, s->prefix, name, STATSD_COUNTER, (int64_t)delta);
}

static void gauge(statsd_t *s, const char *name, int64_t v)
{
    statsd_packer_stat(s->packer, s->prefix, name, STATSD_GAUGE, v);
}

/* A fractional gauge (cnsq's averages, never negative) with up to 3 decimals: the line
 * statsd_format makes for 0, with the number put in place of the 0. */
static void gauge_frac(statsd_t *s, const char *name, double v)
{
    char line[LINE_MAX_BYTES], num[48];
    size_t n = statsd_format(line, sizeof(line), s->prefix, name, STATSD_GAUGE, 0);
    if (n >= sizeof(line) || n < 4 || v < 0)
        return;
    int k = snprintf(num, sizeof(num), "%.3f", v);
    while (k > 1 && num[k - 1] == '0')
        num[--k] = '\0';
    if (k > 1 && num[k - 1] == '.')
        num[--k] = '\0';
    size_t head = n - 4; /* "0|g\n" */
    k = snprintf(line + head, sizeof(line) - head, "%s|g\n", num);
    if (k > 0 && head + (size_t)k < sizeof(line))
        statsd_packer_add(s->packer, line, head + (size_t)k);
}

/* e2e_processing_latency_<P> gauges under base ("topic.T" or "topic.T.channel.C"). */
static void e2e_gauges(statsd_t *s, const char *base, const stats_e2e_t *e)
{
    char name[NAME_MAX_BYTES], p[32];
    for (size_t i = 0; e->percentiles && i < e->percentiles_len; i++) {
        if (statsd_percentile_name(e->percentiles[i].quantile, p, sizeof(p)) < 0)
            continue;
        snprintf(name, sizeof(name), "%s.e2e_processing_latency_%s", base, p);
        gauge(s, name, (int64_t)e->percentiles[i].value);
    }
}

static bool excluded(const statsd_t *s, const char *name)
{
    return s->o->statsd_exclude_ephemeral && name_is_ephemeral(name, strlen(name));
}

static void push_channel(statsd_t *s, const char *topic, const stats_channel_t *c)
{
    char base[BASE_MAX_BYTES], name[NAME_MAX_BYTES];
    snprintf(base, sizeof(base), "topic.%s.channel.%s", topic, c->name);
#define STAT(suffix) (snprintf(name, sizeof(name), "%s." suffix, base), name)
    counter(s, STAT("message_count"), c->x.epoch, c->s.message_count);
    gauge(s, STAT("depth"), c->s.depth);
    gauge(s, STAT("backend_depth"), c->s.backend_depth);
    gauge(s, STAT("in_flight_count"), c->s.in_flight_count);
    gauge(s, STAT("deferred_count"), c->s.deferred_count);
    counter(s, STAT("requeue_count"), c->x.epoch, c->s.requeue_count);
    counter(s, STAT("timeout_count"), c->x.epoch, c->s.timeout_count);
    gauge(s, STAT("clients"), c->s.client_count);
    e2e_gauges(s, base, &c->e2e);
    gauge_frac(s, STAT("in_flight_avg"), c->x.in_flight_avg);
    gauge_frac(s, STAT("ready_avg"), c->x.ready_avg);
#undef STAT
}

/* nsqd's order: the topic's stats, then each channel's. A topic has no epoch: one deleted and
 * recreated between two pushes is told apart only when its counter went back. */
static void push_topic(statsd_t *s, const stats_topic_t *t)
{
    char base[BASE_MAX_BYTES], name[NAME_MAX_BYTES];
    if (excluded(s, t->name))
        return;
    snprintf(base, sizeof(base), "topic.%s", t->name);
#define STAT(suffix) (snprintf(name, sizeof(name), "%s." suffix, base), name)
    counter(s, STAT("message_count"), 0, t->s.message_count);
    counter(s, STAT("message_bytes"), 0, t->s.message_bytes);
    gauge(s, STAT("depth"), t->s.depth);
    gauge(s, STAT("backend_depth"), t->s.backend_depth);
#undef STAT
    e2e_gauges(s, base, &t->e2e);
    for (size_t i = 0; i < t->channels_len; i++)
        if (!excluded(s, t->channels[i].name))
            push_channel(s, t->name, &t->channels[i]);
}

/* What a C process can honestly report (docs/telemetry.md), with /stats' memory names. */
static void push_mem(statsd_t *s)
{
    stats_mem_t m;
    stats_mem_read(&m);
    gauge(s, "mem.rss_bytes", (int64_t)m.rss_bytes);
    gauge(s, "mem.vm_size_bytes", (int64_t)m.vm_size_bytes);
    gauge(s, "mem.heap_in_use_bytes", (int64_t)m.heap_in_use_bytes);
    gauge(s, "mem.heap_idle_bytes", (int64_t)m.heap_idle_bytes);
    gauge(s, "mem.heap_mmap_bytes", (int64_t)m.heap_mmap_bytes);
    gauge(s, "mem.message_bytes", (int64_t)m.message_bytes);
    gauge(s, "mem.message_count", (int64_t)m.message_count);
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* The packer's output: a datagram for the next spread batch. */
static int emit_cb(void *arg, const char *pkt, size_t len)
{
    statsd_t *s = arg;
    return s->sender ? statsd_sender_queue(s->sender, pkt, len) : -1;
}

static bool connect_sender(statsd_t *s)
{
    char err[256];
    if (s->sender)
        return true;
    s->sender = statsd_sender_new(nsqd_base(s->n), s->o->statsd_address, err, sizeof(err));
    if (s->sender)
        return true;
    int64_t now = clock_monotonic_ns();
    if (s->last_resolve_log == 0 || now - s->last_resolve_log >= RESOLVE_LOG_EVERY_NS) {
        log_error("STATSD: failed to create UDP socket to statsd(%s): %s", s->o->statsd_address,
                  err);
        s->last_resolve_log = now;
    }
    return false;
}

static void push_cb(void *ctx)
{
    statsd_t *s = ctx;
    if (!connect_sender(s))
        return; /* as nsqd: the next push sends the deltas since the last one that went out */
    stats_snapshot_t *snap = stats_snapshot_take(s->n, NULL, NULL, NULL, false);
    if (!snap) {
        log_error("STATSD: out of memory taking the stats snapshot");
        return;
    }
    log_info("STATSD: pushing stats to %s", s->o->statsd_address);
    for (size_t i = 0; i < snap->topics_len; i++)
        push_topic(s, &snap->topics[i]);
    if (s->o->statsd_mem_stats)
        push_mem(s);
    statsd_packer_flush(s->packer);
    statsd_diff_end_round(s->diff);
    statsd_sender_start(s->sender, telemetry_interval_ns(s->tel));
    stats_snapshot_free(snap);
}

statsd_t *statsd_new(nsqd_t *n, telemetry_t *tel, char *err, size_t errlen)
{
    const nsqd_opts_t *o = nsqd_opts(n);
    statsd_t *s = calloc(1, sizeof(*s));
    if (!s) {
        errf(err, errlen, "out of memory");
        return NULL;
    }
    s->n = n;
    s->tel = tel;
    s->o = o;
    const char *host =
        o->broadcast_address && *o->broadcast_address ? o->broadcast_address : nsqd_hostname(n);
    int port = o->broadcast_http_port > 0 ? (int)o->broadcast_http_port : nsqd_http_port(n);
    if (statsd_prefix_expand(o->statsd_prefix ? o->statsd_prefix : "", host, port, s->prefix,
                             sizeof(s->prefix), err, errlen) < 0)
        goto fail;
    s->diff = statsd_diff_new();
    s->packer = statsd_packer_new((size_t)o->statsd_udp_packet_size, emit_cb, s);
    if (!s->diff || !s->packer) {
        errf(err, errlen, "out of memory");
        goto fail;
    }
    connect_sender(s);
    telemetry_set_interval_hook(tel, push_cb, s);
    log_info("STATSD: pushing to %s every %" PRId64 "ms with prefix \"%s\"", o->statsd_address,
             telemetry_interval_ns(tel) / 1000000, s->prefix);
    return s;
fail:
    statsd_free(s);
    return NULL;
}

void statsd_free(statsd_t *s)
{
    if (!s)
        return;
    if (s->tel)
        telemetry_set_interval_hook(s->tel, NULL, NULL);
    statsd_sender_free(s->sender); /* sends what is left at once */
    statsd_packer_free(s->packer);
    statsd_diff_free(s->diff);
    free(s);
}
