/* nsqd: the registry of topics and the daemon-wide state around it.
 * Owns: the topics (by name), the message id generator, health (aggregated from the disk
 * queues' health hooks), start time, exit flag, the real listening ports and the disk queue
 * factory (data path, dq_config_t from the flags). Leaves to others: sockets (tcp.c, http.c),
 * rendering (stats.c), nsqd.dat (metadata.c, through the changed hook), queue contents. */
#include "nsqd/nsqd.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/diskqueue.h"

struct nsqd {
    struct event_base *base;
    const nsqd_opts_t *opts;
    strmap_t *topics;
    guid_gen_t guid;
    int64_t start_time;
    char hostname[256];
    int tcp_port, http_port;
    char *health_err;
    bool exiting;
    chan_config_t chan_cfg;
    const char *data_path;
    dq_config_t dq_cfg, dq_deferred_cfg;
    struct event *health_ev; /* re-checks every queue's health (deferred) */
    nsqd_hooks_t hooks;
    struct telemetry *tel;
    chan_observer_t chan_obs; /* every channel's cfg.observer points here */
};

static void topic_ephemeral_empty(void *ctx, topic_t *t);
static void queue_health_cb(void *ctx, bool ok, const char *reason);
static void health_check_cb(evutil_socket_t fd, short what, void *arg);

/* The flags' disk queue settings: records are wire messages (26-byte header + body); deferred
 * records carry an 8-byte due time first. */
static void dq_configs(nsqd_t *n, const nsqd_opts_t *o)
{
    dq_config_t c = {
        .max_bytes_per_file = o->max_bytes_per_file,
        .min_msg_size = WIRE_MSG_HEADER_LEN,
        .max_msg_size = (int32_t)(o->max_msg_size + WIRE_MSG_HEADER_LEN),
        .sync_every = o->sync_every,
        .sync_timeout_ns = o->sync_timeout,
        .hooks = {.health = queue_health_cb, .ctx = n},
    };
    n->dq_cfg = c;
    c.min_msg_size += 8;
    c.max_msg_size += 8;
    n->dq_deferred_cfg = c;
}

nsqd_t *nsqd_new(struct event_base *base, const nsqd_opts_t *opts, char *err, size_t errlen)
{
    nsqd_t *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->base = base;
    n->opts = opts;
    n->start_time = time(NULL);
    if (gethostname(n->hostname, sizeof(n->hostname) - 1) < 0)
        snprintf(n->hostname, sizeof(n->hostname), "localhost");
    n->chan_cfg.mem_queue_size = opts->mem_queue_size;
    n->chan_cfg.max_msg_timeout = opts->max_msg_timeout;
    n->chan_cfg.durable = nsqd_is_durable(n);
    n->chan_cfg.observer = &n->chan_obs;
    n->data_path = opts->data_path && *opts->data_path ? opts->data_path : ".";
    dq_configs(n, opts);
    if (guid_gen_init(&n->guid, opts->node_id) < 0) {
        snprintf(err, errlen, "--node-id must be in [0,1024), got %lld",
                 (long long)opts->node_id);
        free(n);
        return NULL;
    }
    n->topics = strmap_new();
    n->health_ev = event_new(base, -1, 0, health_check_cb, n);
    if (!n->topics || !n->health_ev) {
        snprintf(err, errlen, "out of memory");
        nsqd_free(n);
        return NULL;
    }
    return n;
}

void nsqd_free(nsqd_t *n)
{
    if (!n)
        return;
    size_t pos = 0;
    const char *k;
    size_t klen;
    void *v;
    while (n->topics && strmap_next(n->topics, &pos, &k, &klen, &v))
        topic_free(v);
    strmap_free(n->topics);
    if (n->health_ev)
        event_free(n->health_ev);
    free(n->health_err);
    free(n);
}

void nsqd_set_telemetry(nsqd_t *n, struct telemetry *tel, const chan_observer_t *obs)
{
    n->tel = tel;
    n->chan_obs = obs ? *obs : (chan_observer_t){0};
}

struct telemetry *nsqd_telemetry(const nsqd_t *n) { return n->tel; }

void nsqd_set_hooks(nsqd_t *n, const nsqd_hooks_t *hooks)
{
    n->hooks = *hooks;
}

const char *nsqd_data_path(const nsqd_t *n) { return n->data_path; }

bool nsqd_is_durable(const nsqd_t *n)
{
    return n->opts->mem_queue_size == 0 && n->opts->sync_every == 1;
}

static void changed(nsqd_t *n, const char *name)
{
    if (n->hooks.changed && !name_is_ephemeral(name, strlen(name)))
        n->hooks.changed(n->hooks.ctx);
}

struct event_base *nsqd_base(const nsqd_t *n) { return n->base; }
const nsqd_opts_t *nsqd_opts(const nsqd_t *n) { return n->opts; }
int64_t nsqd_start_time(const nsqd_t *n) { return n->start_time; }
const char *nsqd_hostname(const nsqd_t *n) { return n->hostname; }

void nsqd_set_ports(nsqd_t *n, int tcp_port, int http_port)
{
    n->tcp_port = tcp_port;
    n->http_port = http_port;
}

int nsqd_tcp_port(const nsqd_t *n) { return n->tcp_port; }
int nsqd_http_port(const nsqd_t *n) { return n->http_port; }

/* ---- topics ------------------------------------------------------------------------------- */

topic_t *nsqd_find_topic(const nsqd_t *n, const char *name, size_t len)
{
    return strmap_get(n->topics, name, len);
}

/* ---- disk queues and health -------------------------------------------------------------- */

static backend_t *open_backend(void *ctx, const char *name, bool deferred, bool create)
{
    nsqd_t *n = ctx;
    char err[512];
    if (!create && !dq_exists(n->data_path, name))
        return NULL;
    backend_t *b = dq_open(n->base, n->data_path, name, deferred ? &n->dq_deferred_cfg : &n->dq_cfg,
                           err, sizeof(err));
    if (!b)
        log_error("QUEUE(%s): no disk queue, memory only: %s", name, err);
    return b;
}

/* A disk queue's health flipped. Failure is reported at once; recovery once every queue
 * writes again (checked from the loop, outside the queue's own call). */
static void queue_health_cb(void *ctx, bool ok, const char *reason)
{
    nsqd_t *n = ctx;
    if (!ok)
        nsqd_set_health(n, reason);
    else if (n->health_err)
        event_active(n->health_ev, EV_TIMEOUT, 0);
}

static void health_check_cb(evutil_socket_t fd, short what, void *arg)
{
    nsqd_t *n = arg;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (strmap_next(n->topics, &pos, &k, &klen, &v))
        if (!topic_is_healthy(v))
            return;
    nsqd_set_health(n, NULL);
}

static void topic_channel_changed(void *ctx, topic_t *t, const char *channel, bool created)
{
    nsqd_t *n = ctx;
    changed(n, channel);
    if (!created && n->health_err)
        event_active(n->health_ev, EV_TIMEOUT, 0);
}

static void topic_state_changed(void *ctx, topic_t *t)
{
    changed(ctx, topic_name(t));
}

/* ---- topics ------------------------------------------------------------------------------- */

topic_t *nsqd_get_topic(nsqd_t *n, const char *name, size_t len)
{
    topic_t *t = strmap_get(n->topics, name, len);
    if (t)
        return t;
    char *tname = strndup(name, len);
    topic_hooks_t hooks = {.ephemeral_empty = topic_ephemeral_empty,
                           .channel_changed = topic_channel_changed,
                           .state_changed = topic_state_changed,
                           .open_backend = open_backend,
                           .ctx = n};
    t = tname ? topic_new(n->base, tname, &n->chan_cfg, &hooks) : NULL;
    free(tname);
    if (!t)
        return NULL;
    if (strmap_put(n->topics, name, len, t) < 0) {
        topic_free(t);
        return NULL;
    }
    log_info("TOPIC(%s): created", topic_name(t));
    changed(n, topic_name(t));
    return t;
}

int nsqd_delete_topic(nsqd_t *n, const char *name, size_t len)
{
    topic_t *t = strmap_del(n->topics, name, len);
    if (!t)
        return -1;
    log_info("TOPIC(%s): deleting", topic_name(t));
    changed(n, topic_name(t));
    topic_destroy(t);
    if (n->health_err)
        event_active(n->health_ev, EV_TIMEOUT, 0);
    return 0;
}

static void topic_ephemeral_empty(void *ctx, topic_t *t)
{
    nsqd_t *n = ctx;
    const char *name = topic_name(t);
    nsqd_delete_topic(n, name, strlen(name));
}

size_t nsqd_topic_count(const nsqd_t *n) { return strmap_len(n->topics); }

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(topic_name(*(topic_t *const *)a), topic_name(*(topic_t *const *)b));
}

size_t nsqd_topics(const nsqd_t *n, topic_t **out, size_t cap)
{
    size_t pos = 0, i = 0, klen;
    const char *k;
    void *v;
    while (i < cap && strmap_next(n->topics, &pos, &k, &klen, &v))
        out[i++] = v;
    qsort(out, i, sizeof(*out), cmp_topic);
    return i;
}

/* ---- messages ----------------------------------------------------------------------------- */

msg_t *nsqd_alloc_message(nsqd_t *n, size_t len)
{
    int64_t now = clock_realtime_ns();
    uint64_t id = guid_next(&n->guid, now / 1000000);
    return msg_new(id, now, len);
}

msg_t *nsqd_new_message(nsqd_t *n, const void *body, size_t len)
{
    msg_t *m = nsqd_alloc_message(n, len);
    if (m && len)
        memcpy(m->body, body, len);
    return m;
}

/* ---- health and exit ---------------------------------------------------------------------- */

const char *nsqd_health_error(const nsqd_t *n) { return n->health_err; }

void nsqd_set_health(nsqd_t *n, const char *err)
{
    if ((!err && !n->health_err) || (err && n->health_err && !strcmp(err, n->health_err)))
        return;
    free(n->health_err);
    n->health_err = err ? strdup(err) : NULL;
    if (err)
        log_error("health: %s", err);
    else
        log_info("health: OK");
}

void nsqd_freeze(nsqd_t *n)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (strmap_next(n->topics, &pos, &k, &klen, &v))
        topic_freeze(v);
}

size_t nsqd_persist(nsqd_t *n)
{
    size_t pos = 0, klen, lost = 0;
    const char *k;
    void *v;
    while (strmap_next(n->topics, &pos, &k, &klen, &v))
        lost += topic_persist(v);
    return lost;
}

bool nsqd_is_exiting(const nsqd_t *n) { return n->exiting; }
void nsqd_set_exiting(nsqd_t *n) { n->exiting = true; }
