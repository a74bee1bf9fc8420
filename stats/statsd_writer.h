/* statsd_writer: what nsqd needs to push stats to statsd over UDP, without broker types.
 *
 *   statsd_packer_t  packs whole lines into datagrams of at most packet_size bytes (NSQ's
 *                    BoundaryBufferedWriter): a line is never split across datagrams.
 *   statsd_sender_t  a connected, non-blocking UDP socket that spreads one interval's datagrams
 *                    evenly across interval - 1s with a libevent timer (NSQ's SpreadWriter).
 *   formatting       nsqd's prefix expansion, "<prefix><name>:<value>|c" / "|g" lines, and the
 *                    e2e_processing_latency_<P> percentile names.
 *   statsd_diff_t    counter deltas between pushes, keyed by stat name.
 *
 * One push, as the nsqd glue would do it each --statsd-interval:
 *   packer = statsd_packer_new(opts->statsd_udp_packet_size, statsd_sender_emit_cb, sender);
 *   statsd_packer_stat(packer, prefix, "topic.T.depth", STATSD_GAUGE, depth); ...
 *   statsd_packer_flush(packer); statsd_sender_start(sender, interval_ns);
 * and statsd_sender_free (which sends what is left at once) on shutdown. */
#ifndef CNSQ_STATS_STATSD_WRITER_H
#define CNSQ_STATS_STATSD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* 576 (minimum IPv4 reassembly size) - 60 (max IP header) - 8 (UDP header): never fragmented. */
#define STATSD_PACKET_SIZE 508

/* ---- packer ----------------------------------------------------------------------------- */

/* Receives each finished datagram (borrowed for the call). 0, or -1 to make the add fail. */
typedef int (*statsd_emit_fn)(void *arg, const char *pkt, size_t len);

typedef struct statsd_packer statsd_packer_t;

/* packet_size 0 means STATSD_PACKET_SIZE. NULL on OOM. */
statsd_packer_t *statsd_packer_new(size_t packet_size, statsd_emit_fn emit, void *arg);
void statsd_packer_free(statsd_packer_t *p); /* drops what is not flushed */

/* Appends one unit of bytes (normally one "...\n" line) that must not be split. If it would
 * make the current datagram pass packet_size, the current datagram is emitted first. A unit
 * longer than packet_size is emitted alone, as its own oversized datagram (as NSQ does; the
 * network may fragment or drop it). Returns 0, or -1 if emit failed. */
int statsd_packer_add(statsd_packer_t *p, const char *data, size_t len);

/* Emits the current datagram if it holds anything. 0 or -1 as above. */
int statsd_packer_flush(statsd_packer_t *p);

uint64_t statsd_packer_packets(const statsd_packer_t *p); /* datagrams emitted so far */

/* ---- formatting ------------------------------------------------------------------------- */

typedef enum { STATSD_COUNTER, STATSD_GAUGE } statsd_kind_t;

/* nsqd's --statsd-prefix: every "%s" becomes the host key of "host:port" (IPv6 hosts in
 * brackets, as Go's JoinHostPort), where '.' and ':' are made '_' ("127.0.0.1", 4151 ->
 * "127_0_0_1_4151"); a '.' is appended if missing. An empty fmt stays empty (no prefix).
 * 0, or -1 with err when out is too small. */
int statsd_prefix_expand(const char *fmt, const char *host, int port, char *out, size_t outlen,
                         char *err, size_t errlen);

/* Formats "<prefix><name>:<value>|c\n" or "|g\n" into buf, like snprintf: returns the length
 * the line needs (not counting the NUL), and writes it whole only if it fits. Bytes of name that
 * would break the line protocol (':', '|', whitespace, control characters) are written as '_';
 * '.' is kept (it is the statsd hierarchy). A negative gauge is sent as "name:0|g\nname:-N|g\n"
 * (statsd reads a leading '-' as a decrement). */
size_t statsd_format(char *buf, size_t buflen, const char *prefix, const char *name,
                     statsd_kind_t kind, int64_t value);

/* statsd_format + statsd_packer_add. 0, or -1 (OOM or emit failure). */
int statsd_packer_stat(statsd_packer_t *p, const char *prefix, const char *name, statsd_kind_t kind,
                       int64_t value);

/* The suffix of e2e_processing_latency_<P> for quantile q: whole percentiles as nsqd prints them
 * (0.99 -> "99", 1.0 -> "100", 0.5 -> "50"); fractional ones keep their digits with '_' for the
 * point (0.999 -> "99_9", 0.9999 -> "99_99", 0.995 -> "99_5"), where nsqd's "%.0f" would print
 * an ambiguous "100". Up to 6 decimals of the percentage. Returns the length or -1 if too small. */
int statsd_percentile_name(double q, char *buf, size_t buflen);

/* ---- counter deltas --------------------------------------------------------------------- */

/* cur - prev, or cur when the counter went backwards (it was deleted and recreated). */
static inline uint64_t statsd_counter_delta(uint64_t prev, uint64_t cur)
{
    return cur >= prev ? cur - prev : cur;
}

typedef struct statsd_diff statsd_diff_t;

statsd_diff_t *statsd_diff_new(void);
void statsd_diff_free(statsd_diff_t *d);

/* Delta of counter `key` since the previous round: a key absent from the previous round counts
 * from 0; a counter that went backwards, or whose epoch changed (pass e.g. the creation time
 * of the topic/channel, or 0 if unknown), counts from 0 too, so a recreated counter sends its
 * current value and never a negative or wrapped delta. Records cur for the next round.
 * 0, or -1 on OOM (then *delta is still computed, as if the key were new). */
int statsd_diff(statsd_diff_t *d, const char *key, uint64_t epoch, uint64_t cur, uint64_t *delta);

/* Ends a round: keys not passed to statsd_diff since the previous end are forgotten, as NSQ
 * compares with the previous push only. */
void statsd_diff_end_round(statsd_diff_t *d);
size_t statsd_diff_len(const statsd_diff_t *d);

/* ---- spread sender ---------------------------------------------------------------------- */

typedef struct statsd_sender statsd_sender_t;

/* Resolves addr ("host:port"; blocking getaddrinfo, so call it at startup) and connects a
 * non-blocking UDP socket to it. The base must outlive the sender. NULL with err. */
statsd_sender_t *statsd_sender_new(struct event_base *base, const char *addr, char *err,
                                   size_t errlen);

/* Sends what is left at once, then closes and frees. Call before freeing the event base. */
void statsd_sender_free(statsd_sender_t *s);

/* Copies one datagram into the next batch. 0 or -1 on OOM. */
int statsd_sender_queue(statsd_sender_t *s, const char *pkt, size_t len);
/* statsd_sender_queue with the statsd_emit_fn signature (arg is the sender). */
int statsd_sender_emit_cb(void *sender, const char *pkt, size_t len);

/* Starts sending the queued batch: packet i of n leaves at start + i * (interval - 1s) / n,
 * the first at once (all at once if interval <= 1s). Packets of the previous batch still
 * waiting are sent at once first. Never blocks: a send failing with EAGAIN, ECONNREFUSED
 * (statsd not listening), ENOBUFS or anything else drops that packet, counts it and logs at
 * most one warning per 10s. */
void statsd_sender_start(statsd_sender_t *s, int64_t interval_ns);

/* Sends everything queued or waiting at once and stops the timer (shutdown). */
void statsd_sender_flush(statsd_sender_t *s);

size_t statsd_sender_pending(const statsd_sender_t *s); /* queued + waiting packets */
void statsd_sender_counts(const statsd_sender_t *s, uint64_t *sent, uint64_t *dropped);

#endif
