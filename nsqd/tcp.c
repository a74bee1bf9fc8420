/* tcp: the V2 listener. Owns the listening socket (an evconnlistener), the list of live
 * clients and the first four bytes of every connection: "  V2" hands the client to
 * protocol_v2, anything else gets E_BAD_PROTOCOL and is closed, as nsqd does.
 * Per-connection state is client.c's; commands are protocol_v2.c's. */
#include "nsqd/tcp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "nsqd/client.h"
#include "nsqd/protocol_v2.h"

#define TCP_BACKLOG 1024
#define TCP_MAGIC_V2 "  V2"
/* After EMFILE and friends the listening socket stays readable: pause accepting a moment
 * instead of spinning on it. */
#define TCP_ACCEPT_PAUSE_MS 100

struct tcp_server {
    nsqd_t *nsqd;
    struct evconnlistener *lev;
    struct event *resume_ev;
    client_t *clients;
};

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg);
static void accept_error_cb(struct evconnlistener *lev, void *arg);
static void resume_cb(evutil_socket_t fd, short what, void *arg);

tcp_server_t *tcp_server_new(nsqd_t *n, const char *addr, int *port_out, char *err, size_t errlen)
{
    tcp_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->nsqd = n;
    int fd = net_listen_tcp(addr, TCP_BACKLOG, port_out, err, errlen);
    if (fd < 0) {
        free(s);
        return NULL;
    }
    /* backlog 0: the socket is already listening */
    s->lev = evconnlistener_new(nsqd_base(n), accept_cb, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    s->resume_ev = evtimer_new(nsqd_base(n), resume_cb, s);
    if (!s->lev || !s->resume_ev) {
        snprintf(err, errlen, "TCP: cannot listen on %s: out of memory", addr);
        if (!s->lev)
            close(fd);
        tcp_server_free(s);
        return NULL;
    }
    evconnlistener_set_error_cb(s->lev, accept_error_cb);
    return s;
}

void tcp_server_stop_accepting(tcp_server_t *s)
{
    if (!s || !s->lev)
        return;
    evconnlistener_free(s->lev); /* closes the socket: new connections are refused */
    s->lev = NULL;
    evtimer_del(s->resume_ev);
}

void tcp_server_close_clients(tcp_server_t *s)
{
    if (!s)
        return;
    while (s->clients)
        client_free(s->clients); /* unlinks itself; in-flight messages are requeued */
}

void tcp_server_free(tcp_server_t *s)
{
    if (!s)
        return;
    tcp_server_stop_accepting(s);
    tcp_server_close_clients(s);
    if (s->resume_ev)
        event_free(s->resume_ev);
    free(s);
}

client_t *tcp_server_next_client(const tcp_server_t *s, client_t *prev)
{
    client_t *c = prev ? prev->next : s->clients;
    /* as nsqd's list: only clients that spoke V2, and not those on their way out */
    while (c && (c->closing || !c->v2))
        c = c->next;
    return c;
}

/* ---- accepting ---------------------------------------------------------------------------- */

static void magic_read(client_t *c)
{
    struct evbuffer *in = client_input(c);
    char magic[4];
    if (evbuffer_get_length(in) < sizeof(magic))
        return;
    evbuffer_remove(in, magic, sizeof(magic));
    char shown[4 * 4 + 3];
    protocol_v2_quote(magic, sizeof(magic), shown, sizeof(shown));
    log_info("CLIENT(%s): desired protocol magic %s", c->remote_address, shown);
    if (memcmp(magic, TCP_MAGIC_V2, sizeof(magic)) == 0) {
        protocol_v2_attach(c);
        return;
    }
    static const char bad[] = "E_BAD_PROTOCOL";
    log_error("client(%s) bad protocol magic %s", c->remote_address, shown);
    client_send(c, WIRE_FRAME_ERROR, bad, sizeof(bad) - 1);
    client_close(c, true);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    tcp_server_t *s = arg;
    int one = 1;
    /* frames are batched per loop turn already: never let Nagle hold a lone response */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    client_t *c = client_new(s->nsqd, &s->clients, fd, sa, salen);
    if (!c) {
        log_error("TCP: cannot accept a client: out of memory");
        return;
    }
    log_info("TCP: new client(%s)", c->remote_address);
    client_set_reader(c, magic_read);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    tcp_server_t *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_error("TCP: accept() failed - %s", evutil_socket_error_to_string(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        struct timeval tv = {0, TCP_ACCEPT_PAUSE_MS * 1000};
        evconnlistener_disable(lev);
        evtimer_add(s->resume_ev, &tv);
    }
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    tcp_server_t *s = arg;
    if (s->lev)
        evconnlistener_enable(s->lev);
}
