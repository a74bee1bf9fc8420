/* promtext: the Prometheus text format 0.0.4 renderer (see promtext.h).
 * Owns its families (name, help, type and a buffer of already formatted sample lines) and the
 * rendered output; the index by name is a common/hashmap strmap. Leaves which metrics exist,
 * their names and values to the caller (nsqd's /metrics glue). */
#include "stats/promtext.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

/* ---- growable buffer -------------------------------------------------------------------- */

typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *p = realloc(b->data, ncap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->data = p;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_double(sbuf_t *b, double v)
{
    char num[40];
    sb_add(b, num, promtext_format_double(v, num, sizeof(num)));
}

/* Escapes '\\', '\n' and, when quotes is set, '"'. */
static void sb_escaped(sbuf_t *b, const char *s, bool quotes)
{
    for (const char *run = s;; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quotes)
            rep = "\\\"";
        else if (*s != '\0')
            continue;
        sb_add(b, run, (size_t)(s - run));
        if (!rep)
            return;
        sb_str(b, rep);
        run = s + 1;
    }
}

/* ---- families --------------------------------------------------------------------------- */

struct promtext_family {
    promtext_t *owner;
    char *name;
    char *help;
    promtext_type_t type;
    sbuf_t samples;
};

struct promtext {
    promtext_family_t **fams; /* in declaration order */
    size_t n, cap;
    strmap_t *index; /* name -> family */
    sbuf_t out;
    char err[160];
};

static const char *const type_names[] = {
    [PROMTEXT_COUNTER] = "counter",
    [PROMTEXT_GAUGE] = "gauge",
    [PROMTEXT_SUMMARY] = "summary",
    [PROMTEXT_UNTYPED] = "untyped",
};

static void set_err(promtext_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(promtext_t *p, const char *fmt, ...)
{
    if (p->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
}

static bool name_ok(const char *s, bool colon)
{
    if (!*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

promtext_t *promtext_new(void)
{
    promtext_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->index = strmap_new();
    if (!p->index) {
        free(p);
        return NULL;
    }
    return p;
}

static void family_free(promtext_family_t *f)
{
    free(f->name);
    free(f->help);
    free(f->samples.data);
    free(f);
}

void promtext_free(promtext_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        family_free(p->fams[i]);
    free(p->fams);
    strmap_free(p->index);
    free(p->out.data);
    free(p);
}

/* A new family appended to p's list and index; NULL on OOM. */
static promtext_family_t *family_add(promtext_t *p, char *full, promtext_type_t type,
                                     const char *help)
{
    promtext_family_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->owner = p;
    f->name = full;
    f->type = type;
    f->help = strdup(help ? help : "");
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        promtext_family_t **a = realloc(p->fams, ncap * sizeof(*a));
        if (a) {
            p->fams = a;
            p->cap = ncap;
        }
    }
    if (!f->help || p->n == p->cap || strmap_put(p->index, full, strlen(full), f) < 0) {
        f->name = NULL; /* the caller frees full */
        family_free(f);
        return NULL;
    }
    p->fams[p->n++] = f;
    return f;
}

promtext_family_t *promtext_family(promtext_t *p, const char *name, promtext_type_t type,
                                   const char *help)
{
    if ((unsigned)type > PROMTEXT_UNTYPED || !name_ok(name, true)) {
        set_err(p, "invalid metric name \"%s\" or type", name);
        return NULL;
    }
    size_t len = strlen(name);
    bool suffix = type == PROMTEXT_COUNTER && !(len >= 6 && strcmp(name + len - 6, "_total") == 0);
    char *full = malloc(len + 7);
    if (!full) {
        set_err(p, "out of memory");
        return NULL;
    }
    snprintf(full, len + 7, "%s%s", name, suffix ? "_total" : "");
    promtext_family_t *f = strmap_get(p->index, full, strlen(full));
    if (f) {
        free(full);
        if (f->type != type) {
            set_err(p, "metric %s declared as %s and %s", f->name, type_names[f->type],
                    type_names[type]);
            return NULL;
        }
        return f;
    }
    f = family_add(p, full, type, help);
    if (!f) {
        free(full);
        set_err(p, "out of memory");
    }
    return f;
}

/* ---- samples ---------------------------------------------------------------------------- */

static int check_labels(promtext_t *p, const promtext_label_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *ln = labels[i].name;
        if (!name_ok(ln, false) || strncmp(ln, "__", 2) == 0 || strcmp(ln, "quantile") == 0 ||
            !labels[i].value) {
            set_err(p, "invalid label name \"%s\"", ln);
            return -1;
        }
    }
    return 0;
}

/* "<name><suffix>{labels[,quantile="q"]} <value>\n"; extra_q < 0 means no quantile label. */
static void write_line(sbuf_t *b, const char *name, const char *suffix,
                       const promtext_label_t *labels, size_t n, double extra_q, const char *value)
{
    sb_str(b, name);
    sb_str(b, suffix);
    if (n > 0 || extra_q >= 0) {
        sb_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                sb_add(b, ",", 1);
            sb_str(b, labels[i].name);
            sb_add(b, "=\"", 2);
            sb_escaped(b, labels[i].value, true);
            sb_add(b, "\"", 1);
        }
        if (extra_q >= 0) {
            sb_str(b, n > 0 ? ",quantile=\"" : "quantile=\"");
            sb_double(b, extra_q);
            sb_add(b, "\"", 1);
        }
        sb_add(b, "}", 1);
    }
    sb_add(b, " ", 1);
    sb_str(b, value);
    sb_add(b, "\n", 1);
}

static int finish(promtext_family_t *f)
{
    if (!f->samples.oom)
        return 0;
    set_err(f->owner, "out of memory");
    return -1;
}

int promtext_sample(promtext_family_t *f, const promtext_label_t *labels, size_t nlabels,
                    double value)
{
    if (!f)
        return -1;
    if (f->type == PROMTEXT_SUMMARY) {
        set_err(f->owner, "metric %s is a summary: use promtext_summary", f->name);
        return -1;
    }
    if (check_labels(f->owner, labels, nlabels) < 0)
        return -1;
    char num[40];
    promtext_format_double(value, num, sizeof(num));
    write_line(&f->samples, f->name, "", labels, nlabels, -1.0, num);
    return finish(f);
}

int promtext_summary(promtext_family_t *f, const promtext_label_t *labels, size_t nlabels,
                     const double *quantiles, const double *values, size_t nq, double sum,
                     uint64_t count)
{
    if (!f)
        return -1;
    if (f->type != PROMTEXT_SUMMARY) {
        set_err(f->owner, "metric %s is not a summary", f->name);
        return -1;
    }
    if (check_labels(f->owner, labels, nlabels) < 0)
        return -1;
    for (size_t i = 0; i < nq; i++) {
        if (!(quantiles[i] >= 0.0 && quantiles[i] <= 1.0)) {
            set_err(f->owner, "metric %s: quantile %g not in [0, 1]", f->name, quantiles[i]);
            return -1;
        }
    }
    char num[40];
    for (size_t i = 0; i < nq; i++) {
        promtext_format_double(values[i], num, sizeof(num));
        write_line(&f->samples, f->name, "", labels, nlabels, quantiles[i], num);
    }
    promtext_format_double(sum, num, sizeof(num));
    write_line(&f->samples, f->name, "_sum", labels, nlabels, -1.0, num);
    snprintf(num, sizeof(num), "%" PRIu64, count);
    write_line(&f->samples, f->name, "_count", labels, nlabels, -1.0, num);
    return finish(f);
}

/* ---- output ----------------------------------------------------------------------------- */

const char *promtext_render(promtext_t *p, size_t *len)
{
    sbuf_t *o = &p->out;
    o->len = 0;
    o->oom = false;
    sb_add(o, "", 0);
    for (size_t i = 0; i < p->n; i++) {
        const promtext_family_t *f = p->fams[i];
        if (f->samples.len == 0)
            continue;
        sb_str(o, "# HELP ");
        sb_str(o, f->name);
        sb_add(o, " ", 1);
        sb_escaped(o, f->help, false);
        sb_str(o, "\n# TYPE ");
        sb_str(o, f->name);
        sb_add(o, " ", 1);
        sb_str(o, type_names[f->type]);
        sb_add(o, "\n", 1);
        sb_add(o, f->samples.data, f->samples.len);
    }
    if (o->oom) {
        set_err(p, "out of memory");
        return NULL;
    }
    *len = o->len;
    return o->data;
}

const char *promtext_error(const promtext_t *p)
{
    return p->err[0] ? p->err : NULL;
}

size_t promtext_format_double(double v, char *buf, size_t buflen)
{
    int n;
    if (isnan(v))
        n = snprintf(buf, buflen, "NaN");
    else if (isinf(v))
        n = snprintf(buf, buflen, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        n = snprintf(buf, buflen, "%.0f", v);
    else {
        char tmp[40];
        int prec = 1;
        for (; prec < 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        n = snprintf(buf, buflen, "%.*g", prec, v);
    }
    return n < 0 ? 0 : (size_t)n;
}
