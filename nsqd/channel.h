/* channel: one subscription of a topic. Owns its memory ring (bounded by --mem-queue-size for
 * new messages), the in-flight table (by message id) with a deadline heap, the deferred heap,
 * and the list of consumers. Hands each message to one consumer at a time under RDY, requeues
 * on REQ/timeout, and fires timeouts and deferrals from one timer set to the earliest due time.
 * Consumers are reached only through chan_consumer_t and its ops: channel.c never sees a client. */
#ifndef CNSQ_NSQD_CHANNEL_H
#define CNSQ_NSQD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/backend.h"
#include "nsqd/message.h"
#include "nsqd/msgqueue.h"
#include "stats/twavg.h"

struct event_base;
typedef struct channel channel_t;
typedef struct chan_consumer chan_consumer_t;

typedef struct chan_consumer_ops {
    /* Writes the message frame to the consumer (the channel has already marked it in flight
     * for this consumer). */
    void (*deliver)(chan_consumer_t *c, msg_t *m, uint16_t attempts);
    /* The channel is being deleted: the consumer is already detached (do not call
     * chan_remove_consumer) and should close its connection, deferred. */
    void (*channel_closed)(chan_consumer_t *c);
} chan_consumer_ops_t;

/* Embedded in the subscriber (a V2 client). Fields marked (client) are set by the owner;
 * (channel) fields are the channel's. */
struct chan_consumer {
    const chan_consumer_ops_t *ops; /* (client) */
    int64_t ready_count;            /* (client) RDY; use chan_consumer_set_ready to change */
    int64_t msg_timeout;            /* (client) ns */
    int sample_rate;                /* (client) 0 = all, 1..99 = percent kept */
    int64_t in_flight_count;        /* (channel) */
    uint64_t message_count;         /* (channel) messages delivered to it */
    uint64_t finish_count;          /* (channel) */
    uint64_t requeue_count;         /* (channel) REQs of its messages (timeouts not counted) */
    struct inflight *inflight_head; /* (channel) its in-flight messages */
    /* (channel) list links */
    chan_consumer_t *next, *prev;
    bool in_ready_list;
    chan_consumer_t *rnext, *rprev;
    channel_t *channel;
};

/* Opens the disk queue `name` ("topic:channel", or "topic:channel#deferred" for deferred
 * messages). create false: only when it exists on disk. NULL when none (memory only). */
typedef backend_t *(*backend_open_fn)(void *ctx, const char *name, bool deferred, bool create);

typedef struct chan_hooks {
    /* The channel became ephemeral-empty (no consumers left): its topic should delete it.
     * Called from an event-loop callback, never inside the caller of chan_remove_consumer. */
    void (*ephemeral_empty)(void *ctx, channel_t *ch);
    /* Disk queues for a non-ephemeral channel (NULL: memory only). */
    backend_open_fn open_backend;
    /* Paused or unpaused (metadata). May be NULL. */
    void (*state_changed)(void *ctx, channel_t *ch);
    void *ctx;
} chan_hooks_t;

typedef struct chan_stats {
    int64_t depth;          /* memory + backend, without in-flight and deferred */
    int64_t backend_depth;
    int64_t in_flight_count;
    int64_t deferred_count;
    uint64_t message_count; /* messages put into the channel */
    uint64_t requeue_count;
    uint64_t timeout_count;
    int64_t client_count;
    uint64_t dropped_count; /* ephemeral: new messages dropped on a full queue */
    uint64_t corrupt_count; /* disk queue: bad files set aside + undecodable records */
    bool paused;
    twavg_t in_flight_level, ready_level; /* in-flight and total RDY integrated over time */
} chan_stats_t;

typedef struct chan_config {
    int64_t mem_queue_size;  /* admission bound for new messages */
    int64_t max_msg_timeout; /* TOUCH never extends past delivery + this (ns) */
    bool durable;            /* durable mode: DPUBs are journaled to disk at once */
    const struct chan_observer *observer; /* telemetry (may be NULL; read at attach/detach) */
} chan_config_t;

/* Takes a copy of the names. Opens its disk queues through hooks->open_backend and restores
 * the deferred messages journaled there (docs/durability.md). */
channel_t *chan_new(struct event_base *base, const char *topic_name, const char *name,
                    const chan_config_t *cfg, const chan_hooks_t *hooks);
/* Frees the channel: in-flight and deferred messages and the ring are released; the disk
 * queues are closed (synced) and keep their files. */
void chan_free(channel_t *ch);
/* Frees the channel and deletes its disk queues' files (channel delete). */
void chan_destroy(channel_t *ch);

const char *chan_name(const channel_t *ch);
bool chan_is_ephemeral(const channel_t *ch);

/* Room for n new messages (memory, a healthy disk queue, or ephemeral)? Callers check before
 * chan_put. */
bool chan_can_accept(const channel_t *ch, size_t n);
/* Takes one reference and counts message_count. defer_ns > 0 puts it in the deferred heap
 * (and, durable, in the journal). Otherwise the ring while below --mem-queue-size, else the
 * disk queue; an ephemeral channel drops it when full. Never refuses: admission is
 * chan_can_accept's job, and already-accepted messages must not be lost (a failed disk write
 * keeps the message in memory and is reported through the queue's failure flag). */
void chan_put(channel_t *ch, msg_t *m, uint16_t attempts, int64_t defer_ns);
/* The channel's queue, for publish acknowledgement (mq_dirty, mq_flush, mq_when_synced). */
msgqueue_t *chan_queue(channel_t *ch);
bool chan_is_healthy(const channel_t *ch);

/* Consumers */
int chan_add_consumer(channel_t *ch, chan_consumer_t *c, int64_t max_consumers);
/* Requeues the consumer's in-flight messages at once. */
void chan_remove_consumer(channel_t *ch, chan_consumer_t *c);
void chan_consumer_set_ready(chan_consumer_t *c, int64_t ready);
size_t chan_consumer_count(const channel_t *ch);
/* Iteration over consumers (for stats): start with NULL. */
chan_consumer_t *chan_next_consumer(const channel_t *ch, chan_consumer_t *prev);

/* Client commands. id is the 16 hex chars. Each returns 0 or -1 with reason
 * ("unknown message id", "client does not own message", "invalid id"). */
int chan_finish(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen,
                char *err, size_t errlen);
int chan_requeue(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen,
                 int64_t delay_ns, char *err, size_t errlen);
int chan_touch(channel_t *ch, chan_consumer_t *c, const char *id, size_t idlen,
               char *err, size_t errlen);

/* Admin */
void chan_pause(channel_t *ch);
void chan_unpause(channel_t *ch);
bool chan_is_paused(const channel_t *ch);
/* Drops every message: queued, deferred and in flight (as nsqd's empty does). */
void chan_empty(channel_t *ch);

/* Shutdown. freeze stops delivery (consumers leaving must not pass messages around);
 * persist writes the queued messages to the disk queue and the deferred ones, with their due
 * time, to the deferred journal. Returns how many could not be written. */
void chan_freeze(channel_t *ch);
size_t chan_persist(channel_t *ch);

void chan_get_stats(const channel_t *ch, chan_stats_t *out);

/* FIN hook for e2e latency: called on every FIN with the message's timestamp (ns since the
 * epoch); the observer reads the clock when it wants now - timestamp (not every FIN need pay
 * for one). */
typedef void (*chan_fin_observer_t)(void *ctx, channel_t *ch, int64_t msg_timestamp_ns);
void chan_set_fin_observer(channel_t *ch, chan_fin_observer_t fn, void *ctx);

/* Telemetry attached to every channel (cfg->observer, nsqd/telemetry.c): attach runs when the
 * channel is created and returns the state kept with it; detach runs when it is freed. fin, if
 * not NULL, becomes the FIN observer with that state as ctx (NULL: FIN pays nothing). */
typedef struct chan_observer {
    void *(*attach)(void *ctx, channel_t *ch);
    void (*detach)(void *ctx, void *state);
    chan_fin_observer_t fin;
    void *ctx;
} chan_observer_t;
void *chan_observer_state(const channel_t *ch);
void chan_attach_observer(channel_t *ch); /* (again) through cfg->observer, if any */
void chan_detach_observer(channel_t *ch);

#endif
