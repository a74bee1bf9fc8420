/* backend: the queue under a topic's or channel's memory ring (the disk queue, issue 4).
 * A NULL backend means memory only: a full ring refuses new publishes. The ops table lets
 * the disk queue plug in without topic.c/channel.c knowing its type. */
#ifndef CNSQ_NSQD_BACKEND_H
#define CNSQ_NSQD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct backend backend_t;
typedef void (*backend_synced_cb)(void *arg, int status);

typedef struct backend_stats {
    int64_t depth;          /* records not yet read */
    int64_t bytes;          /* their bytes on disk (with the 4-byte length prefixes) */
    int64_t files;          /* data files holding them */
    uint64_t corrupt_count; /* files set aside as *.bad */
    uint64_t write_errors;  /* failed writes (each failed put counts) */
    uint64_t sync_errors;   /* failed fsync / metadata writes */
    bool healthy;
    char last_error[256]; /* "" when nothing failed yet */
} backend_stats_t;

typedef struct backend_ops {
    /* Appends one encoded record (wire message: header + body). 0, or -1 with err. */
    int (*put)(backend_t *b, const uint8_t *rec, size_t len, char *err, size_t errlen);
    /* The same record given in two pieces (head + body), copied once. */
    int (*putv)(backend_t *b, const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen,
                char *err, size_t errlen);
    /* Writes what put buffered now (a publisher wants to know the disk took it). 0, or -1
     * with err; the records stay buffered and are retried (unless taken back with unput). */
    int (*flush)(backend_t *b, char *err, size_t errlen);
    /* Takes back the last n records put, if they are all still buffered (a publish refused
     * after flush failed). 0, or -1 (nothing changed). */
    int (*unput)(backend_t *b, size_t n);
    /* false after a failed write or sync, until one succeeds again. */
    bool (*healthy)(const backend_t *b);
    void (*get_stats)(const backend_t *b, backend_stats_t *out);
    /* Number of records not yet read. */
    int64_t (*depth)(const backend_t *b);
    /* Borrows the next record: *rec points into the backend's read-ahead buffer and stays valid
     * until the next call on b. 1 read, 0 empty, -1 error (corruption is handled inside: the bad
     * file is set aside and reading continues, so -1 means the backend cannot read at all). */
    int (*pop)(backend_t *b, const uint8_t **rec, size_t *len);
    /* Drops everything (empty). */
    int (*empty)(backend_t *b);
    /* Closes and frees; delete_files removes the files too (topic/channel delete). */
    void (*close)(backend_t *b, int delete_files);
    /* Durable publish: calls cb(arg, status) from the event loop, never from inside this call,
     * once every record put so far is fsynced (status 0), or with -1 when a write or fsync
     * covering it failed (the record may still be delivered later). Asks for a sync at the end
     * of the loop iteration, so publishes arriving together share one fsync. 0, or -1 (out of
     * memory: cb will not be called). */
    int (*when_synced)(backend_t *b, backend_synced_cb cb, void *arg);
} backend_ops_t;

struct backend {
    const backend_ops_t *ops;
};

#endif
