/* client: the state of one TCP connection, shared by tcp.c (accept, magic), protocol_v2.c
 * (commands, delivery) and stats (through client_get_stats in tcp.h). The struct is public to
 * those three because the command and delivery paths touch its fields on every message.
 * client.c owns the bufferevent, the heartbeat timer, the deferred close/free and the
 * per-topic publish counts; what the bytes mean is protocol_v2's business. */
#ifndef CNSQ_NSQD_CLIENT_H
#define CNSQ_NSQD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/util.h"
#include "nsqd/channel.h"
#include "nsqd/nsqd.h"
#include "nsqd/tcp.h"

struct bufferevent;
struct event;
struct evbuffer;
struct v2_state;

/* nsqd's client states (the numbers /stats shows) */
enum {
    CLIENT_STATE_INIT = 0,
    CLIENT_STATE_DISCONNECTED = 1,
    CLIENT_STATE_CONNECTED = 2,
    CLIENT_STATE_SUBSCRIBED = 3,
    CLIENT_STATE_CLOSING = 4,
};

struct client {
    chan_consumer_t consumer; /* ops, RDY, msg timeout, sample rate; counters are the channel's */
    nsqd_t *nsqd;
    const nsqd_opts_t *opts;
    struct bufferevent *bev;
    struct event *heartbeat_ev;
    struct event *free_ev;        /* deferred free (never inside our own callbacks) */
    void (*on_read)(client_t *c); /* the current reader: magic (tcp.c), then protocol_v2 */
    void (*on_free)(client_t *c); /* releases the reader's state (may be NULL) */
    struct v2_state *v2;          /* protocol_v2's parser state; NULL before the magic */
    client_t **list;              /* the server's list head */
    client_t *next, *prev;
    int state;               /* CLIENT_STATE_* */
    bool closing;            /* reads stopped, detached; freed once the output drains */
    bool lingering;          /* write side shut down, discarding input until the peer closes */
    int64_t connect_ts;      /* seconds since the epoch */
    char remote_address[64]; /* "ip:port" or "[v6]:port" */
    char remote_host[56];    /* "ip": nsqd's default client_id and hostname */
    char *client_id, *hostname, *user_agent; /* from IDENTIFY (NULL until then) */
    int64_t heartbeat_interval;              /* ns; 0 = disabled */
    int64_t output_buffer_size;    /* bytes, as negotiated (reported, see protocol_v2.c) */
    int64_t output_buffer_timeout; /* ns, as negotiated */
    char sub_topic[NAME_MAX_LEN + 1], sub_channel[NAME_MAX_LEN + 1]; /* after SUB */
    client_pub_count_t *pub_counts; /* producers: per-topic message counts (topics malloc'd) */
    size_t pub_len, pub_cap, pub_last;
};

/* A connection on fd (takes ownership: closed on free), linked at the head of *list.
 * Reads go to on_read once set. NULL on failure (fd closed). */
client_t *client_new(nsqd_t *n, client_t **list, int fd, const struct sockaddr *sa, int salen);
/* Frees at once: detaches from its channel (requeueing in-flight messages), unlinks, closes.
 * Only for callers outside the client's own callback chain (shutdown, the deferred free). */
void client_free(client_t *c);
/* Starts closing: stops reading, detaches from the channel, stops the heartbeat. With flush,
 * what is already in the output buffer is written first (bounded by a timeout); the client is
 * freed later from its own event, so this is safe anywhere, including inside its callbacks. */
void client_close(client_t *c, bool flush);

/* Closes without flushing and without touching the channel now (it is detached when the
 * client is freed, later): for use inside the channel's own calls into the client. */
void client_abort(client_t *c);

/* Sets the reader and runs it on what is already buffered. */
void client_set_reader(client_t *c, void (*on_read)(client_t *c));
struct evbuffer *client_input(client_t *c);
struct evbuffer *client_output(client_t *c);

/* Appends one frame to the output buffer (written when the loop next finds the socket
 * writable). 0, or -1 on OOM. */
int client_send(client_t *c, uint32_t type, const void *data, size_t len);

/* (Re)starts the heartbeat timer and the idle timeouts for interval_ns (0 disables):
 * a "_heartbeat_" frame every interval, close after 2 intervals without reading anything. */
void client_set_heartbeat(client_t *c, int64_t interval_ns);

/* Replaces the identity strings (copied; NULL = ""). 0, or -1 on OOM. */
int client_set_identity(client_t *c, const char *client_id, const char *hostname,
                        const char *user_agent);

/* Counts n messages published to topic (for /stats producers). */
void client_count_pub(client_t *c, const char *topic, uint64_t n);

#endif
