/* channel: queues, in-flight and deferred state of one subscription, and delivery under RDY.
 * Owns: the memory ring, the in-flight table (u64map by id, deadline heap, per-consumer lists),
 * the deferred heap, the consumer lists and one timer armed at the earliest deadline.
 * Leaves to others: what a consumer is (ops), when to delete an ephemeral channel (hooks). */
#include "nsqd/channel.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/guid.h"
#include "common/hashmap.h"
#include "common/heap.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/backend.h"
#include "nsqd/msgring.h"

/* A message that left the ring: in flight (owner set) or deferred (owner NULL). Pooled. */
typedef struct inflight {
    heap_node_t hn;         /* deadline (in flight) or due time (deferred), monotonic ns */
    msg_t *msg;             /* one reference */
    chan_consumer_t *owner;
    struct inflight *next, *prev; /* owner's list, or the free list (next only) */
    int64_t delivered_at;
    uint16_t attempts;
} inflight_t;

struct channel {
    char *name;
    char *topic_name;
    bool ephemeral;
    bool paused;
    bool pumping;
    struct event_base *base;
    chan_config_t cfg;

    msgring_t ring;
    backend_t *backend; /* NULL: memory only */

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
    void *fin_ctx;
};

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void ephemeral_cb(evutil_socket_t fd, short what, void *arg);
static void pump(channel_t *ch);

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

channel_t *chan_new(struct event_base *base, const char *topic_name, const char *name,
                    const chan_config_t *cfg, const chan_hooks_t *hooks)
{
    channel_t *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->name = strdup(name);
    ch->topic_name = strdup(topic_name);
    ch->ephemeral = name_is_ephemeral(name, strlen(name));
    ch->base = base;
    ch->cfg = *cfg;
    if (hooks)
        ch->hooks = *hooks;
    msgring_init(&ch->ring);
    heap_init(&ch->inflight_heap);
    heap_init(&ch->deferred_heap);
    ch->inflight = u64map_new(64);
    ch->timer = evtimer_new(base, timer_cb, ch);
    ch->ephemeral_ev = event_new(base, -1, 0, ephemeral_cb, ch);
    ch->timer_at = INT64_MAX;
    if (!ch->name || !ch->topic_name || !ch->inflight || !ch->timer || !ch->ephemeral_ev) {
        chan_free(ch);
        return NULL;
    }
    return ch;
}

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
    while ((hn = heap_pop(&ch->deferred_heap))) {
        inflight_t *r = heap_entry(hn, inflight_t, hn);
        msg_unref(r->msg);
        record_put(ch, r);
    }
}

void chan_free(channel_t *ch)
{
    if (!ch)
        return;
    /* detach consumers first: they are told the channel is gone */
    while (ch->consumers) {
        chan_consumer_t *c = ch->consumers;
        chan_remove_consumer(ch, c);
        if (c->ops && c->ops->channel_closed)
            c->ops->channel_closed(c);
    }
    if (ch->inflight)
        drop_inflight_and_deferred(ch);
    msgring_free(&ch->ring);
    if (ch->backend)
        ch->backend->ops->close(ch->backend, 0);
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
    free(ch->name);
    free(ch->topic_name);
    free(ch);
}

const char *chan_name(const channel_t *ch) { return ch->name; }
bool chan_is_ephemeral(const channel_t *ch) { return ch->ephemeral; }

/* ---- queueing ----------------------------------------------------------------------------- */

bool chan_can_accept(const channel_t *ch, size_t n)
{
    if (ch->backend)
        return true;
    return (int64_t)(msgring_len(&ch->ring) + n) <= ch->cfg.mem_queue_size;
}

static void defer_record(channel_t *ch, inflight_t *r, int64_t delay_ns)
{
    r->hn.key = clock_monotonic_ns() + delay_ns;
    heap_push(&ch->deferred_heap, &r->hn);
    timer_arm(ch, r->hn.key);
}

static void enqueue(channel_t *ch, msg_t *m, uint16_t attempts)
{
    if (msgring_push(&ch->ring, m, attempts, 0) < 0) {
        log_error("channel %s:%s: out of memory queueing message %.16s", ch->topic_name,
                  ch->name, m->id);
        msg_unref(m);
    }
}

void chan_put(channel_t *ch, msg_t *m, uint16_t attempts, int64_t defer_ns)
{
    ch->message_count++;
    if (defer_ns > 0) {
        inflight_t *r = record_get(ch);
        if (r) {
            r->msg = m;
            r->attempts = attempts;
            defer_record(ch, r, defer_ns);
            return;
        }
    }
    enqueue(ch, m, attempts);
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
    if (!r || u64map_put(ch->inflight, slot->msg->id_num, r) < 0) {
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

static void pump(channel_t *ch)
{
    if (ch->paused || ch->pumping)
        return;
    ch->pumping = true;
    int64_t now = 0;
    msgring_slot_t slot;
    while (ch->ready && msgring_len(&ch->ring) > 0) {
        chan_consumer_t *c = ch->ready;
        msgring_pop(&ch->ring, &slot);
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
    ch->pumping = false;
}

/* ---- timeouts and deferrals --------------------------------------------------------------- */

static void timeout_record(channel_t *ch, inflight_t *r)
{
    chan_consumer_t *c = r->owner;
    u64map_del(ch->inflight, r->msg->id_num);
    owner_unlink(r);
    c->in_flight_count--;
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
        ch->fin_observer(ch->fin_ctx, ch, clock_realtime_ns() - r->msg->timestamp);
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

void chan_pause(channel_t *ch) { ch->paused = true; }

void chan_unpause(channel_t *ch)
{
    ch->paused = false;
    pump(ch);
}

bool chan_is_paused(const channel_t *ch) { return ch->paused; }

void chan_empty(channel_t *ch)
{
    drop_inflight_and_deferred(ch);
    msgring_clear(&ch->ring);
    if (ch->backend)
        ch->backend->ops->empty(ch->backend);
    for (chan_consumer_t *c = ch->consumers; c; c = c->next)
        ready_update(ch, c);
    timer_rearm(ch);
}

void chan_get_stats(const channel_t *ch, chan_stats_t *out)
{
    int64_t bdepth = ch->backend ? ch->backend->ops->depth(ch->backend) : 0;
    out->backend_depth = bdepth;
    out->depth = (int64_t)msgring_len(&ch->ring) + bdepth;
    out->in_flight_count = (int64_t)u64map_len(ch->inflight);
    out->deferred_count = (int64_t)heap_len(&ch->deferred_heap);
    out->message_count = ch->message_count;
    out->requeue_count = ch->requeue_count;
    out->timeout_count = ch->timeout_count;
    out->client_count = (int64_t)ch->nconsumers;
    out->paused = ch->paused;
}

void chan_set_fin_observer(channel_t *ch, chan_fin_observer_t fn, void *ctx)
{
    ch->fin_observer = fn;
    ch->fin_ctx = ctx;
}
