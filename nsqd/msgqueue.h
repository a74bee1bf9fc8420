/* msgqueue: the message queue under a topic or a channel. A memory ring takes new messages while
 * it holds fewer than --mem-queue-size; the rest go to the backend (the disk queue), encoded as
 * records (the wire message: 26-byte header + body). Reads take the ring first, then the backend,
 * one record per pop (streaming: a backlog is never loaded as a whole).
 * A second, optional backend holds deferred messages as [8B BE due time, ns since the epoch]
 * [record]; a topic uses it as a FIFO (DPUBs held while it has no channel), a channel as the
 * journal of its deferred heap (docs/durability.md). It is opened on first use.
 * Ephemeral queues never touch disk: a full one drops new messages and counts them.
 * Embedded in its topic or channel (which own it); the fields are private to msgqueue.c. */
#ifndef CNSQ_NSQD_MSGQUEUE_H
#define CNSQ_NSQD_MSGQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/backend.h"
#include "nsqd/message.h"
#include "nsqd/msgring.h"

/* Opens a queue's backend: the main one (deferred false) or the deferred one. create false:
 * only when it already exists on disk (else NULL). NULL also when it cannot be opened (logged). */
typedef backend_t *(*mq_open_fn)(void *ctx, bool deferred, bool create);

typedef struct msgqueue {
    msgring_t ring;
    int64_t mem_bound;
    bool ephemeral;
    bool dirty_main, dirty_defer;   /* written since the last mq_flush / mq_when_synced */
    uint32_t pend_main, pend_defer; /* of which new (published) records: taken back when the
                                     * publish is refused */
    bool overflowing;               /* an accepted message went to memory past the bound */
    backend_t *backend, *deferred;
    mq_open_fn open;
    void *open_ctx;
    uint64_t dropped;     /* ephemeral: new messages dropped on a full ring */
    uint64_t bad_records; /* records that could not be decoded (skipped) */
    bool put_failed;      /* an accepted message could not be written (kept in memory) */
    char fail_reason[256];
    const char *name; /* for logs (borrowed from the owner) */
} msgqueue_t;

typedef struct mq_stats {
    int64_t depth;          /* ring + backend */
    int64_t backend_depth;  /* backend */
    int64_t deferred_depth; /* records in the deferred backend */
    uint64_t dropped;
    uint64_t corrupt_count; /* data files set aside as *.bad plus undecodable records */
    bool healthy;
} mq_stats_t;

/* name is borrowed (it must outlive the queue). open may be NULL (memory only). Opens the main
 * backend at once (non-ephemeral) and the deferred one if it exists. */
void mq_init(msgqueue_t *q, const char *name, int64_t mem_bound, bool ephemeral, mq_open_fn open,
             void *open_ctx);
/* Releases the ring and closes the backends (delete_files: remove their files too). */
void mq_close(msgqueue_t *q, bool delete_files);

/* Room for n new messages: in the ring, or a backend, or ephemeral (drops). A backend that
 * failed is still tried: the next publish probes it (and is refused if it fails again), so
 * the queue recovers by itself once the disk takes writes again. */
bool mq_can_accept(const msgqueue_t *q, size_t n);
/* A new message: to the ring while below the bound, else (defer_ms > 0) the deferred backend,
 * else the backend; ephemeral queues drop it. 0 = taken (the queue owns the reference, or it
 * was dropped), -1 with err = refused (the caller keeps its reference). */
int mq_put(msgqueue_t *q, msg_t *m, uint16_t attempts, uint32_t defer_ms, char *err, size_t errlen);
/* An already-accepted message (requeue, drain): never refused. Ring while below the bound,
 * else the backend; if the backend refuses it (or there is none), the ring past its bound. */
void mq_put_accepted(msgqueue_t *q, msg_t *m, uint16_t attempts);
/* Pops the oldest message: ring first, then the backend. 1 with *out (its reference moves to
 * the caller), 0 when nothing is readable now. */
int mq_pop(msgqueue_t *q, msgring_slot_t *out);
static inline size_t mq_ring_len(const msgqueue_t *q)
{
    return msgring_len(&q->ring);
}
int64_t mq_backend_depth(const msgqueue_t *q);
static inline int64_t mq_depth(const msgqueue_t *q)
{
    return (int64_t)msgring_len(&q->ring) + mq_backend_depth(q);
}

/* Deferred backend. put writes a copy (m stays the caller's); publish: it belongs to the
 * publish being acknowledged (taken back if that fails). pop: 1 with *out and the due time,
 * 0 when empty. empty drops every record. */
int mq_defer_put(msgqueue_t *q, const msg_t *m, uint16_t attempts, int64_t due_ns, bool publish,
                 char *err, size_t errlen);
/* A record of m's id with no body and the due time `tombstone` (journal.h). */
int mq_defer_mark(msgqueue_t *q, const msg_t *m, int64_t tombstone, char *err, size_t errlen);
int mq_defer_pop(msgqueue_t *q, msgring_slot_t *out, int64_t *due_ns);
int64_t mq_defer_depth(const msgqueue_t *q);
void mq_defer_empty(msgqueue_t *q);

/* Publish acknowledgement. take_failure: true (with the reason) when a write of an accepted
 * message failed since the last call (mq_put_accepted, or one noted with mq_note_failure).
 * flush writes what the queue put since the last call: 0, or -1 with the disk's reason (also
 * after such a failure); on failure the new records still buffered are taken back.
 * when_synced registers cb on each backend written since the last call and returns how many
 * will call it (0..2). after_sync registers cb on the main backend whatever was written: 0, or
 * -1 (no backend, OOM: cb will not be called). */
bool mq_dirty(const msgqueue_t *q);
void mq_note_failure(msgqueue_t *q, const char *reason);
bool mq_take_failure(msgqueue_t *q, char *err, size_t errlen);
int mq_flush(msgqueue_t *q, char *err, size_t errlen);
/* The publish failed before its flush: takes back its new records still buffered. */
void mq_abort(msgqueue_t *q);
int mq_when_synced(msgqueue_t *q, backend_synced_cb cb, void *arg);
int mq_after_sync(msgqueue_t *q, backend_synced_cb cb, void *arg);

/* Drops everything queued (ring, backend, deferred backend). */
void mq_empty(msgqueue_t *q);
/* Shutdown: moves the ring into the backends (deferred slots to the deferred backend, due
 * counted from now). Returns how many messages could not be written (logged). */
size_t mq_spill(msgqueue_t *q);

bool mq_healthy(const msgqueue_t *q);
void mq_get_stats(const msgqueue_t *q, mq_stats_t *out);

#endif
