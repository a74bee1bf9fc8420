/* nsqd: the registry of topics and the daemon-wide state around it.
 * Owns: the topics (by name), the message id generator, health, start time, exit flag and the
 * real listening ports. Leaves to others: sockets (tcp.c, http.c), rendering (stats.c),
 * persistence (metadata, disk queues). */
#include "nsqd/nsqd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"

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
};

static void topic_ephemeral_empty(void *ctx, topic_t *t);

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
    if (guid_gen_init(&n->guid, opts->node_id) < 0) {
        snprintf(err, errlen, "--node-id must be in [0,1024), got %lld",
                 (long long)opts->node_id);
        free(n);
        return NULL;
    }
    n->topics = strmap_new();
    if (!n->topics) {
        snprintf(err, errlen, "out of memory");
        free(n);
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
    while (strmap_next(n->topics, &pos, &k, &klen, &v))
        topic_free(v);
    strmap_free(n->topics);
    free(n->health_err);
    free(n);
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

topic_t *nsqd_get_topic(nsqd_t *n, const char *name, size_t len)
{
    topic_t *t = strmap_get(n->topics, name, len);
    if (t)
        return t;
    char *tname = strndup(name, len);
    topic_hooks_t hooks = {.ephemeral_empty = topic_ephemeral_empty, .ctx = n};
    t = tname ? topic_new(n->base, tname, &n->chan_cfg, &hooks) : NULL;
    free(tname);
    if (!t)
        return NULL;
    if (strmap_put(n->topics, name, len, t) < 0) {
        topic_free(t);
        return NULL;
    }
    log_info("TOPIC(%s): created", topic_name(t));
    return t;
}

int nsqd_delete_topic(nsqd_t *n, const char *name, size_t len)
{
    topic_t *t = strmap_del(n->topics, name, len);
    if (!t)
        return -1;
    log_info("TOPIC(%s): deleting", topic_name(t));
    topic_free(t);
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

bool nsqd_is_exiting(const nsqd_t *n) { return n->exiting; }
void nsqd_set_exiting(nsqd_t *n) { n->exiting = true; }
