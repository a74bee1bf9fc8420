/* telemetry: the figures nsqd computes over time for each topic and channel, for /stats,
 * /metrics and statsd (docs/telemetry.md):
 *   - e2e processing latency: one two-window quantile stream per channel (stats/quantile), fed
 *     on FIN through the channel's FIN observer, only when --e2e-processing-latency-percentile
 *     is set (otherwise no observer is installed and FIN pays nothing); a topic merges its
 *     channels' windows when a snapshot is taken;
 *   - message rates over 1, 5 and 15 minutes (stats/rate), ticked every RATE_TICK_NS;
 *   - time-weighted averages of in_flight_count and of the consumers' total RDY over each
 *     interval (--statsd-interval, also when statsd is off), from the integrals channel.c keeps
 *     (stats/twavg).
 * Attaches itself to every channel through nsqd's channel observer; stats_snapshot_take asks
 * it for its figures (telemetry_fill_topic / telemetry_fill_channel). Loop thread only. */
#ifndef CNSQ_NSQD_TELEMETRY_H
#define CNSQ_NSQD_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "nsqd/channel.h"
#include "nsqd/nsqd.h"
#include "nsqd/stats.h"
#include "nsqd/topic.h"

typedef struct telemetry telemetry_t;

/* Registers with n (nsqd_set_telemetry), attaches to the channels that already exist and
 * starts the rate and interval timers on nsqd's event base. NULL with err (OOM, or more
 * percentiles than QSTREAM_MAX_TARGETS). */
telemetry_t *telemetry_new(nsqd_t *n, char *err, size_t errlen);
/* Stops the timers, detaches from every channel and from nsqd, and frees. Call before
 * nsqd_free (and after statsd_free, which uses the interval hook). */
void telemetry_free(telemetry_t *t);

/* Called at the end of every interval, right after the averages were rolled (the statsd
 * push). fn NULL removes it. */
typedef void (*telemetry_interval_fn)(void *ctx);
void telemetry_set_interval_hook(telemetry_t *t, telemetry_interval_fn fn, void *ctx);
int64_t telemetry_interval_ns(const telemetry_t *t);

/* Snapshot fillers (stats_snapshot_take): e2e, rates, averages and the channel's epoch.
 * Channels without telemetry (none attached) are left as they are. */
void telemetry_fill_channel(stats_snapshot_t *s, stats_channel_t *out, const channel_t *c);
void telemetry_fill_topic(telemetry_t *t, stats_snapshot_t *s, stats_topic_t *out,
                          const topic_t *tp);

#endif
