/* backend: the queue under a topic's or channel's memory ring (the disk queue, issue 4).
 * A NULL backend means memory only: a full ring refuses new publishes. The ops table lets
 * the disk queue plug in without topic.c/channel.c knowing its type. */
#ifndef CNSQ_NSQD_BACKEND_H
#define CNSQ_NSQD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct backend backend_t;

typedef struct backend_ops {
    /* Appends one encoded record (wire message: header + body). 0, or -1 with err. */
    int (*put)(backend_t *b, const uint8_t *rec, size_t len, char *err, size_t errlen);
    /* Number of records not yet read. */
    int64_t (*depth)(const backend_t *b);
    /* Pops the next record into a malloc'd buffer the caller frees. 1 read, 0 empty, -1 error. */
    int (*pop)(backend_t *b, uint8_t **rec, size_t *len);
    /* Drops everything (empty). */
    int (*empty)(backend_t *b);
    /* Closes and frees; delete_files removes the files too (topic/channel delete). */
    void (*close)(backend_t *b, int delete_files);
} backend_ops_t;

struct backend {
    const backend_ops_t *ops;
};

#endif
