/* main: nsqlookupd's entry point. For now it serves what the test harness and a health check
 * need (HTTP /ping and /info, and TCP "  V1" PING); the registration database, the V1 protocol
 * and the lookup API arrive with the lookupd issue.
 * Owns the wiring and start/stop order. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "lookupd/options.h"

typedef struct lookupd {
    struct event_base *base;
    const lookupd_opts_t *opts;
    struct evhttp *http;
    struct evconnlistener *tcp;
    int tcp_port, http_port;
    struct event *sigint, *sigterm;
} lookupd_t;

/* ---- HTTP --------------------------------------------------------------------------------- */

static void reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "X-NSQ-Content-Type", "nsq; version=1.0");
    evhttp_add_header(h, "Content-Type", ctype);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void ping_cb(struct evhttp_request *req, void *arg)
{
    reply(req, 200, "text/plain; charset=utf-8", "OK");
}

static void info_cb(struct evhttp_request *req, void *arg)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"version\":\"%s\"}", NSQ_VERSION);
    reply(req, 200, "application/json; charset=utf-8", body);
}

static void notfound_cb(struct evhttp_request *req, void *arg)
{
    reply(req, 404, "application/json; charset=utf-8", "{\"message\":\"NOT_FOUND\"}");
}

/* ---- TCP: "  V1" then PING -> OK ---------------------------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line;
    if (arg == NULL) {
        char magic[4];
        if (evbuffer_get_length(in) < 4)
            return;
        evbuffer_remove(in, magic, 4);
        if (memcmp(magic, "  V1", 4) != 0) {
            bufferevent_free(bev);
            return;
        }
        bufferevent_setcb(bev, conn_read_cb, NULL, NULL, bev);
    }
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
        if (!strcmp(line, "PING")) {
            uint8_t frame[6] = {0, 0, 0, 2, 'O', 'K'};
            bufferevent_write(bev, frame, sizeof(frame));
        }
        free(line);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    lookupd_t *d = arg;
    struct bufferevent *bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- start / stop ------------------------------------------------------------------------- */

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    lookupd_t *d = arg;
    log_info("received signal %d: exiting", (int)sig);
    event_base_loopbreak(d->base);
}

static int start(lookupd_t *d, char *err, size_t errlen)
{
    int fd = net_listen_tcp(d->opts->tcp_address, 1024, &d->tcp_port, err, errlen);
    if (fd < 0)
        return -1;
    d->tcp = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    log_info("TCP: listening on %s (port %d)", d->opts->tcp_address, d->tcp_port);
    fd = net_listen_tcp(d->opts->http_address, 1024, &d->http_port, err, errlen);
    if (fd < 0)
        return -1;
    d->http = evhttp_new(d->base);
    evhttp_accept_socket(d->http, fd);
    evhttp_set_cb(d->http, "/ping", ping_cb, d);
    evhttp_set_cb(d->http, "/info", info_cb, d);
    evhttp_set_gencb(d->http, notfound_cb, d);
    log_info("HTTP: listening on %s (port %d)", d->opts->http_address, d->http_port);
    d->sigint = evsignal_new(d->base, SIGINT, signal_cb, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, signal_cb, d);
    evsignal_add(d->sigint, NULL);
    evsignal_add(d->sigterm, NULL);
    return 0;
}

static void stop(lookupd_t *d)
{
    if (d->tcp)
        evconnlistener_free(d->tcp);
    if (d->http)
        evhttp_free(d->http);
    if (d->sigint)
        event_free(d->sigint);
    if (d->sigterm)
        event_free(d->sigterm);
}

int main(int argc, char **argv)
{
    char err[512] = "";
    lookupd_opts_t opts;
    int rc = lookupd_opts_load(&opts, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "nsqlookupd: %s\n", err);
        lookupd_opts_free(&opts);
        return rc < 0 ? 2 : 0;
    }
    log_level_t lvl = LOG_INFO;
    log_level_parse(opts.log_level, &lvl);
    log_setup(lvl, opts.log_prefix);
    signal(SIGPIPE, SIG_IGN);
    log_info("nsqlookupd v%s (cnsq %s)", NSQ_VERSION, CNSQ_VERSION);

    lookupd_t d = {.opts = &opts};
    d.base = event_base_new();
    rc = start(&d, err, sizeof(err));
    if (rc == 0)
        event_base_dispatch(d.base);
    else
        log_fatal("%s", err);
    stop(&d);
    event_base_free(d.base);
    lookupd_opts_free(&opts);
    return rc == 0 ? 0 : 1;
}
