/* Unit tests for common/guid: id layout, monotonicity, hex form and the default node id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/guid.h"

#define T0 (GUID_EPOCH_MS + 500000000000LL) /* some ms well after the epoch */

static uint64_t id_ms(uint64_t id) { return id >> 22; }
static uint64_t id_node(uint64_t id) { return (id >> 12) & 1023; }
static uint64_t id_seq(uint64_t id) { return id & 4095; }

static void test_init_range(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, -1), -1);
    assert_int_equal(guid_gen_init(&g, 1024), -1);
    assert_int_equal(guid_gen_init(&g, 0), 0);
    assert_int_equal(guid_gen_init(&g, 1023), 0);
}

static void test_layout(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, 5), 0);
    uint64_t id = guid_next(&g, GUID_EPOCH_MS + 1000);
    assert_true(id == ((uint64_t)1000 << 22 | 5u << 12 | 0));
    id = guid_next(&g, GUID_EPOCH_MS + 1000);
    assert_true(id == ((uint64_t)1000 << 22 | 5u << 12 | 1));
    id = guid_next(&g, GUID_EPOCH_MS + 1001);
    assert_true(id == ((uint64_t)1001 << 22 | 5u << 12 | 0));
}

static void test_same_ms_10000(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, 1023), 0);
    uint64_t prev = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t id = guid_next(&g, T0);
        assert_true(id > prev); /* strictly increasing, hence unique */
        assert_int_equal(id_node(id), 1023);
        assert_int_equal(id_seq(id), (uint64_t)(i % 4096));
        assert_int_equal(id_ms(id), (uint64_t)(T0 - GUID_EPOCH_MS + i / 4096));
        prev = id;
    }
    /* the clock catching up continues after the borrowed milliseconds */
    uint64_t id = guid_next(&g, T0 + 1);
    assert_true(id > prev);
    assert_int_equal(id_ms(id), (uint64_t)(T0 - GUID_EPOCH_MS + 2));
    id = guid_next(&g, T0 + 10);
    assert_int_equal(id_ms(id), (uint64_t)(T0 - GUID_EPOCH_MS + 10));
    assert_int_equal(id_seq(id), 0);
}

static void test_clock_backwards(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, 7), 0);
    uint64_t prev = guid_next(&g, T0);
    for (int i = 0; i < 5000; i++) {
        uint64_t id = guid_next(&g, T0 - 60000); /* a minute back */
        assert_true(id > prev);
        assert_true(id_ms(id) >= (uint64_t)(T0 - GUID_EPOCH_MS));
        prev = id;
    }
    uint64_t id = guid_next(&g, T0 + 5);
    assert_true(id > prev);
}

static void test_clock_before_epoch(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, 1), 0);
    uint64_t a = guid_next(&g, 0);
    uint64_t b = guid_next(&g, 0);
    assert_true(b > a);
    assert_int_equal(id_ms(a), 0);
    assert_int_equal(id_node(a), 1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_monotonic_jitter(void **state)
{
    guid_gen_t g;
    assert_int_equal(guid_gen_init(&g, 300), 0);
    uint64_t prev = 0;
    int64_t now = T0;
    char prevhex[GUID_HEX_LEN] = {0}, hex[GUID_HEX_LEN];
    for (int i = 0; i < 100000; i++) {
        now += (int64_t)(rng() % 7) - 3; /* wanders both ways */
        uint64_t id = guid_next(&g, now);
        assert_true(id > prev);
        guid_to_hex(id, hex);
        assert_true(memcmp(hex, prevhex, GUID_HEX_LEN) > 0); /* hex sorts like the number */
        memcpy(prevhex, hex, GUID_HEX_LEN);
        prev = id;
    }
}

static void test_hex_known(void **state)
{
    char hex[GUID_HEX_LEN];
    guid_to_hex(0x0123456789abcdefULL, hex);
    assert_memory_equal(hex, "0123456789abcdef", GUID_HEX_LEN);
    guid_to_hex(0, hex);
    assert_memory_equal(hex, "0000000000000000", GUID_HEX_LEN);
    guid_to_hex(UINT64_MAX, hex);
    assert_memory_equal(hex, "ffffffffffffffff", GUID_HEX_LEN);
}

static void test_hex_round_trip(void **state)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t v = rng(), back = 0;
        char hex[GUID_HEX_LEN];
        guid_to_hex(v, hex);
        assert_int_equal(guid_from_hex(hex, GUID_HEX_LEN, &back), 0);
        assert_true(back == v);
    }
}

static void test_hex_parse(void **state)
{
    uint64_t v = 0;
    assert_int_equal(guid_from_hex("0123456789ABCDEF", 16, &v), 0);
    assert_true(v == 0x0123456789abcdefULL);
    assert_int_equal(guid_from_hex("00000000000000fF", 16, &v), 0);
    assert_true(v == 0xff);
}

static void test_hex_bad(void **state)
{
    uint64_t v = 42;
    assert_int_equal(guid_from_hex("0123456789abcde", 15, &v), -1);
    assert_int_equal(guid_from_hex("0123456789abcdef0", 17, &v), -1);
    assert_int_equal(guid_from_hex("", 0, &v), -1);
    assert_int_equal(guid_from_hex(NULL, 16, &v), -1);
    assert_int_equal(guid_from_hex("0123456789abcdeg", 16, &v), -1);
    assert_int_equal(guid_from_hex("0x23456789abcdef", 16, &v), -1);
    assert_int_equal(guid_from_hex(" 123456789abcdef", 16, &v), -1);
    assert_int_equal(guid_from_hex("-123456789abcdef", 16, &v), -1);
    assert_int_equal(guid_from_hex("01234567\0" "9abcdef", 16, &v), -1);
    assert_int_equal(guid_from_hex("0123456789abcde:", 16, &v), -1);
    assert_true(v == 42); /* untouched on failure */
}

static void test_node_id_for_host(void **state)
{
    /* expected values: crc32(md5(name)) % 1024, computed with Python's zlib and hashlib */
    char a55[56], a56[57], a64[65], x200[201];
    memset(a55, 'a', 55);
    memset(a56, 'a', 56);
    memset(a64, 'a', 64);
    memset(x200, 'x', 200);
    assert_int_equal(guid_node_id_for_host("localhost", 9), 16);
    assert_int_equal(guid_node_id_for_host("", 0), 812);
    assert_int_equal(guid_node_id_for_host(a55, 55), 68);
    assert_int_equal(guid_node_id_for_host(a56, 56), 324);
    assert_int_equal(guid_node_id_for_host(a64, 64), 310);
    assert_int_equal(guid_node_id_for_host("nsqd-prod-01.example.com", 24), 273);
    assert_int_equal(guid_node_id_for_host(x200, 200), 79);
}

static void test_default_node_id(void **state)
{
    char host[256] = {0};
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    int64_t id = guid_default_node_id();
    assert_true(id >= 0 && id <= 1023);
    assert_int_equal(id, guid_node_id_for_host(host, strlen(host)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_range),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_same_ms_10000),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_clock_before_epoch),
        cmocka_unit_test(test_monotonic_jitter),
        cmocka_unit_test(test_hex_known),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_parse),
        cmocka_unit_test(test_hex_bad),
        cmocka_unit_test(test_node_id_for_host),
        cmocka_unit_test(test_default_node_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
