/* Unit tests for stats/quantile (CKMS targeted streams and the two-half window) and, for want
 * of their own test files yet, the windowed-rate helpers stats/rate and stats/twavg.
 * Accuracy is checked as rank error against the exact sorted data (|rank - q*n| <= eps*n),
 * never as value error; memory as the number of samples kept. Time is always injected. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/quantile.h"
#include "stats/rate.h"
#include "stats/twavg.h"

#define N 100000
#define SEC 1000000000LL

static const double targets[] = {0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
#define NT (sizeof(targets) / sizeof(targets[0]))

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(void)
{
    return (double)(rng() >> 11) / 9007199254740992.0;
}
static double exponential(void)
{
    return -log(1.0 - uniform()) * 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static qstream_t *new_stream(void)
{
    char err[128];
    qstream_t *s = qstream_new(targets, NT, 0, err, sizeof(err));
    assert_non_null(s);
    return s;
}

/* How far the rank interval of v in sorted[0..n) is from the target rank ceil(q*n). */
static double rank_error(const double *sorted, size_t n, double q, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first index with sorted[i] >= v */
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo;
    hi = n;
    while (lo < hi) { /* first index with sorted[i] > v */
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert_true(first < lo); /* v is one of the inserted values */
    double rmin = (double)first + 1, rmax = (double)lo;
    double t = ceil(q * (double)n);
    if (t < rmin)
        return rmin - t;
    if (t > rmax)
        return t - rmax;
    return 0;
}

/* Checks every target of s against the exact quantiles of data[0..n) (data gets sorted). */
static void check_targets(qstream_t *s, double *data, size_t n, double eps_n)
{
    qsort(data, n, sizeof(double), cmp_double);
    for (size_t i = 0; i < NT; i++) {
        double v = qstream_query(s, targets[i]);
        double e = rank_error(data, n, targets[i], v);
        if (e > eps_n)
            print_error("q=%g: value %g has rank error %g > %g\n", targets[i], v, e, eps_n);
        assert_true(e <= eps_n);
    }
}

static void run_distribution(double (*gen)(size_t i))
{
    double *data = malloc(N * sizeof(double));
    assert_non_null(data);
    qstream_t *s = new_stream();
    size_t max_samples = 0;
    for (size_t i = 0; i < N; i++) {
        data[i] = gen(i);
        assert_int_equal(qstream_insert(s, data[i]), 0);
        if (qstream_samples(s) > max_samples)
            max_samples = qstream_samples(s);
    }
    assert_int_equal(qstream_count(s), N);
    check_targets(s, data, N, QSTREAM_EPSILON * N);
    /* bounded memory: a small fraction of n, and never near it */
    assert_true(qstream_samples(s) < N / 100);
    assert_true(max_samples < N / 100);
    qstream_free(s);
    free(data);
}

static double gen_uniform(size_t i)
{
    return uniform();
}
static double gen_exponential(size_t i)
{
    return exponential();
}
static double gen_sorted(size_t i)
{
    return (double)i;
}
static double gen_reversed(size_t i)
{
    return (double)(N - i);
}
static double gen_few_values(size_t i)
{
    return (double)(rng() % 7);
}
/* an upward trend with noise: what latencies do while a consumer falls behind */
static double gen_trend(size_t i)
{
    return (double)i + uniform() * 5000.0;
}

/* negative, zero (both signs), tiny and huge values mixed: the buffer's radix sort must order
 * every double the way < does */
static double gen_mixed_signs(size_t i)
{
    static const double specials[] = {0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, 5e-324};
    if (i % 97 == 0)
        return specials[(i / 97) % 7];
    double u = uniform() * 2.0 - 1.0;
    return u * (i % 3 == 0 ? 1e9 : i % 3 == 1 ? 1.0 : 1e-6);
}

static void test_mixed_signs(void **state)
{
    rng_state = 0x9e3779b97f4a7c15ULL;
    run_distribution(gen_mixed_signs);
}

static void test_uniform(void **state)
{
    rng_state = 0x2545f4914f6cdd1dULL;
    run_distribution(gen_uniform);
}
static void test_exponential(void **state)
{
    rng_state = 0x9e3779b97f4a7c15ULL;
    run_distribution(gen_exponential);
}
static void test_sorted(void **state)
{
    run_distribution(gen_sorted);
}
static void test_reversed(void **state)
{
    run_distribution(gen_reversed);
}
static void test_few_distinct_values(void **state)
{
    rng_state = 42;
    run_distribution(gen_few_values);
}
static void test_trend(void **state)
{
    rng_state = 7;
    run_distribution(gen_trend);
}

/* A million values: the summary stays as small as after 100k (it grows like log n at most). */
static void test_memory_bounded_long_run(void **state)
{
    rng_state = 99;
    qstream_t *s = new_stream();
    size_t at_100k = 0;
    for (size_t i = 0; i < 1000000; i++) {
        qstream_insert(s, exponential());
        if (i == 100000)
            at_100k = qstream_samples(s);
    }
    assert_true(qstream_samples(s) < 2 * at_100k + 600);
    assert_true(qstream_samples(s) < 3000);
    qstream_free(s);
}

static void test_small_stream_exact(void **state)
{
    qstream_t *s = new_stream();
    assert_true(qstream_query(s, 0.5) == 0.0); /* empty: 0, as NSQ */
    assert_int_equal(qstream_count(s), 0);
    for (int i = 10; i >= 1; i--)
        qstream_insert(s, i * 1.5);
    assert_int_equal(qstream_count(s), 10);
    assert_true(qstream_query(s, 0.5) == 7.5); /* rank 5 of 1.5..15 */
    assert_true(qstream_query(s, 0.9) == 13.5);
    assert_true(qstream_query(s, 1.0) == 15.0);
    qstream_insert(s, NAN); /* ignored */
    assert_int_equal(qstream_count(s), 10);
    qstream_reset(s);
    assert_int_equal(qstream_count(s), 0);
    assert_int_equal(qstream_samples(s), 0);
    qstream_insert(s, 3.0);
    assert_true(qstream_query(s, 0.99) == 3.0);
    qstream_free(s);
}

static void test_bad_targets(void **state)
{
    char err[128] = "";
    double bad[] = {0.5, 1.5};
    assert_null(qstream_new(bad, 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "1.5"));
    double zero[] = {0.0};
    assert_null(qstream_new(zero, 1, 0, err, sizeof(err)));
    assert_null(qstream_new(targets, 0, 0, err, sizeof(err)));
    assert_null(qwin_new(targets, 0, 10 * SEC, 0, err, sizeof(err)));
}

/* Two differently distributed streams merged: the union's quantiles within eps * (n1 + n2). */
static void test_merge(void **state)
{
    rng_state = 12345;
    size_t n1 = 60000, n2 = 40000;
    double *data = malloc((n1 + n2) * sizeof(double));
    qstream_t *a = new_stream(), *b = new_stream(), *m = new_stream();
    for (size_t i = 0; i < n1; i++) {
        data[i] = uniform() * 3e6;
        qstream_insert(a, data[i]);
    }
    for (size_t i = 0; i < n2; i++) {
        data[n1 + i] = exponential();
        qstream_insert(b, data[n1 + i]);
    }
    assert_int_equal(qstream_merge(m, a), 0);
    assert_int_equal(qstream_merge(m, b), 0);
    assert_int_equal(qstream_count(m), n1 + n2);
    assert_int_equal(qstream_count(a), n1); /* the source is not consumed */
    check_targets(m, data, n1 + n2, QSTREAM_EPSILON * (double)(n1 + n2));
    /* merging a into b directly works as well */
    assert_int_equal(qstream_merge(b, a), 0);
    check_targets(b, data, n1 + n2, QSTREAM_EPSILON * (double)(n1 + n2));
    assert_true(qstream_samples(m) < (n1 + n2) / 50);
    qstream_free(a);
    qstream_free(b);
    qstream_free(m);
    free(data);
}

/* ---- window ----------------------------------------------------------------------------- */

static uint64_t win_count(qwin_t *w, int64_t now, double *p50)
{
    uint64_t count;
    double values[NT];
    assert_int_equal(qwin_result(w, now, &count, values, NT), 0);
    if (p50)
        *p50 = values[0];
    return count;
}

static qwin_t *new_win(int64_t window, int64_t now)
{
    char err[128];
    qwin_t *w = qwin_new(targets, NT, window, now, err, sizeof(err));
    assert_non_null(w);
    return w;
}

/* Window 10s (halves of 5s), starting at t0. */
static void test_window_moves(void **state)
{
    int64_t t0 = 1000 * SEC;
    qwin_t *w = new_win(10 * SEC, t0);
    double p50;
    qwin_insert(w, 7.0, t0);
    assert_int_equal(win_count(w, t0, &p50), 1);
    assert_true(p50 == 7.0);
    assert_int_equal(win_count(w, t0 + 5 * SEC, NULL), 1);     /* not strictly after: no move */
    assert_int_equal(win_count(w, t0 + 5 * SEC + 1, NULL), 1); /* moved once: still visible */
    qwin_insert(w, 9.0, t0 + 6 * SEC);
    assert_int_equal(win_count(w, t0 + 6 * SEC, NULL), 2);
    assert_int_equal(win_count(w, t0 + 10 * SEC + 1, &p50), 1); /* moved again: 7 is gone */
    assert_true(p50 == 9.0);
    assert_int_equal(win_count(w, t0 + 15 * SEC + 1, NULL), 0); /* and 9 too */
    uint64_t total;
    double sum;
    qwin_totals(w, &total, &sum);
    assert_int_equal(total, 2); /* lifetime totals are not windowed */
    assert_true(sum == 16.0);
    qwin_free(w);
}

static void test_window_several_halves_at_once(void **state)
{
    qwin_t *w = new_win(10 * SEC, 0);
    qwin_insert(w, 1.0, 0);
    qwin_insert(w, 2.0, 4 * SEC);
    assert_int_equal(win_count(w, 4 * SEC, NULL), 2);
    /* exactly two halves elapsed (10s + 1ns since the last move at 0): both streams reset */
    assert_int_equal(win_count(w, 10 * SEC + 1, NULL), 0);
    qwin_insert(w, 3.0, 10 * SEC + 2);
    /* a long idle gap: many halves at once, the window restarts on the half grid */
    qwin_insert(w, 4.0, 1000 * SEC + 1);
    assert_int_equal(win_count(w, 1000 * SEC + 1, NULL), 1);
    assert_int_equal(win_count(w, 1005 * SEC, NULL), 1); /* 1000s was a move: 1005s is not */
    assert_int_equal(win_count(w, 1005 * SEC + 1, NULL), 1);
    assert_int_equal(win_count(w, 1010 * SEC + 1, NULL), 0);
    /* time going backwards moves nothing */
    qwin_insert(w, 5.0, 1010 * SEC + 1);
    assert_int_equal(win_count(w, 900 * SEC, NULL), 1);
    qwin_free(w);
}

/* Values of the older half stay in the merged result until their second move. */
static void test_window_result_merges_both_halves(void **state)
{
    qwin_t *w = new_win(10 * SEC, 0);
    for (int i = 0; i < 1000; i++)
        qwin_insert(w, 100.0, 1 * SEC);
    for (int i = 0; i < 3000; i++)
        qwin_insert(w, 900.0, 6 * SEC);
    double p50;
    assert_int_equal(win_count(w, 6 * SEC, &p50), 4000);
    assert_true(p50 == 900.0);
    double values[NT];
    uint64_t count;
    qwin_result(w, 6 * SEC, &count, values, NT);
    assert_true(values[NT - 1] == 900.0);
    /* 11s: the first half is gone */
    assert_int_equal(win_count(w, 11 * SEC, &p50), 3000);
    qwin_free(w);
}

/* A topic's result merges its channels' windows (the aggregate helper). */
static void test_window_aggregate(void **state)
{
    rng_state = 555;
    enum { CH = 3, PER = 20000 };
    qwin_t *ch[CH];
    double *data = malloc(CH * PER * sizeof(double));
    for (int c = 0; c < CH; c++) {
        ch[c] = new_win(600 * SEC, 0);
        for (int i = 0; i < PER; i++) {
            double v = c == 1 ? uniform() * 1e6 : exponential() * (c + 1);
            data[c * PER + i] = v;
            qwin_insert(ch[c], v, (int64_t)i * 10000); /* 0..0.2s */
        }
    }
    qstream_t *topic = new_stream();
    for (int c = 0; c < CH; c++)
        assert_int_equal(qwin_merge_into(topic, ch[c], SEC), 0);
    assert_int_equal(qwin_merge_into(topic, NULL, SEC), 0);
    assert_int_equal(qstream_count(topic), CH * PER);
    check_targets(topic, data, CH * PER, QSTREAM_EPSILON * CH * PER);
    qstream_free(topic);
    for (int c = 0; c < CH; c++)
        qwin_free(ch[c]);
    free(data);
}

/* Percentiles disabled: callers hold NULL and every call is a no-op. */
static void test_window_null_is_noop(void **state)
{
    uint64_t count = 99;
    double v[2] = {5, 5};
    assert_int_equal(qwin_insert(NULL, 1.0, 0), 0);
    qwin_tick(NULL, 0);
    assert_int_equal(qwin_result(NULL, 0, &count, v, 2), 0);
    assert_int_equal(count, 0);
    assert_true(v[0] == 0.0 && v[1] == 0.0);
    double sum;
    qwin_totals(NULL, &count, &sum);
    assert_int_equal(count, 0);
    assert_int_equal(qwin_ntargets(NULL), 0);
    qwin_free(NULL);
}

/* ---- rate and twavg --------------------------------------------------------------------- */

static void test_rate_steady_and_decay(void **state)
{
    rate_t r;
    rate_init(&r, 0, 0);
    assert_true(rate_get(&r, RATE_1M) == 0.0);
    uint64_t c = 0;
    int64_t t = 0;
    for (int i = 0; i < 100; i++) { /* 100 msg/s for 500 s */
        c += 500;
        t += RATE_TICK_NS;
        rate_tick(&r, c, t);
    }
    assert_true(fabs(rate_get(&r, RATE_1M) - 100.0) < 1e-9);
    assert_true(fabs(rate_get(&r, RATE_15M) - 100.0) < 1e-9);
    /* then nothing for 60 s: the 1-minute rate falls to 100/e, the 5-minute to 100*e^-0.2 */
    for (int i = 0; i < 12; i++) {
        t += RATE_TICK_NS;
        rate_tick(&r, c, t);
    }
    assert_true(fabs(rate_get(&r, RATE_1M) - 100.0 * exp(-1.0)) < 1e-6);
    assert_true(fabs(rate_get(&r, RATE_5M) - 100.0 * exp(-0.2)) < 1e-6);
    assert_true(rate_get(&r, RATE_15M) > rate_get(&r, RATE_5M));
    /* irregular ticks give the same decay as regular ones */
    rate_t a, b;
    rate_init(&a, 0, 0);
    rate_init(&b, 0, 0);
    rate_tick(&a, 1000, 10 * SEC);
    rate_tick(&b, 1000, 10 * SEC);
    rate_tick(&a, 1000, 70 * SEC);
    for (int64_t s = 15; s <= 70; s += 5)
        rate_tick(&b, 1000, s * SEC);
    assert_true(fabs(rate_get(&a, RATE_1M) - rate_get(&b, RATE_1M)) < 1e-9);
    /* a counter that restarted (1000 -> 50) counts from 0: 50 in 5 s, 10/s */
    double prev = rate_get(&a, RATE_1M), k = exp(-5.0 / 60.0);
    rate_tick(&a, 50, 75 * SEC);
    assert_true(fabs(rate_get(&a, RATE_1M) - (prev * k + (1 - k) * 10.0)) < 1e-9);
    /* time going back (or standing still) is ignored */
    double before = rate_get(&a, RATE_1M);
    rate_tick(&a, 1000000, 74 * SEC);
    assert_true(rate_get(&a, RATE_1M) == before);
}

static void test_twavg(void **state)
{
    twavg_t a;
    twavg_init(&a, 10, 0);
    twavg_set(&a, 0, 9 * SEC); /* 10 for 9s, then 0 for 1s */
    assert_true(fabs(twavg_take(&a, 10 * SEC) - 9.0) < 1e-9);
    /* next interval: +1 at 10s, +1 at 15s, -2 at 18s, till 20s: (1*5 + 2*3) / 10 */
    twavg_add(&a, 1, 10 * SEC);
    twavg_add(&a, 1, 15 * SEC);
    twavg_add(&a, -2, 18 * SEC);
    double i1 = twavg_integral(&a, 20 * SEC);
    assert_true(fabs(twavg_take(&a, 20 * SEC) - 1.1) < 1e-9);
    assert_true(fabs(i1 - (90.0 + 11.0) * SEC) < 1.0);
    /* no time elapsed: the current level */
    twavg_set(&a, 4, 20 * SEC);
    assert_true(twavg_take(&a, 20 * SEC) == 4.0);
    assert_int_equal(twavg_value(&a), 4);
    /* two readers of the integral get their own averages */
    double i2 = twavg_integral(&a, 30 * SEC);
    assert_true(fabs((i2 - i1) / (10.0 * SEC) - 4.0) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_sorted),
        cmocka_unit_test(test_reversed),
        cmocka_unit_test(test_few_distinct_values),
        cmocka_unit_test(test_trend),
        cmocka_unit_test(test_mixed_signs),
        cmocka_unit_test(test_memory_bounded_long_run),
        cmocka_unit_test(test_small_stream_exact),
        cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_window_moves),
        cmocka_unit_test(test_window_several_halves_at_once),
        cmocka_unit_test(test_window_result_merges_both_halves),
        cmocka_unit_test(test_window_aggregate),
        cmocka_unit_test(test_window_null_is_noop),
        cmocka_unit_test(test_rate_steady_and_decay),
        cmocka_unit_test(test_twavg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
