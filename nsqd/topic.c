/* topic: a named stream and its channels.
 * Owns: the channels (strmap by name plus a flat array for fan-out), the topic's own memory ring
 * (messages waiting while there is no channel or the topic is paused) and its counters.
 * Leaves to others: delivery (channel.c), persistence (backend), deletion policy (hooks). */
#include "nsqd/topic.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/backend.h"
#include "nsqd/msgring.h"

struct topic {
    char *name;
    bool ephemeral;
    bool paused;
    struct event_base *base;
    chan_config_t chan_cfg;

    msgring_t ring;
    backend_t *backend;

    strmap_t *channels;
    channel_t **chans; /* fan-out array, same set as channels */
    size_t nchans, chans_cap;

    uint64_t message_count, message_bytes;
    topic_hooks_t hooks;
    struct event *ephemeral_ev;
};

static void ephemeral_cb(evutil_socket_t fd, short what, void *arg);
static void chan_ephemeral_empty(void *ctx, channel_t *ch);

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
    msgring_init(&t->ring);
    t->channels = strmap_new();
    t->ephemeral_ev = event_new(base, -1, 0, ephemeral_cb, t);
    if (!t->name || !t->channels || !t->ephemeral_ev) {
        topic_free(t);
        return NULL;
    }
    return t;
}

void topic_free(topic_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nchans; i++)
        chan_free(t->chans[i]);
    free(t->chans);
    strmap_free(t->channels);
    msgring_free(&t->ring);
    if (t->backend)
        t->backend->ops->close(t->backend, 0);
    if (t->ephemeral_ev)
        event_free(t->ephemeral_ev);
    free(t->name);
    free(t);
}

const char *topic_name(const topic_t *t) { return t->name; }
bool topic_is_ephemeral(const topic_t *t) { return t->ephemeral; }

/* ---- publishing --------------------------------------------------------------------------- */

static bool holds_locally(const topic_t *t)
{
    return t->paused || t->nchans == 0;
}

bool topic_can_accept(const topic_t *t, size_t n)
{
    if (holds_locally(t))
        return t->backend || (int64_t)(msgring_len(&t->ring) + n) <= t->chan_cfg.mem_queue_size;
    for (size_t i = 0; i < t->nchans; i++)
        if (!chan_can_accept(t->chans[i], n))
            return false;
    return true;
}

/* Gives one reference to each channel; consumes the caller's. */
static void fan_out(topic_t *t, msg_t *m, uint16_t attempts, int64_t defer_ns)
{
    size_t last = t->nchans - 1;
    for (size_t i = 0; i < last; i++)
        chan_put(t->chans[i], msg_ref(m), attempts, defer_ns);
    chan_put(t->chans[last], m, attempts, defer_ns);
}

int topic_put(topic_t *t, msg_t *m, int64_t defer_ns)
{
    if (!topic_can_accept(t, 1)) {
        msg_unref(m);
        return -1;
    }
    t->message_count++;
    t->message_bytes += m->body_len;
    if (!holds_locally(t)) {
        fan_out(t, m, 0, defer_ns);
        return 0;
    }
    int64_t defer_ms = defer_ns / 1000000;
    if (defer_ms > UINT32_MAX)
        defer_ms = UINT32_MAX;
    if (msgring_push(&t->ring, m, 0, (uint32_t)defer_ms) < 0) {
        t->message_count--;
        t->message_bytes -= m->body_len;
        msg_unref(m);
        return -1;
    }
    return 0;
}

/* Moves what the topic holds to its channels (after a channel appears or on unpause).
 * Channels take already-accepted messages even beyond their memory bound: nothing is lost. */
static void drain(topic_t *t)
{
    msgring_slot_t slot;
    while (!holds_locally(t) && msgring_pop(&t->ring, &slot) == 0)
        fan_out(t, slot.msg, slot.attempts, (int64_t)slot.defer_ms * 1000000);
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

channel_t *topic_get_channel(topic_t *t, const char *name, size_t len)
{
    channel_t *ch = strmap_get(t->channels, name, len);
    if (ch)
        return ch;
    char *cname = strndup(name, len);
    chan_hooks_t hooks = {.ephemeral_empty = chan_ephemeral_empty, .ctx = t};
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
    chan_free(ch);
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

size_t topic_channel_count(const topic_t *t) { return t->nchans; }

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

/* ---- admin and stats ---------------------------------------------------------------------- */

void topic_pause(topic_t *t) { t->paused = true; }

void topic_unpause(topic_t *t)
{
    t->paused = false;
    drain(t);
}

bool topic_is_paused(const topic_t *t) { return t->paused; }

void topic_empty(topic_t *t)
{
    msgring_clear(&t->ring);
    if (t->backend)
        t->backend->ops->empty(t->backend);
}

void topic_get_stats(const topic_t *t, topic_stats_t *out)
{
    int64_t bdepth = t->backend ? t->backend->ops->depth(t->backend) : 0;
    out->backend_depth = bdepth;
    out->depth = (int64_t)msgring_len(&t->ring) + bdepth;
    out->message_count = t->message_count;
    out->message_bytes = t->message_bytes;
    out->channel_count = (int64_t)t->nchans;
    out->paused = t->paused;
}
