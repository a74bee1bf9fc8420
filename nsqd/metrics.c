/* metrics: /metrics rendering (see metrics.h).
 * Owns the table of Prometheus families and how each reads the snapshot. Leaves the text format
 * (escaping, number spelling, family grouping) to stats/promtext and the numbers to the stats
 * snapshot (stats.c, telemetry.c). */
#include "nsqd/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "stats/promtext.h"
#include "stats/quantile.h"
#include "stats/rate.h"

typedef enum { V_I64, V_U64, V_F64, V_BOOL } vkind_t;

/* One family read at an offset of stats_topic_t or stats_channel_t. */
typedef struct family_def {
    const char *name;
    promtext_type_t type;
    size_t offset;
    vkind_t kind;
    const char *help;
} family_def_t;

#define T(field) offsetof(stats_topic_t, field)
#define C(field) offsetof(stats_channel_t, field)

static const family_def_t topic_families[] = {
    {"nsqd_topic_messages_total", PROMTEXT_COUNTER, T(s.message_count), V_U64,
     "Messages published to the topic."},
    {"nsqd_topic_message_bytes_total", PROMTEXT_COUNTER, T(s.message_bytes), V_U64,
     "Bytes of message bodies published to the topic."},
    {"nsqd_topic_depth", PROMTEXT_GAUGE, T(s.depth), V_I64,
     "Messages queued in the topic (memory and disk), waiting for a channel."},
    {"nsqd_topic_backend_depth", PROMTEXT_GAUGE, T(s.backend_depth), V_I64,
     "Messages of the topic's queue held on disk."},
    {"nsqd_topic_channels", PROMTEXT_GAUGE, T(s.channel_count), V_I64, "Channels of the topic."},
    {"nsqd_topic_paused", PROMTEXT_GAUGE, T(s.paused), V_BOOL, "1 when the topic is paused."},
};

static const family_def_t channel_families[] = {
    {"nsqd_channel_messages_total", PROMTEXT_COUNTER, C(s.message_count), V_U64,
     "Messages put into the channel."},
    {"nsqd_channel_requeued_total", PROMTEXT_COUNTER, C(s.requeue_count), V_U64,
     "Messages requeued (REQ, or consumer gone) on the channel."},
    {"nsqd_channel_timed_out_total", PROMTEXT_COUNTER, C(s.timeout_count), V_U64,
     "Messages that timed out in flight on the channel."},
    {"nsqd_channel_depth", PROMTEXT_GAUGE, C(s.depth), V_I64,
     "Messages queued in the channel (memory and disk), not in flight or deferred."},
    {"nsqd_channel_backend_depth", PROMTEXT_GAUGE, C(s.backend_depth), V_I64,
     "Messages of the channel's queue held on disk."},
    {"nsqd_channel_in_flight", PROMTEXT_GAUGE, C(s.in_flight_count), V_I64,
     "Messages delivered and not yet finished, requeued or timed out."},
    {"nsqd_channel_deferred", PROMTEXT_GAUGE, C(s.deferred_count), V_I64,
     "Deferred messages (DPUB or REQ with a delay) of the channel."},
    {"nsqd_channel_clients", PROMTEXT_GAUGE, C(s.client_count), V_I64,
     "Consumers subscribed to the channel."},
    {"nsqd_channel_paused", PROMTEXT_GAUGE, C(s.paused), V_BOOL, "1 when the channel is paused."},
    {"nsqd_channel_in_flight_avg", PROMTEXT_GAUGE, C(x.in_flight_avg), V_F64,
     "Time-weighted average of in-flight messages over the last interval."},
    {"nsqd_channel_ready_avg", PROMTEXT_GAUGE, C(x.ready_avg), V_F64,
     "Time-weighted average of the consumers' total RDY over the last interval."},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const rate_windows[3] = {"1m", "5m", "15m"};

static double read_value(const void *base, const family_def_t *d)
{
    const char *p = (const char *)base + d->offset;
    int64_t i;
    uint64_t u;
    double f;
    bool b;
    switch (d->kind) {
    case V_I64:
        memcpy(&i, p, sizeof(i));
        return (double)i;
    case V_U64:
        memcpy(&u, p, sizeof(u));
        return (double)u;
    case V_F64:
        memcpy(&f, p, sizeof(f));
        return f;
    case V_BOOL:
        memcpy(&b, p, sizeof(b));
        return b ? 1.0 : 0.0;
    }
    return NAN;
}

/* Families declared in table order (the order they are written). */
typedef struct families {
    promtext_family_t *topic[COUNT(topic_families)];
    promtext_family_t *channel[COUNT(channel_families)];
    promtext_family_t *topic_rate, *channel_rate, *topic_e2e, *channel_e2e;
} families_t;

static void declare(promtext_t *p, families_t *f)
{
    for (size_t i = 0; i < COUNT(topic_families); i++)
        f->topic[i] = promtext_family(p, topic_families[i].name, topic_families[i].type,
                                      topic_families[i].help);
    f->topic_rate = promtext_family(p, "nsqd_topic_messages_per_second", PROMTEXT_GAUGE,
                                    "Moving average of the publish rate over the window.");
    f->topic_e2e =
        promtext_family(p, "nsqd_topic_e2e_processing_latency_seconds", PROMTEXT_SUMMARY,
                        "Time from publish to FIN over the topic's channels (windowed quantiles).");
    for (size_t i = 0; i < COUNT(channel_families); i++)
        f->channel[i] = promtext_family(p, channel_families[i].name, channel_families[i].type,
                                        channel_families[i].help);
    f->channel_rate = promtext_family(p, "nsqd_channel_messages_per_second", PROMTEXT_GAUGE,
                                      "Moving average of the channel's message rate.");
    f->channel_e2e =
        promtext_family(p, "nsqd_channel_e2e_processing_latency_seconds", PROMTEXT_SUMMARY,
                        "Time from publish to FIN on the channel (windowed quantiles).");
}

/* Quantiles in seconds; NaN while the window is empty (Prometheus' convention). */
static void e2e_summary(promtext_family_t *f, const promtext_label_t *l, size_t nl,
                        const stats_e2e_t *e)
{
    double q[QSTREAM_MAX_TARGETS], v[QSTREAM_MAX_TARGETS];
    size_t n = e->percentiles_len < QSTREAM_MAX_TARGETS ? e->percentiles_len : QSTREAM_MAX_TARGETS;
    if (!e->percentiles)
        return;
    for (size_t i = 0; i < n; i++) {
        q[i] = e->percentiles[i].quantile;
        v[i] = e->count ? e->percentiles[i].value / 1e9 : NAN;
    }
    promtext_summary(f, l, nl, q, v, n, e->total_sum / 1e9, e->total_count);
}

static void rates(promtext_family_t *f, promtext_label_t *l, size_t nl, const double *m)
{
    for (int w = RATE_1M; w <= RATE_15M; w++) {
        l[nl] = (promtext_label_t){"window", rate_windows[w]};
        promtext_sample(f, l, nl + 1, m[w]);
    }
}

static void add_channel(families_t *f, const stats_topic_t *t, const stats_channel_t *c)
{
    promtext_label_t l[3] = {{"topic", t->name}, {"channel", c->name}};
    for (size_t i = 0; i < COUNT(channel_families); i++)
        promtext_sample(f->channel[i], l, 2, read_value(c, &channel_families[i]));
    rates(f->channel_rate, l, 2, c->x.message_rate);
    e2e_summary(f->channel_e2e, l, 2, &c->e2e);
}

static void add_topic(families_t *f, const stats_topic_t *t)
{
    promtext_label_t l[2] = {{"topic", t->name}};
    for (size_t i = 0; i < COUNT(topic_families); i++)
        promtext_sample(f->topic[i], l, 1, read_value(t, &topic_families[i]));
    rates(f->topic_rate, l, 1, t->x.message_rate);
    e2e_summary(f->topic_e2e, l, 1, &t->e2e);
    for (size_t i = 0; i < t->channels_len; i++)
        add_channel(f, t, &t->channels[i]);
}

static void gauge(promtext_t *p, const char *name, const char *help, double v)
{
    promtext_sample(promtext_family(p, name, PROMTEXT_GAUGE, help), NULL, 0, v);
}

static void add_process(promtext_t *p, const stats_snapshot_t *s, const stats_mem_t *m)
{
    gauge(p, "nsqd_healthy", "1 when nsqd is healthy (GET /ping answers OK).",
          strcmp(s->health, "OK") == 0 ? 1.0 : 0.0);
    gauge(p, "process_start_time_seconds", "Start time of the process since the epoch.",
          (double)s->start_time);
    if (!m)
        return;
    gauge(p, "process_resident_memory_bytes", "Resident set size.", (double)m->rss_bytes);
    gauge(p, "process_virtual_memory_bytes", "Virtual memory size.", (double)m->vm_size_bytes);
    gauge(p, "nsqd_heap_in_use_bytes", "Bytes malloc'd and not freed (glibc mallinfo2).",
          (double)m->heap_in_use_bytes);
    gauge(p, "nsqd_heap_free_bytes", "Free bytes the allocator keeps (glibc mallinfo2).",
          (double)m->heap_idle_bytes);
    gauge(p, "nsqd_heap_mmap_bytes", "Bytes of large blocks served by mmap.",
          (double)m->heap_mmap_bytes);
    gauge(p, "nsqd_message_bytes", "Bytes held by messages in memory (header and body).",
          (double)m->message_bytes);
    gauge(p, "nsqd_messages_in_memory", "Messages held in memory (queued, in flight, deferred).",
          (double)m->message_count);
}

char *metrics_render(const stats_snapshot_t *s, const stats_mem_t *mem, size_t *len)
{
    promtext_t *p = promtext_new();
    families_t f;
    char *out = NULL;
    if (!p)
        return NULL;
    declare(p, &f);
    for (size_t i = 0; i < s->topics_len; i++)
        add_topic(&f, &s->topics[i]);
    add_process(p, s, mem);
    const char *text = promtext_render(p, len);
    if (promtext_error(p))
        log_error("/metrics: %s", promtext_error(p));
    else if (text && (out = malloc(*len + 1)))
        memcpy(out, text, *len + 1);
    promtext_free(p);
    return out;
}

void metrics_reply(httpd_req_t *r, const nsqd_t *n)
{
    stats_mem_t mem;
    size_t len = 0;
    char *text = NULL;
    stats_snapshot_t *snap = stats_snapshot_take(n, NULL, NULL, NULL, false);
    if (snap) {
        stats_mem_read(&mem);
        text = metrics_render(snap, &mem, &len);
    }
    if (text)
        httpd_reply(r, 200, PROMTEXT_CONTENT_TYPE, text, len);
    else
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
    free(text);
    stats_snapshot_free(snap);
}
