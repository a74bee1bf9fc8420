/* message: allocation and reference counting of published messages.
 * One malloc holds the header and the body; the last msg_unref frees it. Live totals are kept
 * for memory telemetry (the event loop is the only thread touching messages, so plain counters). */
#include "nsqd/message.h"

#include <stdlib.h>
#include <string.h>

#include "common/guid.h"

static size_t live_bytes;
static size_t live_count;

msg_t *msg_new(uint64_t id, int64_t timestamp, size_t body_len)
{
    if (body_len > UINT32_MAX)
        return NULL;
    msg_t *m = malloc(sizeof(*m) + body_len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->body_len = (uint32_t)body_len;
    m->timestamp = timestamp;
    m->id_num = id;
    guid_to_hex(id, m->id);
    live_bytes += sizeof(*m) + body_len;
    live_count++;
    return m;
}

msg_t *msg_new_copy(uint64_t id, int64_t timestamp, const void *body, size_t body_len)
{
    msg_t *m = msg_new(id, timestamp, body_len);
    if (m && body_len)
        memcpy(m->body, body, body_len);
    return m;
}

void msg_unref(msg_t *m)
{
    if (--m->refs > 0)
        return;
    live_bytes -= sizeof(*m) + m->body_len;
    live_count--;
    free(m);
}

void msg_record_header(const msg_t *m, uint16_t attempts, uint8_t out[WIRE_MSG_HEADER_LEN])
{
    wire_msg_header_t h = {.timestamp = m->timestamp, .attempts = attempts};
    memcpy(h.id, m->id, WIRE_MSG_ID_LEN);
    wire_msg_header_encode(out, &h);
}

msg_t *msg_from_record(const uint8_t *rec, size_t len, uint16_t *attempts, int *bad)
{
    wire_msg_header_t h;
    const uint8_t *body;
    size_t body_len;
    uint64_t id;
    if (bad)
        *bad = 1;
    if (wire_msg_decode(rec, len, &h, &body, &body_len) < 0 ||
        guid_from_hex(h.id, WIRE_MSG_ID_LEN, &id) < 0)
        return NULL;
    if (bad)
        *bad = 0;
    msg_t *m = msg_new_copy(id, h.timestamp, body, body_len);
    if (m)
        *attempts = h.attempts;
    return m;
}

size_t msg_live_bytes(void) { return live_bytes; }
size_t msg_live_count(void) { return live_count; }
