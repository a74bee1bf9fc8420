/* twavg: time-weighted average of a level (in_flight_avg, ready_avg, depth_avg).
 *
 * The value held is integrated over time: area += value x (time it was held). The average over
 * an interval is area / interval length, so a level of 10 held for 9 s then 0 for 1 s averages
 * 9 over those 10 s whatever the number of changes. Changes are reported as they happen
 * (twavg_set / twavg_add), which costs two multiplies and adds: fine on the message path.
 *
 * Two ways to read it: twavg_take (one consumer: the average since its previous take, then a
 * new interval starts) or twavg_integral (several consumers: each keeps its own previous
 * (integral, time) pair and divides the differences). Value type, embed it; fields private. */
#ifndef CNSQ_STATS_TWAVG_H
#define CNSQ_STATS_TWAVG_H

#include <stdint.h>

typedef struct twavg {
    int64_t value;    /* the level now */
    int64_t since_ns; /* when it took that value (or the last fold) */
    double area;      /* value x ns accumulated since init, up to since_ns */
    double mark_area; /* area at the last take */
    int64_t mark_ns;  /* time of the last take (or init) */
} twavg_t;

void twavg_init(twavg_t *a, int64_t value, int64_t now_ns);
void twavg_set(twavg_t *a, int64_t value, int64_t now_ns); /* the level becomes value */
void twavg_add(twavg_t *a, int64_t delta, int64_t now_ns); /* the level moves by delta */

/* The average since the previous take (or init), and starts the next interval at now_ns.
 * With no time elapsed it returns the current level. */
double twavg_take(twavg_t *a, int64_t now_ns);

/* The integral of the level (value x ns) from init to now_ns, not changing anything. */
double twavg_integral(const twavg_t *a, int64_t now_ns);

static inline int64_t twavg_value(const twavg_t *a)
{
    return a->value;
}

#endif
