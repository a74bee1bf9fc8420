/* tcp: the V2 TCP listener and its clients. Accepts connections, reads the 4-byte magic and
 * hands each connection to protocol_v2 (client.c holds per-connection state). Owns the list of
 * live clients, which stats reads through tcp_server_next_client(). */
#ifndef CNSQ_NSQD_TCP_H
#define CNSQ_NSQD_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/channel.h"
#include "nsqd/nsqd.h"

typedef struct tcp_server tcp_server_t;
typedef struct client client_t;

/* Listens on addr ("host:port"). port_out gets the real port. */
tcp_server_t *tcp_server_new(nsqd_t *n, const char *addr, int *port_out, char *err,
                             size_t errlen);
/* Stops accepting (shutdown step 1). */
void tcp_server_stop_accepting(tcp_server_t *s);
/* Closes every client: their in-flight messages return to their channels (shutdown step 2). */
void tcp_server_close_clients(tcp_server_t *s);
void tcp_server_free(tcp_server_t *s);

/* Stats view of a client. Strings are borrowed from the client (valid until it closes). */
typedef struct client_pub_count {
    const char *topic;
    uint64_t count;
} client_pub_count_t;

typedef struct client_stats {
    const char *client_id;
    const char *hostname;
    const char *user_agent;
    const char *remote_address; /* "ip:port" */
    const char *version;        /* "V2" */
    const char *topic;          /* subscribed topic or NULL */
    const char *channel;        /* subscribed channel or NULL */
    int state;                  /* nsqd's: 0 init, 1 disconnected, 2 connected, 3 subscribed, 4 closing */
    int64_t ready_count;
    int64_t in_flight_count;
    uint64_t message_count;
    uint64_t finish_count;
    uint64_t requeue_count;
    int64_t connect_ts;         /* seconds since epoch */
    int sample_rate;
    bool deflate, snappy, tls, authed;
    const char *tls_cipher_suite, *tls_version, *tls_negotiated_protocol;
    bool tls_negotiated_protocol_is_mutual;
    const char *auth_identity, *auth_identity_url;
    const client_pub_count_t *pub_counts; /* producers: per-topic PUB/MPUB/DPUB message counts */
    size_t pub_counts_len;
} client_stats_t;

/* Iteration over live clients (start with NULL). */
client_t *tcp_server_next_client(const tcp_server_t *s, client_t *prev);
void client_get_stats(const client_t *c, client_stats_t *out);
/* The client behind a channel's consumer. */
client_t *client_from_consumer(chan_consumer_t *cc);

#endif
