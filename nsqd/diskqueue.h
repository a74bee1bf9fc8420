/* diskqueue: the disk-backed queue under a topic or channel (a backend_t), file-compatible with
 * NSQ's go-diskqueue: <name>.diskqueue.%06d.dat files of [4B BE len][record] and the text
 * metadata <name>.diskqueue.meta.dat. A queue lives on the event loop that opened it; fsync,
 * metadata writes and deletion of consumed files run on one helper thread shared by all queues,
 * which reports back through a libevent event: main must call evthread_use_pthreads() before
 * creating the event_base. See docs/durability.md for the format and policies. */
#ifndef CNSQ_NSQD_DISKQUEUE_H
#define CNSQ_NSQD_DISKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "nsqd/backend.h"

struct event_base;

#define DQ_DEFAULT_MAX_BYTES_PER_FILE 104857600LL
#define DQ_DEFAULT_MIN_MSG_SIZE WIRE_MSG_HEADER_LEN
#define DQ_DEFAULT_MAX_MSG_SIZE (1048576 + WIRE_MSG_HEADER_LEN)
#define DQ_DEFAULT_SYNC_EVERY 2500
#define DQ_DEFAULT_SYNC_TIMEOUT_NS 2000000000LL

typedef struct dq_hooks {
    /* The queue's health changed: ok=false with the reason after a failed write or fsync
     * ("disk queue write failed: No space left on device"), ok=true once writes and syncs
     * succeed again. Called on the loop, possibly from inside put or pop; may be NULL. */
    void (*health)(void *ctx, bool ok, const char *reason);
    void *ctx;
} dq_hooks_t;

/* Zero fields take the defaults (nsqd's flag defaults). */
typedef struct dq_config {
    int64_t max_bytes_per_file; /* roll when the next record would pass it (--max-bytes-per-file) */
    int32_t min_msg_size;       /* record size bounds: 26 and --max-msg-size + 26 in nsqd */
    int32_t max_msg_size;
    int64_t sync_every;      /* fsync after this many puts + pops (--sync-every); 1 = each loop
                              * iteration that changed something */
    int64_t sync_timeout_ns; /* and no later than this after a change (--sync-timeout) */
    dq_hooks_t hooks;
} dq_config_t;

/* The queue's counters (backend_stats_t in backend.h). */
typedef backend_stats_t dq_stats_t;

/* Opens (or creates) the queue `name` in the existing directory data_path: reads the metadata,
 * recovers records written after it (cutting a torn last record) and leaves the backlog on
 * disk. name is nsqd's: the topic, or "topic:channel". cfg may be NULL (defaults); it is
 * copied. NULL with err on failure.
 * The backend's ops (backend.h) are used from base's loop thread only:
 *   put   validates the size, appends to a write buffer that is written at the end of the loop
 *         iteration (or when it holds 256 KiB); -1 "disk queue write failed: <reason>" when
 *         the disk refuses bytes: nothing of that record is counted, records accepted earlier
 *         stay buffered and are retried, and later puts succeed once the disk takes them.
 *   pop   borrows the next record from a read-ahead buffer; 0 when nothing is readable now
 *         (empty, or the remaining records are buffered and the disk refuses them).
 *   empty drops everything; the old files are deleted after the next metadata write.
 *   close flushes, fsyncs and writes the metadata synchronously (or deletes the files) and
 *         calls the pending when_synced callbacks; it may wait for one in-flight fsync.
 * Closing a queue from inside its own hook or when_synced callback is safe: it is deferred to
 * the loop. */
backend_t *dq_open(struct event_base *base, const char *data_path, const char *name,
                   const dq_config_t *cfg, char *err, size_t errlen);

/* Whether the queue `name` has metadata in data_path (it was synced or closed at least once). */
bool dq_exists(const char *data_path, const char *name);

/* Same as b->ops->when_synced. */
int dq_when_synced(backend_t *b, backend_synced_cb cb, void *arg);

/* A snapshot of the queue's counters. b must come from dq_open. */
void dq_get_stats(const backend_t *b, dq_stats_t *out);

#endif
