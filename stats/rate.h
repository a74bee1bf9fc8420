/* rate: 1/5/15-minute moving message rates from a counter, like Unix load averages.
 *
 * Formula. Each tick at time t with counter value c, after dt seconds since the previous tick:
 *     inst = (c - c_prev) / dt                      (c_prev taken as 0 if the counter went back)
 *     m_w  = m_w + (1 - exp(-dt / w)) * (inst - m_w)    for w = 60 s, 300 s, 900 s
 * i.e. an exponentially weighted moving average whose weight decays with time constant w,
 * so irregular ticks are handled exactly. With a fixed tick T (RATE_TICK_NS) the factor is the
 * constant exp(-T/w) of the load average. The first tick sets every m_w to inst (no ramp up
 * from 0); before it the rates read 0.
 *
 * rate_t is a small value type meant to be embedded in a topic or channel (no allocation, no
 * pointers); treat its fields as private. Time is passed in (any monotonic ns clock). */
#ifndef CNSQ_STATS_RATE_H
#define CNSQ_STATS_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define RATE_TICK_NS 5000000000LL /* the suggested tick: 5 s, as the kernel's load average */

typedef enum { RATE_1M = 0, RATE_5M = 1, RATE_15M = 2 } rate_window_t;

typedef struct rate {
    double m[3];         /* messages per second, indexed by rate_window_t */
    uint64_t last_count; /* counter at the previous tick */
    int64_t last_ns;     /* time of the previous tick */
    bool primed;         /* a first rate has been computed */
} rate_t;

/* Starts from counter value count at now_ns (rates 0 until the first tick). */
void rate_init(rate_t *r, uint64_t count, int64_t now_ns);

/* Folds in the counter's value at now_ns. A tick with no time elapsed (or time going back) is
 * ignored. */
void rate_tick(rate_t *r, uint64_t count, int64_t now_ns);

double rate_get(const rate_t *r, rate_window_t w); /* messages per second */

#endif
