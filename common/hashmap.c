/* hashmap: strmap (byte-string keys, SipHash-2-4) and u64map (uint64 keys, seeded 64-bit mixer).
 * Both are linear-probing tables WITHOUT wrap-around: a power-of-two range of home slots is
 * followed by an overflow tail that grows (realloc, no rehash) when a probe runs off the end.
 * Deletion shifts later entries back (no tombstones) and iteration walks slots from the last to
 * the first, so deleting the current entry only moves already-visited entries. The hash seed
 * comes from getrandom(2) once per process. */
#include "common/hashmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAP_MIN_CAP 8
#define MAP_TAIL 16 /* initial overflow slots after the home range */

/* ---- seed and hash functions ---------------------------------------------------------------- */

static uint64_t g_seed[2];
static pthread_once_t g_seed_once = PTHREAD_ONCE_INIT;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void seed_init(void)
{
    if (getrandom(g_seed, sizeof g_seed, 0) == (ssize_t)sizeof g_seed)
        return;
    /* No entropy source: weaker, but still differs between processes and runs. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_seed[0] = mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid());
    g_seed[1] = mix64(g_seed[0] ^ (uint64_t)(uintptr_t)&ts);
}

static void seed_get(uint64_t out[2])
{
    pthread_once(&g_seed_once, seed_init);
    out[0] = g_seed[0];
    out[1] = g_seed[1];
}

static uint64_t rotl64(uint64_t x, unsigned n) { return x << n | x >> (64 - n); }

static void sip_round(uint64_t v[4])
{
    v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
    v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
}

static uint64_t load_le64(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void sip_absorb(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

uint64_t hashmap_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                     k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8)
        sip_absorb(v, load_le64(p + i, 8));
    uint64_t last = len > full ? load_le64(p + full, len - full) : 0;
    sip_absorb(v, (uint64_t)len << 56 | last);
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Smallest power of two >= MAP_MIN_CAP that holds want entries under 0.75 load; 0 on overflow. */
static size_t map_cap_for(size_t want)
{
    size_t cap = MAP_MIN_CAP;
    while (cap / 4 * 3 < want) {
        if (cap > SIZE_MAX / 4)
            return 0;
        cap *= 2;
    }
    return cap;
}

static bool map_over_load(size_t n, size_t cap) { return n + 1 > cap / 4 * 3; }

/* Grows an entry array's overflow tail (doubling it), zeroing the new slots. */
static void *map_extend(void *arr, size_t esize, size_t cap, size_t *total)
{
    size_t tail = *total - cap;
    if (tail > (SIZE_MAX / esize - *total))
        return NULL;
    size_t ntotal = *total + tail;
    char *a = realloc(arr, ntotal * esize);
    if (a == NULL)
        return NULL;
    memset(a + *total * esize, 0, tail * esize);
    *total = ntotal;
    return a;
}

/* ---- u64map ----------------------------------------------------------------------------------- */

typedef struct u64_entry {
    uint64_t key;
    void *val; /* NULL = empty slot */
} u64_entry_t;

struct u64map {
    u64_entry_t *e;
    size_t cap, mask, total, n;
    uint64_t seed;
};

static inline size_t u64_home(const u64map_t *m, uint64_t key)
{
    return (size_t)(mix64(key ^ m->seed) & m->mask);
}

/* Slot holding key, or the empty slot ending its probe, or m->total. */
static inline size_t u64_probe(const u64map_t *m, uint64_t key)
{
    size_t i = u64_home(m, key);
    while (i < m->total && m->e[i].val != NULL && m->e[i].key != key)
        i++;
    return i;
}

static int u64_alloc(u64map_t *m, size_t cap)
{
    m->e = calloc(cap + MAP_TAIL, sizeof(*m->e));
    if (m->e == NULL)
        return -1;
    m->cap = cap;
    m->mask = cap - 1;
    m->total = cap + MAP_TAIL;
    m->n = 0;
    return 0;
}

/* Places slot i (empty, or m->total to extend the tail). */
static int u64_place(u64map_t *m, size_t i, uint64_t key, void *val)
{
    if (i == m->total) {
        u64_entry_t *e = map_extend(m->e, sizeof(*e), m->cap, &m->total);
        if (e == NULL)
            return -1;
        m->e = e;
    }
    m->e[i].key = key;
    m->e[i].val = val;
    m->n++;
    return 0;
}

static int u64_rehash(u64map_t *m, size_t cap)
{
    u64map_t nm = {.seed = m->seed};
    if (cap == 0 || u64_alloc(&nm, cap) != 0)
        return -1;
    for (size_t i = 0; i < m->total; i++) {
        if (m->e[i].val != NULL && u64_place(&nm, u64_probe(&nm, m->e[i].key), m->e[i].key,
                                             m->e[i].val) != 0) {
            free(nm.e);
            return -1;
        }
    }
    free(m->e);
    *m = nm;
    return 0;
}

u64map_t *u64map_new(size_t initial_cap)
{
    u64map_t *m = calloc(1, sizeof(*m));
    size_t cap = map_cap_for(initial_cap);
    if (m == NULL || cap == 0 || u64_alloc(m, cap) != 0) {
        free(m);
        return NULL;
    }
    uint64_t seed[2];
    seed_get(seed);
    m->seed = seed[0];
    return m;
}

void u64map_free(u64map_t *m)
{
    if (m == NULL)
        return;
    free(m->e);
    free(m);
}

void *u64map_get(const u64map_t *m, uint64_t key)
{
    size_t i = u64_probe(m, key);
    return i < m->total ? m->e[i].val : NULL;
}

/* A NULL value is not stored: putting NULL removes the key (get would return NULL anyway). */
int u64map_put(u64map_t *m, uint64_t key, void *val)
{
    if (val == NULL) {
        u64map_del(m, key);
        return 0;
    }
    size_t i = u64_probe(m, key);
    if (i < m->total && m->e[i].val != NULL) {
        m->e[i].val = val;
        return 0;
    }
    if (map_over_load(m->n, m->cap)) {
        if (u64_rehash(m, m->cap * 2) != 0)
            return -1;
        i = u64_probe(m, key);
    }
    return u64_place(m, i, key, val);
}

int u64map_put_new(u64map_t *m, uint64_t key, void *val)
{
    size_t i = u64_probe(m, key);
    if (i < m->total && m->e[i].val != NULL)
        return 1;
    if (map_over_load(m->n, m->cap)) {
        if (u64_rehash(m, m->cap * 2) != 0)
            return -1;
        i = u64_probe(m, key);
    }
    return u64_place(m, i, key, val);
}

/* Backward-shift deletion: an entry after the hole moves into it when its home is at or
 * before the hole (no wrap-around, so a plain comparison suffices). */
static void u64_shift_back(u64map_t *m, size_t hole)
{
    for (size_t j = hole + 1; j < m->total && m->e[j].val != NULL; j++) {
        if (u64_home(m, m->e[j].key) <= hole) {
            m->e[hole] = m->e[j];
            hole = j;
        }
    }
    m->e[hole].key = 0;
    m->e[hole].val = NULL;
}

void *u64map_del(u64map_t *m, uint64_t key)
{
    size_t i = u64_probe(m, key);
    if (i == m->total || m->e[i].val == NULL)
        return NULL;
    void *old = m->e[i].val;
    u64_shift_back(m, i);
    m->n--;
    return old;
}

size_t u64map_len(const u64map_t *m) { return m->n; }

bool u64map_next(const u64map_t *m, size_t *pos, uint64_t *key, void **val)
{
    while (*pos < m->total) {
        const u64_entry_t *e = &m->e[m->total - 1 - (*pos)++];
        if (e->val != NULL) {
            if (key != NULL)
                *key = e->key;
            if (val != NULL)
                *val = e->val;
            return true;
        }
    }
    return false;
}

/* ---- strmap ----------------------------------------------------------------------------------- */

typedef struct str_entry {
    char *key; /* malloc'd copy, NUL-terminated; NULL = empty slot */
    size_t klen;
    uint64_t hash;
    void *val;
} str_entry_t;

struct strmap {
    str_entry_t *e;
    size_t cap, mask, total, n;
    uint64_t k0, k1;
};

static uint64_t str_hash(const strmap_t *m, const char *key, size_t klen)
{
    return hashmap_siphash24(m->k0, m->k1, key, klen);
}

static bool str_match(const str_entry_t *e, uint64_t hash, const char *key, size_t klen)
{
    return e->hash == hash && e->klen == klen && (klen == 0 || memcmp(e->key, key, klen) == 0);
}

static size_t str_probe(const strmap_t *m, uint64_t hash, const char *key, size_t klen)
{
    size_t i = (size_t)(hash & m->mask);
    while (i < m->total && m->e[i].key != NULL && !str_match(&m->e[i], hash, key, klen))
        i++;
    return i;
}

static int str_alloc(strmap_t *m, size_t cap)
{
    m->e = calloc(cap + MAP_TAIL, sizeof(*m->e));
    if (m->e == NULL)
        return -1;
    m->cap = cap;
    m->mask = cap - 1;
    m->total = cap + MAP_TAIL;
    m->n = 0;
    return 0;
}

/* Stores an entry (key already copied) at slot i, which is empty or m->total. */
static int str_place(strmap_t *m, size_t i, const str_entry_t *ent)
{
    if (i == m->total) {
        str_entry_t *e = map_extend(m->e, sizeof(*e), m->cap, &m->total);
        if (e == NULL)
            return -1;
        m->e = e;
    }
    m->e[i] = *ent;
    m->n++;
    return 0;
}

static int str_rehash(strmap_t *m, size_t cap)
{
    strmap_t nm = {.k0 = m->k0, .k1 = m->k1};
    if (cap == 0 || str_alloc(&nm, cap) != 0)
        return -1;
    for (size_t i = 0; i < m->total; i++) {
        const str_entry_t *e = &m->e[i];
        if (e->key != NULL && str_place(&nm, str_probe(&nm, e->hash, e->key, e->klen), e) != 0) {
            free(nm.e);
            return -1;
        }
    }
    free(m->e);
    *m = nm;
    return 0;
}

strmap_t *strmap_new(void)
{
    strmap_t *m = calloc(1, sizeof(*m));
    if (m == NULL || str_alloc(m, MAP_MIN_CAP) != 0) {
        free(m);
        return NULL;
    }
    uint64_t seed[2];
    seed_get(seed);
    m->k0 = seed[0];
    m->k1 = seed[1];
    return m;
}

void strmap_free(strmap_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->total; i++)
        free(m->e[i].key);
    free(m->e);
    free(m);
}

void *strmap_get(const strmap_t *m, const char *key, size_t klen)
{
    size_t i = str_probe(m, str_hash(m, key, klen), key, klen);
    return i < m->total && m->e[i].key != NULL ? m->e[i].val : NULL;
}

int strmap_put(strmap_t *m, const char *key, size_t klen, void *val)
{
    uint64_t hash = str_hash(m, key, klen);
    size_t i = str_probe(m, hash, key, klen);
    if (i < m->total && m->e[i].key != NULL) {
        m->e[i].val = val;
        return 0;
    }
    if (map_over_load(m->n, m->cap)) {
        if (str_rehash(m, m->cap * 2) != 0)
            return -1;
        i = str_probe(m, hash, key, klen);
    }
    str_entry_t ent = {.key = malloc(klen + 1), .klen = klen, .hash = hash, .val = val};
    if (ent.key == NULL)
        return -1;
    if (klen > 0)
        memcpy(ent.key, key, klen);
    ent.key[klen] = '\0';
    if (str_place(m, i, &ent) != 0) {
        free(ent.key);
        return -1;
    }
    return 0;
}

static void str_shift_back(strmap_t *m, size_t hole)
{
    for (size_t j = hole + 1; j < m->total && m->e[j].key != NULL; j++) {
        if ((size_t)(m->e[j].hash & m->mask) <= hole) {
            m->e[hole] = m->e[j];
            hole = j;
        }
    }
    memset(&m->e[hole], 0, sizeof(m->e[hole]));
}

void *strmap_del(strmap_t *m, const char *key, size_t klen)
{
    size_t i = str_probe(m, str_hash(m, key, klen), key, klen);
    if (i == m->total || m->e[i].key == NULL)
        return NULL;
    void *old = m->e[i].val;
    free(m->e[i].key);
    str_shift_back(m, i);
    m->n--;
    return old;
}

size_t strmap_len(const strmap_t *m) { return m->n; }

bool strmap_next(const strmap_t *m, size_t *pos, const char **key, size_t *klen, void **val)
{
    while (*pos < m->total) {
        const str_entry_t *e = &m->e[m->total - 1 - (*pos)++];
        if (e->key != NULL) {
            if (key != NULL)
                *key = e->key;
            if (klen != NULL)
                *klen = e->klen;
            if (val != NULL)
                *val = e->val;
            return true;
        }
    }
    return false;
}
