/* httputil: an evhttp server with NSQ's HTTP conventions, shared by nsqd and nsqlookupd.
 * Owns the listener, route dispatch (httprouter's rules: exact match, trailing-slash and
 * case-insensitive redirects, OPTIONS, 405 with Allow, 404), Go-compatible query parsing, the
 * reply helpers that stamp X-NSQ-Content-Type on every response, request logging, and the pure
 * /mpub body splitters. Leaves every route's meaning to its daemon. */
#include "common/httputil.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/opts.h"
#include "common/util.h"
#include "common/wire.h"

#define NSQ_CONTENT_TYPE_HEADER "X-NSQ-Content-Type"
#define NSQ_CONTENT_TYPE_VALUE "nsq; version=1.0"
/* Go's http.Server default MaxHeaderBytes (1 MiB) plus its 4 KiB slack. */
#define HTTPD_MAX_HEADERS ((1 << 20) + 4096)

struct httpd {
    struct evhttp *http;
    const httpd_route_t *routes;
    size_t nroutes;
    void *ctx;
    bool (*gate)(httpd_req_t *r, void *ctx);
    struct httpd_async *pending; /* requests answered later (httpd_async_begin) */
};

struct httpd_req {
    struct evhttp_request *req;
    httpd_t *h;
    unsigned method;
    char *path;            /* decoded, owned */
    const char *raw_query; /* after '?', owned by libevent; NULL when none */
    const char *param;     /* points into param_buf */
    char *param_buf;
    httpd_query_t query;
    int query_err;
    bool log, replied;
    int64_t start_ns;
};

/* A request answered after its handler returned: a copy of what the reply needs (path, query
 * and param are gone by then), linked in its server's pending list. */
struct httpd_async {
    httpd_req_t r;
    struct httpd_async *next, *prev;
    void (*on_abort)(void *arg);
    void *arg;
};


static const struct {
    unsigned bit;
    const char *name;
} method_names[] = {
    /* alphabetical: the order of an Allow header */
    {EVHTTP_REQ_CONNECT, "CONNECT"}, {EVHTTP_REQ_DELETE, "DELETE"},   {EVHTTP_REQ_GET, "GET"},
    {EVHTTP_REQ_HEAD, "HEAD"},       {EVHTTP_REQ_OPTIONS, "OPTIONS"}, {EVHTTP_REQ_PATCH, "PATCH"},
    {EVHTTP_REQ_POST, "POST"},       {EVHTTP_REQ_PUT, "PUT"},         {EVHTTP_REQ_TRACE, "TRACE"},
};

_Static_assert(HTTPD_GET == EVHTTP_REQ_GET && HTTPD_POST == EVHTTP_REQ_POST &&
                   HTTPD_HEAD == EVHTTP_REQ_HEAD && HTTPD_PUT == EVHTTP_REQ_PUT &&
                   HTTPD_DELETE == EVHTTP_REQ_DELETE && HTTPD_OPTIONS == EVHTTP_REQ_OPTIONS,
               "HTTPD_* method bits must match libevent's");

static void request_cb(struct evhttp_request *req, void *arg);

/* ---- server ----------------------------------------------------------------------------- */

httpd_t *httpd_new(struct event_base *base, const httpd_config_t *cfg, int *port_out, char *err,
                   size_t errlen)
{
    httpd_t *h = calloc(1, sizeof(*h));
    int fd = -1;
    if (!h || !(h->http = evhttp_new(base))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->routes = cfg->routes;
    h->nroutes = cfg->nroutes;
    h->ctx = cfg->ctx;
    h->gate = cfg->gate;
    fd = net_listen_tcp(cfg->addr, 1024, port_out, err, errlen);
    if (fd < 0)
        goto fail;
    if (!evhttp_accept_socket_with_handle(h->http, fd)) {
        snprintf(err, errlen, "listen (%s) failed - cannot accept on socket", cfg->addr);
        close(fd);
        goto fail;
    }
    /* Every method reaches dispatch, so wrong ones get nsqd's JSON 405 rather than libevent's. */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(h->http, NULL);
    if (cfg->max_body)
        evhttp_set_max_body_size(h->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(h->http, HTTPD_MAX_HEADERS);
    evhttp_set_gencb(h->http, request_cb, h);
    return h;
fail:
    if (h && h->http)
        evhttp_free(h->http);
    free(h);
    return NULL;
}

static void async_finish(struct httpd_async *a);

void httpd_free(httpd_t *h)
{
    if (!h)
        return;
    while (h->pending) { /* answer them before evhttp frees their requests */
        struct httpd_async *a = h->pending;
        void (*on_abort)(void *) = a->on_abort;
        void *arg = a->arg;
        httpd_reply_error(&a->r, 503, "EXITING");
        async_finish(a);
        if (on_abort)
            on_abort(arg);
    }
    evhttp_free(h->http);
    free(h);
}

/* ---- routing ------------------------------------------------------------------------------ */

/* pat against path; a ":name" segment takes one non-empty segment (returned in pv, pl). */
static bool route_match(const char *pat, const char *path, bool nocase, const char **pv, size_t *pl)
{
    while (*pat) {
        if (*pat == ':') {
            size_t seg = strcspn(path, "/");
            if (seg == 0)
                return false;
            *pv = path;
            *pl = seg;
            path += seg;
            pat += strcspn(pat, "/");
            continue;
        }
        if (nocase ? tolower((unsigned char)*pat) != tolower((unsigned char)*path) : *pat != *path)
            return false;
        pat++;
        path++;
    }
    return *path == '\0';
}

static const httpd_route_t *route_find(const httpd_t *h, unsigned method, const char *path,
                                       bool nocase, const char **pv, size_t *pl)
{
    for (size_t i = 0; i < h->nroutes; i++) {
        const httpd_route_t *rt = &h->routes[i];
        if ((rt->methods & method) && route_match(rt->path, path, nocase, pv, pl))
            return rt;
    }
    return NULL;
}

/* The methods (other than the request's) with a route for path, plus OPTIONS, sorted and
 * comma-separated like httprouter's Allow header. Empty when no route matches. */
static void allowed_methods(const httpd_t *h, const char *path, unsigned except, char *out,
                            size_t outlen)
{
    unsigned mask = 0;
    const char *pv;
    size_t pl;
    for (size_t i = 0; i < h->nroutes; i++)
        if (route_match(h->routes[i].path, path, false, &pv, &pl))
            mask |= h->routes[i].methods;
    mask &= ~(except | EVHTTP_REQ_OPTIONS);
    out[0] = '\0';
    if (!mask)
        return;
    mask |= EVHTTP_REQ_OPTIONS;
    size_t used = 0;
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        if (!(mask & method_names[i].bit))
            continue;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", method_names[i].name);
        if (w < 0 || (size_t)w >= outlen - used)
            break;
        used += (size_t)w;
    }
}

/* httprouter's CleanPath: a rooted path without "//", "." and "..", keeping a trailing '/'. */
static void clean_path(const char *p, char *out, size_t outlen)
{
    size_t w = 0, len = strlen(p);
    bool trailing = len > 1 && p[len - 1] == '/';
    if (outlen < 2) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[w++] = '/';
    for (size_t i = 0; i < len;) {
        while (i < len && p[i] == '/')
            i++;
        size_t seg = strcspn(p + i, "/");
        if (seg == 0)
            break;
        if (seg == 1 && p[i] == '.') {
            trailing = trailing || i + 1 >= len;
        } else if (seg == 2 && p[i] == '.' && p[i + 1] == '.') {
            while (w > 1 && out[w - 1] != '/')
                w--; /* drop the last segment ... */
            if (w > 1)
                w--; /* ... and the '/' before it */
        } else if (w + seg + 2 < outlen) {
            if (w > 1)
                out[w++] = '/';
            memcpy(out + w, p + i, seg);
            w += seg;
        }
        i += seg;
    }
    if (trailing && w > 1 && w + 1 < outlen)
        out[w++] = '/';
    out[w] = '\0';
}

/* The path with its trailing slash added or removed. The caller keeps strlen(p) + 2 <= outlen. */
static void toggle_slash(const char *p, char *out, size_t outlen)
{
    size_t len = strlen(p);
    bool add = !(len > 1 && p[len - 1] == '/');
    if (len + 2 > outlen) {
        out[0] = '\0';
        return;
    }
    memcpy(out, p, len);
    if (add)
        out[len++] = '/';
    else
        len--;
    out[len] = '\0';
}

/* Rebuilds a route's canonical path with the request's parameter value. */
static void route_path(const httpd_route_t *rt, const char *pv, size_t pl, char *out, size_t outlen)
{
    const char *colon = strchr(rt->path, ':');
    if (!colon) {
        snprintf(out, outlen, "%s", rt->path);
        return;
    }
    const char *rest = colon + strcspn(colon, "/");
    snprintf(out, outlen, "%.*s%.*s%s", (int)(colon - rt->path), rt->path, (int)pl, pv, rest);
}

/* ---- replies ------------------------------------------------------------------------------ */

static void log_request(const httpd_req_t *r, int status)
{
    char *peer = NULL;
    ev_uint16_t port = 0;
    char elapsed[32];
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    opts_format_duration(clock_monotonic_ns() - r->start_ns, elapsed, sizeof(elapsed));
    log_info("%d %s %s (%s:%u) %s", status, httpd_method_name(r), evhttp_request_get_uri(r->req),
             peer ? peer : "?", (unsigned)port, elapsed);
}

/* Go's http.StatusText for the codes NSQ's APIs send (libevent's differ for some). */
static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return NULL; /* libevent's phrase */
    }
}

/* The one exit of every request: headers, log line, then libevent owns the request. */
static void send_reply(httpd_req_t *r, int status, const char *content_type)
{
    if (r->replied) {
        log_error("HTTP: second reply to %s ignored", httpd_path(r));
        return;
    }
    r->replied = true;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(oh, NSQ_CONTENT_TYPE_HEADER, NSQ_CONTENT_TYPE_VALUE);
    if (content_type)
        evhttp_add_header(oh, "Content-Type", content_type);
    if (r->log)
        log_request(r, status);
    evhttp_send_reply(r->req, status, status_text(status), NULL);
}

void httpd_add_header(httpd_req_t *r, const char *key, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), key, value);
}

void httpd_reply(httpd_req_t *r, int status, const char *content_type, const void *data, size_t len)
{
    if (!r->replied && len)
        evbuffer_add(evhttp_request_get_output_buffer(r->req), data, len);
    send_reply(r, status, content_type);
}

void httpd_reply_empty(httpd_req_t *r)
{
    httpd_reply(r, 200, NULL, NULL, 0);
}

void httpd_reply_text(httpd_req_t *r, int status, const char *text)
{
    size_t len = strlen(text);
    httpd_reply(r, status, len ? HTTPD_CT_TEXT : NULL, text, len);
}

void httpd_reply_buffer(httpd_req_t *r, int status, const char *content_type, struct evbuffer *buf)
{
    if (!r->replied)
        evbuffer_add_buffer(evhttp_request_get_output_buffer(r->req), buf);
    send_reply(r, status, content_type);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return evbuffer_add(data, buf, size);
}

void httpd_reply_json(httpd_req_t *r, int status, json_t *j)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(r->req);
    if (!j || r->replied ||
        json_dump_callback(j, dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY) < 0) {
        if (!r->replied)
            evbuffer_drain(out, evbuffer_get_length(out));
        json_decref(j);
        httpd_reply_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    json_decref(j);
    send_reply(r, status, HTTPD_CT_JSON);
}

void httpd_reply_error(httpd_req_t *r, int status, const char *code)
{
    char body[256];
    int len = snprintf(body, sizeof(body), "{\"message\":\"%s\"}", code);
    if (len < 0 || (size_t)len >= sizeof(body))
        len = snprintf(body, sizeof(body), "{\"message\":\"INTERNAL_ERROR\"}");
    httpd_reply(r, status, HTTPD_CT_JSON, body, (size_t)len);
}

/* Go's http.Redirect: Location, and for GET a small HTML body. */
static void reply_redirect(httpd_req_t *r, const char *path)
{
    const char *q = r->raw_query;
    char loc[2048];
    int code = r->method == EVHTTP_REQ_GET ? 301 : 307;
    snprintf(loc, sizeof(loc), "%s%s%s", path, q && *q ? "?" : "", q && *q ? q : "");
    httpd_add_header(r, "Location", loc);
    if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
        httpd_reply(r, code, NULL, NULL, 0);
        return;
    }
    struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
    evbuffer_add_printf(b, "<a href=\"");
    for (const char *p = loc; *p; p++) {
        switch (*p) {
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '"':
            evbuffer_add(b, "&#34;", 5);
            break;
        case '\'':
            evbuffer_add(b, "&#39;", 5);
            break;
        default:
            evbuffer_add(b, p, 1);
        }
    }
    evbuffer_add_printf(b, "\">%s</a>.\n\n",
                        code == 301 ? "Moved Permanently" : "Temporary Redirect");
    send_reply(r, code, "text/html; charset=utf-8");
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* httprouter: trailing-slash fix, then the cleaned path matched without case. */
static bool try_redirect(httpd_req_t *r)
{
    char alt[1024], clean[1024], canon[1024];
    const char *pv = "";
    size_t pl = 0;
    const httpd_route_t *rt;
    if (r->method == EVHTTP_REQ_CONNECT || strcmp(r->path, "/") == 0 ||
        strlen(r->path) >= sizeof(alt) - 2)
        return false;
    toggle_slash(r->path, alt, sizeof(alt));
    if (route_find(r->h, r->method, alt, false, &pv, &pl)) {
        reply_redirect(r, alt);
        return true;
    }
    clean_path(r->path, clean, sizeof(clean));
    toggle_slash(clean, alt, sizeof(alt));
    if ((rt = route_find(r->h, r->method, clean, true, &pv, &pl)) ||
        (rt = route_find(r->h, r->method, alt, true, &pv, &pl))) {
        route_path(rt, pv, pl, canon, sizeof(canon));
        reply_redirect(r, canon);
        return true;
    }
    return false;
}

static void dispatch(httpd_req_t *r)
{
    const char *pv = "";
    size_t pl = 0;
    char allow[128];
    const httpd_route_t *rt = route_find(r->h, r->method, r->path, false, &pv, &pl);
    if (rt) {
        r->log = rt->log;
        r->param_buf = strndup(pv, pl);
        r->param = r->param_buf ? r->param_buf : "";
        rt->fn(r, r->h->ctx);
        if (!r->replied)
            httpd_reply_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    if (try_redirect(r))
        return;
    allowed_methods(r->h, r->path, r->method, allow, sizeof(allow));
    if (r->method == EVHTTP_REQ_OPTIONS && allow[0]) {
        httpd_add_header(r, "Allow", allow);
        httpd_reply_empty(r);
        return;
    }
    r->log = true;
    if (allow[0]) {
        httpd_add_header(r, "Allow", allow);
        httpd_reply_error(r, 405, "METHOD_NOT_ALLOWED");
        return;
    }
    httpd_reply_error(r, 404, "NOT_FOUND");
}

/* The request target's raw path and query. Origin form ("/a?b") is split here, because
 * evhttp's URI parser reads "//x" as an authority; absolute form goes through evhttp's. */
static void split_target(struct evhttp_request *req, const char **path, size_t *pathlen,
                         const char **query)
{
    const char *t = evhttp_request_get_uri(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    if (t && t[0] == '/') {
        *pathlen = strcspn(t, "?");
        *path = t;
        *query = t[*pathlen] == '?' ? t + *pathlen + 1 : NULL;
        return;
    }
    *path = uri ? evhttp_uri_get_path(uri) : NULL;
    *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!*path || !**path)
        *path = "/";
    *pathlen = strlen(*path);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    httpd_req_t r = {.req = req, .h = arg, .start_ns = clock_monotonic_ns()};
    const char *raw;
    size_t rawlen;
    r.method = (unsigned)evhttp_request_get_command(req);
    r.param = "";
    split_target(req, &raw, &rawlen, &r.raw_query);
    r.path = malloc(rawlen + 1);
    if (!r.path) {
        httpd_reply_error(&r, 500, "INTERNAL_ERROR");
        return;
    }
    if (httpd_unescape(raw, rawlen, r.path, false) < 0) {
        /* Go's server rejects a request line it cannot parse with a bare 400. */
        httpd_reply_text(&r, 400, "400 Bad Request");
        goto done;
    }
    r.query_err = httpd_query_parse(r.raw_query, &r.query);
    if (r.query_err == -2) {
        httpd_reply_error(&r, 500, "INTERNAL_ERROR");
        goto done;
    }
    if (r.h->gate && r.h->gate(&r, r.h->ctx))
        goto done;
    dispatch(&r);
done:
    httpd_query_free(&r.query);
    free(r.param_buf);
    free(r.path);
}

/* ---- replying later --------------------------------------------------------------------- */

httpd_async_t *httpd_async_begin(httpd_req_t *r, void (*on_abort)(void *arg), void *arg)
{
    httpd_async_t *a = calloc(1, sizeof(*a));
    if (!a || r->replied) {
        free(a);
        return NULL;
    }
    a->r.req = r->req;
    a->r.h = r->h;
    a->r.method = r->method;
    a->r.log = r->log;
    a->r.start_ns = r->start_ns;
    a->r.param = "";
    a->on_abort = on_abort;
    a->arg = arg;
    a->next = r->h->pending;
    if (a->next)
        a->next->prev = a;
    r->h->pending = a;
    r->replied = true; /* the handler's part is done: dispatch must not answer */
    return a;
}

static void async_finish(httpd_async_t *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        a->r.h->pending = a->next;
    if (a->next)
        a->next->prev = a->prev;
    free(a);
}

void httpd_async_reply_text(httpd_async_t *a, int status, const char *text)
{
    httpd_reply_text(&a->r, status, text);
    async_finish(a);
}

void httpd_async_reply_error(httpd_async_t *a, int status, const char *code)
{
    httpd_reply_error(&a->r, status, code);
    async_finish(a);
}

/* ---- request accessors ------------------------------------------------------------------- */

const char *httpd_method_name(const httpd_req_t *r)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (method_names[i].bit == r->method)
            return method_names[i].name;
    return "?";
}

bool httpd_is_method(const httpd_req_t *r, unsigned method)
{
    return (r->method & method) != 0;
}
const char *httpd_path(const httpd_req_t *r)
{
    return r->path ? r->path : "/";
}
const char *httpd_param(const httpd_req_t *r)
{
    return r->param;
}

struct evbuffer *httpd_body(const httpd_req_t *r)
{
    return evhttp_request_get_input_buffer(r->req);
}

size_t httpd_body_len(const httpd_req_t *r)
{
    return evbuffer_get_length(httpd_body(r));
}

const uint8_t *httpd_body_pullup(const httpd_req_t *r)
{
    struct evbuffer *b = httpd_body(r);
    return evbuffer_get_length(b) ? evbuffer_pullup(b, -1) : NULL;
}

int64_t httpd_content_length(const httpd_req_t *r)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Length");
    int64_t n;
    if (!v || parse_i64(v, strlen(v), &n) < 0 || n < 0)
        return -1;
    return n;
}

int httpd_query_error(const httpd_req_t *r)
{
    return r->query_err < 0 ? -1 : 0;
}

const char *httpd_query_str(const httpd_req_t *r, const char *key)
{
    return httpd_query_lookup(&r->query, key);
}

int httpd_query_i64(const httpd_req_t *r, const char *key, int64_t *out)
{
    const char *v = httpd_query_str(r, key);
    if (!v)
        return 0;
    return parse_i64(v, strlen(v), out) < 0 ? -1 : 1;
}

bool httpd_query_bool(const httpd_req_t *r, const char *key, bool def)
{
    const char *v = httpd_query_str(r, key);
    if (!v)
        return def;
    if (!strcmp(v, "true") || !strcmp(v, "1"))
        return true;
    if (!strcmp(v, "false") || !strcmp(v, "0"))
        return false;
    return def;
}

/* ---- query parsing (pure) ----------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long httpd_unescape(const char *src, size_t len, char *dst, bool plus_space)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int a = hexval(src[i + 1]), b = hexval(src[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            dst[w++] = (char)(a << 4 | b);
            i += 2;
        } else if (c == '+' && plus_space) {
            dst[w++] = ' ';
        } else {
            dst[w++] = c;
        }
    }
    dst[w] = '\0';
    return (long)w;
}

int httpd_query_parse(const char *raw, httpd_query_t *q)
{
    memset(q, 0, sizeof(*q));
    if (!raw || !*raw)
        return 0;
    size_t len = strlen(raw), pairs = 1;
    for (size_t i = 0; i < len; i++)
        pairs += raw[i] == '&';
    q->buf = malloc(len + 1);
    q->kv = malloc(pairs * sizeof(*q->kv));
    if (!q->buf || !q->kv) {
        httpd_query_free(q);
        return -2;
    }
    memcpy(q->buf, raw, len + 1);
    int rc = 0;
    char *p = q->buf, *end = q->buf + len;
    while (p < end) {
        char *seg = p, *amp = memchr(p, '&', (size_t)(end - p));
        size_t seglen = amp ? (size_t)(amp - p) : (size_t)(end - p);
        p = amp ? amp + 1 : end;
        seg[seglen] = '\0';
        if (memchr(seg, ';', seglen)) { /* Go 1.17+: "invalid semicolon separator in query" */
            rc = -1;
            continue;
        }
        if (seglen == 0)
            continue;
        char *eq = memchr(seg, '=', seglen);
        size_t klen = eq ? (size_t)(eq - seg) : seglen;
        char *val = eq ? eq + 1 : seg + seglen;
        size_t vlen = eq ? seglen - klen - 1 : 0;
        if (httpd_unescape(seg, klen, seg, true) < 0 || httpd_unescape(val, vlen, val, true) < 0) {
            rc = -1;
            continue;
        }
        q->kv[q->n].key = seg;
        q->kv[q->n].val = val;
        q->n++;
    }
    return rc;
}

const char *httpd_query_lookup(const httpd_query_t *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0)
            return q->kv[i].val;
    return NULL;
}

void httpd_query_free(httpd_query_t *q)
{
    free(q->kv);
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* ---- /mpub bodies (pure) ------------------------------------------------------------------ */

/* nsqd reads at most max_body+1 bytes, line by line, and fails when the running total reaches
 * that (BODY_TOO_BIG) or a line is longer than max_msg (MSG_TOO_BIG), whichever comes first. */
const char *httpd_mpub_split_text(const uint8_t *body, size_t len, int64_t max_msg_size,
                                  int64_t max_body_size, httpd_span_t **spans, size_t *n)
{
    size_t read_max = max_body_size < 0 ? 1 : (size_t)max_body_size + 1;
    size_t end = len < read_max ? len : read_max, lines = 1, total = 0;
    *spans = NULL;
    *n = 0;
    for (const uint8_t *p = body; end && (p = memchr(p, '\n', end - (size_t)(p - body))); p++)
        lines++;
    httpd_span_t *out = end ? malloc(lines * sizeof(*out)) : NULL;
    if (end && !out)
        return "INTERNAL_ERROR";
    for (size_t pos = 0; pos < end;) {
        const uint8_t *nl = memchr(body + pos, '\n', end - pos);
        size_t block = nl ? (size_t)(nl - body) - pos + 1 : end - pos;
        size_t mlen = nl ? block - 1 : block;
        total += block;
        if (total == read_max) {
            free(out);
            return "BODY_TOO_BIG";
        }
        if (mlen > 0 && (int64_t)mlen > max_msg_size) {
            free(out);
            return "MSG_TOO_BIG";
        }
        if (mlen > 0)
            out[(*n)++] = (httpd_span_t){.off = pos, .len = mlen};
        pos += block;
    }
    if (*n == 0) {
        free(out);
        out = NULL;
    }
    *spans = out;
    return NULL;
}

/* nsqd's readMPUB: a count in 1..(max_body-4)/5, then each size in 1..max_msg with its data. */
const char *httpd_mpub_split_binary(const uint8_t *body, size_t len, int64_t max_msg_size,
                                    int64_t max_body_size, httpd_span_t **spans, size_t *n)
{
    *spans = NULL;
    *n = 0;
    if (len < 4)
        return "BAD_BODY";
    int32_t count = (int32_t)wire_get_be32(body);
    int64_t max_messages = (max_body_size - 4) / 5;
    if (count <= 0 || (int64_t)count > max_messages)
        return "BAD_BODY";
    /* Each message takes at least 5 bytes: a count the body cannot hold fails on some
     * message, and every per-message failure is BAD_MESSAGE. */
    if ((size_t)count > (len - 4) / 5)
        return "BAD_MESSAGE";
    httpd_span_t *out = malloc((size_t)count * sizeof(*out));
    if (!out)
        return "INTERNAL_ERROR";
    size_t pos = 4;
    for (int32_t i = 0; i < count; i++) {
        if (len - pos < 4)
            goto bad;
        int32_t size = (int32_t)wire_get_be32(body + pos);
        pos += 4;
        if (size <= 0 || (int64_t)size > max_msg_size || (size_t)size > len - pos)
            goto bad;
        out[i] = (httpd_span_t){.off = pos, .len = (size_t)size};
        pos += (size_t)size;
    }
    *spans = out;
    *n = (size_t)count;
    return NULL;
bad:
    free(out);
    return "BAD_MESSAGE";
}

/* ---- numbers ------------------------------------------------------------------------------ */

static int format_float(double v, char *out, size_t outlen)
{
    char e[40], f[HTTPD_FLOAT_MAX];
    size_t w = 0;
    if (!isfinite(v))
        return snprintf(out, outlen, "null");
    if (v == 0)
        return snprintf(out, outlen, "0");
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    double a = fabs(v);
    char *ex = strchr(e, 'e');
    if (a < 1e-6 || a >= 1e21) {
        size_t n = strlen(e);
        if (n >= 4 && e[n - 4] == 'e' && e[n - 3] == '-' && e[n - 2] == '0')
            memmove(e + n - 2, e + n - 1, 2); /* e-07 -> e-7, as Go */
        return snprintf(out, outlen, "%s", e);
    }
    int x = atoi(ex + 1), nd = 0;
    char digits[20];
    for (const char *p = e; p < ex; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    if (v < 0)
        f[w++] = '-';
    if (x >= 0) { /* x <= 20 here */
        for (int i = 0; i <= x; i++)
            f[w++] = i < nd ? digits[i] : '0';
        if (nd > x + 1)
            f[w++] = '.';
        for (int i = x + 1; i < nd; i++)
            f[w++] = digits[i];
    } else { /* x >= -6 here */
        f[w++] = '0';
        f[w++] = '.';
        for (int i = 0; i < -x - 1; i++)
            f[w++] = '0';
        for (int i = 0; i < nd; i++)
            f[w++] = digits[i];
    }
    f[w] = '\0';
    return snprintf(out, outlen, "%s", f);
}

size_t httpd_format_float(double v, char *out, size_t outlen)
{
    int n = outlen ? format_float(v, out, outlen) : 0;
    if (n < 0)
        return 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}
