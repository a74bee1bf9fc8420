/* promtext: renders metrics in the Prometheus text exposition format 0.0.4 (for /metrics).
 *
 * Samples may be added in any order (e.g. topic by topic); each sample goes to its family, and
 * promtext_render writes every family once, in the order the families were first declared:
 *     # HELP <name> <help>
 *     # TYPE <name> counter|gauge|summary|untyped
 *     <name>{label="value",...} <value>          (all samples of the family together)
 * Counters are named with a "_total" suffix (added if the declared name lacks it). Summaries
 * write one sample per quantile with a quantile="<q>" label, then <name>_sum and <name>_count.
 * Label values are escaped (\\, \", \n), HELP text too (\\, \n). Values print exactly for
 * integers below 2^53 and otherwise as the shortest text that reads back as the same double;
 * NaN, +Inf and -Inf as Prometheus spells them. Families without samples are not written.
 *
 * Errors are sticky, like stdio: a bad metric or label name, a type clash or OOM makes the
 * call return -1 / NULL and records the first message (promtext_error); functions given a NULL
 * family return -1 at once, so call sites need not check each step. */
#ifndef CNSQ_STATS_PROMTEXT_H
#define CNSQ_STATS_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct promtext promtext_t;
typedef struct promtext_family promtext_family_t;

typedef enum {
    PROMTEXT_COUNTER,
    PROMTEXT_GAUGE,
    PROMTEXT_SUMMARY,
    PROMTEXT_UNTYPED,
} promtext_type_t;

typedef struct promtext_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, not "quantile" */
    const char *value; /* any text; escaped on output */
} promtext_label_t;

promtext_t *promtext_new(void);
void promtext_free(promtext_t *p); /* frees its families too */

/* Finds or declares a family. name: [a-zA-Z_:][a-zA-Z0-9_:]* (counters get "_total" appended
 * unless it is there); help is copied (the first declaration's help wins). Declaring the same
 * name with another type is an error. The family is owned by p. NULL on error. */
promtext_family_t *promtext_family(promtext_t *p, const char *name, promtext_type_t type,
                                   const char *help);

/* One counter, gauge or untyped sample. Labels are written in the order given. 0 or -1. */
int promtext_sample(promtext_family_t *f, const promtext_label_t *labels, size_t nlabels,
                    double value);

/* One summary: values[i] is the estimate for quantiles[i]; sum and count are lifetime totals
 * (Prometheus wants raw totals, never deltas). 0 or -1. */
int promtext_summary(promtext_family_t *f, const promtext_label_t *labels, size_t nlabels,
                     const double *quantiles, const double *values, size_t nq, double sum,
                     uint64_t count);

/* The exposition, NUL-terminated, owned by p and valid until the next call on p; *len gets its
 * length. NULL on OOM. Rendering again reflects samples added since. */
const char *promtext_render(promtext_t *p, size_t *len);

/* The first error recorded, or NULL. */
const char *promtext_error(const promtext_t *p);

/* Writes v as the format wants it (see above); returns the length like snprintf. 32 bytes
 * always suffice. */
size_t promtext_format_double(double v, char *buf, size_t buflen);

#endif
