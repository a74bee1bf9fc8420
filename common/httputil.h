/* httputil: the HTTP plumbing nsqd and nsqlookupd share, on libevent's evhttp and jansson.
 * A server (prefix httpd_) listens on one address and dispatches through a route table the way
 * NSQ's router does (404 NOT_FOUND, 405 METHOD_NOT_ALLOWED with Allow, OPTIONS, trailing-slash
 * and case redirects); query strings parse with Go's url.ParseQuery rules; every reply carries
 * "X-NSQ-Content-Type: nsq; version=1.0". Also the pure parsers for /mpub bodies.
 * Single-threaded: everything runs on the event base's loop. */
#ifndef CNSQ_HTTPUTIL_H
#define CNSQ_HTTPUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct evbuffer;

typedef struct httpd httpd_t;
typedef struct httpd_req httpd_req_t;

/* Method bits for a route (same values as libevent's EVHTTP_REQ_*). */
#define HTTPD_GET 0x01
#define HTTPD_POST 0x02
#define HTTPD_HEAD 0x04
#define HTTPD_PUT 0x08
#define HTTPD_DELETE 0x10
#define HTTPD_OPTIONS 0x20

/* A handler must send exactly one reply (httpd_reply_*) before returning. ctx is the server's. */
typedef void (*httpd_handler_fn)(httpd_req_t *r, void *ctx);

typedef struct httpd_route {
    unsigned methods; /* HTTPD_GET | HTTPD_POST ... */
    const char *path; /* "/stats"; a ":name" segment matches one non-empty segment */
    httpd_handler_fn fn;
    bool log; /* log "<status> <method> <uri> (<peer>) <elapsed>" at INFO, as nsqd does */
} httpd_route_t;

typedef struct httpd_config {
    const char *addr;            /* "host:port" */
    const httpd_route_t *routes; /* borrowed: must outlive the server */
    size_t nroutes;
    void *ctx;       /* passed to handlers and gate */
    size_t max_body; /* bodies above this get libevent's 413 (0 = no limit) */
    /* Optional: runs before routing; returns true when it has replied (nsqd: TLS_REQUIRED). */
    bool (*gate)(httpd_req_t *r, void *ctx);
} httpd_config_t;

/* Listens on cfg->addr (SO_REUSEADDR) and serves on base. port_out gets the real port.
 * NULL with err on failure. */
httpd_t *httpd_new(struct event_base *base, const httpd_config_t *cfg, int *port_out, char *err,
                   size_t errlen);
/* Closes the listener and every connection (requests in progress are dropped). */
void httpd_free(httpd_t *h);

/* ---- requests (valid during the handler) ---- */
const char *httpd_method_name(const httpd_req_t *r); /* "GET", "POST", ... */
bool httpd_is_method(const httpd_req_t *r, unsigned method);
const char *httpd_path(const httpd_req_t *r); /* percent-decoded */
/* The ":name" segment of the matched route ("" when the route has none). */
const char *httpd_param(const httpd_req_t *r);
/* The body (owned by libevent) and its length; the Content-Length header or -1 when absent. */
struct evbuffer *httpd_body(const httpd_req_t *r);
size_t httpd_body_len(const httpd_req_t *r);
int64_t httpd_content_length(const httpd_req_t *r);
/* The body as one contiguous block (may copy inside the evbuffer). NULL when empty. */
const uint8_t *httpd_body_pullup(const httpd_req_t *r);

/* ---- query string (Go's url.ParseQuery rules) ---- */
/* -1 when the query had an error Go reports (bad %-escape, ';' separator): nsqd answers
 * 400 INVALID_REQUEST. Well-formed pairs are still available. */
int httpd_query_error(const httpd_req_t *r);
/* First value of key, or NULL when absent. */
const char *httpd_query_str(const httpd_req_t *r, const char *key);
/* 1 and *out when present and a valid base-10 int64, 0 when absent, -1 when invalid. */
int httpd_query_i64(const httpd_req_t *r, const char *key, int64_t *out);
/* nsqd's boolParams: "true"/"1" -> true, "false"/"0" -> false, anything else or absent -> def. */
bool httpd_query_bool(const httpd_req_t *r, const char *key, bool def);

/* The parser itself, for reuse and tests. One allocation holds the decoded strings. */
typedef struct httpd_kv {
    const char *key, *val;
} httpd_kv_t;
typedef struct httpd_query {
    httpd_kv_t *kv;
    size_t n;
    char *buf;
} httpd_query_t;
/* Parses raw ("a=1&b=%20x", no leading '?'; NULL = empty) into q, which the caller frees with
 * httpd_query_free. Returns 0, -1 when Go would report an error (q still holds the good pairs),
 * or -2 on OOM (q empty). */
int httpd_query_parse(const char *raw, httpd_query_t *q);
const char *httpd_query_lookup(const httpd_query_t *q, const char *key);
void httpd_query_free(httpd_query_t *q);
/* Percent-decodes src[0..len) into dst (which may be src); plus_space makes '+' a space.
 * Returns the decoded length, or -1 on a bad escape. dst needs len+1 bytes (NUL-terminated). */
long httpd_unescape(const char *src, size_t len, char *dst, bool plus_space);

/* ---- replies (exactly one per request) ---- */
/* Status line, optional Content-Type, body copied. */
void httpd_reply(httpd_req_t *r, int status, const char *content_type, const void *data,
                 size_t len);
/* 200 with an empty body (nsqd's "nil" reply). */
void httpd_reply_empty(httpd_req_t *r);
/* Plain text: Content-Type "text/plain; charset=utf-8" unless text is empty. */
void httpd_reply_text(httpd_req_t *r, int status, const char *text);
/* JSON, compact, keys in insertion order; takes ownership of j (NULL = 500 INTERNAL_ERROR). */
void httpd_reply_json(httpd_req_t *r, int status, json_t *j);
/* Moves buf's contents out as the body (buf stays owned by the caller, left empty). */
void httpd_reply_buffer(httpd_req_t *r, int status, const char *content_type, struct evbuffer *buf);
/* {"message":"<code>"} with status, as nsqd's error replies. */
void httpd_reply_error(httpd_req_t *r, int status, const char *code);
/* Adds a response header (before replying). */
void httpd_add_header(httpd_req_t *r, const char *key, const char *value);

#define HTTPD_CT_JSON "application/json; charset=utf-8"
#define HTTPD_CT_TEXT "text/plain; charset=utf-8"

/* ---- replying later ---- */
/* Detaches r from its handler, which may then return without replying: the one reply comes
 * later through the handle (httpd_async_reply_*, which free it). If the server is freed first,
 * it answers 503 EXITING, frees the handle and calls on_abort(arg) (may be NULL). NULL on OOM
 * or when r was answered already (then reply to r as usual). */
typedef struct httpd_async httpd_async_t;
httpd_async_t *httpd_async_begin(httpd_req_t *r, void (*on_abort)(void *arg), void *arg);
void httpd_async_reply_text(httpd_async_t *a, int status, const char *text);
void httpd_async_reply_error(httpd_async_t *a, int status, const char *code);

/* A double as Go's encoding/json writes it: shortest round-trip digits, plain notation unless
 * |v| < 1e-6 or >= 1e21 ("1e-7", "1e+21"); "null" when not finite. Returns the length. */
#define HTTPD_FLOAT_MAX 400
size_t httpd_format_float(double v, char *out, size_t outlen);

/* ---- /mpub bodies (pure) ---- */
typedef struct httpd_span {
    size_t off, len;
} httpd_span_t;
/* Text mode: messages separated by '\n', empty lines skipped, nsqd's reading limits.
 * Binary mode: [4B BE count]([4B BE size][data])*, bytes after the last message ignored.
 * On success returns NULL with *spans (malloc'd, may be NULL when *n == 0) and *n; on error the
 * NSQ code nsqd answers with status 413: text "BODY_TOO_BIG"/"MSG_TOO_BIG", binary
 * "BAD_BODY"/"BAD_MESSAGE"; or "INTERNAL_ERROR" (status 500) on OOM. */
const char *httpd_mpub_split_text(const uint8_t *body, size_t len, int64_t max_msg_size,
                                  int64_t max_body_size, httpd_span_t **spans, size_t *n);
const char *httpd_mpub_split_binary(const uint8_t *body, size_t len, int64_t max_msg_size,
                                    int64_t max_body_size, httpd_span_t **spans, size_t *n);

#endif
