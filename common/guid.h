/* guid: message ids in nsqd's format.
 * A 64-bit id = (ms since 2010-11-04 01:42:54.657 UTC) << 22 | node_id (10 bits) << 12 | seq (12 bits),
 * written as 16 lowercase hex characters. Ids are unique across restarts: the generator never goes
 * back in time (a clock step backwards or an exhausted sequence borrows the next millisecond). */
#ifndef CNSQ_GUID_H
#define CNSQ_GUID_H

#include <stddef.h>
#include <stdint.h>

#define GUID_HEX_LEN 16
#define GUID_EPOCH_MS 1288834974657LL

typedef struct guid_gen {
    int64_t node_id; /* 0..1023 */
    int64_t last_ms;
    int64_t seq;
} guid_gen_t;

/* node_id must be in 0..1023; returns -1 otherwise. */
int guid_gen_init(guid_gen_t *g, int64_t node_id);
/* now_ms: wall clock in ms since the Unix epoch (injected for tests). */
uint64_t guid_next(guid_gen_t *g, int64_t now_ms);
void guid_to_hex(uint64_t id, char out[GUID_HEX_LEN]);
/* Strict: exactly 16 hex chars [0-9a-f] (uppercase accepted). 0 or -1. */
int guid_from_hex(const char *in, size_t len, uint64_t *out);
/* Default node id as nsqd derives it: crc32 (IEEE) of the MD5 digest of the hostname,
 * modulo 1024. guid_node_id_for_host does the same for a given name. */
int64_t guid_default_node_id(void);
int64_t guid_node_id_for_host(const char *hostname, size_t len);

#endif
