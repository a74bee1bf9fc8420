/* journal: the on-disk record of a channel's deferred messages, kept in its queue's deferred
 * backend (msgqueue.h) as [8B BE due time, ns since the epoch][record]. A deferred message's
 * record is added when it is published (durable mode) or at shutdown; when the message leaves
 * the deferred heap (it came due) a tombstone ([due = JOURNAL_TOMBSTONE][26-byte header]) is
 * added once the main queue has synced what it moved there, so a crash can neither lose it nor
 * bring it back. The journal is dropped when nothing in it is live and rewritten when dead
 * records pile up. At creation the channel restores what it holds (docs/durability.md).
 * Embedded in its channel; the fields are private to journal.c. */
#ifndef CNSQ_NSQD_JOURNAL_H
#define CNSQ_NSQD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/message.h"
#include "nsqd/msgqueue.h"

struct event_base;
struct event;

#define JOURNAL_TOMBSTONE INT64_MIN

/* The owner's live (journaled) deferred messages, for rewrites: calls visit for each. */
typedef void (*journal_visit_fn)(void *arg, const msg_t *m, uint16_t attempts, int64_t due_ns);
typedef void (*journal_each_fn)(void *owner, journal_visit_fn visit, void *arg);
/* A restored record (takes m): the owner defers it again (then it is live: each visits it) or,
 * when it is due already, queues it. */
typedef void (*journal_restore_fn)(void *owner, msg_t *m, uint16_t attempts, int64_t due_ns);

typedef struct journal_tomb {
    msg_t *msg; /* one reference until its tombstone is written */
    uint16_t attempts;
} journal_tomb_t;

typedef struct journal {
    msgqueue_t *q; /* borrowed: the owner's queue */
    const char *name;
    journal_each_fn each;
    void *owner;
    int64_t live; /* records of messages still deferred */
    journal_tomb_t *tombs;
    size_t ntombs, cap, ready; /* the first `ready` wait for the pending main-queue sync */
    struct journal_wait *wait;
    struct event *rewrite_ev;
    bool frozen;
} journal_t;

/* 0, or -1 on OOM. name and q are borrowed. */
int journal_init(journal_t *j, struct event_base *base, msgqueue_t *q, const char *name,
                 journal_each_fn each, void *owner);
void journal_close(journal_t *j);

/* Restores the journal's live records through fn, then rewrites it to hold exactly the ones
 * kept. Returns how many were restored. */
size_t journal_load(journal_t *j, journal_restore_fn fn);
/* A new deferred message (durable DPUB): its record, part of the publish being acknowledged.
 * 0, or -1 (logged; the publish fails through the queue's failure flag). */
int journal_add(journal_t *j, const msg_t *m, uint16_t attempts, int64_t due_ns);
/* A live message left the deferred heap into the queue (takes a reference of its own). */
void journal_left(journal_t *j, msg_t *m, uint16_t attempts);
/* A live message was dropped (empty). */
void journal_forget(journal_t *j);
/* Everything dropped (the queue was emptied). */
void journal_reset(journal_t *j);
/* Shutdown: the owner marked every deferred message live; writes exactly those. */
void journal_persist(journal_t *j);

#endif
