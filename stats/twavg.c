/* twavg: integrates a level over time for time-weighted averages (see twavg.h).
 * Owns only the twavg_t given to it; the caller reports changes and owns the clock. Time going
 * backwards adds nothing (the elapsed time is clamped at 0). */
#include "stats/twavg.h"

static void fold(twavg_t *a, int64_t now_ns)
{
    if (now_ns > a->since_ns) {
        a->area += (double)a->value * (double)(now_ns - a->since_ns);
        a->since_ns = now_ns;
    }
}

void twavg_init(twavg_t *a, int64_t value, int64_t now_ns)
{
    *a = (twavg_t){.value = value, .since_ns = now_ns, .mark_ns = now_ns};
}

void twavg_set(twavg_t *a, int64_t value, int64_t now_ns)
{
    fold(a, now_ns);
    a->value = value;
}

void twavg_add(twavg_t *a, int64_t delta, int64_t now_ns)
{
    fold(a, now_ns);
    a->value += delta;
}

double twavg_integral(const twavg_t *a, int64_t now_ns)
{
    double area = a->area;
    if (now_ns > a->since_ns)
        area += (double)a->value * (double)(now_ns - a->since_ns);
    return area;
}

double twavg_take(twavg_t *a, int64_t now_ns)
{
    fold(a, now_ns);
    int64_t span = a->since_ns - a->mark_ns;
    double avg = span > 0 ? (a->area - a->mark_area) / (double)span : (double)a->value;
    a->mark_area = a->area;
    a->mark_ns = a->since_ns;
    return avg;
}
