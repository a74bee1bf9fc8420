/* Unit tests for stats/promtext: a small fixture rendered byte for byte (families once,
 * samples grouped though added interleaved, _total, summaries, escaping, special floats),
 * float formatting that reads back exactly, and the sticky errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/promtext.h"

static const char expected_fixture[] =
    "# HELP nsqd_topic_messages_total Messages published to the topic.\n"
    "# TYPE nsqd_topic_messages_total counter\n"
    "nsqd_topic_messages_total{topic=\"a\"} 12\n"
    "nsqd_topic_messages_total{topic=\"b\\\\c \\\"q\\\"\\nx\"} 3\n"
    "# HELP nsqd_topic_depth Messages queued (memory + disk).\n"
    "# TYPE nsqd_topic_depth gauge\n"
    "nsqd_topic_depth{topic=\"a\"} 0\n"
    "nsqd_topic_depth{topic=\"b\\\\c \\\"q\\\"\\nx\"} 1.5\n"
    "# HELP nsqd_e2e_processing_latency_seconds Time from publish to FIN.\n"
    "# TYPE nsqd_e2e_processing_latency_seconds summary\n"
    "nsqd_e2e_processing_latency_seconds{topic=\"a\",channel=\"c\",quantile=\"0.5\"} 0.25\n"
    "nsqd_e2e_processing_latency_seconds{topic=\"a\",channel=\"c\",quantile=\"0.99\"} 1.125\n"
    "nsqd_e2e_processing_latency_seconds{topic=\"a\",channel=\"c\",quantile=\"0.999\"} NaN\n"
    "nsqd_e2e_processing_latency_seconds_sum{topic=\"a\",channel=\"c\"} 42.5\n"
    "nsqd_e2e_processing_latency_seconds_count{topic=\"a\",channel=\"c\"} 18446744073709551615\n"
    "nsqd_e2e_processing_latency_seconds{quantile=\"0.5\"} 0\n"
    "nsqd_e2e_processing_latency_seconds_sum 0\n"
    "nsqd_e2e_processing_latency_seconds_count 0\n"
    "# HELP nsqd_odd_values Help with a \\\\ backslash and a\\nnewline, \"quotes\" kept.\n"
    "# TYPE nsqd_odd_values untyped\n"
    "nsqd_odd_values{k=\"inf\"} +Inf\n"
    "nsqd_odd_values{k=\"-inf\"} -Inf\n"
    "nsqd_odd_values{k=\"tenth\"} 0.1\n"
    "nsqd_odd_values{k=\"big\"} 1e+21\n"
    "nsqd_odd_values{k=\"neg\"} -7\n"
    "nsqd_odd_values{k=\"empty\"} 2\n"
    "# HELP nsqd_up \n"
    "# TYPE nsqd_up gauge\n"
    "nsqd_up 1\n";

static void test_fixture(void **state)
{
    promtext_t *p = promtext_new();
    assert_non_null(p);
    promtext_family_t *msgs = promtext_family(p, "nsqd_topic_messages", PROMTEXT_COUNTER,
                                              "Messages published to the topic.");
    promtext_family_t *depth =
        promtext_family(p, "nsqd_topic_depth", PROMTEXT_GAUGE, "Messages queued (memory + disk).");
    promtext_family_t *lat = promtext_family(p, "nsqd_e2e_processing_latency_seconds",
                                             PROMTEXT_SUMMARY, "Time from publish to FIN.");
    /* declared, never sampled: not written */
    promtext_family(p, "nsqd_unused", PROMTEXT_GAUGE, "nothing");
    const char *odd_topic = "b\\c \"q\"\nx";
    /* interleaved, topic by topic, as a stats walk does */
    promtext_label_t a[] = {{"topic", "a"}, {"channel", "c"}};
    promtext_label_t b[] = {{"topic", odd_topic}};
    assert_int_equal(promtext_sample(msgs, a, 1, 12), 0);
    assert_int_equal(promtext_sample(depth, a, 1, 0), 0);
    double qs[] = {0.5, 0.99, 0.999}, vs[] = {0.25, 1.125, NAN};
    assert_int_equal(promtext_summary(lat, a, 2, qs, vs, 3, 42.5, UINT64_MAX), 0);
    assert_int_equal(promtext_sample(msgs, b, 1, 3), 0);
    assert_int_equal(promtext_sample(depth, b, 1, 1.5), 0);
    double zero = 0;
    assert_int_equal(promtext_summary(lat, NULL, 0, qs, &zero, 1, 0, 0), 0);
    /* the same family found again by name (with or without _total) */
    assert_ptr_equal(promtext_family(p, "nsqd_topic_messages_total", PROMTEXT_COUNTER, "x"), msgs);
    promtext_family_t *odd =
        promtext_family(p, "nsqd_odd_values", PROMTEXT_UNTYPED,
                        "Help with a \\ backslash and a\nnewline, \"quotes\" kept.");
    static const struct {
        const char *k;
        double v;
    } odds[] = {{"inf", INFINITY}, {"-inf", -INFINITY}, {"tenth", 0.1},
                {"big", 1e21},     {"neg", -7},         {"empty", 2}};
    for (size_t i = 0; i < sizeof(odds) / sizeof(odds[0]); i++) {
        promtext_label_t l = {"k", odds[i].k};
        assert_int_equal(promtext_sample(odd, &l, 1, odds[i].v), 0);
    }
    assert_int_equal(
        promtext_sample(promtext_family(p, "nsqd_up", PROMTEXT_GAUGE, NULL), NULL, 0, 1), 0);
    size_t len;
    const char *out = promtext_render(p, &len);
    assert_non_null(out);
    assert_string_equal(out, expected_fixture);
    assert_int_equal(len, strlen(expected_fixture));
    assert_null(promtext_error(p));
    /* rendering twice gives the same text */
    out = promtext_render(p, &len);
    assert_string_equal(out, expected_fixture);
    promtext_free(p);
}

static void test_empty(void **state)
{
    promtext_t *p = promtext_new();
    size_t len = 99;
    const char *out = promtext_render(p, &len);
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    promtext_free(p);
}

static void test_format_double_round_trips(void **state)
{
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-1, "-1"},
        {0.5, "0.5"},
        {1e-9, "1e-09"},
        {123456789, "123456789"},
        {1.5e300, "1.5e+300"},
        {9007199254740991.0, "9007199254740991"},
        {0.30000000000000004, "0.30000000000000004"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = promtext_format_double(cases[i].v, buf, sizeof(buf));
        assert_int_equal(n, strlen(cases[i].s));
        assert_string_equal(buf, cases[i].s);
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof(v));
        if (isnan(v))
            continue;
        promtext_format_double(v, buf, sizeof(buf));
        assert_true(strtod(buf, NULL) == v);
        assert_true(strlen(buf) <= 32);
    }
    promtext_format_double(NAN, buf, sizeof(buf));
    assert_string_equal(buf, "NaN");
}

static void test_errors_are_sticky(void **state)
{
    promtext_t *p = promtext_new();
    assert_null(promtext_family(p, "9bad", PROMTEXT_GAUGE, ""));
    const char *first = promtext_error(p);
    assert_non_null(first);
    assert_non_null(strstr(first, "9bad"));
    assert_null(promtext_family(p, "has-dash", PROMTEXT_GAUGE, ""));
    assert_non_null(strstr(promtext_error(p), "9bad")); /* the first error is kept */
    assert_int_equal(promtext_sample(NULL, NULL, 0, 1), -1);
    assert_int_equal(promtext_summary(NULL, NULL, 0, NULL, NULL, 0, 0, 0), -1);
    promtext_free(p);

    p = promtext_new();
    promtext_family_t *g = promtext_family(p, "ns:metric_x", PROMTEXT_GAUGE, "");
    assert_non_null(g);
    assert_null(promtext_family(p, "ns:metric_x", PROMTEXT_SUMMARY, "")); /* type clash */
    assert_non_null(strstr(promtext_error(p), "gauge"));
    promtext_free(p);

    p = promtext_new();
    g = promtext_family(p, "m", PROMTEXT_GAUGE, "");
    promtext_family_t *s = promtext_family(p, "s", PROMTEXT_SUMMARY, "");
    promtext_label_t bad1 = {"__reserved", "x"}, bad2 = {"quantile", "x"}, bad3 = {"a-b", "x"};
    assert_int_equal(promtext_sample(g, &bad1, 1, 1), -1);
    assert_int_equal(promtext_sample(g, &bad2, 1, 1), -1);
    assert_int_equal(promtext_sample(g, &bad3, 1, 1), -1);
    assert_int_equal(promtext_sample(s, NULL, 0, 1), -1); /* a summary needs promtext_summary */
    double q = 1.5, v = 1;
    assert_int_equal(promtext_summary(s, NULL, 0, &q, &v, 1, 0, 0), -1);
    assert_int_equal(promtext_summary(g, NULL, 0, NULL, NULL, 0, 0, 0), -1);
    size_t len;
    assert_string_equal(promtext_render(p, &len), ""); /* nothing valid was added */
    promtext_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_format_double_round_trips),
        cmocka_unit_test(test_errors_are_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
