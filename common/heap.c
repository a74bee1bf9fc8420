/* heap: intrusive indexed binary min-heap (deadline queues for in-flight and deferred messages).
 * Owns only the pointer array; every move writes the node's new index back into the node so
 * heap_remove/heap_update find it in O(1) and restore order in O(log n). Ties between equal
 * keys come out in no particular order. */
#include "common/heap.h"

#include <stdlib.h>

#define HEAP_MIN_CAP 16

void heap_init(heap_t *h)
{
    h->a = NULL;
    h->n = 0;
    h->cap = 0;
}

void heap_free(heap_t *h)
{
    free(h->a);
    heap_init(h);
}

static void heap_set(heap_t *h, size_t i, heap_node_t *node)
{
    h->a[i] = node;
    node->idx = i;
}

static void sift_up(heap_t *h, size_t i)
{
    heap_node_t *node = h->a[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->a[parent]->key <= node->key)
            break;
        heap_set(h, i, h->a[parent]);
        i = parent;
    }
    heap_set(h, i, node);
}

static void sift_down(heap_t *h, size_t i)
{
    heap_node_t *node = h->a[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->a[child + 1]->key < h->a[child]->key)
            child++;
        if (node->key <= h->a[child]->key)
            break;
        heap_set(h, i, h->a[child]);
        i = child;
    }
    heap_set(h, i, node);
}

static int heap_grow(heap_t *h)
{
    size_t cap = h->cap ? h->cap * 2 : HEAP_MIN_CAP;
    if (cap < h->cap || cap > SIZE_MAX / sizeof(*h->a))
        return -1;
    heap_node_t **a = realloc(h->a, cap * sizeof(*a));
    if (a == NULL)
        return -1;
    h->a = a;
    h->cap = cap;
    return 0;
}

int heap_push(heap_t *h, heap_node_t *node)
{
    if (h->n == h->cap && heap_grow(h) != 0)
        return -1;
    heap_set(h, h->n, node);
    h->n++;
    sift_up(h, node->idx);
    return 0;
}

heap_node_t *heap_peek(const heap_t *h)
{
    return h->n ? h->a[0] : NULL;
}

heap_node_t *heap_pop(heap_t *h)
{
    heap_node_t *top = heap_peek(h);
    if (top != NULL)
        heap_remove(h, top);
    return top;
}

/* Moves the last node into the hole and lets it settle in whichever direction it must. */
void heap_remove(heap_t *h, heap_node_t *node)
{
    size_t i = node->idx;
    if (i == HEAP_NOT_IN || i >= h->n || h->a[i] != node)
        return;
    node->idx = HEAP_NOT_IN;
    h->n--;
    if (i == h->n)
        return;
    heap_set(h, i, h->a[h->n]);
    if (i > 0 && h->a[(i - 1) / 2]->key > h->a[i]->key)
        sift_up(h, i);
    else
        sift_down(h, i);
}

/* Re-keys a node in the heap. For a node not in the heap only the key is stored (the call
 * cannot report an allocation failure, so it never pushes). */
void heap_update(heap_t *h, heap_node_t *node, int64_t key)
{
    int64_t old = node->key;
    node->key = key;
    size_t i = node->idx;
    if (i == HEAP_NOT_IN || i >= h->n || h->a[i] != node)
        return;
    if (key < old)
        sift_up(h, i);
    else if (key > old)
        sift_down(h, i);
}
