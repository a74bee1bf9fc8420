/* msgring: a growable FIFO ring of queued messages, the memory queue of topics and channels.
 * Each slot is 16 bytes (message pointer, attempts, deferral): the per-message memory cost of
 * a queued message beyond its shared msg_t. The owner bounds admission; the ring itself grows
 * (power-of-two capacity) so that requeues of already-accepted messages never fail. */
#ifndef CNSQ_NSQD_MSGRING_H
#define CNSQ_NSQD_MSGRING_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nsqd/message.h"

typedef struct msgring_slot {
    msg_t *msg;
    uint16_t attempts;
    uint32_t defer_ms; /* DPUB waiting in a topic with no channel yet */
} msgring_slot_t;

typedef struct msgring {
    msgring_slot_t *s;
    size_t head, len, cap; /* cap is 0 or a power of two */
} msgring_t;

static inline void msgring_init(msgring_t *r) { memset(r, 0, sizeof(*r)); }
static inline size_t msgring_len(const msgring_t *r) { return r->len; }

static inline int msgring_grow(msgring_t *r)
{
    size_t ncap = r->cap ? r->cap * 2 : 64;
    msgring_slot_t *ns = malloc(ncap * sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < r->len; i++)
        ns[i] = r->s[(r->head + i) & (r->cap - 1)];
    free(r->s);
    r->s = ns;
    r->head = 0;
    r->cap = ncap;
    return 0;
}

/* Takes the caller's reference to m. 0, or -1 on OOM. */
static inline int msgring_push(msgring_t *r, msg_t *m, uint16_t attempts, uint32_t defer_ms)
{
    if (r->len == r->cap && msgring_grow(r) < 0)
        return -1;
    msgring_slot_t *slot = &r->s[(r->head + r->len) & (r->cap - 1)];
    slot->msg = m;
    slot->attempts = attempts;
    slot->defer_ms = defer_ms;
    r->len++;
    return 0;
}

/* Pops the oldest slot into *out (ownership of the reference moves to the caller). */
static inline int msgring_pop(msgring_t *r, msgring_slot_t *out)
{
    if (r->len == 0)
        return -1;
    *out = r->s[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return 0;
}

/* Releases every message and the slots; the ring stays usable. Shrinks a big ring. */
static inline void msgring_clear(msgring_t *r)
{
    msgring_slot_t slot;
    while (msgring_pop(r, &slot) == 0)
        msg_unref(slot.msg);
    if (r->cap > 1024) {
        free(r->s);
        msgring_init(r);
    }
}

static inline void msgring_free(msgring_t *r)
{
    msgring_clear(r);
    free(r->s);
    msgring_init(r);
}

#endif
