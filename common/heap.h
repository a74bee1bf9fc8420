/* heap: an intrusive indexed binary min-heap keyed by int64 (deadlines in ns).
 * Items embed a heap_node_t; the heap stores pointers and keeps each node's index current,
 * so remove and update of any item are O(log n). The heap never owns the items. */
#ifndef CNSQ_HEAP_H
#define CNSQ_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NOT_IN (SIZE_MAX)

typedef struct heap_node {
    int64_t key;
    size_t idx; /* HEAP_NOT_IN when not in a heap */
} heap_node_t;

typedef struct heap {
    heap_node_t **a;
    size_t n, cap;
} heap_t;

void heap_init(heap_t *h);
void heap_free(heap_t *h);              /* frees the array, not the items */
int heap_push(heap_t *h, heap_node_t *node); /* node->key must be set; -1 on OOM */
heap_node_t *heap_peek(const heap_t *h); /* NULL when empty */
heap_node_t *heap_pop(heap_t *h);
void heap_remove(heap_t *h, heap_node_t *node); /* no-op if node->idx == HEAP_NOT_IN */
void heap_update(heap_t *h, heap_node_t *node, int64_t key);
static inline size_t heap_len(const heap_t *h) { return h->n; }

#define heap_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
