/* channel: queues, in-flight and deferred state of one subscription, and delivery under RDY.
 * Owns: its message queue (ring + disk queue, msgqueue.c), the in-flight table (u64map by id,
 * deadline heap, per-consumer lists), the deferred heap and its journal on disk (which records
 * are live in it), the consumer lists and one timer armed at the earliest deadline.
 * Leaves to others: what a consumer is (ops), when to delete an ephemeral channel and where
 * disk queues live (hooks), record encoding (msgqueue.c). */
#include "nsqd/channel.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/guid.h"
#include "common/hashmap.h"
#include "common/heap.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/journal.h"
#include "nsqd/msgqueue.h"
#include "nsqd/msgring.h"

/* A backlog the disk refuses to hand out (buffered, unwritable) is retried this often. */
#define STUCK_RETRY_MS 500

/* A message that left the ring: in flight (owner set) or deferred (owner NULL). Pooled. */
typedef struct inflight {
    heap_node_t hn;         /* deadline (in flight) or due time (deferred), monotonic ns */
    msg_t *msg;             /* one reference */
    chan_consumer_t *owner;
    struct inflight *next, *prev; /* owner's list, or the free list (next only) */
    int64_t delivered_at;
    uint16_t attempts;
    bool journaled; /* deferred: its record is live in the deferred journal */
} inflight_t;

struct channel {
    char *name;
    char *topic_name;
    char *qname; /* "topic:channel", the disk queue's name */
    bool ephemeral;
    bool paused;
    bool pumping;
    bool frozen;       /* shutdown: no more deliveries */
    bool delete_files; /* chan_destroy */
    struct event_base *base;
    chan_config_t cfg;

    msgqueue_t q;
    journal_t journal; /* the deferred heap's journaled entries, on disk */
    struct event *retry_ev;

    u64map_t *inflight;  /* id_num -> inflight_t (in flight only) */
    heap_t inflight_heap;
    heap_t deferred_heap;
    inflight_t *free_list;
    size_t free_len;

    struct event *timer;
    int64_t timer_at; /* armed expiry (monotonic ns), INT64_MAX when idle */

    chan_consumer_t *consumers; /* all consumers */
    size_t nconsumers;
    chan_consumer_t *ready;     /* circular list of consumers that can take a message */

    uint64_t message_count, requeue_count, timeout_count;

    chan_hooks_t hooks;
    struct event *ephemeral_ev;
    chan_fin_observer_t fin_observer;
    void *obs_state;                /* telemetry's (chan_observer_t) */
    twavg_t inflight_tw, ready_tw; /* levels for time-weighted averages (telemetry) */
    void *fin_ctx;
};

static void timer_cb(evutil_socket_t fd, short what, void *arg);

/* The in-flight level for telemetry's time-weighted average (a coarse clock: ~5 ns). */
static inline void level_inflight(channel_t *ch)
{
    twavg_set(&ch->inflight_tw, (int64_t)u64map_len(ch->inflight), clock_coarse_ns());
}
static void ephemeral_cb(evutil_socket_t fd, short what, void *arg);
static void retry_cb(evutil_socket_t fd, short what, void *arg);
static void pump(channel_t *ch);
static void journal_each(void *owner, journal_visit_fn visit, void *arg);
static void journal_restore(void *owner, msg_t *m, uint16_t attempts, int64_t due);

/* ---- records ----------------------------------------------------------------------------- */

static inflight_t *record_get(channel_t *ch)
{
    inflight_t *r = ch->free_list;
    if (r) {
        ch->free_list = r->next;
        ch->free_len--;
    } else if (!(r = malloc(sizeof(*r)))) {
        return NULL;
    }
    memset(r, 0, sizeof(*r));
    r->hn.idx = HEAP_NOT_IN;
    return r;
}

static void record_put(channel_t *ch, inflight_t *r)
{
    if (ch->free_len >= 4096) {
        free(r);
        return;
    }
    r->next = ch->free_list;
    ch->free_list = r;
    ch->free_len++;
}

static void owner_link(chan_consumer_t *c, inflight_t *r)
{
    r->owner = c;
    r->prev = NULL;
    r->next = c->inflight_head;
    if (r->next)
        r->next->prev = r;
    c->inflight_head = r;
}

static void owner_unlink(inflight_t *r)
{
    chan_consumer_t *c = r->owner;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->inflight_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->owner = NULL;
    r->next = r->prev = NULL;
}

/* ---- ready list --------------------------------------------------------------------------- */

static bool consumer_can_take(const chan_consumer_t *c)
{
    return c->in_flight_count < c->ready_count;
}

static void ready_add(channel_t *ch, chan_consumer_t *c)
{
    if (c->in_ready_list)
        return;
    c->in_ready_list = true;
    if (!ch->ready) {
        c->rnext = c->rprev = c;
        ch->ready = c;
        return;
    }
    /* insert before the head: the newest ready consumer is served last in the round */
    c->rnext = ch->ready;
    c->rprev = ch->ready->rprev;
    c->rprev->rnext = c;
    ch->ready->rprev = c;
}

static void ready_del(channel_t *ch, chan_consumer_t *c)
{
    if (!c->in_ready_list)
        return;
    c->in_ready_list = false;
    if (c->rnext == c) {
        ch->ready = NULL;
    } else {
        c->rprev->rnext = c->rnext;
        c->rnext->rprev = c->rprev;
        if (ch->ready == c)
            ch->ready = c->rnext;
    }
    c->rnext = c->rprev = NULL;
}

static void ready_update(channel_t *ch, chan_consumer_t *c)
{
    if (consumer_can_take(c))
        ready_add(ch, c);
    else
        ready_del(ch, c);
}

/* ---- timer -------------------------------------------------------------------------------- */

static void timer_arm(channel_t *ch, int64_t at)
{
    if (at >= ch->timer_at)
        return;
    ch->timer_at = at;
    int64_t d = at - clock_monotonic_ns();
    if (d < 0)
        d = 0;
    struct timeval tv = {.tv_sec = d / 1000000000, .tv_usec = (d % 1000000000) / 1000 + 1};
    evtimer_add(ch->timer, &tv);
}

static void timer_rearm(channel_t *ch)
{
    ch->timer_at = INT64_MAX;
    evtimer_del(ch->timer);
    heap_node_t *a = heap_peek(&ch->inflight_heap);
    heap_node_t *b = heap_peek(&ch->deferred_heap);
    int64_t at = INT64_MAX;
    if (a)
        at = a->key;
    if (b && b->key < at)
        at = b->key;
    if (at != INT64_MAX)
        timer_arm(ch, at);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static backend_t *open_queue(void *ctx, bool deferred, bool create)
{
    channel_t *ch = ctx;
    char name[2 * NAME_MAX_LEN + 16];
    snprintf(name, sizeof(name), "%s%s", ch->qname, deferred ? "#deferred" : "");
    return ch->hooks.open_backend(ch->hooks.ctx, name, deferred, create);
}

static char *join_names(const char *topic, const char *name)
{
    size_t n = strlen(topic) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s:%s", topic, name);
    return s;
}

channel_t *chan_new(struct event_base *base, const char *topic_name, const char *name,
                    const chan_config_t *cfg, const chan_hooks_t *hooks)
{
    channel_t *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->name = strdup(name);
    ch->topic_name = strdup(topic_name);
    ch->qname = join_names(topic_name, name);
    ch->ephemeral = name_is_ephemeral(name, strlen(name));
    ch->base = base;
    ch->cfg = *cfg;
    if (hooks)
        ch->hooks = *hooks;
    mq_init(&ch->q, ch->qname ? ch->qname : name, cfg->mem_queue_size, ch->ephemeral,
            ch->hooks.open_backend && ch->qname ? open_queue : NULL, ch);
    heap_init(&ch->inflight_heap);
    heap_init(&ch->deferred_heap);
    ch->inflight = u64map_new(64);
    ch->timer = evtimer_new(base, timer_cb, ch);
    ch->ephemeral_ev = event_new(base, -1, 0, ephemeral_cb, ch);
    ch->retry_ev = evtimer_new(base, retry_cb, ch);
    ch->timer_at = INT64_MAX;
    if (!ch->name || !ch->topic_name || !ch->qname || !ch->inflight || !ch->timer ||
        !ch->ephemeral_ev || !ch->retry_ev ||
        journal_init(&ch->journal, base, &ch->q, ch->qname, journal_each, ch) < 0) {
        chan_free(ch);
        return NULL;
    }
    journal_load(&ch->journal, journal_restore);
    chan_attach_observer(ch);
    return ch;
}

static void undefer(channel_t *ch, inflight_t *r, bool left);

static void drop_inflight_and_deferred(channel_t *ch)
{
    heap_node_t *hn;
    while ((hn = heap_pop(&ch->inflight_heap))) {
        inflight_t *r = heap_entry(hn, inflight_t, hn);
        chan_consumer_t *c = r->owner;
        u64map_del(ch->inflight, r->msg->id_num);
        owner_unlink(r);
        c->in_flight_count--;
        msg_unref(r->msg);
        record_put(ch, r);
    }
    level_inflight(ch);
    while ((hn = heap_pop(&ch->deferred_heap))) {
        inflight_t *r = heap_entry(hn, inflight_t, hn);
        undefer(ch, r, false);
        msg_unref(r->msg);
        record_put(ch, r);
    }
}

void chan_free(channel_t *ch)
{
    if (!ch)
        return;
    chan_detach_observer(ch);
    ch->frozen = true;
    journal_close(&ch->journal); /* keeps what is on disk */
    /* detach consumers first: they are told the channel is gone */
    while (ch->consumers) {
        chan_consumer_t *c = ch->consumers;
        chan_remove_consumer(ch, c);
        if (c->ops && c->ops->channel_closed)
            c->ops->channel_closed(c);
    }
    if (ch->inflight)
        drop_inflight_and_deferred(ch);
    mq_close(&ch->q, ch->delete_files);
    heap_free(&ch->inflight_heap);
    heap_free(&ch->deferred_heap);
    u64map_free(ch->inflight);
    while (ch->free_list) {
        inflight_t *r = ch->free_list;
        ch->free_list = r->next;
        free(r);
    }
    if (ch->timer)
        event_free(ch->timer);
    if (ch->ephemeral_ev)
        event_free(ch->ephemeral_ev);
    if (ch->retry_ev)
        event_free(ch->retry_ev);
    free(ch->name);
    free(ch->topic_name);
    free(ch->qname);
    free(ch);
}

void chan_destroy(channel_t *ch)
{
    if (!ch)
        return;
    ch->delete_files = true;
    chan_free(ch);
}

const char *chan_name(const channel_t *ch) { return ch->name; }
bool chan_is_ephemeral(const channel_t *ch) { return ch->ephemeral; }
msgqueue_t *chan_queue(channel_t *ch) { return &ch->q; }
bool chan_is_healthy(const channel_t *ch) { return mq_healthy(&ch->q); }

/* ---- the deferred journal ------------------------------------------------------------------ */

/* The due time of a deferred record as wall-clock ns (the heap keeps monotonic time). */
static int64_t due_wall(const inflight_t *r, int64_t now_wall, int64_t now_mono)
{
    return now_wall + (r->hn.key - now_mono);
}

static void journal_each(void *owner, journal_visit_fn visit, void *arg)
{
    channel_t *ch = owner;
    int64_t now_wall = clock_realtime_ns(), now_mono = clock_monotonic_ns();
    for (size_t i = 0; i < heap_len(&ch->deferred_heap); i++) {
        inflight_t *r = heap_entry(ch->deferred_heap.a[i], inflight_t, hn);
        if (r->journaled)
            visit(arg, r->msg, r->attempts, due_wall(r, now_wall, now_mono));
    }
}

static void defer_record(channel_t *ch, inflight_t *r, int64_t delay_ns);

/* A message from the journal at creation: deferred again until its due time, or queued. */
static void journal_restore(void *owner, msg_t *m, uint16_t attempts, int64_t due)
{
    channel_t *ch = owner;
    int64_t left = due - clock_realtime_ns();
    inflight_t *r = left > 0 ? record_get(ch) : NULL;
    if (!r) {
        mq_put_accepted(&ch->q, m, attempts);
        return;
    }
    r->msg = m;
    r->attempts = attempts;
    r->journaled = true;
    defer_record(ch, r, left);
}

/* A record leaves the deferred heap: into the queue (left), or dropped. */
static void undefer(channel_t *ch, inflight_t *r, bool left)
{
    if (!r->journaled)
        return;
    r->journaled = false;
    if (left)
        journal_left(&ch->journal, r->msg, r->attempts);
    else
        journal_forget(&ch->journal);
}

/* ---- queueing ----------------------------------------------------------------------------- */

bool chan_can_accept(const channel_t *ch, size_t n)
{
    return mq_can_accept(&ch->q, n);
}

static void defer_record(channel_t *ch, inflight_t *r, int64_t delay_ns)
{
    r->hn.key = clock_monotonic_ns() + delay_ns;
    heap_push(&ch->deferred_heap, &r->hn);
    timer_arm(ch, r->hn.key);
}

/* An already-accepted message back into the queue (requeue, timeout, deferral over). */
static void enqueue(channel_t *ch, msg_t *m, uint16_t attempts)
{
    mq_put_accepted(&ch->q, m, attempts);
}

void chan_put(channel_t *ch, msg_t *m, uint16_t attempts, int64_t defer_ns)
{
    char err[256];
    ch->message_count++;
    if (defer_ns > 0) {
        inflight_t *r = record_get(ch);
        if (r) {
            r->msg = m;
            r->attempts = attempts;
            defer_record(ch, r, defer_ns);
            if (ch->cfg.durable && !ch->ephemeral)
                r->journaled = journal_add(&ch->journal, m, attempts,
                                           due_wall(r, clock_realtime_ns(),
                                                    clock_monotonic_ns())) == 0;
            return;
        }
    }
    /* an ephemeral channel with a consumer waiting and nothing queued hands over directly,
     * even with --mem-queue-size=0 (nsqd's unbuffered Go channel does the same) */
    if (ch->ephemeral && ch->ready && !ch->paused && mq_ring_len(&ch->q) == 0)
        enqueue(ch, m, attempts);
    else if (mq_put(&ch->q, m, attempts, 0, err, sizeof(err)) < 0)
        enqueue(ch, m, attempts); /* the disk refused it: keep it (and report) */
    pump(ch);
}

/* ---- delivery ----------------------------------------------------------------------------- */

static bool sampled_out(const chan_consumer_t *c)
{
    return c->sample_rate > 0 && (random() % 100) >= c->sample_rate;
}

static void deliver(channel_t *ch, chan_consumer_t *c, msgring_slot_t *slot, int64_t now)
{
    inflight_t *r = record_get(ch);
    int rc = r ? u64map_put_new(ch->inflight, slot->msg->id_num, r) : -1;
    if (rc == 1) {
        /* the same id again (a disk queue delivered a record twice after a crash): one copy
         * in flight at a time, or FIN could not tell them apart */
        log_warn("CHANNEL(%s): message %.16s is in flight already: dropping the duplicate",
                 ch->qname, slot->msg->id);
        record_put(ch, r);
        msg_unref(slot->msg);
        return;
    }
    if (rc < 0) {
        /* no memory for the record: keep the message queued rather than lose it */
        free(r);
        enqueue(ch, slot->msg, slot->attempts);
        return;
    }
    r->msg = slot->msg;
    r->attempts = slot->attempts < UINT16_MAX ? slot->attempts + 1 : UINT16_MAX;
    r->delivered_at = now;
    r->hn.key = now + c->msg_timeout;
    heap_push(&ch->inflight_heap, &r->hn);
    owner_link(c, r);
    c->in_flight_count++;
    c->message_count++;
    if (!consumer_can_take(c))
        ready_del(ch, c);
    timer_arm(ch, r->hn.key);
    c->ops->deliver(c, r->msg, r->attempts);
}

/* Records the disk cannot hand out now (buffered, unwritable): look again later, since no
 * event would otherwise wake a waiting consumer when the disk recovers. */
static void arm_retry(channel_t *ch)
{
    if (!evtimer_pending(ch->retry_ev, NULL)) {
        struct timeval tv = {0, STUCK_RETRY_MS * 1000};
        evtimer_add(ch->retry_ev, &tv);
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    pump(arg);
}

static void pump(channel_t *ch)
{
    if (ch->paused || ch->pumping || ch->frozen)
        return;
    ch->pumping = true;
    int64_t now = 0;
    msgring_slot_t slot;
    while (ch->ready) {
        chan_consumer_t *c = ch->ready;
        if (!mq_pop(&ch->q, &slot)) {
            if (mq_backend_depth(&ch->q) > 0)
                arm_retry(ch);
            break;
        }
        if (!now)
            now = clock_monotonic_ns();
        if (sampled_out(c)) {
            msg_unref(slot.msg); /* as nsqd: a sampled-out message is consumed */
            continue;
        }
        deliver(ch, c, &slot, now);
        /* round robin: the next ready consumer gets the next message */
        if (c->in_ready_list && ch->ready == c)
            ch->ready = c->rnext;
    }
    if (now)
        level_inflight(ch); /* once per batch of deliveries */
    ch->pumping = false;
}

/* ---- timeouts and deferrals --------------------------------------------------------------- */

static void timeout_record(channel_t *ch, inflight_t *r)
{
    chan_consumer_t *c = r->owner;
    u64map_del(ch->inflight, r->msg->id_num);
    owner_unlink(r);
    c->in_flight_count--;
    level_inflight(ch);
    ready_update(ch, c);
    ch->timeout_count++;
    enqueue(ch, r->msg, r->attempts);
    record_put(ch, r);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    channel_t *ch = arg;
    int64_t now = clock_monotonic_ns();
    heap_node_t *hn;
    while ((hn = heap_peek(&ch->inflight_heap)) && hn->key <= now) {
        heap_pop(&ch->inflight_heap);
        timeout_record(ch, heap_entry(hn, inflight_t, hn));
    }
    while ((hn = heap_peek(&ch->deferred_heap)) && hn->key <= now) {
        heap_pop(&ch->deferred_heap);
        inflight_t *r = heap_entry(hn, inflight_t, hn);
        undefer(ch, r, true);
        enqueue(ch, r->msg, r->attempts);
        record_put(ch, r);
    }
    pump(ch);
    timer_rearm(ch);
}

/* ---- consumers ---------------------------------------------------------------------------- */

int chan_add_consumer(channel_t *ch, chan_consumer_t *c, int64_t max_consumers)
{
    if (max_consumers > 0 && (int64_t)ch->nconsumers >= max_consumers)
        return -1;
    c->channel = ch;
    c->in_flight_count = 0;
    c->inflight_head = NULL;
    c->in_ready_list = false;
    c->prev = NULL;
    c->next = ch->consumers;
    if (c->next)
        c->next->prev = c;
    ch->consumers = c;
    ch->nconsumers++;
    twavg_add(&ch->ready_tw, c->ready_count, clock_coarse_ns());
    if (event_pending(ch->ephemeral_ev, EV_TIMEOUT, NULL))
        event_del(ch->ephemeral_ev);
    ready_update(ch, c);
    pump(ch);
    return 0;
}

static void requeue_all(channel_t *ch, chan_consumer_t *c)
{
    while (c->inflight_head) {
        inflight_t *r = c->inflight_head;
        u64map_del(ch->inflight, r->msg->id_num);
        heap_remove(&ch->inflight_heap, &r->hn);
        owner_unlink(r);
        ch->requeue_count++;
        enqueue(ch, r->msg, r->attempts);
        record_put(ch, r);
    }
    c->in_flight_count = 0;
    level_inflight(ch);
}

void chan_remove_consumer(channel_t *ch, chan_consumer_t *c)
{
    if (c->channel != ch)
        return;
    ready_del(ch, c);
    requeue_all(ch, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->consumers = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->channel = NULL;
    ch->nconsumers--;
    twavg_add(&ch->ready_tw, -c->ready_count, clock_coarse_ns());
    if (ch->ephemeral && ch->nconsumers == 0 && ch->hooks.ephemeral_empty) {
        struct timeval zero = {0, 0};
        event_add(ch->ephemeral_ev, &zero);
    }
    pump(ch);
}

static void ephemeral_cb(evutil_socket_t fd, short what, void *arg)
{
    channel_t *ch = arg;
    if (ch->nconsumers == 0 && ch->hooks.ephemeral_empty)
        ch->hooks.ephemeral_empty(ch->hooks.ctx, ch); /* may free ch */
}

void chan_consumer_set_ready(chan_consumer_t *c, int64_t ready)
{
    if (c->channel)
        twavg_add(&c->channel->ready_tw, ready - c->ready_count, clock_coarse_ns());
    c->ready_count = ready;
    channel_t *ch = c->channel;
    if (!ch)
        return;
    ready_update(ch, c);
    pump(ch);
}

size_t chan_consumer_count(const channel_t *ch) { return ch->nconsumers; }

chan_consumer_t *chan_next_consumer(const channel_t *ch, chan_consumer_t *prev)
{
    return prev ? prev->next : ch->consumers;
}

/* ---- FIN / REQ / TOUCH -------------------------------------------------------------------- */

static inflight_t *find_owned(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen,
                              char *err, size_t errlen)
{
    uint64_t key;
    inflight_t *r = NULL;
    if (guid_from_hex(id, idlen, &key) == 0)
        r = u64map_get(ch->inflight, key);
    if (!r) {
        snprintf(err, errlen, "ID not in flight");
        return NULL;
    }
    if (r->owner != c) {
        snprintf(err, errlen, "client does not own message");
        return NULL;
    }
    return r;
}

/* Takes r out of flight; the caller decides where the message goes. */
static void unflight(channel_t *ch, inflight_t *r)
{
    chan_consumer_t *c = r->owner;
    u64map_del(ch->inflight, r->msg->id_num);
    heap_remove(&ch->inflight_heap, &r->hn);
    owner_unlink(r);
    c->in_flight_count--;
    level_inflight(ch);
    ready_update(ch, c);
}

int chan_finish(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen, char *err,
                size_t errlen)
{
    inflight_t *r = find_owned(ch, c, id, idlen, err, errlen);
    if (!r)
        return -1;
    unflight(ch, r);
    c->finish_count++;
    if (ch->fin_observer)
        ch->fin_observer(ch->fin_ctx, ch, r->msg->timestamp);
    msg_unref(r->msg);
    record_put(ch, r);
    pump(ch);
    return 0;
}

int chan_requeue(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen,
                 int64_t delay_ns, char *err, size_t errlen)
{
    inflight_t *r = find_owned(ch, c, id, idlen, err, errlen);
    if (!r)
        return -1;
    unflight(ch, r);
    c->requeue_count++;
    ch->requeue_count++;
    if (delay_ns > 0) {
        defer_record(ch, r, delay_ns);
    } else {
        enqueue(ch, r->msg, r->attempts);
        record_put(ch, r);
    }
    pump(ch);
    return 0;
}

int chan_touch(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen, char *err,
               size_t errlen)
{
    inflight_t *r = find_owned(ch, c, id, idlen, err, errlen);
    if (!r)
        return -1;
    int64_t deadline = clock_monotonic_ns() + c->msg_timeout;
    int64_t limit = r->delivered_at + ch->cfg.max_msg_timeout;
    if (ch->cfg.max_msg_timeout > 0 && deadline > limit)
        deadline = limit;
    heap_update(&ch->inflight_heap, &r->hn, deadline);
    /* a later deadline never needs an earlier timer; the timer re-arms itself when it fires */
    return 0;
}

/* ---- admin and stats ---------------------------------------------------------------------- */

static void state_changed(channel_t *ch)
{
    if (ch->hooks.state_changed)
        ch->hooks.state_changed(ch->hooks.ctx, ch);
}

void chan_pause(channel_t *ch)
{
    ch->paused = true;
    state_changed(ch);
}

void chan_unpause(channel_t *ch)
{
    ch->paused = false;
    state_changed(ch);
    pump(ch);
}

bool chan_is_paused(const channel_t *ch) { return ch->paused; }

void chan_empty(channel_t *ch)
{
    drop_inflight_and_deferred(ch);
    mq_empty(&ch->q);
    journal_reset(&ch->journal);
    for (chan_consumer_t *c = ch->consumers; c; c = c->next)
        ready_update(ch, c);
    timer_rearm(ch);
}

void chan_freeze(channel_t *ch)
{
    ch->frozen = true;
    evtimer_del(ch->retry_ev);
}

size_t chan_persist(channel_t *ch)
{
    size_t queued = mq_ring_len(&ch->q), deferred = heap_len(&ch->deferred_heap);
    if (ch->ephemeral)
        return 0;
    size_t lost = mq_spill(&ch->q);
    for (size_t i = 0; i < deferred; i++)
        heap_entry(ch->deferred_heap.a[i], inflight_t, hn)->journaled = true;
    journal_persist(&ch->journal);
    if (queued || deferred)
        log_info("CHANNEL(%s): wrote %zu queued and %zu deferred messages to disk", ch->qname,
                 queued, deferred);
    return lost;
}

void chan_get_stats(const channel_t *ch, chan_stats_t *out)
{
    mq_stats_t qs;
    mq_get_stats(&ch->q, &qs);
    out->backend_depth = qs.backend_depth;
    out->depth = qs.depth;
    out->dropped_count = qs.dropped;
    out->corrupt_count = qs.corrupt_count;
    out->in_flight_count = (int64_t)u64map_len(ch->inflight);
    out->deferred_count = (int64_t)heap_len(&ch->deferred_heap);
    out->message_count = ch->message_count;
    out->requeue_count = ch->requeue_count;
    out->timeout_count = ch->timeout_count;
    out->client_count = (int64_t)ch->nconsumers;
    out->paused = ch->paused;
    out->in_flight_level = ch->inflight_tw;
    out->ready_level = ch->ready_tw;
}

void chan_set_fin_observer(channel_t *ch, chan_fin_observer_t fn, void *ctx)
{
    ch->fin_observer = fn;
    ch->fin_ctx = ctx;
}

/* ---- telemetry ---------------------------------------------------------------------------- */

void *chan_observer_state(const channel_t *ch) { return ch->obs_state; }

void chan_attach_observer(channel_t *ch)
{
    const chan_observer_t *o = ch->cfg.observer;
    chan_detach_observer(ch);
    if (o && o->attach && (ch->obs_state = o->attach(o->ctx, ch)) && o->fin)
        chan_set_fin_observer(ch, o->fin, ch->obs_state);
}

void chan_detach_observer(channel_t *ch)
{
    const chan_observer_t *o = ch->cfg.observer;
    void *state = ch->obs_state;
    if (!state)
        return;
    ch->obs_state = NULL;
    if (ch->fin_ctx == state)
        chan_set_fin_observer(ch, NULL, NULL);
    if (o && o->detach)
        o->detach(o->ctx, state);
}
