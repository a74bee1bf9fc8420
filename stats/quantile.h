/* quantile: streaming percentiles in bounded memory (nsqd's e2e_processing_latency).
 *
 *   qstream_t  one CKMS targeted-quantile summary (Cormode, Korn, Muthukrishnan, Srivastava,
 *              "Effective Computation of Biased Quantiles over Data Streams", ICDE 2005), the
 *              algorithm behind NSQ's internal/quantile (perks' NewTargeted, epsilon 0.01 for every
 *              configured percentile). For a target phi the answer's rank is within phi*n +- eps*n
 *              (the width bound below each target is tighter than the paper's so that this
 *              really holds; quantile.c says why).
 *   qwin_t     two qstreams forming a sliding window, as NSQ's quantile.Quantile: inserts go to
 *              the current stream; each time half the window time has passed, the older stream
 *              is reset and becomes current; a result merges both.
 *
 * Time is always passed in by the caller (now_ns, any monotonic nanosecond clock), so tests drive
 * it. Nothing here is thread-safe: nsqd uses it from its loop thread only.
 *
 * Zero cost when disabled: with no --e2e-processing-latency-percentile, callers keep a NULL
 * qwin_t *, and every qwin_ function accepts NULL and does nothing (insert is one NULL test). */
#ifndef CNSQ_STATS_QUANTILE_H
#define CNSQ_STATS_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

#define QSTREAM_EPSILON 0.01   /* NSQ's (perks') rank error for every target */
#define QSTREAM_MAX_TARGETS 32 /* more percentiles than anyone configures */

typedef struct qstream qstream_t;
typedef struct qwin qwin_t;

/* ---- qstream ---------------------------------------------------------------------------- */

/* targets: quantiles in (0, 1] (copied); epsilon: allowed rank error as a fraction of n
 * (<= 0 means QSTREAM_EPSILON). NULL with err on a bad target list or OOM. */
qstream_t *qstream_new(const double *targets, size_t ntargets, double epsilon, char *err,
                       size_t errlen);
void qstream_free(qstream_t *s);

/* Appends v to a fixed-size buffer; a full buffer is sorted, merged into the summary and the
 * summary compressed. Returns 0, or -1 on OOM (v is then counted in nothing). */
int qstream_insert(qstream_t *s, double v);

/* Estimate of quantile q (exact while the stream holds few values). For q among the targets the
 * answer's rank is within eps*n of q*n; other q get a looser, unspecified answer. 0 when empty
 * (as NSQ reports). Not const: the insert buffer is flushed first. */
double qstream_query(qstream_t *s, double q);

/* Folds src's summary into dst (src is flushed, otherwise unchanged); both should be built with
 * the same targets. The merged answer's rank error stays within eps*(n_dst + n_src) in
 * practice (rank bounds are combined conservatively, see quantile.c). 0 or -1 on OOM. */
int qstream_merge(qstream_t *dst, qstream_t *src);

uint64_t qstream_count(const qstream_t *s); /* values inserted (or merged) since the reset */
size_t qstream_samples(const qstream_t *s); /* tuples held + buffered values (memory check) */
void qstream_reset(qstream_t *s);           /* empties it; keeps its memory for reuse */
size_t qstream_ntargets(const qstream_t *s);
const double *qstream_targets(const qstream_t *s);

/* ---- qwin: two half-window streams ------------------------------------------------------ */

/* window_ns: the whole window (--e2e-processing-latency-window-time); each stream covers half.
 * ntargets must be > 0 (callers with an empty percentile list keep NULL instead).
 * now_ns starts the first half-window. NULL with err. */
qwin_t *qwin_new(const double *targets, size_t ntargets, int64_t window_ns, int64_t now_ns,
                 char *err, size_t errlen);
void qwin_free(qwin_t *w);

/* Moves the window for the time elapsed: for every whole half-window past the last move
 * (strictly after, as NSQ), the older stream is reset and becomes current; after two or more
 * moves both are empty. Called by insert and result; callers may also tick from a timer. */
void qwin_tick(qwin_t *w, int64_t now_ns);

/* Ticks, then inserts v (e.g. now - message timestamp, in ns) into the current stream.
 * Also adds v to the lifetime totals (qwin_totals). 0, or -1 on OOM. */
int qwin_insert(qwin_t *w, double v, int64_t now_ns);

/* Ticks, then merges both streams into dst (the aggregate helper: a topic merges each of its
 * channels' windows into one qstream built with the same targets, then queries it).
 * NULL w is a no-op. 0 or -1 on OOM. */
int qwin_merge_into(qstream_t *dst, qwin_t *w, int64_t now_ns);

/* Ticks and answers over both streams: *count = values in the window, values[i] = estimate for
 * target i (i < nvalues; 0 when empty). NULL w gives count 0. 0, or -1 on OOM. */
int qwin_result(qwin_t *w, int64_t now_ns, uint64_t *count, double *values, size_t nvalues);

/* Lifetime count and sum of every inserted value, never reset by the window (what a Prometheus
 * summary's _count and _sum need). NULL w gives zeros. */
void qwin_totals(const qwin_t *w, uint64_t *count, double *sum);

size_t qwin_ntargets(const qwin_t *w);
const double *qwin_targets(const qwin_t *w);

#endif
