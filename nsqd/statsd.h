/* statsd: nsqd's push of its stats to statsd over UDP (--statsd-*), as NSQ's statsdLoop: at the
 * end of every --statsd-interval (telemetry's interval hook) it takes one stats snapshot, sends
 * counters as deltas since the previous push and gauges as they are, under nsqd's names, packed
 * into datagrams of at most --statsd-udp-packet-size and spread over the interval. */
#ifndef CNSQ_NSQD_STATSD_H
#define CNSQ_NSQD_STATSD_H

#include <stddef.h>

#include "nsqd/nsqd.h"
#include "nsqd/telemetry.h"

typedef struct statsd statsd_t;

/* Starts pushing to --statsd-address (which must be set) on tel's interval. The address is
 * resolved now; if that fails it is logged and retried at each push (nothing else is
 * affected). Call once the listeners are up (the prefix needs the HTTP port). NULL with err
 * on a bad prefix or OOM. Borrows n and tel (freed after the statsd). */
statsd_t *statsd_new(nsqd_t *n, telemetry_t *tel, char *err, size_t errlen);
/* Sends what is still waiting at once, then frees. */
void statsd_free(statsd_t *s);

#endif
