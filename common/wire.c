/* wire: NSQ's binary framing shared by nsqd, nsqlookupd and the tools.
 * Owns the 8-byte frame header, the 26-byte message header (encode and decode) and the
 * tokenizer for V2 command lines. Pure functions over caller buffers: no allocation, no I/O.
 * The big-endian helpers themselves are static inline in wire.h. */
#include "common/wire.h"

#include <string.h>

void wire_frame_header(uint8_t out[WIRE_FRAME_HEADER_LEN], uint32_t type, size_t datalen)
{
    /* size counts the 4-byte type field plus the data */
    wire_put_be32(out, (uint32_t)(datalen + 4));
    wire_put_be32(out + 4, type);
}

void wire_msg_header_encode(uint8_t out[WIRE_MSG_HEADER_LEN], const wire_msg_header_t *h)
{
    wire_put_be64(out, (uint64_t)h->timestamp);
    wire_put_be16(out + 8, h->attempts);
    memcpy(out + 10, h->id, WIRE_MSG_ID_LEN);
}

int wire_msg_decode(const uint8_t *buf, size_t len, wire_msg_header_t *h,
                    const uint8_t **body, size_t *body_len)
{
    if (buf == NULL || len < WIRE_MSG_HEADER_LEN)
        return -1;
    h->timestamp = (int64_t)wire_get_be64(buf);
    h->attempts = wire_get_be16(buf + 8);
    memcpy(h->id, buf + 10, WIRE_MSG_ID_LEN);
    if (body != NULL)
        *body = buf + WIRE_MSG_HEADER_LEN;
    if (body_len != NULL)
        *body_len = len - WIRE_MSG_HEADER_LEN;
    return 0;
}

/* Splitting is on every single space, as nsqd does: "A  B" gives "A", "", "B".
 * The byte at line[len] (where the '\n' was) is overwritten with a NUL unless a trailing '\r'
 * was dropped, so line must have room for len + 1 bytes. */
int wire_split_command(char *line, size_t len, char **tokens, int max)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (len == 0)
        return 0;
    int n = 0;
    char *start = line;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ' ')
            continue;
        if (n >= max)
            return -1;
        line[i] = '\0';
        tokens[n++] = start;
        start = line + i + 1;
    }
    return n;
}
