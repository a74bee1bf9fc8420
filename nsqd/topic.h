/* topic: a named stream. Owns its channels (by name) and a queue (memory ring + disk queue)
 * holding messages while it has no channel or is paused. A put fans a message out to every
 * channel by reference (the body is shared). Reports upward (metadata, lookupd, ephemeral
 * cleanup) and gets its disk queues only through the hooks given at creation: a topic holds
 * no pointer to nsqd. */
#ifndef CNSQ_NSQD_TOPIC_H
#define CNSQ_NSQD_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/channel.h"
#include "nsqd/message.h"

struct event_base;
typedef struct topic topic_t;

typedef struct topic_hooks {
    /* A channel was created or deleted (metadata, lookupd). May be NULL. */
    void (*channel_changed)(void *ctx, topic_t *t, const char *channel, bool created);
    /* The topic or one of its channels was paused or unpaused (metadata). May be NULL. */
    void (*state_changed)(void *ctx, topic_t *t);
    /* Disk queues of the topic ("topic", "topic#deferred") and its channels (NULL: memory
     * only). */
    backend_open_fn open_backend;
    /* An ephemeral topic lost its last channel: nsqd should delete it (called from a
     * deferred event-loop callback). */
    void (*ephemeral_empty)(void *ctx, topic_t *t);
    void *ctx;
} topic_hooks_t;

typedef struct topic_stats {
    int64_t depth;          /* memory + backend */
    int64_t backend_depth;  /* the disk queue, with DPUBs held there */
    uint64_t message_count;
    uint64_t message_bytes;
    int64_t channel_count;
    uint64_t dropped_count; /* ephemeral: new messages dropped on a full queue */
    uint64_t corrupt_count; /* disk queue: bad files set aside + undecodable records */
    bool paused;
} topic_stats_t;

/* cfg: the topic's memory bound (cfg->mem_queue_size) and its channels' configuration. */
topic_t *topic_new(struct event_base *base, const char *name, const chan_config_t *cfg,
                   const topic_hooks_t *hooks);
/* Frees channels and queued messages; disk queues are closed (synced) and keep their files. */
void topic_free(topic_t *t);
/* Frees it and deletes the disk queues of the topic and its channels (topic delete). */
void topic_destroy(topic_t *t);

const char *topic_name(const topic_t *t);
bool topic_is_ephemeral(const topic_t *t);

/* Room for n new messages in the topic and in every channel? refusal says why not. */
bool topic_can_accept(const topic_t *t, size_t n);
void topic_refusal(const topic_t *t, size_t n, char *err, size_t errlen);
/* Takes ownership of the caller's reference. defer_ns > 0 = DPUB. Counts message_count and
 * message_bytes. 0, or -1 with err when a queue refused it (the message is released, nothing
 * counted). */
int topic_put(topic_t *t, msg_t *m, int64_t defer_ns, char *err, size_t errlen);

/* Acknowledging publishes. commit writes the records put since the last commit to disk now:
 * 0, or -1 with the disk's reason (the publish must fail; its records stay queued for a retry).
 * when_synced: durable mode; cb(arg, status) is called once every disk queue written since the
 * last call has fsynced (status 0) or failed (-1). Returns 1 (cb will be called, never from
 * inside this call), 0 (nothing to wait for: cb will not be called), or -1 with err (a write
 * already failed, or OOM: cb will not be called). */
int topic_commit(topic_t *t, char *err, size_t errlen);
/* A multi-message publish failed part way: takes back what it queued on disk (and its counts)
 * as far as still possible. Messages a memory ring took stay (they may be delivered). */
void topic_abort(topic_t *t);
int topic_when_synced(topic_t *t, backend_synced_cb cb, void *arg, char *err, size_t errlen);

/* Channels: get creates on first use. */
channel_t *topic_get_channel(topic_t *t, const char *name, size_t len);
channel_t *topic_find_channel(const topic_t *t, const char *name, size_t len);
int topic_delete_channel(topic_t *t, const char *name, size_t len);
size_t topic_channel_count(const topic_t *t);
/* Channels sorted by name into a caller array of topic_channel_count() entries. */
size_t topic_channels(const topic_t *t, channel_t **out, size_t cap);

void topic_pause(topic_t *t);
void topic_unpause(topic_t *t);
bool topic_is_paused(const topic_t *t);
void topic_empty(topic_t *t); /* drops the topic's own queued messages (not its channels') */

/* Every disk queue of the topic and its channels writes successfully. */
bool topic_is_healthy(const topic_t *t);

/* Shutdown: freeze stops deliveries and draining (in the topic and its channels); persist
 * writes every queued and deferred message of the topic and its channels to disk. Returns how
 * many could not be written. */
void topic_freeze(topic_t *t);
size_t topic_persist(topic_t *t);

void topic_get_stats(const topic_t *t, topic_stats_t *out);

#endif
