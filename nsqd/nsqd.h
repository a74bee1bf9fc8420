/* nsqd: the broker's registry. Owns the event base reference, the options, the topics (by
 * name), message id generation, health and start/exit state, and the factory of disk queues
 * (where they live and how they are configured). Listeners (tcp.c, http.c) and reporters
 * (stats, statsd, metadata, lookup) sit above it and reach topics only through here. */
#ifndef CNSQ_NSQD_NSQD_H
#define CNSQ_NSQD_NSQD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/message.h"
#include "nsqd/options.h"
#include "nsqd/topic.h"

struct event_base;
typedef struct nsqd nsqd_t;

/* Borrows base and opts (both outlive the nsqd). Topics get disk queues in opts->data_path
 * (which must exist). */
nsqd_t *nsqd_new(struct event_base *base, const nsqd_opts_t *opts, char *err, size_t errlen);
void nsqd_free(nsqd_t *n);

typedef struct nsqd_hooks {
    /* A non-ephemeral topic or channel was created, deleted, paused or unpaused (metadata).
     * May be NULL. */
    void (*changed)(void *ctx);
    void *ctx;
} nsqd_hooks_t;
void nsqd_set_hooks(nsqd_t *n, const nsqd_hooks_t *hooks);

/* Telemetry (nsqd/telemetry.c) registers here: every channel created from now on is given obs
 * (copied; channels that already exist are the caller's to attach), and stats snapshots ask
 * tel for their figures (nsqd_telemetry). NULL, NULL unregisters. */
struct telemetry;
void nsqd_set_telemetry(nsqd_t *n, struct telemetry *tel, const chan_observer_t *obs);
struct telemetry *nsqd_telemetry(const nsqd_t *n);

/* The data path ("." for an empty --data-path). */
const char *nsqd_data_path(const nsqd_t *n);
/* Durable mode (--mem-queue-size=0 --sync-every=1): publishes are acknowledged only once their
 * records are fsynced (docs/durability.md). */
bool nsqd_is_durable(const nsqd_t *n);

/* Shutdown, after listeners stopped and before clients close: freeze stops every delivery;
 * persist (once clients are gone) writes every queued, in-flight and deferred message to disk.
 * Returns how many messages could not be written. The disk queues sync when nsqd_free closes
 * them. */
void nsqd_freeze(nsqd_t *n);
size_t nsqd_persist(nsqd_t *n);

struct event_base *nsqd_base(const nsqd_t *n);
const nsqd_opts_t *nsqd_opts(const nsqd_t *n);
int64_t nsqd_start_time(const nsqd_t *n); /* seconds since epoch */
const char *nsqd_hostname(const nsqd_t *n);

/* The real listening ports (filled by main once listeners are up). */
void nsqd_set_ports(nsqd_t *n, int tcp_port, int http_port);
int nsqd_tcp_port(const nsqd_t *n);
int nsqd_http_port(const nsqd_t *n);

/* Topics. get creates on first use (name must be valid: callers check). */
topic_t *nsqd_get_topic(nsqd_t *n, const char *name, size_t len);
topic_t *nsqd_find_topic(const nsqd_t *n, const char *name, size_t len);
int nsqd_delete_topic(nsqd_t *n, const char *name, size_t len);
size_t nsqd_topic_count(const nsqd_t *n);
/* Topics sorted by name into a caller array. */
size_t nsqd_topics(const nsqd_t *n, topic_t **out, size_t cap);

/* A new message with a fresh id and timestamp, body copied. NULL on OOM. */
msg_t *nsqd_new_message(nsqd_t *n, const void *body, size_t len);
/* A new message with a fresh id and timestamp, body left for the caller to fill. */
msg_t *nsqd_alloc_message(nsqd_t *n, size_t len);

/* Health: NULL when healthy, else the last backend error ("NOK - ..."). Disk queues report
 * here: a failed write sets it, and it clears once every queue writes again. */
const char *nsqd_health_error(const nsqd_t *n);
void nsqd_set_health(nsqd_t *n, const char *err); /* NULL = healthy */

bool nsqd_is_exiting(const nsqd_t *n);
void nsqd_set_exiting(nsqd_t *n);

#endif
