/* stats: the /stats snapshot and its renderers.
 * Owns the copy-out of topics, channels and clients (one pass in one event-loop turn, so the
 * numbers agree with each other), the copies' storage (a few arrays plus one string arena, no
 * per-item allocations), process memory figures, and nsqd 1.3's JSON and text formats.
 * Reads live state only through nsqd.h, topic.h, channel.h and tcp.h. */
#include "nsqd/stats.h"

#include <event2/buffer.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/httputil.h"
#include "common/opts.h"
#include "common/util.h"
#include "nsqd/telemetry.h"

/* ---- storage ------------------------------------------------------------------------------ */

#define STORE_CHUNK (64 * 1024)

typedef struct store_chunk {
    struct store_chunk *next;
    size_t used, cap;
    max_align_t data[];
} store_chunk_t;

struct stats_store {
    store_chunk_t *chunks;
    stats_channel_t *channels; /* every topic's channels, in one array */
    client_stats_t *clients;   /* every channel's consumers, in one array */
    size_t producers_cap;
};

static void *store_alloc(struct stats_store *st, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    store_chunk_t *c = st->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > STORE_CHUNK ? size : STORE_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = st->chunks;
        st->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* A copy of s in the arena; NULL stays NULL. *oom is set on failure. */
static const char *store_str(struct stats_store *st, const char *s, bool *oom)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    char *p = store_alloc(st, len + 1);
    if (!p) {
        *oom = true;
        return NULL;
    }
    memcpy(p, s, len + 1);
    return p;
}

void *stats_snapshot_alloc(stats_snapshot_t *s, size_t size)
{
    return store_alloc(s->store, size);
}

void stats_snapshot_free(stats_snapshot_t *s)
{
    if (!s)
        return;
    if (s->store) {
        store_chunk_t *c = s->store->chunks;
        while (c) {
            store_chunk_t *next = c->next;
            free(c);
            c = next;
        }
        free(s->store->channels);
        free(s->store->clients);
        free(s->store);
    }
    free(s->topics);
    free(s->producers);
    free(s);
}

/* ---- snapshot ----------------------------------------------------------------------------- */

/* Copies a client's stats: every string into the arena, pub_counts narrowed to topic_filter
 * (as nsqd's clientV2.Stats(topicName)). */
static int copy_client(struct stats_store *st, client_stats_t *out, const client_stats_t *in,
                       const char *topic_filter)
{
    bool oom = false;
    *out = *in;
    out->client_id = store_str(st, in->client_id, &oom);
    out->hostname = store_str(st, in->hostname, &oom);
    out->user_agent = store_str(st, in->user_agent, &oom);
    out->remote_address = store_str(st, in->remote_address, &oom);
    out->version = store_str(st, in->version, &oom);
    out->topic = store_str(st, in->topic, &oom);
    out->channel = store_str(st, in->channel, &oom);
    out->tls_cipher_suite = store_str(st, in->tls_cipher_suite, &oom);
    out->tls_version = store_str(st, in->tls_version, &oom);
    out->tls_negotiated_protocol = store_str(st, in->tls_negotiated_protocol, &oom);
    out->auth_identity = store_str(st, in->auth_identity, &oom);
    out->auth_identity_url = store_str(st, in->auth_identity_url, &oom);
    out->pub_counts = NULL;
    out->pub_counts_len = 0;
    if (in->pub_counts_len) {
        client_pub_count_t *pc = store_alloc(st, in->pub_counts_len * sizeof(*pc));
        if (!pc)
            return -1;
        for (size_t i = 0; i < in->pub_counts_len; i++) {
            const client_pub_count_t *src = &in->pub_counts[i];
            if (topic_filter && strcmp(src->topic, topic_filter) != 0)
                continue;
            pc[out->pub_counts_len].topic = store_str(st, src->topic, &oom);
            pc[out->pub_counts_len++].count = src->count;
        }
        out->pub_counts = pc;
    }
    return oom ? -1 : 0;
}

static int fill_channel(stats_snapshot_t *s, stats_channel_t *sc, channel_t *c,
                        client_stats_t **next_client, const char *topic_filter)
{
    bool oom = false;
    sc->name = store_str(s->store, chan_name(c), &oom);
    chan_get_stats(c, &sc->s);
    telemetry_fill_channel(s, sc, c);
    if (!s->include_clients)
        return oom ? -1 : 0;
    size_t cap = chan_consumer_count(c);
    sc->clients = *next_client;
    for (chan_consumer_t *cc = chan_next_consumer(c, NULL); cc && sc->clients_len < cap;
         cc = chan_next_consumer(c, cc)) {
        client_stats_t cs;
        client_get_stats(client_from_consumer(cc), &cs);
        if (copy_client(s->store, &sc->clients[sc->clients_len], &cs, topic_filter) < 0)
            return -1;
        sc->clients_len++;
    }
    *next_client += sc->clients_len;
    return oom ? -1 : 0;
}

/* The topics to report (all, sorted, or the filtered one) into a malloc'd array. */
static topic_t **select_topics(const nsqd_t *n, const char *topic_filter, size_t *nt)
{
    topic_t **tops;
    if (topic_filter) {
        topic_t *t = nsqd_find_topic(n, topic_filter, strlen(topic_filter));
        *nt = t ? 1 : 0;
        tops = malloc(sizeof(*tops));
        if (tops)
            tops[0] = t;
        return tops;
    }
    size_t cap = nsqd_topic_count(n);
    tops = malloc((cap ? cap : 1) * sizeof(*tops));
    *nt = tops ? nsqd_topics(n, tops, cap) : 0;
    return tops;
}

/* Pass 1 gathers channel pointers (per topic, sorted) and counts consumers; pass 2 copies. */
static int collect_topics(stats_snapshot_t *s, const nsqd_t *n, const char *tf, const char *cf)
{
    size_t nt = 0, total = 0, off = 0, nclients = 0;
    int rc = -1;
    topic_t **tops = select_topics(n, tf, &nt);
    channel_t **chs = NULL;
    if (!tops)
        return -1;
    if (tf && nt == 0) {
        s->topics_null = true;
        free(tops);
        return 0;
    }
    for (size_t i = 0; i < nt; i++)
        total += cf ? 1 : topic_channel_count(tops[i]);
    s->topics = calloc(nt ? nt : 1, sizeof(*s->topics));
    chs = malloc((total ? total : 1) * sizeof(*chs));
    if (!s->topics || !chs)
        goto done;
    for (size_t i = 0; i < nt; i++) {
        stats_topic_t *st = &s->topics[s->topics_len];
        if (cf) {
            channel_t *c = topic_find_channel(tops[i], cf, strlen(cf));
            if (!c)
                continue; /* nsqd leaves out topics without the channel */
            chs[off] = c;
            st->channels_len = 1;
        } else {
            st->channels_len = topic_channels(tops[i], chs + off, topic_channel_count(tops[i]));
        }
        for (size_t j = 0; s->include_clients && j < st->channels_len; j++)
            nclients += chan_consumer_count(chs[off + j]);
        off += st->channels_len;
        s->topics_len++;
    }
    s->store->channels = calloc(off ? off : 1, sizeof(stats_channel_t));
    s->store->clients = calloc(nclients ? nclients : 1, sizeof(client_stats_t));
    if (!s->store->channels || !s->store->clients)
        goto done;
    off = 0;
    client_stats_t *next_client = s->store->clients;
    for (size_t i = 0, ti = 0; i < nt && ti < s->topics_len; i++) {
        stats_topic_t *st = &s->topics[ti];
        if (cf && !topic_find_channel(tops[i], cf, strlen(cf)))
            continue;
        bool oom = false;
        st->name = store_str(s->store, topic_name(tops[i]), &oom);
        topic_get_stats(tops[i], &st->s);
        telemetry_fill_topic(nsqd_telemetry(n), s, st, tops[i]);
        st->channels = s->store->channels + off;
        for (size_t j = 0; j < st->channels_len; j++)
            if (fill_channel(s, &st->channels[j], chs[off + j], &next_client, tf) < 0)
                goto done;
        if (oom)
            goto done;
        off += st->channels_len;
        ti++;
    }
    rc = 0;
done:
    free(chs);
    free(tops);
    return rc;
}

/* nsqd's producers: every client that has published (its pub_counts are non-empty). */
static int collect_producers(stats_snapshot_t *s, const tcp_server_t *tcp, const char *tf)
{
    struct stats_store *st = s->store;
    for (client_t *c = tcp ? tcp_server_next_client(tcp, NULL) : NULL; c;
         c = tcp_server_next_client(tcp, c)) {
        client_stats_t cs;
        client_get_stats(c, &cs);
        if (cs.pub_counts_len == 0)
            continue;
        if (s->producers_len == st->producers_cap) {
            size_t cap = st->producers_cap ? st->producers_cap * 2 : 16;
            client_stats_t *p = realloc(s->producers, cap * sizeof(*p));
            if (!p)
                return -1;
            s->producers = p;
            st->producers_cap = cap;
        }
        if (copy_client(st, &s->producers[s->producers_len], &cs, tf) < 0)
            return -1;
        s->producers_len++;
    }
    return 0;
}

stats_snapshot_t *stats_snapshot_take(const nsqd_t *n, const tcp_server_t *tcp, const char *topic,
                                      const char *channel, bool include_clients)
{
    const char *tf = topic && *topic ? topic : NULL;
    const char *cf = channel && *channel ? channel : NULL;
    const char *health = nsqd_health_error(n);
    stats_snapshot_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->store = calloc(1, sizeof(*s->store))))
        goto oom;
    s->include_clients = include_clients;
    s->start_time = nsqd_start_time(n);
    s->taken_ns = clock_realtime_ns();
    s->health = "OK";
    if (health) {
        bool has_prefix = strncmp(health, "NOK", 3) == 0;
        size_t len = strlen(health) + 7;
        char *h = store_alloc(s->store, len);
        if (!h)
            goto oom;
        snprintf(h, len, "%s%s", has_prefix ? "" : "NOK - ", health);
        s->health = h;
    }
    if (collect_topics(s, n, tf, cf) < 0)
        goto oom;
    if (include_clients && collect_producers(s, tcp, tf) < 0)
        goto oom;
    return s;
oom:
    stats_snapshot_free(s);
    return NULL;
}

/* ---- memory ------------------------------------------------------------------------------- */

void stats_mem_read(stats_mem_t *out)
{
    memset(out, 0, sizeof(*out));
    struct mallinfo2 mi = mallinfo2();
    out->heap_in_use_bytes = mi.uordblks + mi.hblkhd;
    out->heap_idle_bytes = mi.fordblks;
    out->heap_mmap_bytes = mi.hblkhd;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size = 0, resident = 0;
        long page = sysconf(_SC_PAGESIZE);
        if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0) {
            out->vm_size_bytes = size * (uint64_t)page;
            out->rss_bytes = resident * (uint64_t)page;
        }
        fclose(f);
    }
    out->message_bytes = msg_live_bytes();
    out->message_count = msg_live_count();
}

/* ---- output buffer ------------------------------------------------------------------------ */

/* A growable buffer handed to the evbuffer without a copy once rendered. */
typedef struct outbuf {
    char *p;
    size_t len, cap;
    bool oom;
} outbuf_t;

static bool ob_reserve(outbuf_t *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len >= n)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void ob_raw(outbuf_t *b, const char *s, size_t n)
{
    if (ob_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

/* String literals only ("" s "" fails to compile for anything else). */
#define OB_LIT(b, s) ob_raw((b), "" s "", sizeof(s) - 1)

static void ob_printf(outbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ob_printf(outbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    if (!ob_reserve(b, 256))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) { /* did not fit: grow and format again */
        if (!ob_reserve(b, (size_t)n + 1))
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static void ob_u64(outbuf_t *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ob_raw(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void ob_i64(outbuf_t *b, int64_t v)
{
    if (v < 0) {
        OB_LIT(b, "-");
        ob_u64(b, 0 - (uint64_t)v);
    } else {
        ob_u64(b, (uint64_t)v);
    }
}

static void ob_bool(outbuf_t *b, bool v)
{
    if (v)
        OB_LIT(b, "true");
    else
        OB_LIT(b, "false");
}

static void free_cb(const void *data, size_t len, void *extra)
{
    free((void *)data);
}

/* Moves the rendered bytes into out. */
static int ob_finish(outbuf_t *b, struct evbuffer *out)
{
    if (b->oom || (b->len && evbuffer_add_reference(out, b->p, b->len, free_cb, NULL) < 0)) {
        free(b->p);
        return -1;
    }
    if (!b->len)
        free(b->p);
    return 0;
}

/* ---- JSON values as Go's encoding/json writes them ----------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    uint32_t min = len == 4 ? 0x10000 : len == 3 ? 0x800 : 0x80;
    if (c < 0xc2 || c > 0xf4 || len > n)
        return 0;
    uint32_t v = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* A JSON string with Go's escaping: <, >, & and U+2028/9 as \u, invalid UTF-8 as U+FFFD. */
static void ob_str(outbuf_t *b, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)s), start = 0;
    OB_LIT(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t ulen = c >= 0x80 ? utf8_len(s + i, n - i, &cp) : 1;
        if (c >= 0x80 && ulen && cp != 0x2028 && cp != 0x2029) {
            i += ulen;
            continue;
        }
        ob_raw(b, (const char *)s + start, i - start);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ob_raw(b, esc, 2);
        } else if (c == '\n') {
            OB_LIT(b, "\\n");
        } else if (c == '\r') {
            OB_LIT(b, "\\r");
        } else if (c == '\t') {
            OB_LIT(b, "\\t");
        } else if (c < 0x80) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ob_raw(b, esc, 6);
        } else if (ulen) {
            ob_raw(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        } else {
            OB_LIT(b, "\\ufffd");
            ulen = 1;
        }
        i += ulen;
        start = i;
    }
    ob_raw(b, (const char *)s + start, n - start);
    OB_LIT(b, "\"");
}

static void ob_f64(outbuf_t *b, double v)
{
    char tmp[HTTPD_FLOAT_MAX];
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v) {
        ob_i64(b, (int64_t)v); /* integral (ns latencies, counts): Go prints the digits */
        return;
    }
    ob_raw(b, tmp, httpd_format_float(v, tmp, sizeof(tmp)));
}

/* A value with at most 3 decimals (telemetry rounds its figures so): ob_f64's text, faster. */
static void ob_dec3(outbuf_t *b, double v)
{
    int64_t m = v > -1e12 && v < 1e12 ? (int64_t)(v * 1000.0 + (v < 0 ? -0.5 : 0.5)) : 0;
    if (v == 0 || (double)m / 1000.0 != v) {
        ob_f64(b, v);
        return;
    }
    char frac[5] = {'.', (char)('0' + (m < 0 ? -m : m) / 100 % 10),
                    (char)('0' + (m < 0 ? -m : m) / 10 % 10), (char)('0' + (m < 0 ? -m : m) % 10)};
    size_t n = 4;
    while (n > 1 && frac[n - 1] == '0')
        n--;
    if (m < 0 && m > -1000)
        OB_LIT(b, "-");
    ob_i64(b, m / 1000);
    if (n > 1)
        ob_raw(b, frac, n);
}

/* ---- JSON (nsqd 1.3's field order) -------------------------------------------------------- */

static void json_e2e(outbuf_t *b, const stats_e2e_t *e)
{
    OB_LIT(b, "{\"count\":");
    ob_u64(b, e->count);
    OB_LIT(b, ",\"percentiles\":");
    if (!e->percentiles) {
        OB_LIT(b, "null}");
        return;
    }
    OB_LIT(b, "[");
    for (size_t i = 0; i < e->percentiles_len; i++) {
        if (i)
            OB_LIT(b, ",");
        OB_LIT(b, "{\"quantile\":");
        ob_f64(b, e->percentiles[i].quantile);
        OB_LIT(b, ",\"value\":");
        ob_f64(b, e->percentiles[i].value);
        OB_LIT(b, "}");
    }
    OB_LIT(b, "]}");
}

/* cnsq's fields after nsqd's (docs/telemetry.md): rates, and channels' averages. */
static void json_extra(outbuf_t *b, const stats_extra_t *x, bool channel)
{
    static const char *const keys[3] = {",\"message_rate_1m\":", ",\"message_rate_5m\":",
                                        ",\"message_rate_15m\":"};
    for (int i = 0; i < 3; i++) {
        ob_raw(b, keys[i], strlen(keys[i]));
        ob_dec3(b, x->message_rate[i]);
    }
    if (!channel)
        return;
    OB_LIT(b, ",\"in_flight_avg\":");
    ob_dec3(b, x->in_flight_avg);
    OB_LIT(b, ",\"ready_avg\":");
    ob_dec3(b, x->ready_avg);
}

/* ClientV2Stats: authed, auth_identity, auth_identity_url and pub_counts are omitempty. */
static void json_client(outbuf_t *b, const client_stats_t *c)
{
    OB_LIT(b, "{\"client_id\":");
    ob_str(b, c->client_id);
    OB_LIT(b, ",\"hostname\":");
    ob_str(b, c->hostname);
    OB_LIT(b, ",\"version\":");
    ob_str(b, c->version ? c->version : "V2");
    OB_LIT(b, ",\"remote_address\":");
    ob_str(b, c->remote_address);
    OB_LIT(b, ",\"state\":");
    ob_i64(b, c->state);
    OB_LIT(b, ",\"ready_count\":");
    ob_i64(b, c->ready_count);
    OB_LIT(b, ",\"in_flight_count\":");
    ob_i64(b, c->in_flight_count);
    OB_LIT(b, ",\"message_count\":");
    ob_u64(b, c->message_count);
    OB_LIT(b, ",\"finish_count\":");
    ob_u64(b, c->finish_count);
    OB_LIT(b, ",\"requeue_count\":");
    ob_u64(b, c->requeue_count);
    OB_LIT(b, ",\"connect_ts\":");
    ob_i64(b, c->connect_ts);
    OB_LIT(b, ",\"sample_rate\":");
    ob_i64(b, c->sample_rate);
    OB_LIT(b, ",\"deflate\":");
    ob_bool(b, c->deflate);
    OB_LIT(b, ",\"snappy\":");
    ob_bool(b, c->snappy);
    OB_LIT(b, ",\"user_agent\":");
    ob_str(b, c->user_agent);
    if (c->authed)
        OB_LIT(b, ",\"authed\":true");
    if (c->auth_identity && *c->auth_identity) {
        OB_LIT(b, ",\"auth_identity\":");
        ob_str(b, c->auth_identity);
    }
    if (c->auth_identity_url && *c->auth_identity_url) {
        OB_LIT(b, ",\"auth_identity_url\":");
        ob_str(b, c->auth_identity_url);
    }
    if (c->pub_counts_len) {
        OB_LIT(b, ",\"pub_counts\":[");
        for (size_t i = 0; i < c->pub_counts_len; i++) {
            if (i)
                OB_LIT(b, ",");
            OB_LIT(b, "{\"topic\":");
            ob_str(b, c->pub_counts[i].topic);
            OB_LIT(b, ",\"count\":");
            ob_u64(b, c->pub_counts[i].count);
            OB_LIT(b, "}");
        }
        OB_LIT(b, "]");
    }
    OB_LIT(b, ",\"tls\":");
    ob_bool(b, c->tls);
    OB_LIT(b, ",\"tls_cipher_suite\":");
    ob_str(b, c->tls_cipher_suite);
    OB_LIT(b, ",\"tls_version\":");
    ob_str(b, c->tls_version);
    OB_LIT(b, ",\"tls_negotiated_protocol\":");
    ob_str(b, c->tls_negotiated_protocol);
    OB_LIT(b, ",\"tls_negotiated_protocol_is_mutual\":");
    ob_bool(b, c->tls_negotiated_protocol_is_mutual);
    OB_LIT(b, "}");
}

static void json_channel(outbuf_t *b, const stats_channel_t *c, bool include_clients)
{
    OB_LIT(b, "{\"channel_name\":");
    ob_str(b, c->name);
    OB_LIT(b, ",\"depth\":");
    ob_i64(b, c->s.depth);
    OB_LIT(b, ",\"backend_depth\":");
    ob_i64(b, c->s.backend_depth);
    OB_LIT(b, ",\"corrupt_count\":"); /* cnsq: disk queue corruption (docs/durability.md) */
    ob_u64(b, c->s.corrupt_count);
    OB_LIT(b, ",\"dropped_count\":"); /* cnsq: ephemeral channel full */
    ob_u64(b, c->s.dropped_count);
    OB_LIT(b, ",\"in_flight_count\":");
    ob_i64(b, c->s.in_flight_count);
    OB_LIT(b, ",\"deferred_count\":");
    ob_i64(b, c->s.deferred_count);
    OB_LIT(b, ",\"message_count\":");
    ob_u64(b, c->s.message_count);
    OB_LIT(b, ",\"requeue_count\":");
    ob_u64(b, c->s.requeue_count);
    OB_LIT(b, ",\"timeout_count\":");
    ob_u64(b, c->s.timeout_count);
    OB_LIT(b, ",\"client_count\":");
    ob_i64(b, c->s.client_count);
    OB_LIT(b, ",\"clients\":");
    if (!include_clients) {
        OB_LIT(b, "null");
    } else {
        OB_LIT(b, "[");
        for (size_t i = 0; i < c->clients_len; i++) {
            if (i)
                OB_LIT(b, ",");
            json_client(b, &c->clients[i]);
        }
        OB_LIT(b, "]");
    }
    OB_LIT(b, ",\"paused\":");
    ob_bool(b, c->s.paused);
    OB_LIT(b, ",\"e2e_processing_latency\":");
    json_e2e(b, &c->e2e);
    json_extra(b, &c->x, true);
    OB_LIT(b, "}");
}

static void json_topic(outbuf_t *b, const stats_topic_t *t, bool include_clients)
{
    OB_LIT(b, "{\"topic_name\":");
    ob_str(b, t->name);
    OB_LIT(b, ",\"channels\":[");
    for (size_t i = 0; i < t->channels_len; i++) {
        if (i)
            OB_LIT(b, ",");
        json_channel(b, &t->channels[i], include_clients);
    }
    OB_LIT(b, "],\"depth\":");
    ob_i64(b, t->s.depth);
    OB_LIT(b, ",\"backend_depth\":");
    ob_i64(b, t->s.backend_depth);
    OB_LIT(b, ",\"corrupt_count\":");
    ob_u64(b, t->s.corrupt_count);
    OB_LIT(b, ",\"dropped_count\":");
    ob_u64(b, t->s.dropped_count);
    OB_LIT(b, ",\"message_count\":");
    ob_u64(b, t->s.message_count);
    OB_LIT(b, ",\"message_bytes\":");
    ob_u64(b, t->s.message_bytes);
    OB_LIT(b, ",\"paused\":");
    ob_bool(b, t->s.paused);
    OB_LIT(b, ",\"e2e_processing_latency\":");
    json_e2e(b, &t->e2e);
    json_extra(b, &t->x, false);
    OB_LIT(b, "}");
}

static const struct {
    const char *key;
    size_t offset;
} mem_fields[] = {
    {"heap_in_use_bytes", offsetof(stats_mem_t, heap_in_use_bytes)},
    {"heap_idle_bytes", offsetof(stats_mem_t, heap_idle_bytes)},
    {"heap_mmap_bytes", offsetof(stats_mem_t, heap_mmap_bytes)},
    {"rss_bytes", offsetof(stats_mem_t, rss_bytes)},
    {"vm_size_bytes", offsetof(stats_mem_t, vm_size_bytes)},
    {"message_bytes", offsetof(stats_mem_t, message_bytes)},
    {"message_count", offsetof(stats_mem_t, message_count)},
};
#define MEM_FIELDS (sizeof(mem_fields) / sizeof(mem_fields[0]))

static uint64_t mem_value(const stats_mem_t *m, size_t i)
{
    uint64_t v;
    memcpy(&v, (const char *)m + mem_fields[i].offset, sizeof(v));
    return v;
}

static void json_memory(outbuf_t *b, const stats_mem_t *m)
{
    for (size_t i = 0; i < MEM_FIELDS; i++) {
        if (i)
            OB_LIT(b, ",\"");
        else
            OB_LIT(b, "{\"");
        ob_raw(b, mem_fields[i].key, strlen(mem_fields[i].key));
        OB_LIT(b, "\":");
        ob_u64(b, mem_value(m, i));
    }
    OB_LIT(b, "}");
}

int stats_render_json(const stats_snapshot_t *s, const stats_mem_t *mem, struct evbuffer *out)
{
    outbuf_t b = {0};
    size_t nch = 0, ncl = s->producers_len;
    for (size_t i = 0; i < s->topics_len; i++) {
        nch += s->topics[i].channels_len;
        for (size_t j = 0; j < s->topics[i].channels_len; j++)
            ncl += s->topics[i].channels[j].clients_len;
    }
    ob_reserve(&b, 1024 + s->topics_len * 256 + nch * 320 + ncl * 560);
    OB_LIT(&b, "{\"version\":");
    ob_str(&b, STATS_VERSION);
    OB_LIT(&b, ",\"health\":");
    ob_str(&b, s->health);
    OB_LIT(&b, ",\"start_time\":");
    ob_i64(&b, s->start_time);
    OB_LIT(&b, ",\"topics\":");
    if (s->topics_null) {
        OB_LIT(&b, "null");
    } else {
        OB_LIT(&b, "[");
        for (size_t i = 0; i < s->topics_len; i++) {
            if (i)
                OB_LIT(&b, ",");
            json_topic(&b, &s->topics[i], s->include_clients);
        }
        OB_LIT(&b, "]");
    }
    if (mem) {
        OB_LIT(&b, ",\"memory\":");
        json_memory(&b, mem);
    }
    OB_LIT(&b, ",\"producers\":");
    if (!s->producers_len) {
        OB_LIT(&b, "null"); /* nsqd's nil slice */
    } else {
        OB_LIT(&b, "[");
        for (size_t i = 0; i < s->producers_len; i++) {
            if (i)
                OB_LIT(&b, ",");
            json_client(&b, &s->producers[i]);
        }
        OB_LIT(&b, "]");
    }
    OB_LIT(&b, "}");
    return ob_finish(&b, out);
}

/* ---- text (nsqd's printStats) ------------------------------------------------------------- */

/* Go's time.Format(time.RFC3339) in local time. */
static void format_rfc3339(int64_t secs, char *out, size_t outlen)
{
    time_t t = (time_t)secs;
    struct tm tm;
    char date[32];
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    if (off == 0) {
        snprintf(out, outlen, "%sZ", date);
        return;
    }
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    snprintf(out, outlen, "%s%c%02ld:%02ld", date, sign, off / 3600, off / 60 % 60);
}

/* quantile.Result.String(): each value as NanoSecondToHuman, joined by ", ". */
static void text_e2e(outbuf_t *b, const stats_e2e_t *e)
{
    for (size_t i = 0; e->percentiles && i < e->percentiles_len; i++) {
        double v = e->percentiles[i].value;
        const char *suffix = "ns";
        if (v > 1e9) {
            v /= 1e9;
            suffix = "s";
        } else if (v > 1e6) {
            v /= 1e6;
            suffix = "ms";
        } else if (v > 1e3) {
            v /= 1e3;
            suffix = "us";
        }
        ob_printf(b, "%s%0.1f%s", i ? ", " : "", v, suffix);
    }
}

/* ClientV2Stats.String(): the producer form when it has pub_counts, else the consumer form. */
static void text_client(outbuf_t *b, const client_stats_t *c, int64_t now_ns)
{
    char id[512], connected[32];
    const char *ra = c->remote_address ? c->remote_address : "";
    const char *colon = strrchr(ra, ':');
    int64_t secs = now_ns / 1000000000 - c->connect_ts;
    opts_format_duration((secs > 0 ? secs : 0) * 1000000000LL, connected, sizeof(connected));
    snprintf(id, sizeof(id), "%s:%s %s", c->hostname ? c->hostname : "", colon ? colon + 1 : "",
             c->user_agent ? c->user_agent : "");
    const char *version = c->version ? c->version : "V2";
    if (c->pub_counts_len) {
        uint64_t total = 0;
        for (size_t i = 0; i < c->pub_counts_len; i++)
            total += c->pub_counts[i].count;
        ob_printf(b, "[%s %-21s] msgs: %-8llu topics: ", version, id, (unsigned long long)total);
        for (size_t i = 0; i < c->pub_counts_len; i++)
            ob_printf(b, "%s%s=%llu", i ? "," : "", c->pub_counts[i].topic,
                      (unsigned long long)c->pub_counts[i].count);
        ob_printf(b, " connected: %s", connected);
        return;
    }
    ob_printf(b,
              "[%s %-21s] state: %d inflt: %-4lld rdy: %-4lld fin: %-8llu re-q: %-8llu "
              "msgs: %-8llu connected: %s",
              version, id, c->state, (long long)c->in_flight_count, (long long)c->ready_count,
              (unsigned long long)c->finish_count, (unsigned long long)c->requeue_count,
              (unsigned long long)c->message_count, connected);
}

static void text_channel(outbuf_t *b, const stats_channel_t *c, int64_t now_ns)
{
    ob_printf(b,
              "%s[%-25s] depth: %-5lld be-depth: %-5lld inflt: %-4lld def: %-4lld "
              "re-q: %-5llu timeout: %-5llu msgs: %-8llu e2e%%: ",
              c->s.paused ? "   *P " : "      ", c->name, (long long)c->s.depth,
              (long long)c->s.backend_depth, (long long)c->s.in_flight_count,
              (long long)c->s.deferred_count, (unsigned long long)c->s.requeue_count,
              (unsigned long long)c->s.timeout_count, (unsigned long long)c->s.message_count);
    text_e2e(b, &c->e2e);
    OB_LIT(b, "\n");
    for (size_t i = 0; i < c->clients_len; i++) {
        OB_LIT(b, "        ");
        text_client(b, &c->clients[i], now_ns);
        OB_LIT(b, "\n");
    }
}

static void text_header(outbuf_t *b, const stats_snapshot_t *s, const stats_mem_t *mem)
{
    char start[64], uptime[64];
    format_rfc3339(s->start_time, start, sizeof(start));
    opts_format_duration(s->taken_ns - s->start_time * 1000000000LL, uptime, sizeof(uptime));
    ob_printf(b, "nsqd v%s (built w/cnsq %s)\n", STATS_VERSION, CNSQ_VERSION);
    ob_printf(b, "start_time %s\n", start);
    ob_printf(b, "uptime %s\n", uptime);
    ob_printf(b, "\nHealth: %s\n", s->health);
    if (mem) {
        OB_LIT(b, "\nMemory:\n");
        for (size_t i = 0; i < MEM_FIELDS; i++)
            ob_printf(b, "   %-25s\t%llu\n", mem_fields[i].key,
                      (unsigned long long)mem_value(mem, i));
    }
}

int stats_render_text(const stats_snapshot_t *s, const stats_mem_t *mem, struct evbuffer *out)
{
    outbuf_t b = {0};
    text_header(&b, s, mem);
    if (s->topics_len == 0)
        OB_LIT(&b, "\nTopics: None\n");
    else
        OB_LIT(&b, "\nTopics:");
    for (size_t i = 0; i < s->topics_len; i++) {
        const stats_topic_t *t = &s->topics[i];
        ob_printf(&b, "\n%s[%-15s] depth: %-5lld be-depth: %-5lld msgs: %-8llu e2e%%: ",
                  t->s.paused ? "*P " : "   ", t->name, (long long)t->s.depth,
                  (long long)t->s.backend_depth, (unsigned long long)t->s.message_count);
        text_e2e(&b, &t->e2e);
        OB_LIT(&b, "\n");
        for (size_t j = 0; j < t->channels_len; j++)
            text_channel(&b, &t->channels[j], s->taken_ns);
    }
    if (s->producers_len == 0) {
        OB_LIT(&b, "\nProducers: None\n");
    } else {
        OB_LIT(&b, "\nProducers:\n");
        for (size_t i = 0; i < s->producers_len; i++) {
            OB_LIT(&b, "   ");
            text_client(&b, &s->producers[i], s->taken_ns);
            OB_LIT(&b, "\n");
        }
    }
    return ob_finish(&b, out);
}
