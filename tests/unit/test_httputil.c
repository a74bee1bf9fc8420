/* Unit tests for common/httputil's pure helpers: Go-compatible query parsing and unescaping,
 * /mpub body splitting (text and binary, with nsqd's error codes) and Go float formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/httputil.h"
#include "common/wire.h"

/* ---- query ---- */

static void test_query_basic(void **state)
{
    httpd_query_t q;
    assert_int_equal(httpd_query_parse("topic=a&channel=b%20c&x=1+2", &q), 0);
    assert_int_equal(q.n, 3);
    assert_string_equal(httpd_query_lookup(&q, "topic"), "a");
    assert_string_equal(httpd_query_lookup(&q, "channel"), "b c");
    assert_string_equal(httpd_query_lookup(&q, "x"), "1 2");
    assert_null(httpd_query_lookup(&q, "missing"));
    httpd_query_free(&q);
}

static void test_query_first_value_wins(void **state)
{
    httpd_query_t q;
    assert_int_equal(httpd_query_parse("topic=a&topic=b", &q), 0);
    assert_string_equal(httpd_query_lookup(&q, "topic"), "a");
    httpd_query_free(&q);
}

static void test_query_bare_key_and_empties(void **state)
{
    httpd_query_t q;
    /* Go: "topic" alone is topic="", empty segments are skipped, a trailing '&' is fine. */
    assert_int_equal(httpd_query_parse("&&topic&defer=&", &q), 0);
    assert_int_equal(q.n, 2);
    assert_string_equal(httpd_query_lookup(&q, "topic"), "");
    assert_string_equal(httpd_query_lookup(&q, "defer"), "");
    httpd_query_free(&q);
}

static void test_query_encoded_key(void **state)
{
    httpd_query_t q;
    assert_int_equal(httpd_query_parse("to%70ic=x%3Dy", &q), 0);
    assert_string_equal(httpd_query_lookup(&q, "topic"), "x=y");
    httpd_query_free(&q);
}

static void test_query_semicolon_is_error(void **state)
{
    httpd_query_t q;
    /* Go 1.17+ rejects ';' but keeps the other pairs. */
    assert_int_equal(httpd_query_parse("a=1;b=2&topic=t", &q), -1);
    assert_int_equal(q.n, 1);
    assert_string_equal(httpd_query_lookup(&q, "topic"), "t");
    httpd_query_free(&q);
}

static void test_query_bad_escape_is_error(void **state)
{
    httpd_query_t q;
    assert_int_equal(httpd_query_parse("topic=%zz&b=%4", &q), -1);
    assert_int_equal(q.n, 0);
    httpd_query_free(&q);
    assert_int_equal(httpd_query_parse(NULL, &q), 0);
    assert_int_equal(q.n, 0);
    httpd_query_free(&q);
}

static void test_unescape_path_keeps_plus(void **state)
{
    char out[32];
    assert_int_equal(httpd_unescape("/a+b%2Fc", 8, out, false), 6);
    assert_string_equal(out, "/a+b/c");
    assert_int_equal(httpd_unescape("%", 1, out, false), -1);
    assert_int_equal(httpd_unescape("%a", 2, out, false), -1);
}

/* ---- text mpub ---- */

static void test_mpub_text_split(void **state)
{
    const char *body = "a\nbb\n\nccc\n";
    httpd_span_t *sp;
    size_t n;
    assert_null(httpd_mpub_split_text((const uint8_t *)body, strlen(body), 100, 1000, &sp, &n));
    assert_int_equal(n, 3);
    assert_int_equal(sp[0].off, 0);
    assert_int_equal(sp[0].len, 1);
    assert_int_equal(sp[1].off, 2);
    assert_int_equal(sp[1].len, 2);
    assert_int_equal(sp[2].off, 6);
    assert_int_equal(sp[2].len, 3);
    free(sp);
}

static void test_mpub_text_no_trailing_newline_and_empty(void **state)
{
    httpd_span_t *sp;
    size_t n;
    assert_null(httpd_mpub_split_text((const uint8_t *)"x\ny", 3, 100, 1000, &sp, &n));
    assert_int_equal(n, 2);
    assert_int_equal(sp[1].off, 2);
    assert_int_equal(sp[1].len, 1);
    free(sp);
    /* An empty body, or only newlines, publishes nothing (nsqd answers OK). */
    assert_null(httpd_mpub_split_text((const uint8_t *)"", 0, 100, 1000, &sp, &n));
    assert_int_equal(n, 0);
    assert_null(sp);
    assert_null(httpd_mpub_split_text((const uint8_t *)"\n\n", 2, 100, 1000, &sp, &n));
    assert_int_equal(n, 0);
    assert_null(sp);
}

static void test_mpub_text_msg_too_big(void **state)
{
    httpd_span_t *sp;
    size_t n;
    assert_string_equal(httpd_mpub_split_text((const uint8_t *)"ab\nabcd\n", 8, 3, 1000, &sp, &n),
                        "MSG_TOO_BIG");
    assert_null(sp);
    /* exactly max-msg-size is fine */
    assert_null(httpd_mpub_split_text((const uint8_t *)"abc\n", 4, 3, 1000, &sp, &n));
    assert_int_equal(n, 1);
    free(sp);
}

static void test_mpub_text_body_too_big(void **state)
{
    httpd_span_t *sp;
    size_t n;
    /* 10 bytes against max-body 9: the total reaches max+1 */
    assert_string_equal(httpd_mpub_split_text((const uint8_t *)"aaaa\nbbbb\n", 10, 100, 9, &sp, &n),
                        "BODY_TOO_BIG");
    /* an over-long line met before the limit wins, as nsqd reads line by line */
    assert_string_equal(httpd_mpub_split_text((const uint8_t *)"aaaa\nbbbb\n", 10, 3, 9, &sp, &n),
                        "MSG_TOO_BIG");
    /* exactly max-body is fine */
    assert_null(httpd_mpub_split_text((const uint8_t *)"aaaa\nbbbb\n", 10, 100, 10, &sp, &n));
    assert_int_equal(n, 2);
    free(sp);
}

/* ---- binary mpub ---- */

/* Builds [count]([size][data])* from sizes (data bytes are 'x'). */
static size_t build_binary(uint8_t *buf, uint32_t count, const uint32_t *sizes, size_t nsizes)
{
    size_t w = 4;
    wire_put_be32(buf, count);
    for (size_t i = 0; i < nsizes; i++) {
        wire_put_be32(buf + w, sizes[i]);
        w += 4;
        memset(buf + w, 'x', sizes[i]);
        w += sizes[i];
    }
    return w;
}

static void test_mpub_binary_ok(void **state)
{
    uint8_t buf[64];
    uint32_t sizes[] = {3, 1, 5};
    size_t len = build_binary(buf, 3, sizes, 3);
    httpd_span_t *sp;
    size_t n;
    assert_null(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n));
    assert_int_equal(n, 3);
    assert_int_equal(sp[0].off, 8);
    assert_int_equal(sp[0].len, 3);
    assert_int_equal(sp[1].off, 15);
    assert_int_equal(sp[2].len, 5);
    free(sp);
    /* bytes after the last message are ignored, as nsqd */
    buf[len] = 'z';
    assert_null(httpd_mpub_split_binary(buf, len + 1, 100, 1000, &sp, &n));
    assert_int_equal(n, 3);
    free(sp);
}

static void test_mpub_binary_bad_count(void **state)
{
    uint8_t buf[64];
    uint32_t sizes[] = {3};
    httpd_span_t *sp;
    size_t n;
    assert_string_equal(httpd_mpub_split_binary(buf, 2, 100, 1000, &sp, &n), "BAD_BODY");
    size_t len = build_binary(buf, 0, sizes, 1);
    assert_string_equal(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n), "BAD_BODY");
    len = build_binary(buf, 0xffffffffu, sizes, 1); /* negative as int32 */
    assert_string_equal(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n), "BAD_BODY");
    /* more than (max_body - 4) / 5 messages cannot fit in a body */
    len = build_binary(buf, 3, sizes, 1);
    assert_string_equal(httpd_mpub_split_binary(buf, len, 100, 18, &sp, &n), "BAD_BODY");
    assert_null(sp);
}

static void test_mpub_binary_count_mismatch(void **state)
{
    uint8_t buf[64];
    uint32_t sizes[] = {3, 2};
    httpd_span_t *sp;
    size_t n;
    size_t len = build_binary(buf, 3, sizes, 2); /* says 3, holds 2 */
    assert_string_equal(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n), "BAD_MESSAGE");
    assert_null(sp);
    assert_int_equal(n, 0);
    len = build_binary(buf, 1, sizes, 2); /* says 1, holds 2: the extra is ignored */
    assert_null(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n));
    assert_int_equal(n, 1);
    free(sp);
}

static void test_mpub_binary_truncated(void **state)
{
    uint8_t buf[64];
    uint32_t sizes[] = {3, 6};
    httpd_span_t *sp;
    size_t n;
    size_t len = build_binary(buf, 2, sizes, 2);
    /* body cut inside the second message's data, then inside its size field */
    assert_string_equal(httpd_mpub_split_binary(buf, len - 1, 100, 1000, &sp, &n), "BAD_MESSAGE");
    assert_string_equal(httpd_mpub_split_binary(buf, 4 + 4 + 3 + 2, 100, 1000, &sp, &n),
                        "BAD_MESSAGE");
    assert_null(sp);
}

static void test_mpub_binary_bad_sizes(void **state)
{
    uint8_t buf[64];
    httpd_span_t *sp;
    size_t n;
    uint32_t zero[] = {2, 0, 4};
    size_t len = build_binary(buf, 3, zero, 3);
    assert_string_equal(httpd_mpub_split_binary(buf, len, 100, 1000, &sp, &n), "BAD_MESSAGE");
    uint32_t big[] = {2, 11};
    len = build_binary(buf, 2, big, 2);
    assert_string_equal(httpd_mpub_split_binary(buf, len, 10, 1000, &sp, &n), "BAD_MESSAGE");
    assert_null(httpd_mpub_split_binary(buf, len, 11, 1000, &sp, &n));
    free(sp);
    /* a size that is negative as int32 */
    wire_put_be32(buf, 1);
    wire_put_be32(buf + 4, 0x80000000u);
    memset(buf + 8, 'x', 8);
    assert_string_equal(httpd_mpub_split_binary(buf, 16, 100, 1000, &sp, &n), "BAD_MESSAGE");
}

/* ---- floats ---- */

static void check_float(double v, const char *want)
{
    char out[HTTPD_FLOAT_MAX];
    size_t n = httpd_format_float(v, out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_format_float_like_go(void **state)
{
    check_float(0, "0");
    check_float(0.99, "0.99");
    check_float(1, "1");
    check_float(-2.5, "-2.5");
    check_float(1234567, "1234567");
    check_float(1e20, "100000000000000000000");
    check_float(1e21, "1e+21");
    check_float(0.000001, "0.000001");
    check_float(1e-7, "1e-7");
    check_float(1.5e-10, "1.5e-10");
    check_float(0.1 + 0.2, "0.30000000000000004");
    char small[4];
    assert_int_equal(httpd_format_float(1234567, small, sizeof(small)), 3);
    assert_string_equal(small, "123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_basic),
        cmocka_unit_test(test_query_first_value_wins),
        cmocka_unit_test(test_query_bare_key_and_empties),
        cmocka_unit_test(test_query_encoded_key),
        cmocka_unit_test(test_query_semicolon_is_error),
        cmocka_unit_test(test_query_bad_escape_is_error),
        cmocka_unit_test(test_unescape_path_keeps_plus),
        cmocka_unit_test(test_mpub_text_split),
        cmocka_unit_test(test_mpub_text_no_trailing_newline_and_empty),
        cmocka_unit_test(test_mpub_text_msg_too_big),
        cmocka_unit_test(test_mpub_text_body_too_big),
        cmocka_unit_test(test_mpub_binary_ok),
        cmocka_unit_test(test_mpub_binary_bad_count),
        cmocka_unit_test(test_mpub_binary_count_mismatch),
        cmocka_unit_test(test_mpub_binary_truncated),
        cmocka_unit_test(test_mpub_binary_bad_sizes),
        cmocka_unit_test(test_format_float_like_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
