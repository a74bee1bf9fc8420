/* hashmap: two small open-addressing hash tables.
 *   strmap: byte-string keys (copied into the map) -> void * (borrowed), insertion-ordered
 *           iteration is NOT promised; used for name registries (topics, channels).
 *   u64map: uint64 keys -> void *, no allocation per insert (amortised growth), backward-shift
 *           deletion; used on the hot path (in-flight messages by id).
 * Keys are hashed with a per-process random seed (hash flooding). Neither map owns the values. */
#ifndef CNSQ_HASHMAP_H
#define CNSQ_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap strmap_t;

strmap_t *strmap_new(void);
void strmap_free(strmap_t *m); /* frees the keys, not the values */
void *strmap_get(const strmap_t *m, const char *key, size_t klen);
/* Inserts or replaces. Returns 0, or -1 on OOM. */
int strmap_put(strmap_t *m, const char *key, size_t klen, void *val);
/* Removes; returns the old value or NULL. */
void *strmap_del(strmap_t *m, const char *key, size_t klen);
size_t strmap_len(const strmap_t *m);
/* Iteration: *pos starts at 0; returns false at the end. Do not insert while iterating
 * (deleting the current key is allowed). */
bool strmap_next(const strmap_t *m, size_t *pos, const char **key, size_t *klen, void **val);

typedef struct u64map u64map_t;

u64map_t *u64map_new(size_t initial_cap);
void u64map_free(u64map_t *m);
void *u64map_get(const u64map_t *m, uint64_t key);
int u64map_put(u64map_t *m, uint64_t key, void *val); /* 0, -1 OOM */
/* Like put, but leaves an existing entry alone: 0 inserted, 1 key present, -1 OOM. */
int u64map_put_new(u64map_t *m, uint64_t key, void *val);
void *u64map_del(u64map_t *m, uint64_t key);
size_t u64map_len(const u64map_t *m);
bool u64map_next(const u64map_t *m, size_t *pos, uint64_t *key, void **val);

/* SipHash-2-4 of data under the 128-bit key (k0, k1) (the strmap hash; exposed for tests). */
uint64_t hashmap_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
