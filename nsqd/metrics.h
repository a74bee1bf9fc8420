/* metrics: GET /metrics, the stats snapshot in the Prometheus text exposition format 0.0.4
 * (docs/telemetry.md lists the families). Raw totals, never deltas; base units. */
#ifndef CNSQ_NSQD_METRICS_H
#define CNSQ_NSQD_METRICS_H

#include <stddef.h>

#include "common/httputil.h"
#include "nsqd/nsqd.h"
#include "nsqd/stats.h"

/* Renders s and mem (NULL: no memory families). The text (NUL-terminated, *len bytes) is
 * malloc'd for the caller; NULL on OOM or an internal naming error (logged). */
char *metrics_render(const stats_snapshot_t *s, const stats_mem_t *mem, size_t *len);

/* The /metrics handler: a fresh snapshot of n, rendered and sent (500 on failure). */
void metrics_reply(httpd_req_t *r, const nsqd_t *n);

#endif
