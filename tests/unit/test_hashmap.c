/* Unit tests for common/hashmap: SipHash vectors, strmap and u64map against reference arrays,
 * iteration (each key once), deletion during iteration and heavy collisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hashmap.h"

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- SipHash ---------------------------------------------------------------------------------- */

static void test_siphash_vectors(void **state)
{
    /* reference vectors: key 00..0f, message 00..(len-1) */
    static const struct { size_t len; uint64_t want; } v[] = {
        {0, 0x726fdb47dd0e0e31ULL}, {1, 0x74f839c593dc67fdULL}, {7, 0xab0200f58b01d137ULL},
        {8, 0x93f5f5799a932462ULL}, {15, 0xa129ca6149be45e5ULL},
    };
    uint8_t msg[16];
    for (int i = 0; i < 16; i++)
        msg[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t h = hashmap_siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, v[i].len);
        assert_true(h == v[i].want);
    }
    assert_true(hashmap_siphash24(0, 0, NULL, 0) == hashmap_siphash24(0, 0, "", 0));
}

/* ---- u64map ----------------------------------------------------------------------------------- */

static void test_u64_basic(void **state)
{
    u64map_t *m = u64map_new(0);
    assert_non_null(m);
    int a, b, c;
    assert_null(u64map_get(m, 1));
    assert_int_equal(u64map_put(m, 1, &a), 0);
    assert_int_equal(u64map_put(m, 0, &b), 0);
    assert_int_equal(u64map_put(m, UINT64_MAX, &c), 0);
    assert_int_equal(u64map_len(m), 3);
    assert_ptr_equal(u64map_get(m, 1), &a);
    assert_ptr_equal(u64map_get(m, 0), &b);
    assert_ptr_equal(u64map_get(m, UINT64_MAX), &c);
    assert_int_equal(u64map_put(m, 1, &c), 0); /* replace */
    assert_int_equal(u64map_len(m), 3);
    assert_ptr_equal(u64map_get(m, 1), &c);
    assert_ptr_equal(u64map_del(m, 1), &c);
    assert_null(u64map_del(m, 1));
    assert_null(u64map_get(m, 1));
    assert_int_equal(u64map_len(m), 2);
    assert_int_equal(u64map_put(m, 0, NULL), 0); /* NULL value removes */
    assert_null(u64map_get(m, 0));
    assert_int_equal(u64map_len(m), 1);
    u64map_free(m);
    u64map_free(NULL);
}

static uint64_t spread(size_t i) { return (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ 0xabcdefULL; }

/* Checks the map against ref: lookups for every universe key, and one full iteration. */
static void u64_check(const u64map_t *m, char *vals, char **ref, size_t universe, size_t n)
{
    assert_int_equal(u64map_len(m), n);
    for (size_t i = 0; i < universe; i++)
        assert_ptr_equal(u64map_get(m, spread(i)), ref[i]);
    char *seen = calloc(universe, 1);
    assert_non_null(seen);
    size_t pos = 0, count = 0;
    uint64_t key;
    void *val;
    while (u64map_next(m, &pos, &key, &val)) {
        size_t idx = (size_t)((char *)val - vals);
        assert_true(idx < universe);
        assert_true(key == spread(idx));
        assert_ptr_equal(ref[idx], val);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        count++;
    }
    assert_int_equal(count, n);
    free(seen);
}

static void test_u64_random_100k(void **state)
{
    enum { U = 20000, OPS = 100000 };
    char *vals = malloc(U);
    char **ref = calloc(U, sizeof *ref);
    assert_non_null(vals);
    assert_non_null(ref);
    u64map_t *m = u64map_new(16);
    assert_non_null(m);
    size_t n = 0;
    for (int op = 0; op < OPS; op++) {
        size_t i = rng() % U;
        uint64_t k = spread(i);
        if (rng() % 3 != 0) { /* inserts outnumber deletes so the table grows */
            assert_int_equal(u64map_put(m, k, &vals[i]), 0);
            n += ref[i] == NULL;
            ref[i] = &vals[i];
        } else {
            assert_ptr_equal(u64map_del(m, k), ref[i]);
            n -= ref[i] != NULL;
            ref[i] = NULL;
        }
        if (op % 25000 == 0)
            u64_check(m, vals, ref, U, n);
    }
    u64_check(m, vals, ref, U, n);
    for (size_t i = 0; i < U; i++) { /* empty it completely */
        assert_ptr_equal(u64map_del(m, spread(i)), ref[i]);
        ref[i] = NULL;
    }
    u64_check(m, vals, ref, U, 0);
    u64map_free(m);
    free(ref);
    free(vals);
}

static void test_u64_sequential_keys(void **state)
{
    /* guid-like keys: consecutive low bits */
    enum { N = 100000 };
    u64map_t *m = u64map_new(4);
    assert_non_null(m);
    static char v;
    for (uint64_t k = 0; k < N; k++)
        assert_int_equal(u64map_put(m, (k << 22) | (5 << 12) | (k & 4095), &v), 0);
    assert_int_equal(u64map_len(m), N);
    for (uint64_t k = 0; k < N; k += 2)
        assert_ptr_equal(u64map_del(m, (k << 22) | (5 << 12) | (k & 4095)), &v);
    for (uint64_t k = 0; k < N; k++)
        assert_true((u64map_get(m, (k << 22) | (5 << 12) | (k & 4095)) != NULL) == (k % 2 == 1));
    assert_int_equal(u64map_len(m), N / 2);
    u64map_free(m);
}

/* Deleting the current entry while iterating: every key is still visited exactly once. */
static void test_u64_delete_during_iteration(void **state)
{
    enum { U = 50000 };
    char *vals = malloc(U);
    char **ref = calloc(U, sizeof *ref);
    char *seen = calloc(U, 1);
    assert_true(vals && ref && seen);
    u64map_t *m = u64map_new(0);
    for (size_t i = 0; i < U; i++) {
        assert_int_equal(u64map_put(m, spread(i), &vals[i]), 0);
        ref[i] = &vals[i];
    }
    size_t pos = 0, visited = 0;
    uint64_t key;
    void *val;
    while (u64map_next(m, &pos, &key, &val)) {
        size_t idx = (size_t)((char *)val - vals);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        visited++;
        if (idx % 3 != 0) {
            assert_ptr_equal(u64map_del(m, key), val);
            ref[idx] = NULL;
        }
    }
    assert_int_equal(visited, U);
    size_t left = 0;
    for (size_t i = 0; i < U; i++)
        left += ref[i] != NULL;
    u64_check(m, vals, ref, U, left);

    /* and deleting everything during one pass empties the map */
    pos = 0;
    visited = 0;
    while (u64map_next(m, &pos, &key, NULL)) {
        assert_non_null(u64map_del(m, key));
        visited++;
    }
    assert_int_equal(visited, left);
    assert_int_equal(u64map_len(m), 0);
    pos = 0;
    assert_false(u64map_next(m, &pos, &key, &val));
    u64map_free(m);
    free(seen);
    free(ref);
    free(vals);
}

/* White box: in a map made by u64map_new(1000) (2048 home slots + 16 overflow slots) a lone
 * key's iteration position tells its home slot. Piling 60 keys onto the last home slot forces
 * the overflow tail to grow; everything must still work, including deletion while iterating. */
static void test_u64_collisions_at_end(void **state)
{
    enum { WANT = 60 };
    uint64_t keys[WANT];
    int found = 0;
    u64map_t *probe = u64map_new(1000);
    assert_non_null(probe);
    static char v;
    for (uint64_t k = 1; found < WANT && k < 50000000; k++) {
        assert_int_equal(u64map_put(probe, k, &v), 0);
        size_t pos = 0;
        assert_true(u64map_next(probe, &pos, NULL, NULL));
        if (pos == 17) /* slot total - 17 = 2047, the last home slot */
            keys[found++] = k;
        assert_non_null(u64map_del(probe, k));
    }
    u64map_free(probe);
    assert_int_equal(found, WANT);

    u64map_t *m = u64map_new(1000);
    for (int i = 0; i < WANT; i++)
        assert_int_equal(u64map_put(m, keys[i], &keys[i]), 0);
    assert_int_equal(u64map_len(m), WANT);
    for (int i = 0; i < WANT; i++)
        assert_ptr_equal(u64map_get(m, keys[i]), &keys[i]);
    for (int i = 0; i < WANT; i += 2) /* holes in the middle of the pile */
        assert_ptr_equal(u64map_del(m, keys[i]), &keys[i]);
    for (int i = 0; i < WANT; i++)
        assert_true(u64map_get(m, keys[i]) == (i % 2 ? &keys[i] : NULL));
    size_t pos = 0, visited = 0;
    uint64_t key;
    void *val;
    while (u64map_next(m, &pos, &key, &val)) {
        assert_true(*(uint64_t *)val == key);
        assert_ptr_equal(u64map_del(m, key), val);
        visited++;
    }
    assert_int_equal(visited, WANT / 2);
    assert_int_equal(u64map_len(m), 0);
    u64map_free(m);
}

/* ---- strmap ----------------------------------------------------------------------------------- */

static void test_str_basic(void **state)
{
    strmap_t *m = strmap_new();
    assert_non_null(m);
    int a, b;
    char key[] = "topic";
    assert_int_equal(strmap_put(m, key, 5, &a), 0);
    key[0] = 'X'; /* the map holds its own copy */
    assert_ptr_equal(strmap_get(m, "topic", 5), &a);
    assert_null(strmap_get(m, "Xopic", 5));
    assert_null(strmap_get(m, "topi", 4));
    assert_null(strmap_get(m, "topic\0", 6));
    assert_int_equal(strmap_put(m, "", 0, &b), 0);
    assert_int_equal(strmap_put(m, "a\0b", 3, &b), 0);
    assert_ptr_equal(strmap_get(m, "", 0), &b);
    assert_ptr_equal(strmap_get(m, "a\0b", 3), &b);
    assert_null(strmap_get(m, "a\0c", 3));
    assert_int_equal(strmap_put(m, "topic", 5, NULL), 0); /* NULL values are stored */
    assert_int_equal(strmap_len(m), 3);
    assert_null(strmap_del(m, "topic", 5));
    assert_int_equal(strmap_len(m), 2);
    assert_ptr_equal(strmap_del(m, "", 0), &b);
    assert_null(strmap_del(m, "", 0));
    assert_int_equal(strmap_len(m), 1);
    strmap_free(m); /* frees the remaining key */
    strmap_free(NULL);
}

static int skey(char *buf, size_t i) { return sprintf(buf, "name-%zu.x", i * 7919); }

static void str_check(const strmap_t *m, char *vals, char **ref, size_t universe, size_t n)
{
    char buf[64];
    assert_int_equal(strmap_len(m), n);
    for (size_t i = 0; i < universe; i++) {
        int len = skey(buf, i);
        assert_ptr_equal(strmap_get(m, buf, (size_t)len), ref[i]);
    }
    char *seen = calloc(universe, 1);
    assert_non_null(seen);
    size_t pos = 0, count = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(m, &pos, &key, &klen, &val)) {
        size_t idx = (size_t)((char *)val - vals);
        assert_true(idx < universe);
        int len = skey(buf, idx);
        assert_int_equal(klen, (size_t)len);
        assert_string_equal(key, buf); /* keys come back NUL-terminated */
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        count++;
    }
    assert_int_equal(count, n);
    free(seen);
}

static void test_str_random_100k(void **state)
{
    enum { U = 20000, OPS = 100000 };
    char *vals = malloc(U);
    char **ref = calloc(U, sizeof *ref);
    assert_true(vals && ref);
    strmap_t *m = strmap_new();
    assert_non_null(m);
    size_t n = 0;
    char buf[64];
    for (int op = 0; op < OPS; op++) {
        size_t i = rng() % U;
        size_t len = (size_t)skey(buf, i);
        if (rng() % 3 != 0) {
            assert_int_equal(strmap_put(m, buf, len, &vals[i]), 0);
            n += ref[i] == NULL;
            ref[i] = &vals[i];
        } else {
            assert_ptr_equal(strmap_del(m, buf, len), ref[i]);
            n -= ref[i] != NULL;
            ref[i] = NULL;
        }
        if (op % 25000 == 0)
            str_check(m, vals, ref, U, n);
    }
    str_check(m, vals, ref, U, n);
    strmap_free(m);
    free(ref);
    free(vals);
}

static void test_str_delete_during_iteration(void **state)
{
    enum { U = 5000 };
    char *vals = malloc(U);
    char **ref = calloc(U, sizeof *ref);
    char *seen = calloc(U, 1);
    assert_true(vals && ref && seen);
    strmap_t *m = strmap_new();
    char buf[64];
    for (size_t i = 0; i < U; i++) {
        size_t len = (size_t)skey(buf, i);
        assert_int_equal(strmap_put(m, buf, len, &vals[i]), 0);
        ref[i] = &vals[i];
    }
    size_t pos = 0, visited = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(m, &pos, &key, &klen, &val)) {
        size_t idx = (size_t)((char *)val - vals);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        visited++;
        if (idx % 2 == 0) {
            assert_ptr_equal(strmap_del(m, key, klen), val);
            ref[idx] = NULL;
        }
    }
    assert_int_equal(visited, U);
    str_check(m, vals, ref, U, U / 2);
    strmap_free(m);
    free(seen);
    free(ref);
    free(vals);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_u64_basic),
        cmocka_unit_test(test_u64_random_100k),
        cmocka_unit_test(test_u64_sequential_keys),
        cmocka_unit_test(test_u64_delete_during_iteration),
        cmocka_unit_test(test_u64_collisions_at_end),
        cmocka_unit_test(test_str_basic),
        cmocka_unit_test(test_str_random_100k),
        cmocka_unit_test(test_str_delete_during_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
