/* Unit tests for common/wire: frame headers, message header encode/decode, command splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/wire.h"

static void test_be_helpers(void **state)
{
    uint8_t b[8];
    wire_put_be16(b, 0x1234);
    assert_int_equal(b[0], 0x12);
    assert_int_equal(b[1], 0x34);
    assert_int_equal(wire_get_be16(b), 0x1234);
    wire_put_be32(b, 0xdeadbeef);
    assert_int_equal(b[0], 0xde);
    assert_int_equal(b[3], 0xef);
    assert_int_equal(wire_get_be32(b), 0xdeadbeefu);
    wire_put_be64(b, 0x0102030405060708ULL);
    static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(b, want, 8);
    assert_true(wire_get_be64(b) == 0x0102030405060708ULL);
}

static void test_frame_header_ok(void **state)
{
    uint8_t h[WIRE_FRAME_HEADER_LEN];
    static const uint8_t want[8] = {0, 0, 0, 6, 0, 0, 0, 0};
    wire_frame_header(h, WIRE_FRAME_RESPONSE, strlen("OK"));
    assert_memory_equal(h, want, 8);
}

static void test_frame_header_types(void **state)
{
    uint8_t h[WIRE_FRAME_HEADER_LEN];
    static const uint8_t err[8] = {0, 0, 0, 0x0d, 0, 0, 0, 1};
    wire_frame_header(h, WIRE_FRAME_ERROR, strlen("E_INVALID"));
    assert_memory_equal(h, err, 8);
    static const uint8_t msg[8] = {0, 1, 0, 0x1e, 0, 0, 0, 2};
    wire_frame_header(h, WIRE_FRAME_MESSAGE, 0x1001a);
    assert_memory_equal(h, msg, 8);
    static const uint8_t empty[8] = {0, 0, 0, 4, 0, 0, 0, 0};
    wire_frame_header(h, WIRE_FRAME_RESPONSE, 0);
    assert_memory_equal(h, empty, 8);
}

static void test_msg_header_known_bytes(void **state)
{
    wire_msg_header_t h = {.timestamp = 0x0102030405060708LL, .attempts = 0x0a0b};
    memcpy(h.id, "0123456789abcdef", WIRE_MSG_ID_LEN);
    uint8_t out[WIRE_MSG_HEADER_LEN];
    wire_msg_header_encode(out, &h);
    static const uint8_t want[WIRE_MSG_HEADER_LEN] = {
        1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, '0', '1', '2', '3', '4', '5', '6',
        '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    assert_memory_equal(out, want, WIRE_MSG_HEADER_LEN);
}

static void test_msg_round_trip(void **state)
{
    wire_msg_header_t h = {.timestamp = 1700000000123456789LL, .attempts = 65535};
    memcpy(h.id, "06a1b2c3d4e5f607", WIRE_MSG_ID_LEN);
    uint8_t buf[WIRE_MSG_HEADER_LEN + 5];
    wire_msg_header_encode(buf, &h);
    memcpy(buf + WIRE_MSG_HEADER_LEN, "hello", 5);

    wire_msg_header_t d;
    const uint8_t *body = NULL;
    size_t blen = 99;
    assert_int_equal(wire_msg_decode(buf, sizeof buf, &d, &body, &blen), 0);
    assert_true(d.timestamp == h.timestamp);
    assert_int_equal(d.attempts, 65535);
    assert_memory_equal(d.id, h.id, WIRE_MSG_ID_LEN);
    assert_ptr_equal(body, buf + WIRE_MSG_HEADER_LEN);
    assert_int_equal(blen, 5);
    assert_memory_equal(body, "hello", 5);
}

static void test_msg_negative_timestamp(void **state)
{
    wire_msg_header_t h = {.timestamp = -2, .attempts = 1};
    memset(h.id, 'a', WIRE_MSG_ID_LEN);
    uint8_t buf[WIRE_MSG_HEADER_LEN];
    wire_msg_header_encode(buf, &h);
    assert_int_equal(buf[0], 0xff);
    assert_int_equal(buf[7], 0xfe);
    wire_msg_header_t d;
    assert_int_equal(wire_msg_decode(buf, sizeof buf, &d, NULL, NULL), 0);
    assert_true(d.timestamp == -2);
}

static void test_msg_decode_empty_body(void **state)
{
    uint8_t buf[WIRE_MSG_HEADER_LEN] = {0};
    wire_msg_header_t d;
    const uint8_t *body;
    size_t blen = 7;
    assert_int_equal(wire_msg_decode(buf, sizeof buf, &d, &body, &blen), 0);
    assert_int_equal(blen, 0);
}

static void test_msg_decode_short(void **state)
{
    uint8_t buf[WIRE_MSG_HEADER_LEN] = {0};
    wire_msg_header_t d;
    const uint8_t *body;
    size_t blen;
    for (size_t len = 0; len < WIRE_MSG_HEADER_LEN; len++)
        assert_int_equal(wire_msg_decode(buf, len, &d, &body, &blen), -1);
    assert_int_equal(wire_msg_decode(NULL, 0, &d, &body, &blen), -1);
}

static void test_split_basic(void **state)
{
    char line[] = "SUB topic channel\n";
    char *tok[4];
    int n = wire_split_command(line, strlen(line) - 1, tok, 4);
    assert_int_equal(n, 3);
    assert_string_equal(tok[0], "SUB");
    assert_string_equal(tok[1], "topic");
    assert_string_equal(tok[2], "channel");
}

static void test_split_crlf(void **state)
{
    char line[] = "REQ 0123456789abcdef 1000\r";
    char *tok[4];
    int n = wire_split_command(line, strlen(line), tok, 4);
    assert_int_equal(n, 3);
    assert_string_equal(tok[2], "1000");
}

static void test_split_single_and_empty(void **state)
{
    char *tok[2];
    char nop[] = "NOP";
    assert_int_equal(wire_split_command(nop, 3, tok, 2), 1);
    assert_string_equal(tok[0], "NOP");
    char empty[] = "";
    assert_int_equal(wire_split_command(empty, 0, tok, 2), 0);
    char cr[] = "\r";
    assert_int_equal(wire_split_command(cr, 1, tok, 2), 0);
}

static void test_split_empty_tokens(void **state)
{
    char line[] = "PUB  t ";
    char *tok[5];
    int n = wire_split_command(line, strlen(line), tok, 5);
    assert_int_equal(n, 4);
    assert_string_equal(tok[0], "PUB");
    assert_string_equal(tok[1], "");
    assert_string_equal(tok[2], "t");
    assert_string_equal(tok[3], "");
}

static void test_split_too_many(void **state)
{
    char line[] = "A B C D";
    char *tok[3];
    assert_int_equal(wire_split_command(line, strlen(line), tok, 3), -1);
    char exact[] = "A B C";
    assert_int_equal(wire_split_command(exact, strlen(exact), tok, 3), 3);
    char one[] = "A";
    assert_int_equal(wire_split_command(one, 1, tok, 0), -1);
}

static void test_split_stops_at_len(void **state)
{
    char line[] = "FIN abc\nNOP\n";
    char *tok[4];
    int n = wire_split_command(line, 7, tok, 4);
    assert_int_equal(n, 2);
    assert_string_equal(tok[1], "abc");
    assert_string_equal(line + 8, "NOP\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_be_helpers),
        cmocka_unit_test(test_frame_header_ok),
        cmocka_unit_test(test_frame_header_types),
        cmocka_unit_test(test_msg_header_known_bytes),
        cmocka_unit_test(test_msg_round_trip),
        cmocka_unit_test(test_msg_negative_timestamp),
        cmocka_unit_test(test_msg_decode_empty_body),
        cmocka_unit_test(test_msg_decode_short),
        cmocka_unit_test(test_split_basic),
        cmocka_unit_test(test_split_crlf),
        cmocka_unit_test(test_split_single_and_empty),
        cmocka_unit_test(test_split_empty_tokens),
        cmocka_unit_test(test_split_too_many),
        cmocka_unit_test(test_split_stops_at_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
