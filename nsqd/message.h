/* message: a published message, stored once and shared by reference.
 * A topic and each of its channels hold a reference (msg_ref/msg_unref); the body is never copied
 * after it is read off the socket. Per-channel state (attempts, deadlines) lives in the channel.
 * The struct is public because the delivery path reads its fields. */
#ifndef CNSQ_NSQD_MESSAGE_H
#define CNSQ_NSQD_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

typedef struct msg {
    uint32_t refs;
    uint32_t body_len;
    int64_t timestamp;          /* ns since epoch, set at publish */
    uint64_t id_num;            /* the guid */
    char id[WIRE_MSG_ID_LEN];   /* the guid as 16 hex chars (what clients see) */
    uint8_t body[];
} msg_t;

/* One allocation: header and body. refs = 1, owned by the caller. NULL on OOM. */
msg_t *msg_new(uint64_t id, int64_t timestamp, size_t body_len);
/* Same, copying body. */
msg_t *msg_new_copy(uint64_t id, int64_t timestamp, const void *body, size_t body_len);
static inline msg_t *msg_ref(msg_t *m) { m->refs++; return m; }
void msg_unref(msg_t *m);

/* Disk records (what a backend stores): the wire encoding, 26-byte header + body.
 * msg_record_header writes the header for m with attempts; msg_from_record decodes a record
 * into a new message keeping id, timestamp and (in *attempts) attempts. NULL when the record
 * is malformed (short, id not 16 hex digits) or on OOM: *bad tells which (may be NULL). */
void msg_record_header(const msg_t *m, uint16_t attempts, uint8_t out[WIRE_MSG_HEADER_LEN]);
msg_t *msg_from_record(const uint8_t *rec, size_t len, uint16_t *attempts, int *bad);

/* Bytes held by live message allocations and their count (for memory telemetry). */
size_t msg_live_bytes(void);
size_t msg_live_count(void);

#endif
