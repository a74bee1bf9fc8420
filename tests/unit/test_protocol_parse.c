/* Unit tests for protocol_v2's pure helpers: nsqd's base-10 argument parsing, Go's %q quoting
 * of names in error texts, and IDENTIFY decoding with nsqd's range rules and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nsqd/protocol_v2.h"

#define MS INT64_C(1000000)
#define SEC (1000 * MS)

static void test_base10(void **state)
{
    uint64_t n = 99;
    assert_int_equal(protocol_v2_parse_base10("", 0, &n), 0);
    assert_true(n == 0); /* nsqd: an empty argument is 0 */
    assert_int_equal(protocol_v2_parse_base10("2500", 4, &n), 0);
    assert_true(n == 2500);
    assert_int_equal(protocol_v2_parse_base10("007", 3, &n), 0);
    assert_true(n == 7);
    assert_int_equal(protocol_v2_parse_base10("-1", 2, &n), -1);
    assert_int_equal(protocol_v2_parse_base10("+1", 2, &n), -1);
    assert_int_equal(protocol_v2_parse_base10("12a", 3, &n), -1);
    assert_int_equal(protocol_v2_parse_base10(" 1", 2, &n), -1);
    assert_int_equal(protocol_v2_parse_base10("99999999999999999999999", 23, &n), 0);
    assert_true(n == UINT64_MAX);
}

static void quote_is(const char *in, size_t len, const char *want)
{
    char out[64];
    size_t need = protocol_v2_quote(in, len, out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(need, strlen(want));
}

static void test_quote(void **state)
{
    quote_is("abc", 3, "\"abc\"");
    quote_is("", 0, "\"\"");
    quote_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    quote_is("a b\n\t", 5, "\"a b\\n\\t\"");
    quote_is("\x01\x7f", 2, "\"\\x01\\x7f\"");
    quote_is("\0", 1, "\"\\x00\"");
    quote_is("h\xc3\xa9", 3, "\"h\xc3\xa9\""); /* valid UTF-8 kept */
    quote_is("\xff\xc3", 2, "\"\\xff\\xc3\""); /* invalid bytes escaped */
}

static void test_quote_truncates(void **state)
{
    char out[5];
    size_t need = protocol_v2_quote("abcdef", 6, out, sizeof(out));
    assert_int_equal(need, 8);
    assert_string_equal(out, "\"abc");
    assert_int_equal(protocol_v2_quote("ab", 2, NULL, 0), 4);
}

static nsqd_opts_t default_opts(void)
{
    nsqd_opts_t o;
    memset(&o, 0, sizeof(o));
    o.max_heartbeat_interval = 60 * SEC;
    o.max_output_buffer_size = 512 * 1024;
    o.max_output_buffer_timeout = 1 * SEC;
    o.min_output_buffer_timeout = 25 * MS;
    o.max_msg_timeout = 15 * 60 * SEC;
    return o;
}

static v2_identify_t default_identify(void)
{
    v2_identify_t id = {.heartbeat_interval = 30 * SEC,
                        .output_buffer_size = 16384,
                        .output_buffer_timeout = 250 * MS,
                        .msg_timeout = 60 * SEC};
    return id;
}

static void identify_free(v2_identify_t *id)
{
    free(id->client_id);
    free(id->hostname);
    free(id->user_agent);
}

/* Parses json with default options; returns the rc, err in err. */
static int parse(const char *json, v2_identify_t *id, char *err, size_t errlen)
{
    nsqd_opts_t o = default_opts();
    *id = default_identify();
    err[0] = '\0';
    return protocol_v2_parse_identify(json, strlen(json), &o, id, err, errlen);
}

static void test_identify_full(void **state)
{
    v2_identify_t id;
    char err[256];
    assert_int_equal(
        parse("{\"client_id\":\"c1\",\"hostname\":\"h.example\",\"user_agent\":\"ua/1\","
              "\"feature_negotiation\":true,\"heartbeat_interval\":1000,"
              "\"output_buffer_size\":65536,\"output_buffer_timeout\":100,"
              "\"sample_rate\":50,\"msg_timeout\":5000,\"tls_v1\":false,"
              "\"long_id\":\"ignored\",\"deflate_level\":3}",
              &id, err, sizeof(err)),
        0);
    assert_string_equal(id.client_id, "c1");
    assert_string_equal(id.hostname, "h.example");
    assert_string_equal(id.user_agent, "ua/1");
    assert_true(id.feature_negotiation);
    assert_true(id.heartbeat_interval == 1 * SEC);
    assert_true(id.output_buffer_size == 65536);
    assert_true(id.output_buffer_timeout == 100 * MS);
    assert_int_equal(id.sample_rate, 50);
    assert_true(id.msg_timeout == 5 * SEC);
    assert_true(id.deflate_level == 3);
    identify_free(&id);
}

static void test_identify_defaults_kept(void **state)
{
    v2_identify_t id;
    char err[256];
    assert_int_equal(parse("{}", &id, err, sizeof(err)), 0);
    assert_string_equal(id.client_id, ""); /* nsqd replaces the id even with nothing */
    assert_false(id.feature_negotiation);
    assert_true(id.heartbeat_interval == 30 * SEC);
    assert_true(id.output_buffer_size == 16384);
    assert_true(id.output_buffer_timeout == 250 * MS);
    assert_true(id.msg_timeout == 60 * SEC);
    identify_free(&id);
    assert_int_equal(parse("null", &id, err, sizeof(err)), 0); /* encoding/json accepts it */
    identify_free(&id);
}

static void test_identify_disable(void **state)
{
    v2_identify_t id;
    char err[256];
    assert_int_equal(parse("{\"heartbeat_interval\":-1,\"output_buffer_size\":-1,"
                           "\"output_buffer_timeout\":250}",
                           &id, err, sizeof(err)),
                     0);
    assert_true(id.heartbeat_interval == 0);
    assert_true(id.output_buffer_size == 1); /* nsqd: "effectively no buffer" */
    assert_true(id.output_buffer_timeout == 0);
    identify_free(&id);
}

static void identify_fails(const char *json, const char *want)
{
    v2_identify_t id;
    char err[256];
    assert_int_equal(parse(json, &id, err, sizeof(err)), -1);
    assert_string_equal(err, want);
    identify_free(&id);
}

static void test_identify_invalid_values(void **state)
{
    /* the texts of nsqd's protocol_v2_test.go */
    identify_fails("{\"heartbeat_interval\":60001}",
                   "IDENTIFY heartbeat interval (60001) is invalid");
    identify_fails("{\"heartbeat_interval\":999}", "IDENTIFY heartbeat interval (999) is invalid");
    identify_fails("{\"output_buffer_size\":524289,\"output_buffer_timeout\":0}",
                   "IDENTIFY output buffer size (524289) is invalid");
    identify_fails("{\"output_buffer_size\":63}", "IDENTIFY output buffer size (63) is invalid");
    identify_fails("{\"output_buffer_size\":0,\"output_buffer_timeout\":1001}",
                   "IDENTIFY output buffer timeout (1001) is invalid");
    identify_fails("{\"output_buffer_timeout\":24}",
                   "IDENTIFY output buffer timeout (24) is invalid");
    identify_fails("{\"sample_rate\":100}", "IDENTIFY sample rate (100) is invalid");
    identify_fails("{\"sample_rate\":-1}", "IDENTIFY sample rate (-1) is invalid");
    identify_fails("{\"msg_timeout\":999}", "IDENTIFY msg timeout (999) is invalid");
    identify_fails("{\"msg_timeout\":900001}", "IDENTIFY msg timeout (900001) is invalid");
}

static void test_identify_bad_json(void **state)
{
    const char *want = "IDENTIFY failed to decode JSON body";
    identify_fails("{", want);
    identify_fails("[]", want);
    identify_fails("\"x\"", want);
    identify_fails("{} x", want);
    identify_fails("{\"heartbeat_interval\":\"1000\"}", want); /* wrong types */
    identify_fails("{\"heartbeat_interval\":1000.5}", want);
    identify_fails("{\"feature_negotiation\":1}", want);
    identify_fails("{\"client_id\":5}", want);
    identify_fails("{\"sample_rate\":4294967296}", want); /* an int32 in nsqd */
}

static void test_identify_key_case_and_null(void **state)
{
    v2_identify_t id;
    char err[256];
    assert_int_equal(parse("{\"Client_ID\":\"x\",\"HEARTBEAT_INTERVAL\":2000,\"msg_timeout\":null}",
                           &id, err, sizeof(err)),
                     0);
    assert_string_equal(id.client_id, "x");
    assert_true(id.heartbeat_interval == 2 * SEC);
    assert_true(id.msg_timeout == 60 * SEC);
    identify_free(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base10),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_quote_truncates),
        cmocka_unit_test(test_identify_full),
        cmocka_unit_test(test_identify_defaults_kept),
        cmocka_unit_test(test_identify_disable),
        cmocka_unit_test(test_identify_invalid_values),
        cmocka_unit_test(test_identify_bad_json),
        cmocka_unit_test(test_identify_key_case_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
