/* journal: a channel's deferred messages on disk.
 * Owns: the count of live records, the messages that left (held until their tombstone is
 * written), the pending "main queue synced" wait, the rewrite event, and the replay rules
 * (tombstones cancel records). Leaves to others: the deferred heap and which entries are live
 * (the channel, through each/restore), the bytes on disk (msgqueue's deferred backend). */
#include "nsqd/journal.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"

/* Rewritten once it holds this many more records than twice the live ones. */
#define JOURNAL_SLACK 1024

/* A pending wait for the main queue's sync: outlives a closed journal (j is then NULL). */
typedef struct journal_wait {
    journal_t *j;
} journal_wait_t;

static void rewrite_cb(evutil_socket_t fd, short what, void *arg);
static void check(journal_t *j);

int journal_init(journal_t *j, struct event_base *base, msgqueue_t *q, const char *name,
                 journal_each_fn each, void *owner)
{
    memset(j, 0, sizeof(*j));
    j->q = q;
    j->name = name;
    j->each = each;
    j->owner = owner;
    j->rewrite_ev = event_new(base, -1, 0, rewrite_cb, j);
    return j->rewrite_ev ? 0 : -1;
}

static void drop_tombs(journal_t *j, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        msg_unref(j->tombs[i].msg);
    memmove(j->tombs, j->tombs + n, (j->ntombs - n) * sizeof(*j->tombs));
    j->ntombs -= n;
    j->ready = j->ready > n ? j->ready - n : 0;
}

void journal_close(journal_t *j)
{
    j->frozen = true; /* from here on nothing on disk changes */
    if (j->wait)
        j->wait->j = NULL; /* its callback may come while the queue closes */
    j->wait = NULL;
    drop_tombs(j, j->ntombs);
    free(j->tombs);
    j->tombs = NULL;
    if (j->rewrite_ev)
        event_free(j->rewrite_ev);
    j->rewrite_ev = NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void put_record(journal_t *j, const msg_t *m, uint16_t attempts, int64_t due)
{
    char err[256];
    if (mq_defer_put(j->q, m, attempts, due, false, err, sizeof(err)) < 0)
        log_error("JOURNAL(%s): cannot write deferred message %.16s: %s", j->name, m->id, err);
}

static void visit_live(void *arg, const msg_t *m, uint16_t attempts, int64_t due)
{
    journal_t *j = arg;
    put_record(j, m, attempts, due);
    j->live++;
}

/* Drops the journal and writes the live records again, plus the messages that left but whose
 * move is not synced yet (as already due: their tombstones follow). */
static void rewrite(journal_t *j)
{
    mq_defer_empty(j->q);
    j->live = 0;
    j->ready = 0;
    for (size_t i = 0; i < j->ntombs; i++)
        put_record(j, j->tombs[i].msg, j->tombs[i].attempts, 0);
    j->each(j->owner, visit_live, j);
}

static bool bloated(const journal_t *j)
{
    return mq_defer_depth(j->q) > 2 * (j->live + (int64_t)j->ntombs) + JOURNAL_SLACK;
}

static void rewrite_cb(evutil_socket_t fd, short what, void *arg)
{
    journal_t *j = arg;
    if (!j->frozen && bloated(j))
        rewrite(j);
}

int journal_add(journal_t *j, const msg_t *m, uint16_t attempts, int64_t due)
{
    char err[256];
    if (mq_defer_put(j->q, m, attempts, due, true, err, sizeof(err)) < 0) {
        log_error("JOURNAL(%s): cannot write deferred message %.16s: %s", j->name, m->id, err);
        mq_note_failure(j->q, err);
        return -1;
    }
    j->live++;
    if (bloated(j))
        event_active(j->rewrite_ev, EV_TIMEOUT, 0); /* not inside the publish */
    return 0;
}

/* ---- messages leaving --------------------------------------------------------------------- */

/* The main queue synced what left before the wait began: tombstones for those, or no journal
 * at all when nothing in it is live any more. */
static void settle(journal_t *j)
{
    char err[256];
    size_t n = j->ready;
    if (j->live == 0 && n == j->ntombs) {
        mq_defer_empty(j->q);
        drop_tombs(j, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (mq_defer_mark(j->q, j->tombs[i].msg, JOURNAL_TOMBSTONE, err, sizeof(err)) < 0)
            log_error("JOURNAL(%s): cannot write a tombstone: %s", j->name, err);
    drop_tombs(j, n);
    if (bloated(j))
        rewrite(j);
}

static void synced_cb(void *arg, int status)
{
    journal_wait_t *w = arg;
    journal_t *j = w->j;
    free(w);
    if (!j)
        return;
    j->wait = NULL;
    if (status == 0)
        settle(j);
    check(j);
}

/* Messages left: wait for the main queue to sync them, then settle. */
static void check(journal_t *j)
{
    if (j->wait || j->frozen || j->ntombs == 0)
        return;
    if (mq_defer_depth(j->q) == 0) { /* nothing journaled (emptied meanwhile) */
        drop_tombs(j, j->ntombs);
        return;
    }
    journal_wait_t *w = malloc(sizeof(*w));
    j->ready = j->ntombs;
    if (w) {
        w->j = j;
        if (mq_after_sync(j->q, synced_cb, w) == 0) {
            j->wait = w;
            return;
        }
        free(w);
    }
    settle(j); /* no main queue to wait for (or OOM) */
}

void journal_left(journal_t *j, msg_t *m, uint16_t attempts)
{
    j->live--;
    if (j->ntombs == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        journal_tomb_t *t = realloc(j->tombs, cap * sizeof(*t));
        if (!t) { /* at worst the message comes back once after a crash */
            log_error("JOURNAL(%s): out of memory: no tombstone for %.16s", j->name, m->id);
            return;
        }
        j->tombs = t;
        j->cap = cap;
    }
    j->tombs[j->ntombs++] = (journal_tomb_t){msg_ref(m), attempts};
    check(j);
}

void journal_forget(journal_t *j)
{
    j->live--;
    if (j->live == 0 && j->ntombs == 0 && !j->frozen)
        mq_defer_empty(j->q);
}

void journal_reset(journal_t *j)
{
    j->live = 0;
    drop_tombs(j, j->ntombs);
}

void journal_persist(journal_t *j)
{
    j->frozen = true;
    drop_tombs(j, j->ntombs); /* their messages are in the main queue, synced at close */
    rewrite(j);
}

/* ---- replay ------------------------------------------------------------------------------- */

typedef struct pending {
    msg_t *msg;
    uint16_t attempts;
    int64_t due;
} pending_t;

/* Reads every record; a tombstone cancels the record of its id. NULL on OOM. */
static u64map_t *replay(journal_t *j, size_t *tombstones)
{
    msgring_slot_t s;
    int64_t due;
    u64map_t *map = u64map_new(64);
    while (map && mq_defer_pop(j->q, &s, &due) == 1) {
        pending_t *p = u64map_del(map, s.msg->id_num);
        if (p) {
            msg_unref(p->msg);
            free(p);
        }
        if (due == JOURNAL_TOMBSTONE) {
            (*tombstones)++;
            msg_unref(s.msg);
            continue;
        }
        if (!(p = malloc(sizeof(*p))) || u64map_put(map, s.msg->id_num, p) < 0) {
            free(p);
            msg_unref(s.msg);
            log_error("JOURNAL(%s): out of memory restoring deferred messages", j->name);
            continue;
        }
        *p = (pending_t){s.msg, s.attempts, due};
    }
    return map;
}

size_t journal_load(journal_t *j, journal_restore_fn fn)
{
    size_t pos = 0, n = 0, tombstones = 0;
    uint64_t key;
    void *v;
    if (mq_defer_depth(j->q) == 0)
        return 0;
    u64map_t *map = replay(j, &tombstones);
    if (!map)
        return 0;
    while (u64map_next(map, &pos, &key, &v)) {
        pending_t *p = v;
        n++;
        fn(j->owner, p->msg, p->attempts, p->due); /* takes the reference */
        p->msg = NULL;
    }
    pos = 0;
    while (u64map_next(map, &pos, &key, &v))
        free(v);
    u64map_free(map);
    rewrite(j);
    log_info("JOURNAL(%s): restored %zu deferred messages (%zu tombstones)", j->name, n,
             tombstones);
    return n;
}
