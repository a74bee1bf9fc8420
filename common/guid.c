/* guid: nsqd-style 64-bit message ids and their 16-char hex form.
 * Owns the generator (monotonic: a clock step backwards or 4096 ids in one millisecond borrow
 * the next millisecond instead of repeating an id), hex conversion, and the default node id,
 * which nsqd computes as crc32-IEEE(md5(hostname)) % 1024. MD5 and CRC-32 live here as small
 * private helpers because common links neither zlib nor OpenSSL. */
#include "common/guid.h"

#include <string.h>
#include <unistd.h>

#define GUID_SEQ_BITS 12
#define GUID_NODE_BITS 10
#define GUID_SEQ_MAX ((1 << GUID_SEQ_BITS) - 1)
#define GUID_NODE_MAX ((1 << GUID_NODE_BITS) - 1)

int guid_gen_init(guid_gen_t *g, int64_t node_id)
{
    if (node_id < 0 || node_id > GUID_NODE_MAX)
        return -1;
    g->node_id = node_id;
    /* The first call with a sane clock takes the "newer" path and gets seq 0; a clock at or
     * before the epoch still yields non-negative timestamps. */
    g->last_ms = GUID_EPOCH_MS;
    g->seq = -1;
    return 0;
}

uint64_t guid_next(guid_gen_t *g, int64_t now_ms)
{
    if (now_ms > g->last_ms) {
        g->last_ms = now_ms;
        g->seq = 0;
    } else if (++g->seq > GUID_SEQ_MAX) {
        g->last_ms++;
        g->seq = 0;
    }
    uint64_t ts = (uint64_t)(g->last_ms - GUID_EPOCH_MS);
    return ts << (GUID_NODE_BITS + GUID_SEQ_BITS) | (uint64_t)g->node_id << GUID_SEQ_BITS |
           (uint64_t)g->seq;
}

void guid_to_hex(uint64_t id, char out[GUID_HEX_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = GUID_HEX_LEN - 1; i >= 0; i--, id >>= 4)
        out[i] = digits[id & 0xf];
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int guid_from_hex(const char *in, size_t len, uint64_t *out)
{
    if (in == NULL || len != GUID_HEX_LEN)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = hex_value(in[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* ---- CRC-32 (IEEE 802.3, reflected, bit at a time) --------------------------------------- */

static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- MD5 (RFC 1321) ------------------------------------------------------------------------ */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint8_t md5_r[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static uint32_t rotl32(uint32_t x, unsigned n) { return x << n | x >> (32 - n); }

static void md5_block(uint32_t st[4], const uint8_t blk[64])
{
    uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        switch (round) {
        case 0: f = (b & c) | (~b & d); g = i; break;
        case 1: f = (d & b) | (~d & c); g = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d; g = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d); g = (7 * i) % 16; break;
        }
        f += a + md5_k[i] + m[g];
        a = d;
        d = c;
        c = b;
        b += rotl32(f, md5_r[round][i % 4]);
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
}

static void md5(const uint8_t *p, size_t len, uint8_t out[16])
{
    uint32_t st[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    uint64_t bits = (uint64_t)len * 8;
    for (; len >= 64; p += 64, len -= 64)
        md5_block(st, p);
    uint8_t tail[128] = {0};
    if (len > 0)
        memcpy(tail, p, len);
    tail[len] = 0x80;
    size_t tlen = len < 56 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tlen - 8 + i] = (uint8_t)(bits >> (8 * i));
    md5_block(st, tail);
    if (tlen == 128)
        md5_block(st, tail + 64);
    for (int i = 0; i < 16; i++)
        out[i] = (uint8_t)(st[i / 4] >> (8 * (i % 4)));
}

/* ---- node id -------------------------------------------------------------------------------- */

int64_t guid_node_id_for_host(const char *hostname, size_t len)
{
    uint8_t digest[16];
    md5((const uint8_t *)hostname, len, digest);
    return (int64_t)(crc32_ieee(digest, sizeof digest) % 1024);
}

int64_t guid_default_node_id(void)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    return guid_node_id_for_host(host, strlen(host));
}
