/* rate: exponentially weighted moving rates (1, 5, 15 minutes) from counter samples.
 * Owns nothing but the rate_t it is given; the caller owns the counter, the clock and the tick
 * timer. The formula is in rate.h. */
#include "stats/rate.h"

#include <math.h>

static const double windows_s[3] = {60.0, 300.0, 900.0};

void rate_init(rate_t *r, uint64_t count, int64_t now_ns)
{
    *r = (rate_t){.last_count = count, .last_ns = now_ns};
}

void rate_tick(rate_t *r, uint64_t count, int64_t now_ns)
{
    if (now_ns <= r->last_ns)
        return;
    double dt = (double)(now_ns - r->last_ns) / 1e9;
    uint64_t delta = count >= r->last_count ? count - r->last_count : count;
    double inst = (double)delta / dt;
    for (int i = 0; i < 3; i++) {
        if (!r->primed)
            r->m[i] = inst;
        else
            r->m[i] += (1.0 - exp(-dt / windows_s[i])) * (inst - r->m[i]);
    }
    r->primed = true;
    r->last_count = count;
    r->last_ns = now_ns;
}

double rate_get(const rate_t *r, rate_window_t w)
{
    return r->m[w];
}
