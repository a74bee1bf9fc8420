/* topic: a named stream and its channels.
 * Owns: the channels (strmap by name plus a flat array for fan-out), the topic's own queue
 * (ring + disk queue, msgqueue.c: messages waiting while there is no channel or the topic is
 * paused), the incremental drain of that queue into the channels, and its counters.
 * Leaves to others: delivery (channel.c), record encoding (msgqueue.c), where disk queues live
 * and deletion policy (hooks). */
#include "nsqd/topic.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/msgqueue.h"

/* Messages moved from the topic's queue into its channels per loop iteration: a large
 * backlog drains without stalling the loop. */
#define DRAIN_BATCH 1024
/* The topic's backlog is readable again (the disk refused it): look again after this. */
#define DRAIN_RETRY_MS 500
#define NS_PER_MS INT64_C(1000000)

struct topic {
    char *name;
    bool ephemeral;
    bool paused;
    bool frozen;       /* shutdown: no more draining */
    bool delete_files; /* topic_destroy */
    struct event_base *base;
    chan_config_t chan_cfg;

    msgqueue_t q;
    struct event *drain_ev;

    strmap_t *channels;
    channel_t **chans; /* fan-out array, same set as channels */
    size_t nchans, chans_cap;

    uint64_t message_count, message_bytes;
    uint64_t pend_count, pend_bytes; /* counted by topic_put, not yet committed */
    topic_hooks_t hooks;
    struct event *ephemeral_ev;
};

static void ephemeral_cb(evutil_socket_t fd, short what, void *arg);
static void drain_cb(evutil_socket_t fd, short what, void *arg);
static void chan_ephemeral_empty(void *ctx, channel_t *ch);

static backend_t *open_queue(void *ctx, bool deferred, bool create)
{
    topic_t *t = ctx;
    char name[NAME_MAX_LEN + 16];
    snprintf(name, sizeof(name), "%s%s", t->name, deferred ? "#deferred" : "");
    return t->hooks.open_backend(t->hooks.ctx, name, deferred, create);
}

topic_t *topic_new(struct event_base *base, const char *name, const chan_config_t *cfg,
                   const topic_hooks_t *hooks)
{
    topic_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->name = strdup(name);
    t->ephemeral = name_is_ephemeral(name, strlen(name));
    t->base = base;
    t->chan_cfg = *cfg;
    if (hooks)
        t->hooks = *hooks;
    mq_init(&t->q, t->name ? t->name : name, cfg->mem_queue_size, t->ephemeral,
            t->hooks.open_backend && t->name ? open_queue : NULL, t);
    t->channels = strmap_new();
    t->ephemeral_ev = event_new(base, -1, 0, ephemeral_cb, t);
    t->drain_ev = evtimer_new(base, drain_cb, t);
    if (!t->name || !t->channels || !t->ephemeral_ev || !t->drain_ev) {
        topic_free(t);
        return NULL;
    }
    return t;
}

void topic_free(topic_t *t)
{
    if (!t)
        return;
    t->frozen = true;
    for (size_t i = 0; i < t->nchans; i++) {
        if (t->delete_files)
            chan_destroy(t->chans[i]);
        else
            chan_free(t->chans[i]);
    }
    free(t->chans);
    strmap_free(t->channels);
    mq_close(&t->q, t->delete_files);
    if (t->ephemeral_ev)
        event_free(t->ephemeral_ev);
    if (t->drain_ev)
        event_free(t->drain_ev);
    free(t->name);
    free(t);
}

void topic_destroy(topic_t *t)
{
    if (!t)
        return;
    t->delete_files = true;
    topic_free(t);
}

const char *topic_name(const topic_t *t)
{
    return t->name;
}
bool topic_is_ephemeral(const topic_t *t)
{
    return t->ephemeral;
}

/* ---- publishing --------------------------------------------------------------------------- */

static bool holds_locally(const topic_t *t)
{
    return t->paused || t->nchans == 0;
}

bool topic_can_accept(const topic_t *t, size_t n)
{
    if (holds_locally(t))
        return mq_can_accept(&t->q, n);
    for (size_t i = 0; i < t->nchans; i++)
        if (!chan_can_accept(t->chans[i], n))
            return false;
    return true;
}

/* Why q cannot take n more: its disk queue's last error, or a full memory-only queue. */
static void queue_refusal(const msgqueue_t *q, char *err, size_t errlen)
{
    backend_stats_t bs;
    if (q->backend) {
        q->backend->ops->get_stats(q->backend, &bs);
        snprintf(err, errlen, "%s", bs.last_error[0] ? bs.last_error : "disk queue unavailable");
        return;
    }
    snprintf(err, errlen, "queue full (--mem-queue-size=%lld, no disk queue)",
             (long long)q->mem_bound);
}

void topic_refusal(const topic_t *t, size_t n, char *err, size_t errlen)
{
    snprintf(err, errlen, "queue full");
    if (holds_locally(t)) {
        queue_refusal(&t->q, err, errlen);
        return;
    }
    for (size_t i = 0; i < t->nchans; i++) {
        if (!chan_can_accept(t->chans[i], n)) {
            queue_refusal(chan_queue(t->chans[i]), err, errlen);
            return;
        }
    }
}

/* Gives one reference to each channel; consumes the caller's. */
static void fan_out(topic_t *t, msg_t *m, uint16_t attempts, int64_t defer_ns)
{
    size_t last = t->nchans - 1;
    for (size_t i = 0; i < last; i++)
        chan_put(t->chans[i], msg_ref(m), attempts, defer_ns);
    chan_put(t->chans[last], m, attempts, defer_ns);
}

int topic_put(topic_t *t, msg_t *m, int64_t defer_ns, char *err, size_t errlen)
{
    if (!topic_can_accept(t, 1)) {
        topic_refusal(t, 1, err, errlen);
        msg_unref(m);
        return -1;
    }
    t->message_count++;
    t->message_bytes += m->body_len;
    t->pend_count++;
    t->pend_bytes += m->body_len;
    if (!holds_locally(t)) {
        fan_out(t, m, 0, defer_ns);
        return 0;
    }
    int64_t defer_ms = defer_ns / NS_PER_MS;
    if (defer_ms > UINT32_MAX)
        defer_ms = UINT32_MAX;
    if (mq_put(&t->q, m, 0, (uint32_t)defer_ms, err, errlen) < 0) {
        t->message_count--;
        t->message_bytes -= m->body_len;
        t->pend_count--;
        t->pend_bytes -= m->body_len;
        msg_unref(m);
        return -1;
    }
    return 0;
}

/* Moves what the topic holds to its channels (after a channel appears or on unpause), one
 * batch per loop iteration. Channels take already-accepted messages even beyond their memory
 * bound: nothing is lost. DPUBs held on disk keep their due time. */
static void drain(topic_t *t)
{
    msgring_slot_t s;
    int64_t due;
    size_t n = 0;
    if (t->frozen)
        return;
    for (; n < DRAIN_BATCH && !holds_locally(t); n++) {
        if (mq_pop(&t->q, &s)) {
            fan_out(t, s.msg, s.attempts, (int64_t)s.defer_ms * NS_PER_MS);
        } else if (mq_defer_pop(&t->q, &s, &due)) {
            int64_t left = due - clock_realtime_ns();
            fan_out(t, s.msg, s.attempts, left > 0 ? left : 0);
        } else {
            break;
        }
    }
    if (holds_locally(t) || (mq_depth(&t->q) == 0 && mq_defer_depth(&t->q) == 0))
        return;
    if (n == DRAIN_BATCH) {
        event_active(t->drain_ev, EV_TIMEOUT, 0);
    } else {
        struct timeval tv = {0, DRAIN_RETRY_MS * 1000};
        evtimer_add(t->drain_ev, &tv);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    drain(arg);
}

/* ---- acknowledging publishes -------------------------------------------------------------- */

int topic_commit(topic_t *t, char *err, size_t errlen)
{
    int rc = mq_flush(&t->q, err, errlen);
    for (size_t i = 0; i < t->nchans; i++)
        if (mq_flush(chan_queue(t->chans[i]), err, errlen) < 0)
            rc = -1;
    if (rc < 0) { /* refused: its records were taken back, so are its counts */
        t->message_count -= t->pend_count;
        t->message_bytes -= t->pend_bytes;
    }
    t->pend_count = t->pend_bytes = 0;
    return rc;
}

void topic_abort(topic_t *t)
{
    mq_abort(&t->q);
    for (size_t i = 0; i < t->nchans; i++)
        mq_abort(chan_queue(t->chans[i]));
    t->message_count -= t->pend_count;
    t->message_bytes -= t->pend_bytes;
    t->pend_count = t->pend_bytes = 0;
}

typedef struct sync_join {
    int pending, status;
    backend_synced_cb cb;
    void *arg;
} sync_join_t;

static void join_cb(void *arg, int status)
{
    sync_join_t *j = arg;
    if (status != 0)
        j->status = -1;
    if (--j->pending > 0)
        return;
    j->cb(j->arg, j->status);
    free(j);
}

int topic_when_synced(topic_t *t, backend_synced_cb cb, void *arg, char *err, size_t errlen)
{
    t->pend_count = t->pend_bytes = 0;
    bool failed = mq_take_failure(&t->q, err, errlen);
    for (size_t i = 0; i < t->nchans; i++)
        failed = mq_take_failure(chan_queue(t->chans[i]), err, errlen) || failed;
    if (failed)
        return -1;
    sync_join_t *j = malloc(sizeof(*j));
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *j = (sync_join_t){.pending = 1, .status = 0, .cb = cb, .arg = arg};
    j->pending += mq_when_synced(&t->q, join_cb, j);
    for (size_t i = 0; i < t->nchans; i++)
        j->pending += mq_when_synced(chan_queue(t->chans[i]), join_cb, j);
    if (--j->pending > 0)
        return 1; /* the backends never call back from inside when_synced */
    free(j);
    return 0;
}

/* ---- channels ----------------------------------------------------------------------------- */

static int chans_add(topic_t *t, channel_t *ch)
{
    if (t->nchans == t->chans_cap) {
        size_t ncap = t->chans_cap ? t->chans_cap * 2 : 4;
        channel_t **n = realloc(t->chans, ncap * sizeof(*n));
        if (!n)
            return -1;
        t->chans = n;
        t->chans_cap = ncap;
    }
    t->chans[t->nchans++] = ch;
    return 0;
}

static void chans_del(topic_t *t, channel_t *ch)
{
    for (size_t i = 0; i < t->nchans; i++) {
        if (t->chans[i] == ch) {
            t->chans[i] = t->chans[--t->nchans];
            return;
        }
    }
}

channel_t *topic_find_channel(const topic_t *t, const char *name, size_t len)
{
    return strmap_get(t->channels, name, len);
}

static backend_t *chan_open_backend(void *ctx, const char *name, bool deferred, bool create)
{
    topic_t *t = ctx;
    return t->hooks.open_backend(t->hooks.ctx, name, deferred, create);
}

static void chan_state_changed(void *ctx, channel_t *ch)
{
    topic_t *t = ctx;
    if (t->hooks.state_changed)
        t->hooks.state_changed(t->hooks.ctx, t);
}

channel_t *topic_get_channel(topic_t *t, const char *name, size_t len)
{
    channel_t *ch = strmap_get(t->channels, name, len);
    if (ch)
        return ch;
    char *cname = strndup(name, len);
    chan_hooks_t hooks = {.ephemeral_empty = chan_ephemeral_empty,
                          .open_backend = t->hooks.open_backend ? chan_open_backend : NULL,
                          .state_changed = chan_state_changed,
                          .ctx = t};
    ch = cname ? chan_new(t->base, t->name, cname, &t->chan_cfg, &hooks) : NULL;
    free(cname);
    if (!ch)
        return NULL;
    if (strmap_put(t->channels, name, len, ch) < 0 || chans_add(t, ch) < 0) {
        strmap_del(t->channels, name, len);
        chan_free(ch);
        return NULL;
    }
    if (event_pending(t->ephemeral_ev, EV_TIMEOUT, NULL))
        event_del(t->ephemeral_ev);
    log_info("TOPIC(%s): new channel(%s)", t->name, chan_name(ch));
    if (t->hooks.channel_changed)
        t->hooks.channel_changed(t->hooks.ctx, t, chan_name(ch), true);
    drain(t);
    return ch;
}

int topic_delete_channel(topic_t *t, const char *name, size_t len)
{
    channel_t *ch = strmap_del(t->channels, name, len);
    if (!ch)
        return -1;
    chans_del(t, ch);
    log_info("TOPIC(%s): deleting channel %s", t->name, chan_name(ch));
    if (t->hooks.channel_changed)
        t->hooks.channel_changed(t->hooks.ctx, t, chan_name(ch), false);
    chan_destroy(ch);
    if (t->ephemeral && t->nchans == 0 && t->hooks.ephemeral_empty) {
        struct timeval zero = {0, 0};
        event_add(t->ephemeral_ev, &zero);
    }
    return 0;
}

static void chan_ephemeral_empty(void *ctx, channel_t *ch)
{
    topic_t *t = ctx;
    const char *name = chan_name(ch);
    topic_delete_channel(t, name, strlen(name));
}

static void ephemeral_cb(evutil_socket_t fd, short what, void *arg)
{
    topic_t *t = arg;
    if (t->nchans == 0 && t->hooks.ephemeral_empty)
        t->hooks.ephemeral_empty(t->hooks.ctx, t); /* may free t */
}

size_t topic_channel_count(const topic_t *t)
{
    return t->nchans;
}

static int cmp_chan(const void *a, const void *b)
{
    return strcmp(chan_name(*(channel_t *const *)a), chan_name(*(channel_t *const *)b));
}

size_t topic_channels(const topic_t *t, channel_t **out, size_t cap)
{
    size_t n = t->nchans < cap ? t->nchans : cap;
    if (n == 0)
        return 0;
    memcpy(out, t->chans, n * sizeof(*out));
    qsort(out, n, sizeof(*out), cmp_chan);
    return n;
}

/* ---- admin, shutdown and stats ------------------------------------------------------------ */

static void state_changed(topic_t *t)
{
    if (t->hooks.state_changed)
        t->hooks.state_changed(t->hooks.ctx, t);
}

void topic_pause(topic_t *t)
{
    t->paused = true;
    state_changed(t);
}

void topic_unpause(topic_t *t)
{
    t->paused = false;
    state_changed(t);
    drain(t);
}

bool topic_is_paused(const topic_t *t)
{
    return t->paused;
}

void topic_empty(topic_t *t)
{
    mq_empty(&t->q);
}

bool topic_is_healthy(const topic_t *t)
{
    if (!mq_healthy(&t->q))
        return false;
    for (size_t i = 0; i < t->nchans; i++)
        if (!chan_is_healthy(t->chans[i]))
            return false;
    return true;
}

void topic_freeze(topic_t *t)
{
    t->frozen = true;
    evtimer_del(t->drain_ev);
    for (size_t i = 0; i < t->nchans; i++)
        chan_freeze(t->chans[i]);
}

size_t topic_persist(topic_t *t)
{
    size_t lost = 0, held = mq_ring_len(&t->q);
    for (size_t i = 0; i < t->nchans; i++)
        lost += chan_persist(t->chans[i]);
    if (t->ephemeral)
        return lost;
    if (held)
        log_info("TOPIC(%s): writing %zu queued messages to disk", t->name, held);
    return lost + mq_spill(&t->q);
}

void topic_get_stats(const topic_t *t, topic_stats_t *out)
{
    mq_stats_t qs;
    mq_get_stats(&t->q, &qs);
    out->backend_depth = qs.backend_depth + qs.deferred_depth;
    out->depth = qs.depth + qs.deferred_depth;
    out->dropped_count = qs.dropped;
    out->corrupt_count = qs.corrupt_count;
    out->message_count = t->message_count;
    out->message_bytes = t->message_bytes;
    out->channel_count = (int64_t)t->nchans;
    out->paused = t->paused;
}
