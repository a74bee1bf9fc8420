/* wire: NSQ's binary encodings shared by daemons and tools.
 *   frame:   [4B BE size = len(data)+4][4B BE type][data]   type 0 response, 1 error, 2 message
 *   message: [8B BE timestamp ns][2B BE attempts][16B ASCII hex id][body]   (26-byte header)
 * Big-endian helpers, frame headers, message header encode/decode and the V2 command tokenizer. */
#ifndef CNSQ_WIRE_H
#define CNSQ_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_FRAME_RESPONSE 0
#define WIRE_FRAME_ERROR 1
#define WIRE_FRAME_MESSAGE 2

#define WIRE_MSG_ID_LEN 16
#define WIRE_MSG_HEADER_LEN 26 /* 8 + 2 + 16 */
#define WIRE_FRAME_HEADER_LEN 8

typedef struct wire_msg_header {
    int64_t timestamp; /* ns since the Unix epoch */
    uint16_t attempts;
    char id[WIRE_MSG_ID_LEN];
} wire_msg_header_t;

static inline void wire_put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void wire_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (uint8_t)v;
}
static inline void wire_put_be64(uint8_t *p, uint64_t v)
{
    wire_put_be32(p, (uint32_t)(v >> 32));
    wire_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t wire_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t wire_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t wire_get_be64(const uint8_t *p)
{
    return (uint64_t)wire_get_be32(p) << 32 | wire_get_be32(p + 4);
}

/* Writes the 8-byte frame header for a frame carrying datalen bytes. */
void wire_frame_header(uint8_t out[WIRE_FRAME_HEADER_LEN], uint32_t type, size_t datalen);

/* Encodes the 26-byte message header. */
void wire_msg_header_encode(uint8_t out[WIRE_MSG_HEADER_LEN], const wire_msg_header_t *h);

/* Decodes a message (header + body). Returns 0, or -1 when len < 26.
 * body points into buf (borrowed). */
int wire_msg_decode(const uint8_t *buf, size_t len, wire_msg_header_t *h,
                    const uint8_t **body, size_t *body_len);

/* Splits a V2 command line (without its '\n'; a trailing '\r' is dropped) on single spaces,
 * in place: each token is NUL-terminated inside line. Returns the token count (at most max),
 * or -1 when there are more than max tokens. Empty line -> 0. */
int wire_split_command(char *line, size_t len, char **tokens, int max);

#endif
