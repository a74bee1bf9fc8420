/* Unit tests for common/heap: ordering, index bookkeeping, remove/update, random workloads
 * checked against a sorted reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/heap.h"

typedef struct item {
    int id;
    heap_node_t node;
} item_t;

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Every node knows its index and no child is smaller than its parent. */
static void check_invariants(const heap_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        assert_int_equal(h->a[i]->idx, i);
        if (i > 0)
            assert_true(h->a[(i - 1) / 2]->key <= h->a[i]->key);
    }
}

static void init_node(item_t *it, int id, int64_t key)
{
    it->id = id;
    it->node.key = key;
    it->node.idx = HEAP_NOT_IN;
}

static void test_empty(void **state)
{
    heap_t h;
    heap_init(&h);
    assert_int_equal(heap_len(&h), 0);
    assert_null(heap_peek(&h));
    assert_null(heap_pop(&h));
    heap_free(&h);
}

static void test_push_pop_order(void **state)
{
    static const int64_t keys[] = {50, 10, 40, 10, -5, 99, 0, 30, INT64_MAX, INT64_MIN};
    enum { N = sizeof keys / sizeof keys[0] };
    item_t it[N];
    heap_t h;
    heap_init(&h);
    for (int i = 0; i < N; i++) {
        init_node(&it[i], i, keys[i]);
        assert_int_equal(heap_push(&h, &it[i].node), 0);
        check_invariants(&h);
    }
    assert_int_equal(heap_len(&h), N);
    int64_t sorted[N];
    memcpy(sorted, keys, sizeof sorted);
    qsort(sorted, N, sizeof sorted[0], cmp_i64);
    for (int i = 0; i < N; i++) {
        heap_node_t *n = heap_pop(&h);
        assert_non_null(n);
        assert_true(n->key == sorted[i]);
        assert_true(n->idx == HEAP_NOT_IN);
        item_t *owner = heap_entry(n, item_t, node);
        assert_true(owner->node.key == keys[owner->id]);
        check_invariants(&h);
    }
    assert_null(heap_pop(&h));
    heap_free(&h);
}

static void test_remove_and_update(void **state)
{
    item_t a, b, c, d;
    init_node(&a, 0, 10);
    init_node(&b, 1, 20);
    init_node(&c, 2, 30);
    init_node(&d, 3, 40);
    heap_t h;
    heap_init(&h);
    assert_int_equal(heap_push(&h, &a.node), 0);
    assert_int_equal(heap_push(&h, &b.node), 0);
    assert_int_equal(heap_push(&h, &c.node), 0);
    assert_int_equal(heap_push(&h, &d.node), 0);

    heap_update(&h, &d.node, 5); /* decrease to the top */
    assert_ptr_equal(heap_peek(&h), &d.node);
    heap_update(&h, &d.node, 35); /* increase back down */
    assert_ptr_equal(heap_peek(&h), &a.node);
    check_invariants(&h);

    heap_remove(&h, &a.node);
    assert_true(a.node.idx == HEAP_NOT_IN);
    assert_int_equal(heap_len(&h), 3);
    heap_remove(&h, &a.node); /* second remove is a no-op */
    assert_int_equal(heap_len(&h), 3);
    assert_ptr_equal(heap_peek(&h), &b.node);

    heap_update(&h, &a.node, 1); /* not in the heap: key only */
    assert_true(a.node.key == 1);
    assert_int_equal(heap_len(&h), 3);
    assert_ptr_equal(heap_peek(&h), &b.node);

    /* a zeroed node (idx 0) that is not in the heap must not disturb it */
    item_t z;
    memset(&z, 0, sizeof z);
    heap_remove(&h, &z.node);
    assert_int_equal(heap_len(&h), 3);
    assert_ptr_equal(heap_peek(&h), &b.node);

    heap_remove(&h, &d.node); /* the last slot */
    heap_remove(&h, &b.node); /* the root */
    assert_ptr_equal(heap_pop(&h), &c.node);
    assert_int_equal(heap_len(&h), 0);
    heap_free(&h);
}

/* Random push/pop/remove/update against a reference of the keys currently in the heap. */
static void test_random_against_reference(void **state)
{
    enum { N = 2000, OPS = 40000 };
    item_t *it = calloc(N, sizeof *it);
    assert_non_null(it);
    for (int i = 0; i < N; i++)
        init_node(&it[i], i, 0);
    heap_t h;
    heap_init(&h);
    size_t in = 0;
    for (int op = 0; op < OPS; op++) {
        item_t *x = &it[rng() % N];
        bool member = x->node.idx != HEAP_NOT_IN;
        int64_t key = (int64_t)(rng() % 1000) - 500; /* many duplicates */
        switch (rng() % 4) {
        case 0:
            if (!member) {
                x->node.key = key;
                assert_int_equal(heap_push(&h, &x->node), 0);
                in++;
            }
            break;
        case 1:
            if (member) {
                heap_remove(&h, &x->node);
                in--;
            }
            break;
        case 2:
            heap_update(&h, &x->node, key);
            break;
        default:
            if (in > 0) {
                int64_t min = INT64_MAX;
                for (int i = 0; i < N; i++)
                    if (it[i].node.idx != HEAP_NOT_IN && it[i].node.key < min)
                        min = it[i].node.key;
                heap_node_t *top = heap_pop(&h);
                assert_true(top->key == min);
                in--;
            }
            break;
        }
        assert_int_equal(heap_len(&h), in);
        if (op % 97 == 0)
            check_invariants(&h);
    }
    /* drain: keys come out exactly as the sorted reference */
    int64_t *ref = malloc((in + 1) * sizeof *ref);
    assert_non_null(ref);
    size_t k = 0;
    for (int i = 0; i < N; i++)
        if (it[i].node.idx != HEAP_NOT_IN)
            ref[k++] = it[i].node.key;
    assert_int_equal(k, in);
    qsort(ref, k, sizeof *ref, cmp_i64);
    for (size_t i = 0; i < k; i++) {
        heap_node_t *n = heap_pop(&h);
        assert_non_null(n);
        assert_true(n->key == ref[i]);
    }
    assert_null(heap_pop(&h));
    free(ref);
    heap_free(&h);
    free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_push_pop_order),
        cmocka_unit_test(test_remove_and_update),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
