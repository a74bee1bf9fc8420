/* msgqueue: a topic's or channel's ring and backends, and the record encoding between them.
 * Owns: the ring, both backends (opened through the owner's open hook on first need, closed
 * here), the drop and bad-record counters, the "written since the last acknowledgement" flags.
 * Leaves to the owner: admission beyond the bound (callers ask mq_can_accept), delivery, the
 * deferred heap and its timing. */
#include "nsqd/msgqueue.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"

#define DUE_LEN 8 /* deferred records start with the due time */
#define NS_PER_MS INT64_C(1000000)

void mq_init(msgqueue_t *q, const char *name, int64_t mem_bound, bool ephemeral, mq_open_fn open,
             void *open_ctx)
{
    memset(q, 0, sizeof(*q));
    msgring_init(&q->ring);
    q->name = name;
    q->mem_bound = mem_bound;
    q->ephemeral = ephemeral;
    q->open = open;
    q->open_ctx = open_ctx;
    if (ephemeral || !open)
        return;
    q->backend = open(open_ctx, false, true);
    q->deferred = open(open_ctx, true, false);
}

void mq_close(msgqueue_t *q, bool delete_files)
{
    msgring_free(&q->ring);
    if (q->backend)
        q->backend->ops->close(q->backend, delete_files);
    if (q->deferred)
        q->deferred->ops->close(q->deferred, delete_files);
    q->backend = q->deferred = NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

static bool ring_has_room(const msgqueue_t *q)
{
    return (int64_t)msgring_len(&q->ring) < q->mem_bound;
}

bool mq_can_accept(const msgqueue_t *q, size_t n)
{
    return q->ephemeral || q->backend || (int64_t)(msgring_len(&q->ring) + n) <= q->mem_bound;
}

/* One record: [due (deferred only)][26-byte header][body], handed over in two pieces. */
static int backend_put(backend_t *b, const msg_t *m, uint16_t attempts, const int64_t *due,
                       char *err, size_t errlen)
{
    uint8_t head[DUE_LEN + WIRE_MSG_HEADER_LEN];
    size_t off = 0;
    if (due) {
        wire_put_be64(head, (uint64_t)*due);
        off = DUE_LEN;
    }
    msg_record_header(m, attempts, head + off);
    return b->ops->putv(b, head, off + WIRE_MSG_HEADER_LEN, m->body, m->body_len, err, errlen);
}

int mq_put(msgqueue_t *q, msg_t *m, uint16_t attempts, uint32_t defer_ms, char *err, size_t errlen)
{
    if (ring_has_room(q)) {
        if (msgring_push(&q->ring, m, attempts, defer_ms) == 0)
            return 0;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (q->ephemeral) { /* as nsqd: an ephemeral queue never touches disk */
        q->dropped++;
        msg_unref(m);
        return 0;
    }
    if (defer_ms > 0) {
        int64_t due = clock_realtime_ns() + (int64_t)defer_ms * NS_PER_MS;
        if (mq_defer_put(q, m, attempts, due, true, err, errlen) < 0)
            return -1;
    } else if (!q->backend) {
        snprintf(err, errlen, "queue full (--mem-queue-size=%lld, no disk queue)",
                 (long long)q->mem_bound);
        return -1;
    } else if (backend_put(q->backend, m, attempts, NULL, err, errlen) < 0) {
        return -1;
    } else {
        q->dirty_main = true;
        q->pend_main++;
    }
    msg_unref(m);
    return 0;
}

void mq_put_accepted(msgqueue_t *q, msg_t *m, uint16_t attempts)
{
    char err[256];
    if (!ring_has_room(q) && q->backend) {
        if (backend_put(q->backend, m, attempts, NULL, err, sizeof(err)) == 0) {
            q->dirty_main = true;
            q->overflowing = false;
            msg_unref(m);
            return;
        }
        if (!q->overflowing)
            log_error("QUEUE(%s): %s: keeping accepted messages in memory", q->name, err);
        q->overflowing = true;
        mq_note_failure(q, err);
    }
    if (msgring_push(&q->ring, m, attempts, 0) < 0) {
        log_error("QUEUE(%s): out of memory: message %.16s lost", q->name, m->id);
        msg_unref(m);
    }
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Next decodable record of b; undecodable ones are counted and skipped. */
static int backend_pop(msgqueue_t *q, backend_t *b, msgring_slot_t *out, int64_t *due)
{
    const uint8_t *rec;
    size_t len, skip = due ? DUE_LEN : 0;
    while (b && b->ops->pop(b, &rec, &len) == 1) {
        int bad = 1;
        msg_t *m =
            len >= skip ? msg_from_record(rec + skip, len - skip, &out->attempts, &bad) : NULL;
        if (m) {
            if (due)
                *due = (int64_t)wire_get_be64(rec);
            out->msg = m;
            out->defer_ms = 0;
            return 1;
        }
        q->bad_records++;
        log_error("QUEUE(%s): skipping %s record of %zu bytes", q->name,
                  bad ? "an undecodable" : "(out of memory) a", len);
    }
    return 0;
}

int mq_pop(msgqueue_t *q, msgring_slot_t *out)
{
    if (msgring_pop(&q->ring, out) == 0)
        return 1;
    if (!q->backend || q->backend->ops->depth(q->backend) == 0)
        return 0;
    return backend_pop(q, q->backend, out, NULL);
}

int64_t mq_backend_depth(const msgqueue_t *q)
{
    return q->backend ? q->backend->ops->depth(q->backend) : 0;
}

/* ---- the deferred backend ----------------------------------------------------------------- */

int mq_defer_put(msgqueue_t *q, const msg_t *m, uint16_t attempts, int64_t due_ns, bool publish,
                 char *err, size_t errlen)
{
    if (!q->deferred && !q->ephemeral && q->open)
        q->deferred = q->open(q->open_ctx, true, true);
    if (!q->deferred) {
        snprintf(err, errlen, "no disk queue for deferred messages");
        return -1;
    }
    if (backend_put(q->deferred, m, attempts, &due_ns, err, errlen) < 0)
        return -1;
    q->dirty_defer = true;
    q->pend_defer += publish;
    return 0;
}

int mq_defer_mark(msgqueue_t *q, const msg_t *m, int64_t tombstone, char *err, size_t errlen)
{
    uint8_t head[DUE_LEN + WIRE_MSG_HEADER_LEN];
    if (!q->deferred) {
        snprintf(err, errlen, "no disk queue for deferred messages");
        return -1;
    }
    wire_put_be64(head, (uint64_t)tombstone);
    msg_record_header(m, 0, head + DUE_LEN);
    if (q->deferred->ops->putv(q->deferred, head, sizeof(head), NULL, 0, err, errlen) < 0)
        return -1;
    q->dirty_defer = true;
    return 0;
}

int mq_defer_pop(msgqueue_t *q, msgring_slot_t *out, int64_t *due_ns)
{
    return backend_pop(q, q->deferred, out, due_ns);
}

int64_t mq_defer_depth(const msgqueue_t *q)
{
    return q->deferred ? q->deferred->ops->depth(q->deferred) : 0;
}

void mq_defer_empty(msgqueue_t *q)
{
    if (q->deferred && q->deferred->ops->depth(q->deferred) > 0)
        q->deferred->ops->empty(q->deferred);
}

/* ---- acknowledgement ---------------------------------------------------------------------- */

bool mq_dirty(const msgqueue_t *q)
{
    return q->dirty_main || q->dirty_defer;
}

void mq_note_failure(msgqueue_t *q, const char *reason)
{
    size_t n = strnlen(reason, sizeof(q->fail_reason) - 1);
    q->put_failed = true;
    memcpy(q->fail_reason, reason, n);
    q->fail_reason[n] = '\0';
}

bool mq_take_failure(msgqueue_t *q, char *err, size_t errlen)
{
    if (!q->put_failed)
        return false;
    q->put_failed = false;
    snprintf(err, errlen, "%s", q->fail_reason);
    return true;
}

int mq_flush(msgqueue_t *q, char *err, size_t errlen)
{
    int rc = 0;
    if (mq_take_failure(q, err, errlen))
        rc = -1; /* refused already: write nothing more of it */
    else if (q->dirty_main && q->backend && q->backend->ops->flush(q->backend, err, errlen) < 0)
        rc = -1;
    else if (q->dirty_defer && q->deferred && q->deferred->ops->flush(q->deferred, err, errlen) < 0)
        rc = -1;
    if (rc < 0)
        mq_abort(q);
    q->dirty_main = q->dirty_defer = false;
    q->pend_main = q->pend_defer = 0;
    return rc;
}

void mq_abort(msgqueue_t *q)
{
    if (q->pend_main && q->backend)
        q->backend->ops->unput(q->backend, q->pend_main);
    if (q->pend_defer && q->deferred)
        q->deferred->ops->unput(q->deferred, q->pend_defer);
    q->pend_main = q->pend_defer = 0;
}

static int wait_on(const msgqueue_t *q, backend_t *b, backend_synced_cb cb, void *arg)
{
    if (b->ops->when_synced(b, cb, arg) == 0)
        return 1;
    log_error("QUEUE(%s): out of memory waiting for a sync", q->name);
    return 0;
}

int mq_when_synced(msgqueue_t *q, backend_synced_cb cb, void *arg)
{
    int n = 0;
    if (q->dirty_main && q->backend)
        n += wait_on(q, q->backend, cb, arg);
    if (q->dirty_defer && q->deferred)
        n += wait_on(q, q->deferred, cb, arg);
    q->dirty_main = q->dirty_defer = false;
    q->pend_main = q->pend_defer = 0;
    return n;
}

int mq_after_sync(msgqueue_t *q, backend_synced_cb cb, void *arg)
{
    return q->backend ? q->backend->ops->when_synced(q->backend, cb, arg) : -1;
}

/* ---- admin -------------------------------------------------------------------------------- */

void mq_empty(msgqueue_t *q)
{
    msgring_clear(&q->ring);
    if (q->backend)
        q->backend->ops->empty(q->backend);
    mq_defer_empty(q);
}

size_t mq_spill(msgqueue_t *q)
{
    msgring_slot_t s;
    size_t lost = 0;
    char err[256] = "no disk queue";
    int64_t now = clock_realtime_ns();
    while (msgring_pop(&q->ring, &s) == 0) {
        int rc = -1;
        if (s.defer_ms > 0) {
            rc = mq_defer_put(q, s.msg, s.attempts, now + (int64_t)s.defer_ms * NS_PER_MS, false,
                              err, sizeof(err));
        } else if (q->backend) {
            rc = backend_put(q->backend, s.msg, s.attempts, NULL, err, sizeof(err));
        }
        if (rc < 0 && lost++ == 0)
            log_error("QUEUE(%s): cannot write message %.16s to disk: %s", q->name, s.msg->id, err);
        msg_unref(s.msg);
    }
    if (lost)
        log_error("QUEUE(%s): %zu messages lost at shutdown", q->name, lost);
    return lost;
}

bool mq_healthy(const msgqueue_t *q)
{
    return (!q->backend || q->backend->ops->healthy(q->backend)) &&
           (!q->deferred || q->deferred->ops->healthy(q->deferred));
}

void mq_get_stats(const msgqueue_t *q, mq_stats_t *out)
{
    backend_stats_t bs;
    memset(out, 0, sizeof(*out));
    out->backend_depth = mq_backend_depth(q);
    out->depth = (int64_t)msgring_len(&q->ring) + out->backend_depth;
    out->deferred_depth = mq_defer_depth(q);
    out->dropped = q->dropped;
    out->corrupt_count = q->bad_records;
    for (int i = 0; i < 2; i++) {
        backend_t *b = i ? q->deferred : q->backend;
        if (!b)
            continue;
        b->ops->get_stats(b, &bs);
        out->corrupt_count += bs.corrupt_count;
    }
    out->healthy = mq_healthy(q);
}
