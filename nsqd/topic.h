/* topic: a named stream. Owns its channels (by name) and a memory ring holding messages while
 * it has no channel or is paused. A put fans a message out to every channel by reference (the
 * body is shared). Reports upward (metadata, lookupd, ephemeral cleanup) only through the hooks
 * given at creation: a topic holds no pointer to nsqd. */
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
    /* An ephemeral topic lost its last channel: nsqd should delete it (called from a
     * deferred event-loop callback). */
    void (*ephemeral_empty)(void *ctx, topic_t *t);
    void *ctx;
} topic_hooks_t;

typedef struct topic_stats {
    int64_t depth;          /* memory + backend */
    int64_t backend_depth;
    uint64_t message_count;
    uint64_t message_bytes;
    int64_t channel_count;
    bool paused;
} topic_stats_t;

/* cfg: the topic's memory bound (cfg->mem_queue_size) and its channels' configuration. */
topic_t *topic_new(struct event_base *base, const char *name, const chan_config_t *cfg,
                   const topic_hooks_t *hooks);
void topic_free(topic_t *t); /* frees channels and queued messages */

const char *topic_name(const topic_t *t);
bool topic_is_ephemeral(const topic_t *t);

/* Room for n new messages in the topic and in every channel? */
bool topic_can_accept(const topic_t *t, size_t n);
/* Takes ownership of the caller's reference. defer_ns > 0 = DPUB. Counts message_count and
 * message_bytes. 0, or -1 when a queue is full (the message is released, nothing counted). */
int topic_put(topic_t *t, msg_t *m, int64_t defer_ns);

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

void topic_get_stats(const topic_t *t, topic_stats_t *out);

#endif
