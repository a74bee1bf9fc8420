/* telemetry: per-channel attachments (e2e window, rate, interval marks), the per-topic rate table,
 * the rate tick and the interval timer, and the snapshot fillers (see telemetry.h).
 * Owns its attachments (one per live channel, freed when the channel detaches), the topic table
 * and a scratch stream for merging windows. Leaves the level integrals to channel.c, the
 * algorithms to stats/ and the statsd push to statsd.c (the interval hook). */
#include "nsqd/telemetry.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"
#include "stats/quantile.h"
#include "stats/rate.h"
#include "stats/twavg.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define DEFAULT_INTERVAL_NS (60 * NS_PER_S)
/* e2e results are cached per channel and topic and kept current by a refresher that runs every
 * E2E_REFRESH_NS for at most E2E_BUDGET_NS; a snapshot uses a cached result that is current or
 * younger than E2E_MAX_AGE_NS and recomputes the others, so it never redoes every merge. */
#define E2E_REFRESH_NS (200 * NS_PER_MS)
#define E2E_BUDGET_NS (2 * NS_PER_MS)
#define E2E_MAX_AGE_NS (5 * NS_PER_S)
/* FIN sampling: every FIN is counted, and its latency recorded (a clock read and a quantile
 * insert) while the channel FINs fewer than E2E_RECORD_RATE a second, or fewer than a half
 * window needs to hold E2E_RECORD_HALF values; above that, each FIN's latency is recorded
 * with probability rate / FIN rate (measured at each refresher run), so a half window still
 * holds that many values (the 10m default: 1000/s, 300,000 per half) and FIN stays cheap. */
#define E2E_RECORD_RATE 1000.0
#define E2E_RECORD_HALF 100000.0

/* What an e2e result was computed from: a channel's {inserts, window index}; a topic's
 * {channels, sum of their epochs, inserts and window indexes}. Equal keys, same result. */
typedef struct e2e_key {
    uint64_t k[4];
} e2e_key_t;

typedef struct e2e_cache {
    bool valid;
    e2e_key_t key;
    int64_t at; /* when it was computed */
    uint64_t count, total_count;
    double total_sum;
    double *values; /* one per percentile */
} e2e_cache_t;

/* One per channel: what telemetry keeps beside it. */
typedef struct tel_chan {
    struct telemetry *tel;
    channel_t *ch;
    struct tel_chan *next, *prev;
    uint64_t epoch;    /* serial of the attachment: a recreated channel gets a new one */
    qwin_t *e2e;       /* NULL without percentiles */
    int64_t win_start; /* e2e's first half-window began here */
    e2e_cache_t cache;
    /* FINs (fin_cb) */
    uint64_t fins;         /* since the attach (also the e2e key's version) */
    uint64_t half_fins[2]; /* per half window, moving as e2e's: the window's exact count */
    int cur;
    int64_t last_move, next_move; /* next_move = last_move + half: FIN compares only this */
    uint64_t recorded;            /* latencies put into e2e */
    double recorded_sum;          /* and their sum (ns) */
    bool record_all;              /* below E2E_RECORD_RATE: every FIN */
    uint32_t keep;                /* else record when the next random 32 bits are below this */
    uint64_t rng;                 /* xorshift64 state */
    uint64_t fins_at;             /* fins at the last rate measurement, and when */
    int64_t fins_at_ns;
    rate_t rate;
    double inflight_mark, ready_mark; /* level integrals at the start of the interval */
    int64_t mark_ns;
    double inflight_avg, ready_avg; /* over the last completed interval */
    bool rolled;                    /* an interval has completed since the attach */
} tel_chan_t;

typedef struct tel_topic {
    rate_t rate;
    uint64_t seen; /* the rate tick that last saw the topic */
    e2e_cache_t cache;
} tel_topic_t;

struct telemetry {
    nsqd_t *n;
    struct event *rate_ev, *interval_ev, *refresh_ev;
    int64_t interval_ns;
    const double *targets;
    size_t ntargets;
    int64_t window_ns;
    double record_rate; /* latencies a second recorded per channel before sampling */
    qstream_t *scratch; /* merges windows for one result */
    tel_chan_t *chans;  /* every attachment */
    size_t nchans;
    tel_chan_t *cursor; /* the refresher's next channel */
    size_t topic_pos;   /* and its place in topics */
    int64_t clock;      /* now_ns() at the refresher's last run (for FIN) */
    uint64_t next_epoch;
    strmap_t *topics; /* name -> tel_topic_t */
    uint64_t tick;
    int64_t last_tick_ns;
    topic_t **tops;
    size_t tops_cap;
    channel_t **chs;
    size_t chs_cap;
    telemetry_interval_fn hook;
    void *hook_ctx;
};

/* Time for every figure here: the coarse monotonic clock channel.c integrates with. */
static int64_t now_ns(void)
{
    return clock_coarse_ns();
}

/* Rounded to 3 decimals: what /stats shows and statsd sends are then the same number. */
static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

/* An empty result, valid from now: what a new channel or topic shows until the refresher
 * (which recomputes any result whose key is not current) gets to it, so that a snapshot never
 * has to compute thousands of fresh results at once. k NULL: a key nothing matches. */
static void cache_start(const telemetry_t *t, e2e_cache_t *c, const e2e_key_t *k, int64_t now)
{
    if (!t->ntargets || !(c->values = calloc(t->ntargets, sizeof(double))))
        return; /* stays invalid: computed when first needed */
    c->key = k ? *k : (e2e_key_t){{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};
    c->at = now;
    c->valid = true;
}

static e2e_key_t chan_key(const telemetry_t *t, const tel_chan_t *a, int64_t now);

/* ---- attachments (chan_observer_t) ---------------------------------------------------- */

static void *attach_cb(void *ctx, channel_t *ch)
{
    telemetry_t *t = ctx;
    tel_chan_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    int64_t now = now_ns();
    a->tel = t;
    a->ch = ch;
    a->epoch = ++t->next_epoch;
    a->win_start = a->last_move = a->fins_at_ns = now;
    a->next_move = now + t->window_ns / 2;
    a->record_all = true;
    a->rng = 0x9e3779b97f4a7c15ULL * (a->epoch | 1);
    if (t->ntargets) {
        char err[128];
        a->e2e = qwin_new(t->targets, t->ntargets, t->window_ns, now, err, sizeof(err));
        if (!a->e2e)
            log_error("telemetry: channel %s: no e2e latency (%s)", chan_name(ch), err);
    }
    if (a->e2e) {
        e2e_key_t k = chan_key(t, a, now);
        cache_start(t, &a->cache, &k, now);
    }
    chan_stats_t cs;
    chan_get_stats(ch, &cs);
    rate_init(&a->rate, cs.message_count, now);
    a->inflight_mark = twavg_integral(&cs.in_flight_level, now);
    a->ready_mark = twavg_integral(&cs.ready_level, now);
    a->mark_ns = now;
    a->next = t->chans;
    if (a->next)
        a->next->prev = a;
    t->chans = a;
    t->nchans++;
    return a;
}

static void detach_cb(void *ctx, void *state)
{
    telemetry_t *t = ctx;
    tel_chan_t *a = state;
    if (!a)
        return;
    if (t->cursor == a)
        t->cursor = a->next;
    if (a->prev)
        a->prev->next = a->next;
    else
        t->chans = a->next;
    if (a->next)
        a->next->prev = a->prev;
    t->nchans--;
    qwin_free(a->e2e);
    free(a->cache.values);
    free(a);
}

/* Moves the FIN counts as qwin moves its halves (the same rule, the same times). */
static void count_tick(const telemetry_t *t, tel_chan_t *a, int64_t now)
{
    int64_t half = t->window_ns / 2;
    if (half <= 0 || now - a->last_move <= half)
        return;
    int64_t k = (now - a->last_move - 1) / half;
    a->last_move += k * half;
    a->next_move = a->last_move + half;
    if (k >= 2) {
        a->half_fins[0] = a->half_fins[1] = 0;
        a->cur ^= (int)(k & 1);
        return;
    }
    a->cur ^= 1;
    a->half_fins[a->cur] = 0;
}

static uint32_t next_random(tel_chan_t *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return (uint32_t)(a->rng >> 32);
}

/* Sets how often the channel's FIN latencies are recorded from its FIN rate since the last
 * measurement (see E2E_RECORD_RATE). */
static void set_sampling(const telemetry_t *t, tel_chan_t *a, int64_t now)
{
    double dt = (double)(now - a->fins_at_ns) / 1e9;
    if (dt <= 0)
        return;
    double rate = (double)(a->fins - a->fins_at) / dt;
    a->record_all = rate <= t->record_rate;
    a->keep = a->record_all ? UINT32_MAX : (uint32_t)(t->record_rate / rate * 4294967296.0);
    a->fins_at = a->fins;
    a->fins_at_ns = now;
}

/* The FIN observer (installed only with percentiles). Costs a few increments and one random
 * number; the latency (a precise clock read and a quantile insert) only for the FINs recorded.
 * Window halves move by the refresher's clock (at most E2E_REFRESH_NS old, against halves of
 * minutes). Every 1024 FINs the rate is measured (coarse clock), so a burst starts sampling
 * within a millisecond; the refresher measures too, and brings a calmer channel back. */
static void fin_cb(void *state, channel_t *ch, int64_t msg_timestamp_ns)
{
    tel_chan_t *a = state;
    telemetry_t *t = a->tel;
    if (t->clock > a->next_move)
        count_tick(t, a, t->clock);
    a->half_fins[a->cur]++;
    if ((++a->fins & 1023) == 0)
        set_sampling(t, a, clock_coarse_ns());
    if (!a->record_all && next_random(a) >= a->keep)
        return;
    double latency = (double)(clock_realtime_ns() - msg_timestamp_ns);
    a->recorded++;
    a->recorded_sum += latency;
    if (qwin_insert(a->e2e, latency, t->clock) < 0)
        log_error("telemetry: out of memory recording e2e latency of %s", chan_name(ch));
}

/* ---- intervals: time-weighted averages --------------------------------------------------- */

/* Averages of the levels since the mark (the current level when no time passed). */
static void level_averages(const tel_chan_t *a, const chan_stats_t *cs, int64_t now,
                           double *inflight, double *ready)
{
    double span = (double)(now - a->mark_ns);
    if (span <= 0) {
        *inflight = (double)twavg_value(&cs->in_flight_level);
        *ready = (double)twavg_value(&cs->ready_level);
        return;
    }
    *inflight = (twavg_integral(&cs->in_flight_level, now) - a->inflight_mark) / span;
    *ready = (twavg_integral(&cs->ready_level, now) - a->ready_mark) / span;
}

static void roll(tel_chan_t *a, int64_t now)
{
    chan_stats_t cs;
    chan_get_stats(a->ch, &cs);
    level_averages(a, &cs, now, &a->inflight_avg, &a->ready_avg);
    a->inflight_avg = round3(a->inflight_avg);
    a->ready_avg = round3(a->ready_avg);
    a->inflight_mark = twavg_integral(&cs.in_flight_level, now);
    a->ready_mark = twavg_integral(&cs.ready_level, now);
    a->mark_ns = now;
    a->rolled = true;
}

static void interval_cb(evutil_socket_t fd, short what, void *arg)
{
    telemetry_t *t = arg;
    int64_t now = now_ns();
    for (tel_chan_t *a = t->chans; a; a = a->next)
        roll(a, now);
    if (t->hook)
        t->hook(t->hook_ctx);
}

/* ---- rates ------------------------------------------------------------------------------ */

static topic_t **all_topics(telemetry_t *t, size_t *nt)
{
    size_t cap = nsqd_topic_count(t->n);
    if (cap > t->tops_cap) {
        topic_t **p = realloc(t->tops, cap * sizeof(*p));
        if (!p) {
            *nt = 0;
            return NULL;
        }
        t->tops = p;
        t->tops_cap = cap;
    }
    *nt = cap ? nsqd_topics(t->n, t->tops, cap) : 0;
    return t->tops;
}

/* The topic's entry, made on first use: a topic seen for the first time counts from 0 at the
 * previous tick (it is younger than that). NULL on OOM. */
static tel_topic_t *topic_entry(telemetry_t *t, const char *name, size_t len)
{
    tel_topic_t *e = strmap_get(t->topics, name, len);
    if (e)
        return e;
    if (!(e = calloc(1, sizeof(*e))) || strmap_put(t->topics, name, len, e) < 0) {
        free(e);
        return NULL;
    }
    rate_init(&e->rate, 0, t->last_tick_ns);
    e->seen = t->tick;
    cache_start(t, &e->cache, NULL, now_ns());
    return e;
}

static void topic_entry_free(tel_topic_t *e)
{
    free(e->cache.values);
    free(e);
}

static void tick_topics(telemetry_t *t, int64_t now)
{
    size_t nt;
    topic_t **tops = all_topics(t, &nt);
    for (size_t i = 0; tops && i < nt; i++) {
        const char *name = topic_name(tops[i]);
        topic_stats_t ts;
        tel_topic_t *e = topic_entry(t, name, strlen(name));
        if (!e)
            continue;
        topic_get_stats(tops[i], &ts);
        rate_tick(&e->rate, ts.message_count, now);
        e->seen = t->tick;
    }
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(t->topics, &pos, &key, &klen, &val)) {
        if (((tel_topic_t *)val)->seen != t->tick) { /* deleted */
            strmap_del(t->topics, key, klen);
            topic_entry_free(val);
        }
    }
}

static void rate_cb(evutil_socket_t fd, short what, void *arg)
{
    telemetry_t *t = arg;
    int64_t now = now_ns();
    t->tick++;
    for (tel_chan_t *a = t->chans; a; a = a->next) {
        chan_stats_t cs;
        chan_get_stats(a->ch, &cs);
        rate_tick(&a->rate, cs.message_count, now);
    }
    tick_topics(t, now);
    t->last_tick_ns = now;
}

/* ---- e2e results ------------------------------------------------------------------------ */

/* Which half-window the channel's qwin is in at now (it moves strictly after each half). */
static uint64_t win_index(const telemetry_t *t, const tel_chan_t *a, int64_t now)
{
    int64_t half = t->window_ns / 2, d = now - a->win_start;
    return half > 0 && d > 0 ? (uint64_t)((d - 1) / half) : 0;
}

static e2e_key_t chan_key(const telemetry_t *t, const tel_chan_t *a, int64_t now)
{
    return (e2e_key_t){{a->fins, win_index(t, a, now), 0, 0}};
}

/* Channels only come and go with growing epochs, so count + epoch sum tell the set. */
static e2e_key_t topic_key(const telemetry_t *t, channel_t *const *chs, size_t nc, int64_t now)
{
    e2e_key_t k = {{nc, 0, 0, 0}};
    for (size_t i = 0; i < nc; i++) {
        const tel_chan_t *a = chan_observer_state(chs[i]);
        if (!a || !a->e2e)
            continue;
        k.k[1] += a->epoch;
        k.k[2] += a->fins;
        k.k[3] += win_index(t, a, now);
    }
    return k;
}

static bool cache_current(const e2e_cache_t *c, const e2e_key_t *k)
{
    return c->valid && memcmp(&c->key, k, sizeof(*k)) == 0;
}

static bool cache_usable(const e2e_cache_t *c, const e2e_key_t *k, int64_t now)
{
    return cache_current(c, k) || (c->valid && now - c->at < E2E_MAX_AGE_NS);
}

/* Stores the result held in t->scratch. 0 or -1 on OOM. */
static int cache_store(telemetry_t *t, e2e_cache_t *c, const e2e_key_t *k, int64_t now,
                       uint64_t count, uint64_t total_count, double total_sum)
{
    if (!c->values && !(c->values = malloc(t->ntargets * sizeof(double))))
        return -1;
    c->count = count;
    for (size_t i = 0; i < t->ntargets; i++)
        c->values[i] = qstream_query(t->scratch, t->targets[i]);
    c->total_count = total_count;
    c->total_sum = total_sum;
    c->key = *k;
    c->at = now;
    c->valid = true;
    return 0;
}

/* A channel's window count and lifetime totals: FINs are all counted; the sum of their
 * latencies is exact while every one is recorded, else scaled up from the recorded ones. */
static void chan_counts(const telemetry_t *t, tel_chan_t *a, int64_t now, uint64_t *count,
                        uint64_t *total, double *sum)
{
    count_tick(t, a, now);
    *count = a->half_fins[0] + a->half_fins[1];
    *total = a->fins;
    *sum = a->recorded ? a->recorded_sum * ((double)a->fins / (double)a->recorded) : 0.0;
}

static int chan_compute(telemetry_t *t, tel_chan_t *a, const e2e_key_t *k, int64_t now)
{
    uint64_t count, total;
    double sum;
    qstream_reset(t->scratch);
    if (qwin_merge_into(t->scratch, a->e2e, now) < 0)
        return -1;
    chan_counts(t, a, now, &count, &total, &sum);
    return cache_store(t, &a->cache, k, now, count, total, sum);
}

static int topic_compute(telemetry_t *t, e2e_cache_t *c, channel_t *const *chs, size_t nc,
                         const e2e_key_t *k, int64_t now)
{
    uint64_t count = 0, total = 0;
    double sum = 0;
    qstream_reset(t->scratch);
    for (size_t i = 0; i < nc; i++) {
        tel_chan_t *a = chan_observer_state(chs[i]);
        uint64_t n, tn;
        double v;
        if (!a || !a->e2e)
            continue;
        if (qwin_merge_into(t->scratch, a->e2e, now) < 0)
            return -1;
        chan_counts(t, a, now, &n, &tn, &v);
        count += n;
        total += tn;
        sum += v;
    }
    return cache_store(t, c, k, now, count, total, sum);
}

static channel_t **topic_chans(telemetry_t *t, const topic_t *tp, size_t *nc)
{
    size_t cap = topic_channel_count(tp);
    if (cap > t->chs_cap) {
        channel_t **p = realloc(t->chs, cap * sizeof(*p));
        if (!p) {
            *nc = 0;
            return NULL;
        }
        t->chs = p;
        t->chs_cap = cap;
    }
    *nc = cap ? topic_channels(tp, t->chs, cap) : 0;
    return t->chs;
}

/* Brings changed results up to date, round robin, for at most E2E_BUDGET_NS. */
static void refresh_cb(evutil_socket_t fd, short what, void *arg)
{
    telemetry_t *t = arg;
    int64_t start = clock_monotonic_ns(), now = now_ns();
    size_t work = 0;
    t->clock = now;
    for (tel_chan_t *a = t->chans; a; a = a->next)
        set_sampling(t, a, now);
    for (size_t i = 0; i < t->nchans; i++) {
        tel_chan_t *a = t->cursor ? t->cursor : t->chans;
        t->cursor = a->next;
        e2e_key_t k = chan_key(t, a, now);
        if (a->e2e && !cache_current(&a->cache, &k))
            chan_compute(t, a, &k, now);
        if (++work % 16 == 0 && clock_monotonic_ns() - start > E2E_BUDGET_NS)
            return;
    }
    size_t ntopics = strmap_len(t->topics), klen, nc;
    const char *name;
    void *val;
    for (size_t i = 0; i < ntopics; i++) {
        if (!strmap_next(t->topics, &t->topic_pos, &name, &klen, &val)) {
            t->topic_pos = 0;
            if (!strmap_next(t->topics, &t->topic_pos, &name, &klen, &val))
                break;
        }
        tel_topic_t *e = val;
        topic_t *tp = nsqd_find_topic(t->n, name, klen);
        channel_t **chs = tp ? topic_chans(t, tp, &nc) : NULL;
        if (chs && nc) {
            e2e_key_t k = topic_key(t, chs, nc, now);
            if (!cache_current(&e->cache, &k))
                topic_compute(t, &e->cache, chs, nc, &k, now);
        }
        if (++work % 16 == 0 && clock_monotonic_ns() - start > E2E_BUDGET_NS)
            return;
    }
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static struct event *start_timer(struct event_base *base, int64_t every_ns, event_callback_fn fn,
                                 void *arg)
{
    struct event *ev = event_new(base, -1, EV_PERSIST, fn, arg);
    struct timeval tv = {.tv_sec = every_ns / NS_PER_S, .tv_usec = every_ns % NS_PER_S / 1000};
    if (ev && event_add(ev, &tv) < 0) {
        event_free(ev);
        return NULL;
    }
    return ev;
}

/* Attaches to the channels created before telemetry (e.g. restored from metadata). */
static void attach_existing(telemetry_t *t)
{
    size_t nt;
    topic_t **tops = all_topics(t, &nt);
    for (size_t i = 0; tops && i < nt; i++) {
        size_t nc = topic_channel_count(tops[i]);
        channel_t **chs = malloc((nc ? nc : 1) * sizeof(*chs));
        if (!chs)
            continue;
        nc = topic_channels(tops[i], chs, nc);
        for (size_t j = 0; j < nc; j++)
            if (!chan_observer_state(chs[j]))
                chan_attach_observer(chs[j]);
        free(chs);
    }
}

telemetry_t *telemetry_new(nsqd_t *n, char *err, size_t errlen)
{
    const nsqd_opts_t *o = nsqd_opts(n);
    const floatlist_t *pl = &o->e2e_processing_latency_percentiles;
    telemetry_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->topics = strmap_new())) {
        errf(err, errlen, "out of memory");
        goto fail;
    }
    t->n = n;
    t->interval_ns = o->statsd_interval > 0 ? o->statsd_interval : DEFAULT_INTERVAL_NS;
    t->targets = pl->v;
    t->ntargets = pl->n > 0 ? (size_t)pl->n : 0;
    t->window_ns = o->e2e_processing_latency_window_time;
    t->record_rate = fmax(E2E_RECORD_RATE, E2E_RECORD_HALF / ((double)t->window_ns / 2e9));
    t->last_tick_ns = t->clock = now_ns();
    if (t->ntargets &&
        !(t->scratch = qstream_new(t->targets, t->ntargets, QSTREAM_EPSILON, err, errlen)))
        goto fail;
    t->rate_ev = start_timer(nsqd_base(n), RATE_TICK_NS, rate_cb, t);
    t->interval_ev = start_timer(nsqd_base(n), t->interval_ns, interval_cb, t);
    if (t->ntargets)
        t->refresh_ev = start_timer(nsqd_base(n), E2E_REFRESH_NS, refresh_cb, t);
    if (!t->rate_ev || !t->interval_ev || (t->ntargets && !t->refresh_ev)) {
        errf(err, errlen, "telemetry: cannot start timers");
        goto fail;
    }
    chan_observer_t obs = {
        .attach = attach_cb,
        .detach = detach_cb,
        .fin = t->ntargets ? fin_cb : NULL, /* no percentiles: FIN pays nothing */
        .ctx = t,
    };
    nsqd_set_telemetry(n, t, &obs);
    attach_existing(t);
    return t;
fail:
    telemetry_free(t);
    return NULL;
}

void telemetry_free(telemetry_t *t)
{
    if (!t)
        return;
    if (t->rate_ev)
        event_free(t->rate_ev);
    if (t->interval_ev)
        event_free(t->interval_ev);
    if (t->refresh_ev)
        event_free(t->refresh_ev);
    while (t->chans) {
        tel_chan_t *a = t->chans;
        chan_detach_observer(a->ch); /* calls detach_cb, which unlinks and frees a */
        if (t->chans == a)           /* not through the channel: unlink it here */
            detach_cb(t, a);
    }
    if (t->n && nsqd_telemetry(t->n) == t)
        nsqd_set_telemetry(t->n, NULL, NULL);
    if (t->topics) {
        size_t pos = 0, klen;
        const char *key;
        void *val;
        while (strmap_next(t->topics, &pos, &key, &klen, &val))
            topic_entry_free(val);
        strmap_free(t->topics);
    }
    qstream_free(t->scratch);
    free(t->tops);
    free(t->chs);
    free(t);
}

void telemetry_set_interval_hook(telemetry_t *t, telemetry_interval_fn fn, void *ctx)
{
    t->hook = fn;
    t->hook_ctx = ctx;
}

int64_t telemetry_interval_ns(const telemetry_t *t)
{
    return t->interval_ns;
}

/* ---- snapshot fillers --------------------------------------------------------------------- */

static void cache_to_snapshot(const telemetry_t *t, stats_snapshot_t *s, stats_e2e_t *e,
                              const e2e_cache_t *c)
{
    stats_quantile_t *p = stats_snapshot_alloc(s, t->ntargets * sizeof(*p));
    if (!p)
        return; /* OOM: shown as no percentiles */
    for (size_t i = 0; i < t->ntargets; i++)
        p[i] = (stats_quantile_t){.quantile = t->targets[i], .value = c->values[i]};
    e->count = c->count;
    e->percentiles = p;
    e->percentiles_len = t->ntargets;
    e->total_count = c->total_count;
    e->total_sum = c->total_sum;
}

void telemetry_fill_channel(stats_snapshot_t *s, stats_channel_t *out, const channel_t *c)
{
    tel_chan_t *a = chan_observer_state(c);
    if (!a)
        return;
    telemetry_t *t = a->tel;
    int64_t now = now_ns();
    for (int w = RATE_1M; w <= RATE_15M; w++)
        out->x.message_rate[w] = round3(rate_get(&a->rate, (rate_window_t)w));
    if (a->rolled) {
        out->x.in_flight_avg = a->inflight_avg;
        out->x.ready_avg = a->ready_avg;
    } else { /* the first interval is still running: its average so far */
        level_averages(a, &out->s, now, &out->x.in_flight_avg, &out->x.ready_avg);
        out->x.in_flight_avg = round3(out->x.in_flight_avg);
        out->x.ready_avg = round3(out->x.ready_avg);
    }
    out->x.epoch = a->epoch;
    if (!a->e2e)
        return;
    e2e_key_t k = chan_key(t, a, now);
    if (cache_usable(&a->cache, &k, now) || chan_compute(t, a, &k, now) == 0)
        cache_to_snapshot(t, s, &out->e2e, &a->cache);
}

void telemetry_fill_topic(telemetry_t *t, stats_snapshot_t *s, stats_topic_t *out,
                          const topic_t *tp)
{
    if (!t)
        return;
    const char *name = topic_name(tp);
    tel_topic_t *e = topic_entry(t, name, strlen(name));
    if (!e)
        return;
    for (int w = RATE_1M; w <= RATE_15M; w++)
        out->x.message_rate[w] = round3(rate_get(&e->rate, (rate_window_t)w));
    if (!t->ntargets)
        return;
    /* nsqd: a topic's result merges its channels'; none gives no percentiles at all */
    size_t nc;
    int64_t now = now_ns();
    channel_t **chs = topic_chans(t, tp, &nc);
    if (!chs || nc == 0)
        return;
    e2e_key_t k = topic_key(t, chs, nc, now);
    if (cache_usable(&e->cache, &k, now) || topic_compute(t, &e->cache, chs, nc, &k, now) == 0)
        cache_to_snapshot(t, s, &out->e2e, &e->cache);
}
