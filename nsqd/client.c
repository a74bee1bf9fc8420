/* client: one TCP connection's lifetime. Owns its bufferevent (socket, input and output
 * buffers, idle timeouts), the heartbeat timer, the identity strings, the per-topic publish
 * counts and the close path: client_close stops reading and detaches at once, and the free
 * always happens later from the client's own free event, never inside its callback chain.
 * Parsing and commands are protocol_v2's; the accept and the client list head are tcp.c's. */
#include "nsqd/client.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"

#define NS_PER_SEC INT64_C(1000000000)
/* Bytes libevent moves per read/write call: larger than its 16 KiB default so a busy
 * connection needs fewer loop turns (each costs an epoll round). */
#define CLIENT_MAX_SINGLE_READ (256 * 1024)
#define CLIENT_MAX_SINGLE_WRITE (1024 * 1024)
/* How long a closing client may take to accept its last frames (e.g. a fatal error). */
#define CLIENT_DRAIN_TIMEOUT_SEC 5
/* After its last frame is written, a closing client is half-closed and its input discarded for
 * at most this long: closing a socket with unread input makes the kernel send RST, which can
 * destroy the error frame in flight (a client still sending an oversized body never sees why). */
#define CLIENT_LINGER_SEC 2
/* Frames up to this size are assembled on the stack and appended with one copy. */
#define CLIENT_SMALL_FRAME 512

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void heartbeat_cb(evutil_socket_t fd, short what, void *arg);
static void free_cb(evutil_socket_t fd, short what, void *arg);

static struct timeval ns_to_tv(int64_t ns)
{
    struct timeval tv = {.tv_sec = ns / NS_PER_SEC, .tv_usec = (ns % NS_PER_SEC) / 1000};
    return tv;
}

/* "ip:port" (IPv6 in brackets, as Go prints it) and the bare host. */
static void format_addr(client_t *c, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    bool v6 = false;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        v6 = true;
    }
    snprintf(c->remote_host, sizeof(c->remote_host), "%s", ip);
    snprintf(c->remote_address, sizeof(c->remote_address), v6 ? "[%s]:%d" : "%s:%d", ip, port);
}

client_t *client_new(nsqd_t *n, client_t **list, int fd, const struct sockaddr *sa, int salen)
{
    struct event_base *base = nsqd_base(n);
    client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        close(fd);
    c->heartbeat_ev = event_new(base, -1, EV_PERSIST, heartbeat_cb, c);
    c->free_ev = event_new(base, -1, 0, free_cb, c);
    if (!c->bev || !c->heartbeat_ev || !c->free_ev) {
        client_free(c);
        return NULL;
    }
    c->nsqd = n;
    c->opts = nsqd_opts(n);
    c->state = CLIENT_STATE_INIT;
    c->connect_ts = time(NULL);
    format_addr(c, salen > 0 ? sa : NULL);
    c->list = list;
    c->next = *list;
    if (c->next)
        c->next->prev = c;
    *list = c;

    int64_t timeout = c->opts->client_timeout > 0 ? c->opts->client_timeout : 60 * NS_PER_SEC;
    c->heartbeat_interval = timeout / 2;
    c->consumer.msg_timeout = c->opts->msg_timeout;
    bufferevent_set_max_single_read(c->bev, CLIENT_MAX_SINGLE_READ);
    bufferevent_set_max_single_write(c->bev, CLIENT_MAX_SINGLE_WRITE);
    /* until the magic arrives: the idle limits of a default client (no heartbeats yet) */
    struct timeval rtv = ns_to_tv(timeout), wtv = ns_to_tv(timeout / 2);
    bufferevent_set_timeouts(c->bev, &rtv, &wtv);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return c;
}

void client_free(client_t *c)
{
    if (!c)
        return;
    if (c->consumer.channel)
        chan_remove_consumer(c->consumer.channel, &c->consumer);
    if (c->on_free)
        c->on_free(c);
    if (c->list) {
        if (c->prev)
            c->prev->next = c->next;
        else
            *c->list = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->heartbeat_ev)
        event_free(c->heartbeat_ev);
    if (c->free_ev)
        event_free(c->free_ev);
    if (c->bev)
        bufferevent_free(c->bev); /* closes the socket; queued message references unref */
    for (size_t i = 0; i < c->pub_len; i++)
        free((char *)c->pub_counts[i].topic);
    free(c->pub_counts);
    free(c->client_id);
    free(c->hostname);
    free(c->user_agent);
    free(c);
}

static void schedule_free(client_t *c)
{
    event_active(c->free_ev, EV_TIMEOUT, 1);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    client_free(arg);
}

static void linger(client_t *c)
{
    c->lingering = true;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct timeval tv = {CLIENT_LINGER_SEC, 0};
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
}

void client_close(client_t *c, bool flush)
{
    if (c->closing) {
        if (!flush)
            schedule_free(c);
        return;
    }
    c->closing = true;
    if (c->consumer.channel)
        chan_remove_consumer(c->consumer.channel, &c->consumer); /* requeues in-flight */
    event_del(c->heartbeat_ev);
    bufferevent_disable(c->bev, EV_READ);
    if (flush && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        /* write_cb frees once the output drains; a peer that stops reading gets the timeout */
        struct timeval tv = {CLIENT_DRAIN_TIMEOUT_SEC, 0};
        bufferevent_set_timeouts(c->bev, NULL, &tv);
        bufferevent_enable(c->bev, EV_WRITE);
        return;
    }
    if (flush) {
        linger(c);
        return;
    }
    schedule_free(c);
}

void client_abort(client_t *c)
{
    if (!c->closing) {
        c->closing = true;
        event_del(c->heartbeat_ev);
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    }
    schedule_free(c);
}

void client_set_reader(client_t *c, void (*on_read)(client_t *c))
{
    c->on_read = on_read;
    if (!c->closing && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        on_read(c);
}

struct evbuffer *client_input(client_t *c)
{
    return bufferevent_get_input(c->bev);
}
struct evbuffer *client_output(client_t *c)
{
    return bufferevent_get_output(c->bev);
}

/* ---- libevent callbacks ------------------------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    client_t *c = arg;
    if (c->closing) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    if (c->on_read)
        c->on_read(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    client_t *c = arg;
    /* called when the output buffer has drained */
    if (c->closing && !c->lingering)
        linger(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    client_t *c = arg;
    if (c->closing) {
        schedule_free(c); /* peer closed, or the drain/linger failed or timed out */
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (c->v2)
            log_info("PROTOCOL(V2): [%s] exiting ioloop", c->remote_address);
        else
            log_info("TCP: client(%s) closed before sending the protocol magic", c->remote_address);
        client_close(c, true); /* the peer may only have shut down its write side */
    } else if (what & BEV_EVENT_TIMEOUT) {
        log_error("client(%s) - %s timed out (heartbeat interval %lld ms)", c->remote_address,
                  (what & BEV_EVENT_READING) ? "read" : "write",
                  (long long)(c->heartbeat_interval / 1000000));
        client_close(c, false);
    } else {
        int e = EVUTIL_SOCKET_ERROR();
        log_error("client(%s) - %s", c->remote_address, evutil_socket_error_to_string(e));
        client_close(c, false);
    }
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    client_t *c = arg;
    static const char hb[] = "_heartbeat_";
    if (!c->closing)
        client_send(c, WIRE_FRAME_RESPONSE, hb, sizeof(hb) - 1);
}

/* ---- output, settings, counters ----------------------------------------------------------- */

int client_send(client_t *c, uint32_t type, const void *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    uint8_t buf[WIRE_FRAME_HEADER_LEN + CLIENT_SMALL_FRAME];
    wire_frame_header(buf, type, len);
    if (len <= CLIENT_SMALL_FRAME) {
        memcpy(buf + WIRE_FRAME_HEADER_LEN, data, len);
        return evbuffer_add(out, buf, WIRE_FRAME_HEADER_LEN + len);
    }
    if (evbuffer_expand(out, WIRE_FRAME_HEADER_LEN + len) < 0 ||
        evbuffer_add(out, buf, WIRE_FRAME_HEADER_LEN) < 0)
        return -1;
    return evbuffer_add(out, data, len);
}

void client_set_heartbeat(client_t *c, int64_t interval_ns)
{
    c->heartbeat_interval = interval_ns;
    event_del(c->heartbeat_ev);
    if (interval_ns <= 0) {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        return;
    }
    /* as nsqd: reads must come within 2 intervals, a write may stall for 1 interval */
    struct timeval hb = ns_to_tv(interval_ns), rtv = ns_to_tv(2 * interval_ns);
    bufferevent_set_timeouts(c->bev, &rtv, &hb);
    if (!c->closing)
        event_add(c->heartbeat_ev, &hb);
}

static int replace_str(char **dst, const char *src)
{
    char *s = strdup(src ? src : "");
    if (!s)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

int client_set_identity(client_t *c, const char *client_id, const char *hostname,
                        const char *user_agent)
{
    if (replace_str(&c->client_id, client_id) < 0 || replace_str(&c->hostname, hostname) < 0 ||
        replace_str(&c->user_agent, user_agent) < 0)
        return -1;
    return 0;
}

void client_count_pub(client_t *c, const char *topic, uint64_t n)
{
    /* producers usually publish to one or a few topics: remember the last one */
    if (c->pub_last < c->pub_len && strcmp(c->pub_counts[c->pub_last].topic, topic) == 0) {
        c->pub_counts[c->pub_last].count += n;
        return;
    }
    for (size_t i = 0; i < c->pub_len; i++) {
        if (strcmp(c->pub_counts[i].topic, topic) == 0) {
            c->pub_counts[i].count += n;
            c->pub_last = i;
            return;
        }
    }
    if (c->pub_len == c->pub_cap) {
        size_t cap = c->pub_cap ? c->pub_cap * 2 : 4;
        client_pub_count_t *a = realloc(c->pub_counts, cap * sizeof(*a));
        if (!a)
            return;
        c->pub_counts = a;
        c->pub_cap = cap;
    }
    char *t = strdup(topic);
    if (!t)
        return;
    c->pub_counts[c->pub_len] = (client_pub_count_t){.topic = t, .count = n};
    c->pub_last = c->pub_len++;
}

/* ---- stats (declared in tcp.h) ------------------------------------------------------------ */

client_t *client_from_consumer(chan_consumer_t *cc)
{
    return (client_t *)((char *)cc - offsetof(client_t, consumer));
}

void client_get_stats(const client_t *c, client_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    /* nsqd: the remote host until IDENTIFY, then whatever IDENTIFY said (even nothing) */
    out->client_id = c->client_id ? c->client_id : c->remote_host;
    out->hostname = c->hostname ? c->hostname : c->remote_host;
    out->user_agent = c->user_agent ? c->user_agent : "";
    out->remote_address = c->remote_address;
    out->version = "V2";
    out->topic = c->sub_topic[0] ? c->sub_topic : NULL;
    out->channel = c->sub_channel[0] ? c->sub_channel : NULL;
    out->state = c->state;
    out->ready_count = c->consumer.ready_count;
    out->in_flight_count = c->consumer.in_flight_count;
    out->message_count = c->consumer.message_count;
    out->finish_count = c->consumer.finish_count;
    out->requeue_count = c->consumer.requeue_count;
    out->connect_ts = c->connect_ts;
    out->sample_rate = c->consumer.sample_rate;
    out->tls_cipher_suite = out->tls_version = out->tls_negotiated_protocol = "";
    out->auth_identity = out->auth_identity_url = "";
    out->pub_counts = c->pub_counts;
    out->pub_counts_len = c->pub_len;
}
