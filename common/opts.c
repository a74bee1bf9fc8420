/* opts: table-driven options, as nsqd's users give them.
 * Owns Go-flag-compatible argv parsing (strconv-style ints, floats and bools, Go durations),
 * the reader for nsqd's TOML-subset config file (coerced the way go-options does: a bare
 * integer duration means milliseconds, a string list may be one comma-separated string),
 * flag.PrintDefaults-style help, and the precedence flags > config file > defaults.
 * Per-type behaviour lives in the type_ops table; the config reader is a small cursor parser. */
#include "common/opts.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define CFG_MAX_DEPTH 8
#define CFG_MAX_SIZE (16 * 1024 * 1024)

/* ---- small helpers -------------------------------------------------------------------- */

static bool has_field(const opt_def_t *d)
{
    return d->offset != OPT_NOFIELD;
}

static void *field_ptr(const opt_def_t *d, void *opts)
{
    return (char *)opts + d->offset;
}

static bool is_named(const opt_def_t *d, const char *name)
{
    return strcmp(d->name, name) == 0;
}

static size_t defs_count(const opt_def_t *defs)
{
    size_t n = 0;
    while (defs[n].name)
        n++;
    return n;
}

/* The def's config-file key into buf: cfg_key, or the name with '-' made '_'. */
static const char *cfg_key_of(const opt_def_t *d, char *buf, size_t len)
{
    if (d->cfg_key)
        return d->cfg_key;
    snprintf(buf, len, "%s", d->name);
    for (char *p = buf; *p; p++)
        if (*p == '-')
            *p = '_';
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* ---- lists ---------------------------------------------------------------------------- */

static int strlist_push(strlist_t *l, const char *s)
{
    char *dup = strdup(s);
    char **v = dup ? realloc(l->v, sizeof(*v) * (size_t)(l->n + 1)) : NULL;
    if (!v) {
        free(dup);
        return -1;
    }
    v[l->n++] = dup;
    l->v = v;
    return 0;
}

static void strlist_clear(strlist_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int floatlist_push(floatlist_t *l, double f)
{
    double *v = realloc(l->v, sizeof(*v) * (size_t)(l->n + 1));
    if (!v)
        return -1;
    v[l->n++] = f;
    l->v = v;
    return 0;
}

static void floatlist_clear(floatlist_t *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* ---- Go strconv-style scalar parsing ---------------------------------------------------- */

static const struct {
    const char *word;
    bool val;
} bool_words[] = {
    {"1", true},  {"t", true},  {"T", true},  {"TRUE", true},   {"true", true},   {"True", true},
    {"0", false}, {"f", false}, {"F", false}, {"FALSE", false}, {"false", false}, {"False", false},
};

/* strconv.ParseBool. NULL or the reason. */
static const char *parse_go_bool(const char *s, bool *out)
{
    for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
        if (strcmp(s, bool_words[i].word) == 0) {
            *out = bool_words[i].val;
            return NULL;
        }
    }
    return "parse error";
}

static int digit_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Go's rule for '_' in base-prefixed literals: only between digits or after the prefix. */
static bool underscores_ok(const char *s)
{
    char saw = '^';
    bool hex = false;
    if (*s == '+' || *s == '-')
        s++;
    if (s[0] == '0' && s[1] && strchr("bBoOxX", s[1])) {
        hex = s[1] == 'x' || s[1] == 'X';
        saw = '0';
        s += 2;
    }
    for (; *s; s++) {
        if ((*s >= '0' && *s <= '9') || (hex && digit_val(*s) < 16)) {
            saw = '0';
        } else if (*s == '_') {
            if (saw != '0')
                return false;
            saw = '_';
        } else {
            if (saw == '_')
                return false;
            saw = '!';
        }
    }
    return saw != '_';
}

/* Base and start of the digits for strconv.ParseInt(s, 0, 64): 0x, 0o, 0b, or a leading 0. */
static int int_base(const char **s)
{
    const char *p = *s;
    if (p[0] != '0')
        return 10;
    if (p[1] && p[2] && strchr("xXoObB", p[1])) {
        *s = p + 2;
        return (p[1] == 'x' || p[1] == 'X') ? 16 : (p[1] == 'o' || p[1] == 'O') ? 8 : 2;
    }
    *s = p + 1;
    return 8;
}

/* strconv.ParseInt(s, 0, 64) (what Go's flag package uses for int flags). */
static const char *parse_go_int(const char *s, int64_t *out)
{
    const char *orig = s, *p;
    bool neg = false, unders = false;
    uint64_t n = 0;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return "parse error";
    p = s;
    int base = int_base(&p);
    for (; *p; p++) {
        if (*p == '_') {
            unders = true;
            continue;
        }
        int d = digit_val(*p);
        if (d >= base)
            return "parse error";
        if (n > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return "value out of range";
        n = n * (uint64_t)base + (uint64_t)d;
    }
    if (unders && !underscores_ok(orig))
        return "parse error";
    if ((!neg && n > (uint64_t)INT64_MAX) || (neg && n > (uint64_t)INT64_MAX + 1))
        return "value out of range";
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return NULL;
}

/* strconv.ParseInt(s, 10, 64): what go-options uses for a string config value. */
static const char *parse_dec_int(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return "parse error";
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return "value out of range";
    *out = v;
    return NULL;
}

/* strconv.ParseFloat(s, 64), near enough: decimal, hex, inf, nan; no spaces. */
static const char *parse_go_float(const char *s, double *out)
{
    char *end;
    if (!*s || strchr(" \t\n\r\v\f(_", *s) || strchr(s, '(') || strchr(s, '_'))
        return "parse error";
    errno = 0;
    double v = strtod(s, &end);
    if (*end)
        return "parse error";
    if (errno == ERANGE && isinf(v))
        return "value out of range";
    *out = v;
    return NULL;
}

/* ---- Go durations ----------------------------------------------------------------------- */

static const struct {
    const char *unit;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL}, /* U+03BC greek mu */
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60000000000ULL},
    {"h", 3600000000000ULL},
};

#define DUR_LIMIT ((uint64_t)1 << 63)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Leading integer of *s; false on overflow. */
static bool leading_int(const char **s, uint64_t *x)
{
    const char *p = *s;
    *x = 0;
    for (; is_digit(*p); p++) {
        if (*x > DUR_LIMIT / 10)
            return false;
        *x = *x * 10 + (uint64_t)(*p - '0');
        if (*x > DUR_LIMIT)
            return false;
    }
    *s = p;
    return true;
}

/* Digits after the dot: value and scale, ignoring digits past the precision of uint64. */
static void leading_fraction(const char **s, uint64_t *x, double *scale)
{
    const char *p = *s;
    bool overflow = false;
    *x = 0;
    *scale = 1;
    for (; is_digit(*p); p++) {
        if (overflow)
            continue;
        if (*x > (DUR_LIMIT - 1) / 10) {
            overflow = true;
            continue;
        }
        uint64_t y = *x * 10 + (uint64_t)(*p - '0');
        if (y > DUR_LIMIT) {
            overflow = true;
            continue;
        }
        *x = y;
        *scale *= 10;
    }
    *s = p;
}

static const char *duration_unit(const char **s, uint64_t *unit)
{
    const char *p = *s;
    size_t n = 0;
    while (p[n] && p[n] != '.' && !is_digit(p[n]))
        n++;
    if (n == 0)
        return "missing unit in duration";
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (strlen(duration_units[i].unit) == n && memcmp(duration_units[i].unit, p, n) == 0) {
            *unit = duration_units[i].ns;
            *s = p + n;
            return NULL;
        }
    }
    return "unknown unit in duration";
}

/* One "<number><unit>" element of a duration, added to *total. */
static const char *duration_element(const char **s, uint64_t *total)
{
    const char *p = *s, *start;
    uint64_t v, f = 0, unit;
    double scale = 1;

    if (!(*p == '.' || is_digit(*p)))
        return "invalid duration";
    start = p;
    if (!leading_int(&p, &v))
        return "invalid duration";
    bool pre = p != start, post = false;
    if (*p == '.') {
        start = ++p;
        leading_fraction(&p, &f, &scale);
        post = p != start;
    }
    if (!pre && !post)
        return "invalid duration";
    const char *why = duration_unit(&p, &unit);
    if (why)
        return why;
    if (v > DUR_LIMIT / unit)
        return "duration out of range";
    v *= unit;
    if (f > 0) {
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > DUR_LIMIT)
            return "duration out of range";
    }
    *total += v;
    if (*total > DUR_LIMIT)
        return "duration out of range";
    *s = p;
    return NULL;
}

/* time.ParseDuration. NULL or the reason. */
static const char *parse_duration_why(const char *s, int64_t *ns)
{
    uint64_t d = 0;
    bool neg = false;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return NULL;
    }
    if (!*s)
        return "invalid duration";
    while (*s) {
        const char *why = duration_element(&s, &d);
        if (why)
            return why;
    }
    if (!neg && d > (uint64_t)INT64_MAX)
        return "duration out of range";
    *ns = neg ? (int64_t)(0 - d) : (int64_t)d;
    return NULL;
}

int opts_parse_duration(const char *s, int64_t *ns)
{
    if (!s)
        return -1;
    return parse_duration_why(s, ns) ? -1 : 0;
}

/* Writes v's last prec digits backwards ending at buf[w], dropping trailing zeros; returns the
 * new w and leaves v / 10^prec in *v. */
static int fmt_frac(char *buf, int w, uint64_t *v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

static int fmt_int(char *buf, int w, uint64_t v)
{
    if (v == 0)
        buf[--w] = '0';
    for (; v > 0; v /= 10)
        buf[--w] = (char)('0' + v % 10);
    return w;
}

/* Go's Duration.String. */
void opts_format_duration(int64_t ns, char *out, size_t outlen)
{
    char buf[32];
    int w = (int)sizeof(buf);
    uint64_t u = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;

    buf[--w] = 's';
    if (u == 0) {
        buf[--w] = '0';
    } else if (u < 1000000000ULL) {
        int prec = 6;
        if (u < 1000ULL) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < 1000000ULL) {
            prec = 3;
            buf[--w] = '\xb5';
            buf[--w] = '\xc2';
        } else {
            buf[--w] = 'm';
        }
        w = fmt_frac(buf, w, &u, prec);
        w = fmt_int(buf, w, u);
    } else {
        w = fmt_frac(buf, w, &u, 9);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    if (ns < 0)
        buf[--w] = '-';
    snprintf(out, outlen, "%.*s", (int)sizeof(buf) - w, buf + w);
}

/* ---- config values ------------------------------------------------------------------- */

typedef enum { CV_STR, CV_INT, CV_FLOAT, CV_BOOL, CV_ARRAY } cv_kind_t;

typedef struct cfg_val {
    cv_kind_t kind;
    char *s;               /* CV_STR */
    int64_t i;             /* CV_INT */
    double f;              /* CV_FLOAT */
    bool b;                /* CV_BOOL */
    struct cfg_val *items; /* CV_ARRAY */
    int n;
} cfg_val_t;

static void cfg_val_free(cfg_val_t *v)
{
    free(v->s);
    for (int i = 0; i < v->n; i++)
        cfg_val_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof(*v));
}

/* ---- per-type behaviour ------------------------------------------------------------- */

/* Each setter returns NULL or a static reason. */
typedef const char *(*text_setter_fn)(void *slot, const char *text);
typedef const char *(*cfg_setter_fn)(void *slot, const cfg_val_t *v);

static const char *set_str_text(void *slot, const char *text)
{
    char *dup = strdup(text);
    if (!dup)
        return "out of memory";
    free(*(char **)slot);
    *(char **)slot = dup;
    return NULL;
}

static const char *set_int_text(void *slot, const char *text)
{
    return parse_go_int(text, (int64_t *)slot);
}

static const char *set_bool_text(void *slot, const char *text)
{
    return parse_go_bool(text, (bool *)slot);
}

static const char *set_dur_text(void *slot, const char *text)
{
    return parse_duration_why(text, (int64_t *)slot);
}

static const char *set_strlist_text(void *slot, const char *text)
{
    return strlist_push((strlist_t *)slot, text) ? "out of memory" : NULL;
}

/* Appends each comma-separated float (spaces around them allowed); sort: keep the list
 * sorted descending, as nsqd's FloatArray flag does. */
static const char *add_floats(floatlist_t *l, const char *text, bool sort)
{
    size_t len = strlen(text);
    if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,"))
        return "parse error"; /* an empty element */
    char *copy = strdup(text), *save = NULL;
    const char *why = copy ? NULL : "out of memory";
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !why;
         tok = strtok_r(NULL, ",", &save)) {
        double f = 0;
        why = parse_go_float(trim(tok), &f);
        if (!why && floatlist_push(l, f))
            why = "out of memory";
    }
    free(copy);
    if (!why && sort && l->n > 1)
        qsort(l->v, (size_t)l->n, sizeof(double), cmp_desc);
    return why;
}

static const char *set_floatlist_text(void *slot, const char *text)
{
    return add_floats((floatlist_t *)slot, text, true);
}

static const char *set_str_cfg(void *slot, const cfg_val_t *v)
{
    if (v->kind != CV_STR)
        return "expected a quoted string";
    return set_str_text(slot, v->s);
}

static const char *set_boolstr_cfg(void *slot, const cfg_val_t *v)
{
    if (v->kind == CV_BOOL)
        return set_str_text(slot, v->b ? "true" : "false");
    if (v->kind != CV_STR)
        return "expected a boolean or a quoted string";
    return set_str_text(slot, v->s);
}

static const char *set_int_cfg(void *slot, const cfg_val_t *v)
{
    if (v->kind == CV_INT) {
        *(int64_t *)slot = v->i;
        return NULL;
    }
    if (v->kind == CV_STR)
        return parse_dec_int(v->s, (int64_t *)slot);
    return "expected an integer";
}

static const char *set_bool_cfg(void *slot, const cfg_val_t *v)
{
    if (v->kind == CV_BOOL) {
        *(bool *)slot = v->b;
        return NULL;
    }
    if (v->kind == CV_INT) {
        *(bool *)slot = v->i != 0;
        return NULL;
    }
    if (v->kind == CV_STR)
        return parse_go_bool(v->s, (bool *)slot);
    return "expected a boolean";
}

/* go-options: a string is a Go duration, a bare integer is milliseconds. */
static const char *set_dur_cfg(void *slot, const cfg_val_t *v)
{
    if (v->kind == CV_STR)
        return parse_duration_why(v->s, (int64_t *)slot);
    if (v->kind != CV_INT)
        return "expected a duration string (\"60s\") or integer milliseconds";
    if (v->i > INT64_MAX / NS_PER_MS || v->i < INT64_MIN / NS_PER_MS)
        return "duration out of range";
    *(int64_t *)slot = v->i * NS_PER_MS;
    return NULL;
}

/* go-options: a string is split on ','; an array must hold strings. Replaces the list. */
static const char *set_strlist_cfg(void *slot, const cfg_val_t *v)
{
    strlist_t *l = slot;
    strlist_clear(l);
    if (v->kind == CV_STR) {
        char *copy = strdup(v->s), *save = NULL;
        const char *why = copy ? NULL : "out of memory";
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !why;
             tok = strtok_r(NULL, ",", &save))
            why = strlist_push(l, tok) ? "out of memory" : NULL;
        free(copy);
        return why;
    }
    if (v->kind != CV_ARRAY)
        return "expected an array of strings";
    for (int i = 0; i < v->n; i++) {
        if (v->items[i].kind != CV_STR)
            return "expected an array of strings";
        if (strlist_push(l, v->items[i].s))
            return "out of memory";
    }
    return NULL;
}

/* A string is a comma list; an array holds numbers. Replaces the list (kept in order). */
static const char *set_floatlist_cfg(void *slot, const cfg_val_t *v)
{
    floatlist_t *l = slot;
    floatlist_clear(l);
    if (v->kind == CV_STR)
        return add_floats(l, v->s, false);
    if (v->kind != CV_ARRAY)
        return "expected an array of numbers";
    for (int i = 0; i < v->n; i++) {
        const cfg_val_t *it = &v->items[i];
        if (it->kind != CV_FLOAT && it->kind != CV_INT)
            return "expected an array of numbers";
        if (floatlist_push(l, it->kind == CV_FLOAT ? it->f : (double)it->i))
            return "out of memory";
    }
    return NULL;
}

static void reset_str(void *slot)
{
    free(*(char **)slot);
    *(char **)slot = NULL;
}

static void reset_i64(void *slot)
{
    *(int64_t *)slot = 0;
}

static void reset_bool(void *slot)
{
    *(bool *)slot = false;
}

static void reset_strlist(void *slot)
{
    strlist_clear(slot);
}

static void reset_floatlist(void *slot)
{
    floatlist_clear(slot);
}

typedef struct type_ops {
    const char *help_name; /* shown after the flag name in --help; "" for bool-like flags */
    bool bare_ok;          /* may be given without a value (Go's IsBoolFlag) */
    bool is_list;          /* repeatable: the first flag use replaces the default */
    size_t size;
    text_setter_fn set_text;
    cfg_setter_fn set_cfg;
    void (*reset)(void *slot); /* frees and zeroes */
} type_ops_t;

static const type_ops_t type_ops[] = {
    [OPT_STRING] = {"string", false, false, sizeof(char *), set_str_text, set_str_cfg, reset_str},
    [OPT_STRLIST] = {"value", false, true, sizeof(strlist_t), set_strlist_text, set_strlist_cfg,
                     reset_strlist},
    [OPT_INT] = {"int", false, false, sizeof(int64_t), set_int_text, set_int_cfg, reset_i64},
    [OPT_BOOL] = {"", true, false, sizeof(bool), set_bool_text, set_bool_cfg, reset_bool},
    [OPT_DURATION] = {"duration", false, false, sizeof(int64_t), set_dur_text, set_dur_cfg,
                      reset_i64},
    [OPT_FLOATLIST] = {"value", false, true, sizeof(floatlist_t), set_floatlist_text,
                       set_floatlist_cfg, reset_floatlist},
    [OPT_BOOLSTR] = {"", true, false, sizeof(char *), set_str_text, set_boolstr_cfg, reset_str},
};

static const type_ops_t *ops_of(const opt_def_t *d)
{
    return &type_ops[d->type];
}

/* Storage for a def without a field: parsed (to check it), then dropped. */
typedef union opt_scratch {
    char *s;
    strlist_t sl;
    int64_t i;
    bool b;
    floatlist_t fl;
} opt_scratch_t;

/* ---- defaults, free ----------------------------------------------------------------- */

static int apply_defaults(const opt_def_t *defs, void *opts, char *err, size_t errlen)
{
    for (const opt_def_t *d = defs; d->name; d++) {
        if (!has_field(d))
            continue;
        const type_ops_t *ops = ops_of(d);
        void *slot = field_ptr(d, opts);
        memset(slot, 0, ops->size);
        const char *text = d->def;
        if (!text && !(d->type == OPT_STRING || d->type == OPT_BOOLSTR))
            continue;
        if (ops->is_list && !*text)
            continue;
        const char *why = ops->set_text(slot, text ? text : "");
        if (why) {
            errf(err, errlen, "bad default \"%s\" for flag -%s: %s", text, d->name, why);
            return -1;
        }
    }
    return 0;
}

void opts_free(const opt_def_t *defs, void *opts)
{
    if (!defs || !opts)
        return;
    for (const opt_def_t *d = defs; d->name; d++)
        if (has_field(d))
            ops_of(d)->reset(field_ptr(d, opts));
}

opt_def_t *opts_defs_with(const opt_def_t *defs, const char *const *overrides)
{
    size_t n = defs_count(defs);
    opt_def_t *copy = malloc(sizeof(*copy) * (n + 1));
    if (!copy)
        return NULL;
    memcpy(copy, defs, sizeof(*copy) * (n + 1));
    for (size_t i = 0; overrides && overrides[i] && overrides[i + 1]; i += 2)
        for (size_t j = 0; j < n; j++)
            if (strcmp(copy[j].name, overrides[i]) == 0)
                copy[j].def = overrides[i + 1];
    return copy;
}

/* ---- config file reader --------------------------------------------------------------- */

typedef struct cfg_parser {
    const char *p, *end;
    int line;
    char msg[200]; /* the reason of a syntax error */
} cfg_parser_t;

static int cp_fail(cfg_parser_t *cp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cp_fail(cfg_parser_t *cp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cp->msg, sizeof(cp->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static bool cp_eof(const cfg_parser_t *cp)
{
    return cp->p >= cp->end;
}

static void cp_skip_blank(cfg_parser_t *cp)
{
    while (!cp_eof(cp) && (*cp->p == ' ' || *cp->p == '\t'))
        cp->p++;
}

static void cp_skip_comment(cfg_parser_t *cp)
{
    if (!cp_eof(cp) && *cp->p == '#')
        while (!cp_eof(cp) && *cp->p != '\n')
            cp->p++;
}

/* Consumes "\n" or "\r\n"; false when not at a line end. */
static bool cp_newline(cfg_parser_t *cp)
{
    if (!cp_eof(cp) && *cp->p == '\r' && cp->p + 1 < cp->end && cp->p[1] == '\n')
        cp->p++;
    if (cp_eof(cp) || *cp->p != '\n')
        return false;
    cp->p++;
    cp->line++;
    return true;
}

/* Blanks, comments and newlines (inside arrays). */
static void cp_skip_space(cfg_parser_t *cp)
{
    do {
        cp_skip_blank(cp);
        cp_skip_comment(cp);
    } while (cp_newline(cp));
}

static int cp_end_of_line(cfg_parser_t *cp)
{
    cp_skip_blank(cp);
    cp_skip_comment(cp);
    if (cp_eof(cp) || cp_newline(cp))
        return 0;
    return cp_fail(cp, "unexpected '%c' after the value", *cp->p);
}

/* Appends the UTF-8 encoding of cp to buf at *n (room for 4 bytes is assured by the caller). */
static int put_utf8(char *buf, size_t *n, uint32_t c)
{
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    if (c < 0x80) {
        buf[(*n)++] = (char)c;
    } else if (c < 0x800) {
        buf[(*n)++] = (char)(0xC0 | (c >> 6));
        buf[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        buf[(*n)++] = (char)(0xE0 | (c >> 12));
        buf[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else {
        buf[(*n)++] = (char)(0xF0 | (c >> 18));
        buf[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        buf[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (c & 0x3F));
    }
    return 0;
}

static const struct {
    char esc, out;
} simple_escapes[] = {
    {'b', '\b'}, {'t', '\t'}, {'n', '\n'}, {'f', '\f'}, {'r', '\r'}, {'"', '"'}, {'\\', '\\'},
};

/* One escape after the backslash (cp->p at the letter), appended to buf. */
static int cp_escape(cfg_parser_t *cp, char *buf, size_t *n)
{
    char c = cp_eof(cp) ? '\0' : *cp->p++;
    for (size_t i = 0; i < sizeof(simple_escapes) / sizeof(simple_escapes[0]); i++) {
        if (simple_escapes[i].esc == c) {
            buf[(*n)++] = simple_escapes[i].out;
            return 0;
        }
    }
    int len = c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (len == 0 || cp->end - cp->p < len)
        return cp_fail(cp, "invalid escape sequence in string");
    uint32_t code = 0;
    for (int i = 0; i < len; i++) {
        int d = digit_val(*cp->p++);
        if (d >= 16)
            return cp_fail(cp, "invalid escape sequence in string");
        code = code * 16 + (uint32_t)d;
    }
    if (put_utf8(buf, n, code))
        return cp_fail(cp, "invalid unicode escape in string");
    return 0;
}

/* "basic" or 'literal' single-line string (cp->p at the opening quote). */
static int cp_string(cfg_parser_t *cp, char **out)
{
    char quote = *cp->p;
    if (cp->end - cp->p >= 3 && cp->p[1] == quote && cp->p[2] == quote)
        return cp_fail(cp, "multi-line strings are not supported");
    cp->p++;
    /* the decoded text is never longer than the source (escapes shrink), plus room for UTF-8 */
    const char *close = cp->p;
    while (close < cp->end && *close != '\n')
        close++;
    char *buf = malloc((size_t)(close - cp->p) + 8);
    size_t n = 0;
    if (!buf)
        return cp_fail(cp, "out of memory");
    for (;;) {
        if (cp_eof(cp) || *cp->p == '\n') {
            free(buf);
            return cp_fail(cp, "unterminated string");
        }
        char c = *cp->p++;
        if (c == quote)
            break;
        if (c == '\\' && quote == '"') {
            if (cp_escape(cp, buf, &n)) {
                free(buf);
                return -1;
            }
        } else if ((unsigned char)c < 0x20 && c != '\t') {
            free(buf);
            return cp_fail(cp, "control character in string");
        } else {
            buf[n++] = c;
        }
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int cp_value(cfg_parser_t *cp, cfg_val_t *v, int depth);

static int cp_array(cfg_parser_t *cp, cfg_val_t *v, int depth)
{
    v->kind = CV_ARRAY;
    cp->p++; /* '[' */
    for (;;) {
        cp_skip_space(cp);
        if (cp_eof(cp))
            return cp_fail(cp, "unterminated array");
        if (*cp->p == ']')
            break;
        cfg_val_t *items = realloc(v->items, sizeof(*items) * (size_t)(v->n + 1));
        if (!items)
            return cp_fail(cp, "out of memory");
        v->items = items;
        memset(&items[v->n], 0, sizeof(*items));
        if (cp_value(cp, &items[v->n++], depth + 1))
            return -1;
        cp_skip_space(cp);
        if (!cp_eof(cp) && *cp->p == ',') {
            cp->p++;
            continue;
        }
        if (cp_eof(cp) || *cp->p != ']')
            return cp_fail(cp, cp_eof(cp) ? "unterminated array" : "expected ',' or ']' in array");
        break;
    }
    cp->p++; /* ']' */
    return 0;
}

/* TOML numbers: '_' only between digits; strip them into out. */
static bool toml_strip_underscores(const char *tok, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = tok; *p; p++) {
        if (*p == '_') {
            if (p == tok || digit_val(p[-1]) >= 16 || digit_val(p[1]) >= 16)
                return false;
            continue;
        }
        if (n + 1 >= outlen)
            return false;
        out[n++] = *p;
    }
    out[n] = '\0';
    return true;
}

static bool toml_is_float(const char *t)
{
    const char *p = (*t == '+' || *t == '-') ? t + 1 : t;
    if (strcmp(p, "inf") == 0 || strcmp(p, "nan") == 0)
        return true;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b'))
        return false;
    return strpbrk(p, ".eE") != NULL;
}

/* TOML integer: decimal without leading zeros, or 0x / 0o / 0b without a sign. */
static const char *toml_int(const char *t, int64_t *out)
{
    const char *p = (*t == '+' || *t == '-') ? t + 1 : t;
    bool prefixed = p[0] == '0' && p[1] && strchr("xob", p[1]);
    if (prefixed && p != t)
        return "a sign on a hex, octal or binary integer";
    if (!prefixed && p[0] == '0' && p[1])
        return "leading zeros";
    if (!prefixed && (!*p || strspn(p, "0123456789") != strlen(p)))
        return "parse error";
    return parse_go_int(t, out);
}

static bool looks_numeric(const char *t)
{
    const char *p = (*t == '+' || *t == '-') ? t + 1 : t;
    return (is_digit(*p) || *p == '.') &&
           strspn(t, "0123456789+-._eExXoObBabcdefABCDEF") == strlen(t);
}

/* A bare word: boolean, integer or float. */
static int cp_scalar(cfg_parser_t *cp, cfg_val_t *v)
{
    const char *start = cp->p;
    while (!cp_eof(cp) && *cp->p && !strchr(" \t\r\n,]#", *cp->p))
        cp->p++;
    size_t len = (size_t)(cp->p - start);
    char tok[128], clean[128];
    if (len == 0)
        return cp_fail(cp, "missing value");
    if (len >= sizeof(tok))
        return cp_fail(cp, "invalid value (strings must be quoted)");
    memcpy(tok, start, len);
    tok[len] = '\0';
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0) {
        v->kind = CV_BOOL;
        v->b = tok[0] == 't';
        return 0;
    }
    const char *why = "parse error";
    if (toml_strip_underscores(tok, clean, sizeof(clean))) {
        v->kind = toml_is_float(clean) ? CV_FLOAT : CV_INT;
        why = v->kind == CV_FLOAT ? parse_go_float(clean, &v->f) : toml_int(clean, &v->i);
    }
    if (why && looks_numeric(tok))
        return cp_fail(cp, "invalid number %s: %s", tok, why);
    if (why)
        return cp_fail(cp, "invalid value %s (strings must be quoted)", tok);
    return 0;
}

static int cp_value(cfg_parser_t *cp, cfg_val_t *v, int depth)
{
    if (depth > CFG_MAX_DEPTH)
        return cp_fail(cp, "arrays nested too deeply");
    if (cp_eof(cp) || *cp->p == '\n' || *cp->p == '\r' || *cp->p == '#')
        return cp_fail(cp, "missing value");
    switch (*cp->p) {
    case '"':
    case '\'':
        v->kind = CV_STR;
        return cp_string(cp, &v->s);
    case '[':
        return cp_array(cp, v, depth);
    case '{':
        return cp_fail(cp, "inline tables are not supported");
    default:
        return cp_scalar(cp, v);
    }
}

/* A bare key [A-Za-z0-9_-]+ or a quoted one, into a malloc'd string. */
static int cp_key(cfg_parser_t *cp, char **key)
{
    if (!cp_eof(cp) && (*cp->p == '"' || *cp->p == '\''))
        return cp_string(cp, key);
    const char *start = cp->p;
    while (!cp_eof(cp) && *cp->p && (strchr("_-", *cp->p) || digit_val(*cp->p) < 36))
        cp->p++;
    if (cp->p == start)
        return cp_fail(cp, "expected a key");
    *key = strndup(start, (size_t)(cp->p - start));
    return *key ? 0 : cp_fail(cp, "out of memory");
}

/* "[table]" or "[[array.of.tables]]": its keys are not nsqd's options. */
static int cp_table_header(cfg_parser_t *cp)
{
    while (!cp_eof(cp) && *cp->p != ']' && *cp->p != '\n')
        cp->p++;
    if (cp_eof(cp) || *cp->p != ']')
        return cp_fail(cp, "unterminated table header");
    while (!cp_eof(cp) && *cp->p == ']')
        cp->p++;
    return cp_end_of_line(cp);
}

/* What the reader applies values to. */
typedef struct cfg_target {
    const opt_def_t *defs;
    void *opts;
    const bool *skip; /* defs set by a flag (NULL = none) */
    strlist_t seen;   /* keys already given */
    int key_line;
    const char *path;
    char *err;
    size_t errlen;
} cfg_target_t;

static int cfg_apply(cfg_target_t *t, const char *key, const cfg_val_t *v)
{
    char buf[128];
    for (int i = 0; i < t->seen.n; i++) {
        if (strcmp(t->seen.v[i], key) == 0) {
            errf(t->err, t->errlen, "config file %s: line %d: key %s is given twice", t->path,
                    t->key_line, key);
            return -1;
        }
    }
    if (strlist_push(&t->seen, key)) {
        errf(t->err, t->errlen, "config file %s: out of memory", t->path);
        return -1;
    }
    for (size_t i = 0; t->defs[i].name; i++) {
        const opt_def_t *d = &t->defs[i];
        if (strcmp(cfg_key_of(d, buf, sizeof(buf)), key) != 0)
            continue;
        if (!has_field(d) || is_named(d, "config") || is_named(d, "version") ||
            (t->skip && t->skip[i]))
            return 0;
        const char *why = ops_of(d)->set_cfg(field_ptr(d, t->opts), v);
        if (why) {
            errf(t->err, t->errlen, "config file %s: line %d: invalid value for %s: %s",
                    t->path, t->key_line, key, why);
            return -1;
        }
        return 0;
    }
    return 0; /* unknown keys are ignored, as nsqd does */
}

/* One "key = value" line. */
static int cp_statement(cfg_parser_t *cp, cfg_target_t *t, bool in_table)
{
    char *key = NULL;
    cfg_val_t v;
    int rc = -1;

    memset(&v, 0, sizeof(v));
    t->key_line = cp->line;
    if (cp_key(cp, &key))
        return -1;
    cp_skip_blank(cp);
    if (!cp_eof(cp) && *cp->p == '.')
        cp_fail(cp, "dotted keys are not supported");
    else if (cp_eof(cp) || *cp->p != '=')
        cp_fail(cp, "expected '=' after key %s", key);
    else {
        cp->p++;
        cp_skip_blank(cp);
        if (cp_value(cp, &v, 0) == 0 && cp_end_of_line(cp) == 0)
            rc = in_table ? 0 : cfg_apply(t, key, &v); /* its errors go to t->err */
    }
    free(key);
    cfg_val_free(&v);
    return rc;
}

static int cfg_parse(cfg_parser_t *cp, cfg_target_t *t)
{
    bool in_table = false;
    while (!cp_eof(cp)) {
        cp_skip_blank(cp);
        cp_skip_comment(cp);
        if (cp_eof(cp) || cp_newline(cp))
            continue;
        if (*cp->p == '[') {
            in_table = true;
            if (cp_table_header(cp))
                return -1;
            continue;
        }
        if (cp_statement(cp, t, in_table))
            return -1;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        errf(err, errlen, "config file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && size <= CFG_MAX_SIZE && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)size + 1)) != NULL) {
            *len = fread(buf, 1, (size_t)size, f);
            buf[*len] = '\0';
        }
    }
    if (!buf || ferror(f)) {
        errf(err, errlen, "config file %s: cannot read it", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int load_config(const opt_def_t *defs, void *opts, const char *path, const bool *skip,
                       char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_file(path, &len, err, errlen);
    if (!text)
        return -1;
    cfg_parser_t cp = {.p = text, .end = text + len, .line = 1};
    cfg_target_t t = {.defs = defs, .opts = opts, .skip = skip, .path = path, .err = err,
                      .errlen = errlen};
    int rc = cfg_parse(&cp, &t);
    if (rc && cp.msg[0]) /* a syntax error; cfg_apply reported the others */
        errf(err, errlen, "config file %s: line %d: %s", path, cp.line, cp.msg);
    strlist_clear(&t.seen);
    free(text);
    return rc;
}

int opts_load_config(const opt_def_t *defs, void *opts, const char *path, char *err,
                     size_t errlen)
{
    return load_config(defs, opts, path, NULL, err, errlen);
}

/* ---- argv --------------------------------------------------------------------------- */

typedef struct argv_state {
    const opt_def_t *defs;
    void *opts;
    bool *set; /* per def: given on the command line */
    opts_result_t *res;
    char *err;
    size_t errlen;
} argv_state_t;

static int find_def(const opt_def_t *defs, const char *name, size_t len)
{
    for (int i = 0; defs[i].name; i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Records what opts_result_t reports about the flag just set. */
static int note_result(argv_state_t *st, const opt_def_t *d, const void *slot)
{
    if (is_named(d, "version") && d->type == OPT_BOOL)
        st->res->version = *(const bool *)slot;
    if (is_named(d, "config") && d->type == OPT_STRING) {
        const char *s = *(char *const *)slot;
        free(st->res->config_path);
        st->res->config_path = NULL;
        if (s && *s && !(st->res->config_path = strdup(s)))
            return -1;
    }
    return 0;
}

static int apply_flag(argv_state_t *st, int idx, const char *value, bool bare_form)
{
    const opt_def_t *d = &st->defs[idx];
    const type_ops_t *ops = ops_of(d);
    opt_scratch_t scratch;
    void *slot = has_field(d) ? field_ptr(d, st->opts) : &scratch;

    memset(&scratch, 0, sizeof(scratch));
    if (ops->is_list && !st->set[idx])
        ops->reset(slot);
    st->set[idx] = true;
    int rc = -1;
    const char *why = ops->set_text(slot, value);
    if (why && ops->bare_ok && !bare_form)
        errf(st->err, st->errlen, "invalid boolean value \"%s\" for -%s: %s", value, d->name,
                why);
    else if (why)
        errf(st->err, st->errlen, "invalid value \"%s\" for flag -%s: %s", value, d->name,
                why);
    else if (note_result(st, d, slot))
        errf(st->err, st->errlen, "out of memory");
    else
        rc = 0;
    if (!has_field(d))
        ops->reset(&scratch);
    return rc;
}

/* One flag at argv[*i] (Go's FlagSet.parseOne). 1 = parsed, 0 = stop parsing, -1 = error. */
static int parse_one(argv_state_t *st, int argc, char **argv, int *i)
{
    const char *s = argv[*i];
    if (strlen(s) < 2 || s[0] != '-')
        return 0;
    const char *name = s + 1;
    if (s[1] == '-') {
        name++;
        if (!*name) { /* "--" ends the flags */
            (*i)++;
            return 0;
        }
    }
    if (*name == '-' || *name == '=') {
        errf(st->err, st->errlen, "bad flag syntax: %s", s);
        return -1;
    }
    (*i)++;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : NULL;
    int idx = find_def(st->defs, name, nlen);
    if (idx < 0) {
        if ((nlen == 4 && memcmp(name, "help", 4) == 0) || (nlen == 1 && name[0] == 'h')) {
            st->res->help = true;
            return 0;
        }
        errf(st->err, st->errlen, "flag provided but not defined: -%.*s", (int)nlen, name);
        return -1;
    }
    if (!value && ops_of(&st->defs[idx])->bare_ok)
        return apply_flag(st, idx, "true", true) ? -1 : 1;
    if (!value && *i >= argc) {
        errf(st->err, st->errlen, "flag needs an argument: -%s", st->defs[idx].name);
        return -1;
    }
    if (!value)
        value = argv[(*i)++];
    return apply_flag(st, idx, value, false) ? -1 : 1;
}

int opts_parse(const opt_def_t *defs, void *opts, int argc, char **argv, opts_result_t *res,
               char *err, size_t errlen)
{
    opts_result_t local;
    size_t n = defs_count(defs);
    bool *set = calloc(n + 1, sizeof(bool));
    int rc = 0;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (!set) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    argv_state_t st = {defs, opts, set, res, err, errlen};
    rc = apply_defaults(defs, opts, err, errlen);
    for (int i = 1; rc == 0 && i < argc;) {
        int r = parse_one(&st, argc, argv, &i);
        if (r <= 0) {
            rc = r;
            break;
        }
    }
    if (rc == 0 && !res->help && !res->version && res->config_path)
        rc = load_config(defs, opts, res->config_path, set, err, errlen);
    free(set);
    if (res == &local)
        free(local.config_path);
    return rc;
}

/* ---- --help --------------------------------------------------------------------------- */

static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* " (default ...)" unless the default is the type's zero value, as Go prints it. */
static void put_default(FILE *out, const opt_def_t *d)
{
    const char *t = d->def;
    int64_t ns = 0;
    char buf[40];

    if (!t || !*t)
        return;
    if (d->type == OPT_STRING) {
        fputs(" (default ", out);
        put_quoted(out, t);
        fputc(')', out);
    } else if (d->type == OPT_DURATION) {
        if (opts_parse_duration(t, &ns) == 0 && ns != 0) {
            opts_format_duration(ns, buf, sizeof(buf));
            fprintf(out, " (default %s)", buf);
        }
    } else if (strcmp(t, "0") != 0 && strcmp(t, "false") != 0) {
        fprintf(out, " (default %s)", t);
    }
}

static int cmp_def_name(const void *a, const void *b)
{
    const opt_def_t *x = *(const opt_def_t *const *)a, *y = *(const opt_def_t *const *)b;
    return strcmp(x->name, y->name);
}

void opts_print_help(const opt_def_t *defs, const char *progname, FILE *out)
{
    size_t n = defs_count(defs);
    const opt_def_t **sorted = malloc(sizeof(*sorted) * (n + 1));

    fprintf(out, "Usage of %s:\n", progname ? progname : "program");
    if (!sorted)
        return;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &defs[i];
    qsort(sorted, n, sizeof(*sorted), cmp_def_name);
    for (size_t i = 0; i < n; i++) {
        const opt_def_t *d = sorted[i];
        const char *tname = ops_of(d)->help_name;
        int len = fprintf(out, "  -%s", d->name);
        if (*tname)
            len += fprintf(out, " %s", tname);
        fputs(len <= 4 ? "\t" : "\n    \t", out);
        for (const char *h = d->help ? d->help : ""; *h; h++) {
            if (*h == '\n')
                fputs("\n    \t", out);
            else
                fputc(*h, out);
        }
        put_default(out, d);
        fputc('\n', out);
    }
    free(sorted);
}

/* ---- a daemon's option load ------------------------------------------------------------- */

int opts_load_program(const opt_def_t *defs, const char *const *overrides, const char *progname,
                      const char *version_line, opts_validate_fn validate, void *opts, int argc,
                      char **argv, char *err, size_t errlen)
{
    opts_result_t res;
    opt_def_t *table = opts_defs_with(defs, overrides);
    if (!table) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    int rc = opts_parse(table, opts, argc, argv, &res, err, errlen);
    if (rc == 0 && res.help) {
        opts_print_help(table, progname, stdout);
        rc = 1;
    } else if (rc == 0 && res.version) {
        printf("%s\n", version_line);
        rc = 1;
    } else if (rc == 0 && validate) {
        rc = validate(opts, err, errlen);
    }
    free(res.config_path);
    free(table);
    return rc;
}
