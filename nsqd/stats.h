/* stats: a snapshot of every topic, channel and client, copied out of the live state in one
 * event-loop turn (so it is consistent), then rendered as nsqd 1.3's /stats JSON or text.
 * Reporters (HTTP /stats, statsd, /metrics) read the plain structs below and never the live
 * objects. Memory figures are what a C process can honestly report (see stats_mem_t). */
#ifndef CNSQ_NSQD_STATS_H
#define CNSQ_NSQD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/channel.h"
#include "nsqd/nsqd.h"
#include "nsqd/tcp.h"
#include "nsqd/topic.h"

struct evbuffer;

/* The version /stats and /info report. */
#define STATS_VERSION NSQ_VERSION

typedef struct stats_quantile {
    double quantile; /* e.g. 0.99 */
    double value;    /* ns */
} stats_quantile_t;

/* End-to-end processing latency. percentiles == NULL renders as JSON null (no percentiles
 * configured, as nsqd). Filled by the telemetry code; zero until then. */
typedef struct stats_e2e {
    uint64_t count;
    const stats_quantile_t *percentiles;
    size_t percentiles_len;
    uint64_t total_count; /* lifetime count and sum (ns) of the values (Prometheus summary) */
    double total_sum;
} stats_e2e_t;

/* cnsq's additions to a topic's or channel's figures (docs/telemetry.md), filled by
 * nsqd/telemetry.c; zero without it. */
typedef struct stats_extra {
    double message_rate[3]; /* messages/s over 1, 5 and 15 minutes (stats/rate.h's windows) */
    double in_flight_avg;   /* channels: time-weighted averages over the last interval */
    double ready_avg;
    uint64_t epoch; /* channels: differs for each incarnation of a name (statsd deltas) */
} stats_extra_t;

typedef struct stats_channel {
    const char *name;
    chan_stats_t s;
    stats_e2e_t e2e;
    stats_extra_t x;
    client_stats_t *clients; /* NULL when clients were not included */
    size_t clients_len;
} stats_channel_t;

typedef struct stats_topic {
    const char *name;
    topic_stats_t s;
    stats_e2e_t e2e;
    stats_extra_t x;
    stats_channel_t *channels;
    size_t channels_len;
} stats_topic_t;

typedef struct stats_snapshot {
    const char *health; /* "OK" or "NOK - <error>" */
    int64_t start_time; /* seconds since the epoch */
    int64_t taken_ns;   /* CLOCK_REALTIME when taken */
    bool include_clients;
    bool topics_null;      /* a topic filter matched nothing: "topics":null, as nsqd */
    stats_topic_t *topics; /* sorted by name; channels sorted by name */
    size_t topics_len;
    client_stats_t *producers; /* clients that have published (nsqd's rule); NULL if none */
    size_t producers_len;
    struct stats_store *store; /* private: the copies' storage */
} stats_snapshot_t;

/* Takes a snapshot. topic/channel filter like nsqd's GetStats (NULL or "" = all); the topic
 * filter also narrows every client's pub_counts. Every string in the snapshot is a copy.
 * tcp may be NULL (no producers). NULL on OOM. */
stats_snapshot_t *stats_snapshot_take(const nsqd_t *n, const tcp_server_t *tcp, const char *topic,
                                      const char *channel, bool include_clients);
void stats_snapshot_free(stats_snapshot_t *s);
/* Memory that lives as long as the snapshot (for fillers such as telemetry). NULL on OOM. */
void *stats_snapshot_alloc(stats_snapshot_t *s, size_t size);

/* Process memory. Not Go's GC figures: glibc's allocator (mallinfo2), the kernel's view
 * (/proc/self/statm) and the bytes held by live messages. */
typedef struct stats_mem {
    uint64_t heap_in_use_bytes; /* malloc'd and not freed (arena + mmap'd blocks) */
    uint64_t heap_idle_bytes;   /* free bytes the allocator keeps */
    uint64_t heap_mmap_bytes;   /* large blocks served by mmap */
    uint64_t rss_bytes;         /* resident set size */
    uint64_t vm_size_bytes;     /* virtual size */
    uint64_t message_bytes;     /* msg_live_bytes() */
    uint64_t message_count;     /* msg_live_count() */
} stats_mem_t;
void stats_mem_read(stats_mem_t *out);

/* Renderers append to out. mem == NULL omits the memory section. 0, or -1 on OOM. */
int stats_render_json(const stats_snapshot_t *s, const stats_mem_t *mem, struct evbuffer *out);
int stats_render_text(const stats_snapshot_t *s, const stats_mem_t *mem, struct evbuffer *out);

#endif
