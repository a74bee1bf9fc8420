/* http: nsqd's HTTP API, route for route as NSQ 1.3 (paths, methods, parameters, codes).
 * Owns the route table, argument checks in nsqd's order, publishing (/pub, /mpub: all or
 * nothing, never dropping on a full queue), the admin routes, /config and the run-time
 * nsqlookupd address list. Leaves sockets and replies to common/httputil, state to nsqd and
 * topics, and /stats rendering to stats.c. */
#include "nsqd/http.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httputil.h"
#include "common/log.h"
#include "common/util.h"
#include "nsqd/metrics.h"
#include "nsqd/stats.h"

/* Bodies a little over the limits still reach the handlers, so they get nsqd's JSON codes
 * (MSG_TOO_BIG, BODY_TOO_BIG); anything larger gets libevent's own 413. */
#define HTTP_BODY_SLACK 4096

static void ping_cb(httpd_req_t *r, void *ctx);
static void info_cb(httpd_req_t *r, void *ctx);
static void pub_cb(httpd_req_t *r, void *ctx);
static void mpub_cb(httpd_req_t *r, void *ctx);
static void stats_cb(httpd_req_t *r, void *ctx);
static void metrics_cb(httpd_req_t *r, void *ctx);
static void topic_create_cb(httpd_req_t *r, void *ctx);
static void topic_delete_cb(httpd_req_t *r, void *ctx);
static void topic_empty_cb(httpd_req_t *r, void *ctx);
static void topic_pause_cb(httpd_req_t *r, void *ctx);
static void topic_unpause_cb(httpd_req_t *r, void *ctx);
static void channel_create_cb(httpd_req_t *r, void *ctx);
static void channel_delete_cb(httpd_req_t *r, void *ctx);
static void channel_empty_cb(httpd_req_t *r, void *ctx);
static void channel_pause_cb(httpd_req_t *r, void *ctx);
static void channel_unpause_cb(httpd_req_t *r, void *ctx);
static void config_cb(httpd_req_t *r, void *ctx);

/* NSQ 1.3's routes. /put and /mput are cnsq's aliases of /pub and /mpub (older nsqd names).
 * nsqd logs every request but the publishing ones. */
static const httpd_route_t routes[] = {
    {HTTPD_GET, "/ping", ping_cb, true},
    {HTTPD_GET, "/info", info_cb, true},
    {HTTPD_POST, "/pub", pub_cb, false},
    {HTTPD_POST, "/put", pub_cb, false},
    {HTTPD_POST, "/mpub", mpub_cb, false},
    {HTTPD_POST, "/mput", mpub_cb, false},
    {HTTPD_GET, "/stats", stats_cb, true},
    {HTTPD_GET, "/metrics", metrics_cb, true}, /* cnsq: Prometheus text (metrics.c) */
    {HTTPD_POST, "/topic/create", topic_create_cb, true},
    {HTTPD_POST, "/topic/delete", topic_delete_cb, true},
    {HTTPD_POST, "/topic/empty", topic_empty_cb, true},
    {HTTPD_POST, "/topic/pause", topic_pause_cb, true},
    {HTTPD_POST, "/topic/unpause", topic_unpause_cb, true},
    {HTTPD_POST, "/channel/create", channel_create_cb, true},
    {HTTPD_POST, "/channel/delete", channel_delete_cb, true},
    {HTTPD_POST, "/channel/empty", channel_empty_cb, true},
    {HTTPD_POST, "/channel/pause", channel_pause_cb, true},
    {HTTPD_POST, "/channel/unpause", channel_unpause_cb, true},
    {HTTPD_GET | HTTPD_PUT, "/config/:opt", config_cb, true},
};

struct http_server {
    nsqd_t *n;
    tcp_server_t *tcp;
    httpd_t *httpd;
    strlist_t lookupd; /* nsqlookupd_tcp_addresses (owned) */
    bool lookupd_null; /* last PUT was JSON null: GET answers null, as nsqd */
    http_config_changed_fn config_hook;
    void *config_ctx;
    bool tls_required; /* --tls-required=true: plain HTTP answers 403 */
    int https_port;
};

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void strlist_clear(strlist_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Replaces dst with copies of src[0..n). 0 or -1 (dst unchanged). */
static int strlist_assign(strlist_t *dst, const char *const *src, int n)
{
    strlist_t l = {.v = calloc(n > 0 ? (size_t)n : 1, sizeof(char *)), .n = 0};
    if (!l.v)
        return -1;
    for (; l.n < n; l.n++) {
        if (!(l.v[l.n] = strdup(src[l.n]))) {
            strlist_clear(&l);
            return -1;
        }
    }
    strlist_clear(dst);
    *dst = l;
    return 0;
}

/* nsqd's ServeHTTP: with TLS required, plain HTTP gets 403 and the HTTPS port. */
static bool tls_gate(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    char body[96];
    if (!s->tls_required)
        return false;
    int len = snprintf(body, sizeof(body), "{\"message\": \"TLS_REQUIRED\", \"https_port\": %d}",
                       s->https_port);
    httpd_reply(r, 403, HTTPD_CT_JSON, body, (size_t)len);
    return true;
}

http_server_t *http_server_new(nsqd_t *n, tcp_server_t *tcp, const char *addr, int *port_out,
                               char *err, size_t errlen)
{
    const nsqd_opts_t *o = nsqd_opts(n);
    http_server_t *s = calloc(1, sizeof(*s));
    if (!s || strlist_assign(&s->lookupd, (const char *const *)o->lookupd_tcp_addresses.v,
                             o->lookupd_tcp_addresses.n) < 0) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->n = n;
    s->tcp = tcp;
    s->tls_required = o->tls_required && strcmp(o->tls_required, "true") == 0;
    if (s->tls_required && o->https_address) {
        char host[256];
        if (net_split_hostport(o->https_address, host, sizeof(host), &s->https_port, NULL, 0) < 0)
            s->https_port = 0;
    }
    int64_t limit = o->max_body_size > o->max_msg_size ? o->max_body_size : o->max_msg_size;
    httpd_config_t cfg = {
        .addr = addr,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .ctx = s,
        .max_body = (size_t)(limit > 0 ? limit : 0) + HTTP_BODY_SLACK,
        .gate = tls_gate,
    };
    s->httpd = httpd_new(nsqd_base(n), &cfg, port_out, err, errlen);
    if (!s->httpd) {
        http_server_free(s);
        return NULL;
    }
    return s;
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    httpd_free(s->httpd);
    strlist_clear(&s->lookupd);
    free(s);
}

const strlist_t *http_server_lookupd_addresses(const http_server_t *s)
{
    return &s->lookupd;
}

void http_server_set_config_hook(http_server_t *s, http_config_changed_fn fn, void *ctx)
{
    s->config_hook = fn;
    s->config_ctx = ctx;
}

/* ---- /ping, /info ------------------------------------------------------------------------- */

/* "NOK - <error>" from nsqd's health, whether or not the stored error carries the prefix. */
static void health_text(const nsqd_t *n, char *out, size_t outlen)
{
    const char *h = nsqd_health_error(n);
    if (!h)
        snprintf(out, outlen, "OK");
    else
        snprintf(out, outlen, "%s%s", strncmp(h, "NOK", 3) == 0 ? "" : "NOK - ", h);
}

static void ping_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    char health[512];
    health_text(s->n, health, sizeof(health));
    httpd_reply_text(r, nsqd_health_error(s->n) ? 500 : 200, health);
}

static void info_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    const nsqd_opts_t *o = nsqd_opts(s->n);
    const char *bcast =
        o->broadcast_address && *o->broadcast_address ? o->broadcast_address : nsqd_hostname(s->n);
    httpd_reply_json(r, 200,
                     json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I}", "version",
                               STATS_VERSION, "broadcast_address", bcast, "hostname",
                               nsqd_hostname(s->n), "http_port", nsqd_http_port(s->n), "tcp_port",
                               nsqd_tcp_port(s->n), "start_time", (json_int_t)nsqd_start_time(s->n),
                               "max_heartbeat_interval", (json_int_t)o->max_heartbeat_interval,
                               "max_output_buffer_size", (json_int_t)o->max_output_buffer_size,
                               "max_output_buffer_timeout",
                               (json_int_t)o->max_output_buffer_timeout, "max_deflate_level",
                               (json_int_t)o->max_deflate_level));
}

/* ---- publishing --------------------------------------------------------------------------- */

/* nsqd's getTopicFromQuery: the ?topic= topic, created on first use. NULL once it replied. */
static topic_t *query_topic(http_server_t *s, httpd_req_t *r)
{
    const char *name = httpd_query_str(r, "topic");
    topic_t *t;
    if (httpd_query_error(r)) {
        httpd_reply_error(r, 400, "INVALID_REQUEST");
        return NULL;
    }
    if (!name) {
        httpd_reply_error(r, 400, "MISSING_ARG_TOPIC");
        return NULL;
    }
    if (!name_is_valid(name, strlen(name))) {
        httpd_reply_error(r, 400, "INVALID_TOPIC");
        return NULL;
    }
    if (nsqd_is_exiting(s->n)) {
        httpd_reply_error(r, 503, "EXITING");
        return NULL;
    }
    if (!(t = nsqd_get_topic(s->n, name, strlen(name))))
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
    return t;
}

/* A full memory-only queue refuses the publish: 503, nothing dropped. */
static void reply_queue_full(httpd_req_t *r, const topic_t *t, size_t count)
{
    log_warn("HTTP: %s to topic %s refused: queue full (%zu messages)", httpd_path(r),
             topic_name(t), count);
    httpd_reply_error(r, 503, "QUEUE_FULL");
}

/* The reason as a JSON-safe message ("disk queue write failed: No space left on device"). */
static void pub_failure_text(const char *why, char *out, size_t outlen)
{
    size_t n = strnlen(why, outlen - 1);
    memcpy(out, why, n);
    out[n] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
}

/* The disk refused the publish's records: 500 {"message":"<reason>"}. */
static void reply_pub_failed(httpd_req_t *r, const topic_t *t, const char *why)
{
    char msg[200];
    pub_failure_text(why, msg, sizeof(msg));
    log_error("HTTP: %s to topic %s failed: %s", httpd_path(r), topic_name(t), msg);
    httpd_reply_error(r, 500, msg);
}

/* Durable mode: the reply waits for the fsync (the request is answered later). */
typedef struct pub_wait {
    httpd_async_t *a; /* NULL once the server dropped it */
    char topic[NAME_MAX_LEN + 1];
} pub_wait_t;

static void pub_wait_abort(void *arg)
{
    ((pub_wait_t *)arg)->a = NULL;
}

static void pub_synced_cb(void *arg, int status)
{
    pub_wait_t *w = arg;
    if (w->a && status == 0) {
        httpd_async_reply_text(w->a, 200, "OK");
    } else if (w->a) {
        log_error("HTTP: publish to topic %s failed: disk queue sync failed", w->topic);
        httpd_async_reply_error(w->a, 500, "disk queue sync failed");
    }
    free(w);
}

/* The publish is queued: OK once its records are on disk. Spilled records are written now (a
 * refused write fails the publish and takes them back); durable mode also waits for their
 * fsync, answering later. */
static void reply_published(http_server_t *s, httpd_req_t *r, topic_t *t)
{
    char err[256];
    pub_wait_t *w;
    if (topic_commit(t, err, sizeof(err)) < 0) {
        reply_pub_failed(r, t, err);
        return;
    }
    if (!nsqd_is_durable(s->n)) {
        httpd_reply_text(r, 200, "OK");
        return;
    }
    if (!(w = calloc(1, sizeof(*w))) || !(w->a = httpd_async_begin(r, pub_wait_abort, w))) {
        free(w);
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    snprintf(w->topic, sizeof(w->topic), "%s", topic_name(t));
    int rc = topic_when_synced(t, pub_synced_cb, w, err, sizeof(err));
    if (rc == 1)
        return;
    if (rc == 0) {
        httpd_async_reply_text(w->a, 200, "OK");
    } else {
        char msg[200];
        pub_failure_text(err, msg, sizeof(msg));
        httpd_async_reply_error(w->a, 500, msg);
    }
    free(w);
}

/* ?defer= in ms: 1 and *ns when valid, 0 when absent, -1 after replying INVALID_DEFER. */
static int query_defer(http_server_t *s, httpd_req_t *r, int64_t *ns)
{
    int64_t ms, max_ns = nsqd_opts(s->n)->max_req_timeout;
    int rc = httpd_query_i64(r, "defer", &ms);
    if (rc == 0)
        return 0;
    if (rc < 0 || ms < 0 || ms > max_ns / 1000000) {
        httpd_reply_error(r, 400, "INVALID_DEFER");
        return -1;
    }
    *ns = ms * 1000000;
    return 1;
}

static void pub_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    int64_t max = nsqd_opts(s->n)->max_msg_size, defer_ns = 0;
    size_t len = httpd_body_len(r);
    char err[256];
    topic_t *t;
    if (httpd_content_length(r) > max || (int64_t)len > max) {
        httpd_reply_error(r, 413, "MSG_TOO_BIG");
        return;
    }
    if (len == 0) {
        httpd_reply_error(r, 400, "MSG_EMPTY");
        return;
    }
    if (!(t = query_topic(s, r)) || query_defer(s, r, &defer_ns) < 0)
        return;
    if (!topic_can_accept(t, 1)) {
        reply_queue_full(r, t, 1);
        return;
    }
    msg_t *m = nsqd_alloc_message(s->n, len);
    if (!m) {
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    evbuffer_copyout(httpd_body(r), m->body, len);
    if (topic_put(t, m, defer_ns, err, sizeof(err)) < 0) {
        reply_pub_failed(r, t, err);
        return;
    }
    reply_published(s, r, t);
}

/* ?binary=: true/1 and false/0; any other value counts as true (nsqd warns it is deprecated). */
static bool query_binary(httpd_req_t *r)
{
    const char *v = httpd_query_str(r, "binary");
    if (!v || !strcmp(v, "false") || !strcmp(v, "0"))
        return false;
    if (strcmp(v, "true") != 0 && strcmp(v, "1") != 0)
        log_warn("deprecated value '%s' used for /mpub binary param", v);
    return true;
}

/* Puts every span as a message (the caller checked topic_can_accept for all of them).
 * 0, -1 with err when a queue refused one, -2 on OOM. */
static int put_spans(http_server_t *s, topic_t *t, const uint8_t *body, const httpd_span_t *sp,
                     size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        msg_t *m = nsqd_new_message(s->n, body + sp[i].off, sp[i].len);
        if (!m)
            return -2;
        if (topic_put(t, m, 0, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void mpub_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    const nsqd_opts_t *o = nsqd_opts(s->n);
    httpd_span_t *spans = NULL;
    size_t n = 0;
    topic_t *t;
    if (httpd_content_length(r) > o->max_body_size) {
        httpd_reply_error(r, 413, "BODY_TOO_BIG");
        return;
    }
    if (!(t = query_topic(s, r)))
        return;
    bool binary = query_binary(r);
    size_t len = httpd_body_len(r);
    const uint8_t *body = httpd_body_pullup(r);
    const char *code =
        binary ? httpd_mpub_split_binary(body, len, o->max_msg_size, o->max_body_size, &spans, &n)
               : httpd_mpub_split_text(body, len, o->max_msg_size, o->max_body_size, &spans, &n);
    int rc = 0;
    char err[256];
    if (code)
        httpd_reply_error(r, strcmp(code, "INTERNAL_ERROR") ? 413 : 500, code);
    else if (n && !topic_can_accept(t, n))
        reply_queue_full(r, t, n);
    else if ((rc = put_spans(s, t, body, spans, n, err, sizeof(err))) == 0)
        reply_published(s, r, t);
    if (rc < 0) /* nothing of a refused /mpub stays on disk */
        topic_abort(t);
    if (rc == -1)
        reply_pub_failed(r, t, err);
    else if (rc < 0)
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
    free(spans);
}

/* ---- /stats ------------------------------------------------------------------------------- */

static void stats_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    if (httpd_query_error(r)) {
        httpd_reply_error(r, 400, "INVALID_REQUEST");
        return;
    }
    const char *format = httpd_query_str(r, "format");
    bool json = format && strcmp(format, "json") == 0;
    bool include_mem = httpd_query_bool(r, "include_mem", true);
    stats_mem_t mem;
    stats_snapshot_t *snap = stats_snapshot_take(s->n, s->tcp, httpd_query_str(r, "topic"),
                                                 httpd_query_str(r, "channel"),
                                                 httpd_query_bool(r, "include_clients", true));
    struct evbuffer *buf = evbuffer_new();
    if (include_mem)
        stats_mem_read(&mem);
    if (!snap || !buf ||
        (json ? stats_render_json(snap, include_mem ? &mem : NULL, buf)
              : stats_render_text(snap, include_mem ? &mem : NULL, buf)) < 0)
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
    else
        httpd_reply_buffer(r, 200, json ? HTTPD_CT_JSON : HTTPD_CT_TEXT, buf);
    if (buf)
        evbuffer_free(buf);
    stats_snapshot_free(snap);
}

static void metrics_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    metrics_reply(r, s->n);
}

/* ---- /topic/... --------------------------------------------------------------------------- */

/* ?topic= as nsqd's reqParams.Get: NULL once it replied INVALID_REQUEST / MISSING_ARG_TOPIC,
 * and INVALID_TOPIC when validate is set. */
static const char *query_topic_name(httpd_req_t *r, bool validate)
{
    const char *name = httpd_query_str(r, "topic");
    if (httpd_query_error(r)) {
        httpd_reply_error(r, 400, "INVALID_REQUEST");
        return NULL;
    }
    if (!name) {
        httpd_reply_error(r, 400, "MISSING_ARG_TOPIC");
        return NULL;
    }
    if (validate && !name_is_valid(name, strlen(name))) {
        httpd_reply_error(r, 400, "INVALID_TOPIC");
        return NULL;
    }
    return name;
}

/* An existing topic by ?topic=, or NULL once it replied (404 TOPIC_NOT_FOUND). */
static topic_t *query_existing_topic(http_server_t *s, httpd_req_t *r, bool validate)
{
    const char *name = query_topic_name(r, validate);
    topic_t *t = name ? nsqd_find_topic(s->n, name, strlen(name)) : NULL;
    if (name && !t)
        httpd_reply_error(r, 404, "TOPIC_NOT_FOUND");
    return t;
}

static void topic_create_cb(httpd_req_t *r, void *ctx)
{
    if (query_topic(ctx, r))
        httpd_reply_empty(r);
}

static void topic_delete_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    const char *name = query_topic_name(r, false);
    if (!name)
        return;
    if (nsqd_delete_topic(s->n, name, strlen(name)) < 0)
        httpd_reply_error(r, 404, "TOPIC_NOT_FOUND");
    else
        httpd_reply_empty(r);
}

static void topic_empty_cb(httpd_req_t *r, void *ctx)
{
    topic_t *t = query_existing_topic(ctx, r, true);
    if (!t)
        return;
    topic_empty(t);
    httpd_reply_empty(r);
}

static void topic_set_paused(httpd_req_t *r, http_server_t *s, bool paused)
{
    topic_t *t = query_existing_topic(s, r, false);
    if (!t)
        return;
    if (paused)
        topic_pause(t);
    else
        topic_unpause(t);
    httpd_reply_empty(r);
}

static void topic_pause_cb(httpd_req_t *r, void *ctx)
{
    topic_set_paused(r, ctx, true);
}
static void topic_unpause_cb(httpd_req_t *r, void *ctx)
{
    topic_set_paused(r, ctx, false);
}

/* ---- /channel/... ------------------------------------------------------------------------- */

/* nsqd's getExistingTopicFromQuery: both names checked, then the topic must exist.
 * NULL once it replied; *channel gets the channel name. */
static topic_t *query_topic_channel(http_server_t *s, httpd_req_t *r, const char **channel)
{
    const char *tn = httpd_query_str(r, "topic"), *cn = httpd_query_str(r, "channel");
    const char *code = NULL;
    if (httpd_query_error(r))
        code = "INVALID_REQUEST";
    else if (!tn)
        code = "MISSING_ARG_TOPIC";
    else if (!name_is_valid(tn, strlen(tn)))
        code = "INVALID_ARG_TOPIC";
    else if (!cn)
        code = "MISSING_ARG_CHANNEL";
    else if (!name_is_valid(cn, strlen(cn)))
        code = "INVALID_ARG_CHANNEL";
    if (code) {
        httpd_reply_error(r, 400, code);
        return NULL;
    }
    topic_t *t = nsqd_find_topic(s->n, tn, strlen(tn));
    if (!t)
        httpd_reply_error(r, 404, "TOPIC_NOT_FOUND");
    *channel = cn;
    return t;
}

/* The existing channel named by the query, or NULL once it replied. */
static channel_t *query_existing_channel(http_server_t *s, httpd_req_t *r)
{
    const char *cn;
    topic_t *t = query_topic_channel(s, r, &cn);
    channel_t *c = t ? topic_find_channel(t, cn, strlen(cn)) : NULL;
    if (t && !c)
        httpd_reply_error(r, 404, "CHANNEL_NOT_FOUND");
    return c;
}

static void channel_create_cb(httpd_req_t *r, void *ctx)
{
    const char *cn;
    topic_t *t = query_topic_channel(ctx, r, &cn);
    if (!t)
        return;
    if (!topic_get_channel(t, cn, strlen(cn)))
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
    else
        httpd_reply_empty(r);
}

static void channel_delete_cb(httpd_req_t *r, void *ctx)
{
    const char *cn;
    topic_t *t = query_topic_channel(ctx, r, &cn);
    if (!t)
        return;
    if (topic_delete_channel(t, cn, strlen(cn)) < 0)
        httpd_reply_error(r, 404, "CHANNEL_NOT_FOUND");
    else
        httpd_reply_empty(r);
}

static void channel_empty_cb(httpd_req_t *r, void *ctx)
{
    channel_t *c = query_existing_channel(ctx, r);
    if (!c)
        return;
    chan_empty(c);
    httpd_reply_empty(r);
}

static void channel_set_paused(httpd_req_t *r, http_server_t *s, bool paused)
{
    channel_t *c = query_existing_channel(s, r);
    if (!c)
        return;
    if (paused)
        chan_pause(c);
    else
        chan_unpause(c);
    httpd_reply_empty(r);
}

static void channel_pause_cb(httpd_req_t *r, void *ctx)
{
    channel_set_paused(r, ctx, true);
}
static void channel_unpause_cb(httpd_req_t *r, void *ctx)
{
    channel_set_paused(r, ctx, false);
}

/* ---- /config/:opt ------------------------------------------------------------------------- */

/* The option whose config-file name (nsqd's "cfg" name) is name; NULL when none. */
static const opt_def_t *find_option(const char *name)
{
    char key[128];
    for (const opt_def_t *d = nsqd_opt_defs; d->name; d++) {
        if (d->offset == OPT_NOFIELD || strcmp(d->name, "config") == 0)
            continue;
        if (d->cfg_key) {
            snprintf(key, sizeof(key), "%s", d->cfg_key);
        } else {
            size_t i = 0;
            for (; d->name[i] && i + 1 < sizeof(key); i++)
                key[i] = d->name[i] == '-' ? '_' : d->name[i];
            key[i] = '\0';
        }
        if (strcmp(key, name) == 0)
            return d;
    }
    return NULL;
}

static json_t *strlist_json(const strlist_t *l)
{
    json_t *a = json_array();
    for (int i = 0; a && i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

/* nsqd keeps these as numbers: its TLSRequired constants and crypto/tls version ids. */
static json_t *string_option_json(const opt_def_t *d, const char *v)
{
    static const char *const tls_required[] = {"false", "tcp-https", "true"};
    static const char *const tls_versions[] = {"tls1.0", "tls1.1", "tls1.2", "tls1.3"};
    if (strcmp(d->name, "tls-required") == 0) {
        for (int i = 0; i < 3; i++)
            if (v && strcmp(v, tls_required[i]) == 0)
                return json_integer(i);
        return json_integer(0);
    }
    if (strcmp(d->name, "tls-min-version") == 0) {
        for (int i = 0; i < 4; i++)
            if (v && strcasecmp(v, tls_versions[i]) == 0)
                return json_integer(0x0301 + i);
        return json_integer(0x0301);
    }
    return json_string(v ? v : "");
}

/* Floats as Go prints them, which jansson's %.17g does not. */
static void reply_floatlist(httpd_req_t *r, const floatlist_t *l)
{
    struct evbuffer *b = evbuffer_new();
    char tmp[HTTPD_FLOAT_MAX];
    if (!b) {
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    evbuffer_add(b, "[", 1);
    for (int i = 0; i < l->n; i++) {
        if (i)
            evbuffer_add(b, ",", 1);
        evbuffer_add(b, tmp, httpd_format_float(l->v[i], tmp, sizeof(tmp)));
    }
    evbuffer_add(b, "]", 1);
    httpd_reply_buffer(r, 200, HTTPD_CT_JSON, b);
    evbuffer_free(b);
}

static void config_get(httpd_req_t *r, http_server_t *s, const char *opt)
{
    const opt_def_t *d = find_option(opt);
    const char *field = (const char *)nsqd_opts(s->n) + (d ? d->offset : 0);
    json_t *v = NULL;
    if (!d) {
        httpd_reply_error(r, 400, "INVALID_OPTION");
        return;
    }
    if (strcmp(opt, "nsqlookupd_tcp_addresses") == 0)
        v = s->lookupd_null ? json_null() : strlist_json(&s->lookupd);
    else if (strcmp(opt, "log_level") == 0)
        v = json_integer(log_get_level());
    else if (d->type == OPT_STRING || d->type == OPT_BOOLSTR)
        v = string_option_json(d, *(char *const *)field);
    else if (d->type == OPT_INT || d->type == OPT_DURATION)
        v = json_integer(*(const int64_t *)field);
    else if (d->type == OPT_BOOL)
        v = json_boolean(*(const bool *)field);
    else if (d->type == OPT_STRLIST)
        v = strlist_json((const strlist_t *)field);
    else if (d->type == OPT_FLOATLIST) {
        reply_floatlist(r, (const floatlist_t *)field);
        return;
    }
    httpd_reply_json(r, 200, v);
}

/* nsqd's json.Unmarshal into []string: an array (null items as ""), or null. */
static int put_lookupd_addresses(http_server_t *s, const uint8_t *body, size_t len)
{
    json_t *j = json_loadb((const char *)body, len, JSON_DECODE_ANY, NULL);
    int rc = -1;
    if (j && json_is_null(j)) {
        strlist_clear(&s->lookupd);
        s->lookupd_null = true;
        rc = 0;
    } else if (j && json_is_array(j)) {
        size_t n = json_array_size(j);
        const char **v = calloc(n ? n : 1, sizeof(*v));
        for (size_t i = 0; v && i < n; i++) {
            json_t *e = json_array_get(j, i);
            v[i] = json_is_string(e) ? json_string_value(e) : json_is_null(e) ? "" : NULL;
            if (!v[i])
                goto done;
        }
        if (v && strlist_assign(&s->lookupd, v, (int)n) == 0) {
            s->lookupd_null = false;
            rc = 0;
        }
    done:
        free(v);
    }
    json_decref(j);
    return rc;
}

/* nsqd's lg.ParseLogLevel: exactly debug, info, warn, error or fatal, any case. */
static int put_log_level(const uint8_t *body, size_t len)
{
    static const char *const words[] = {"debug", "info", "warn", "error", "fatal"};
    char word[8];
    log_level_t lvl;
    if (len >= sizeof(word))
        return -1;
    memcpy(word, body, len);
    word[len] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(word, words[i]) == 0 && log_level_parse(words[i], &lvl) == 0) {
            log_set_level(lvl);
            return 0;
        }
    }
    return -1;
}

static void config_cb(httpd_req_t *r, void *ctx)
{
    http_server_t *s = ctx;
    const char *opt = httpd_param(r);
    if (httpd_is_method(r, HTTPD_PUT)) {
        size_t len = httpd_body_len(r);
        const uint8_t *body = httpd_body_pullup(r);
        int rc;
        if (len == 0 || (int64_t)len > nsqd_opts(s->n)->max_msg_size) {
            httpd_reply_error(r, 413, "INVALID_VALUE");
            return;
        }
        if (strcmp(opt, "nsqlookupd_tcp_addresses") == 0)
            rc = put_lookupd_addresses(s, body, len);
        else if (strcmp(opt, "log_level") == 0)
            rc = put_log_level(body, len);
        else {
            httpd_reply_error(r, 400, "INVALID_OPTION");
            return;
        }
        if (rc < 0) {
            httpd_reply_error(r, 400, "INVALID_VALUE");
            return;
        }
        if (s->config_hook)
            s->config_hook(s->config_ctx, opt);
    }
    config_get(r, s, opt);
}
