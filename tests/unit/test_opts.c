/* Unit tests for common/opts: Go flag forms (-x, --x, =value, next arg, bare booleans, "--"),
 * repeatable and comma-separated lists, precise errors, Go duration parsing and formatting,
 * the TOML-subset config file (strings, ints, arrays over lines, comments, line numbers in
 * errors), precedence flags > config > defaults, and --help output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/opts.h"

typedef struct topts {
    char *config;
    char *name;
    strlist_t addrs;
    int64_t count;
    bool flag;
    bool on;
    int64_t timeout;
    floatlist_t pct;
    char *tls;
} topts_t;

#define O(f) offsetof(topts_t, f)

static const opt_def_t tdefs[] = {
    {"config", OPT_STRING, O(config), NULL, "config file", NULL},
    {"version", OPT_BOOL, OPT_NOFIELD, NULL, "print the version", NULL},
    {"name", OPT_STRING, O(name), "def", "a name", NULL},
    {"addr", OPT_STRLIST, O(addrs), NULL, "an address (repeatable)", "addresses"},
    {"count", OPT_INT, O(count), "10", "a count", NULL},
    {"flag", OPT_BOOL, O(flag), "false", "a flag", NULL},
    {"on", OPT_BOOL, O(on), "true", "on by default", NULL},
    {"timeout", OPT_DURATION, O(timeout), "60s", "a timeout", NULL},
    {"pct", OPT_FLOATLIST, O(pct), NULL, "percentiles", "pcts"},
    {"tls", OPT_BOOLSTR, O(tls), "false", "true, false or tcp-https", NULL},
    {"old", OPT_BOOL, OPT_NOFIELD, NULL, "[deprecated] no effect", NULL},
    {NULL, 0, 0, NULL, NULL, NULL},
};

#define SEC 1000000000LL
#define MS 1000000LL

static char err[512];
static opts_result_t res;
static topts_t o;

#define ARGV(...) ((char *[]){"prog", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"prog", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(...) parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static int parse(int argc, char **argv)
{
    opts_free(tdefs, &o);
    free(res.config_path);
    memset(&o, 0, sizeof(o));
    err[0] = '\0';
    return opts_parse(tdefs, &o, argc, argv, &res, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    opts_free(tdefs, &o);
    free(res.config_path);
    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    return 0;
}

/* Writes text to a new temp file; path receives its name. */
static void write_tmp(char path[64], const char *text)
{
    strcpy(path, "/tmp/cnsq_test_opts_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int load_text(const char *text)
{
    char path[64];
    write_tmp(path, text);
    opts_free(tdefs, &o);
    memset(&o, 0, sizeof(o));
    char *argv[] = {"prog", NULL};
    int rc = opts_parse(tdefs, &o, 1, argv, NULL, err, sizeof(err));
    assert_int_equal(rc, 0);
    rc = opts_load_config(tdefs, &o, path, err, sizeof(err));
    unlink(path);
    return rc;
}

/* err must contain needle. */
static void assert_err_has(const char *needle)
{
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

/* ---- flags ---------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    char *argv[] = {"prog", NULL};
    assert_int_equal(parse(1, argv), 0);
    assert_string_equal(o.name, "def");
    assert_int_equal(o.count, 10);
    assert_false(o.flag);
    assert_true(o.on);
    assert_int_equal(o.timeout, 60 * SEC);
    assert_int_equal(o.addrs.n, 0);
    assert_int_equal(o.pct.n, 0);
    assert_string_equal(o.tls, "false");
    assert_non_null(o.config);
    assert_string_equal(o.config, "");
    assert_null(res.config_path);
    assert_false(res.help);
    assert_false(res.version);
}

static void test_flag_forms(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-count=5"), 0);
    assert_int_equal(o.count, 5);
    assert_int_equal(PARSE("--count=6"), 0);
    assert_int_equal(o.count, 6);
    assert_int_equal(PARSE("-count", "7"), 0);
    assert_int_equal(o.count, 7);
    assert_int_equal(PARSE("--count", "8", "--name", "x y"), 0);
    assert_int_equal(o.count, 8);
    assert_string_equal(o.name, "x y");
    assert_int_equal(PARSE("--count=1", "--count=2"), 0); /* the last one wins */
    assert_int_equal(o.count, 2);
    assert_int_equal(PARSE("--name", "-dash"), 0); /* the next arg is the value, whatever it is */
    assert_string_equal(o.name, "-dash");
    assert_int_equal(PARSE("--name="), 0);
    assert_string_equal(o.name, "");
    assert_int_equal(PARSE("--name=a=b"), 0);
    assert_string_equal(o.name, "a=b");
}

static void test_int_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        int64_t want;
    } ok[] = {
        {"--count=-5", -5},        {"--count=+5", 5},    {"--count=0x10", 16},
        {"--count=010", 8},        {"--count=0o17", 15}, {"--count=0b101", 5},
        {"--count=1_000", 1000},   {"--count=0", 0},
        {"--count=9223372036854775807", INT64_MAX},
        {"--count=-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(PARSE((char *)ok[i].arg), 0);
        assert_int_equal(o.count, ok[i].want);
    }
    assert_int_equal(PARSE("--count=abc"), -1);
    assert_string_equal(err, "invalid value \"abc\" for flag -count: parse error");
    assert_int_equal(PARSE("--count=9223372036854775808"), -1);
    assert_string_equal(err,
                        "invalid value \"9223372036854775808\" for flag -count: value out of range");
    assert_int_equal(PARSE("--count="), -1);
    assert_int_equal(PARSE("--count=1.5"), -1);
    assert_int_equal(PARSE("--count=_1"), -1);
    assert_int_equal(PARSE("--count=1__0"), -1);
    assert_int_equal(PARSE("--count= 1"), -1);
    assert_int_equal(PARSE("--count=08"), -1);
}

static void test_bools(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--flag"), 0);
    assert_true(o.flag);
    assert_int_equal(PARSE("-flag"), 0);
    assert_true(o.flag);
    assert_int_equal(PARSE("--on=false"), 0);
    assert_false(o.on);
    assert_int_equal(PARSE("-on=0", "-flag=T"), 0);
    assert_false(o.on);
    assert_true(o.flag);
    assert_int_equal(PARSE("--flag=TRUE", "--on=False"), 0);
    assert_true(o.flag);
    assert_false(o.on);
    assert_int_equal(PARSE("--flag=yes"), -1);
    assert_string_equal(err, "invalid boolean value \"yes\" for -flag: parse error");
    /* as in Go, a bare boolean never takes the next argument: "false" ends the flags */
    assert_int_equal(PARSE("--on", "false", "--count=3"), 0);
    assert_true(o.on);
    assert_int_equal(o.count, 10);
}

static void test_boolstr_and_nofield(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--tls"), 0);
    assert_string_equal(o.tls, "true");
    assert_int_equal(PARSE("--tls=tcp-https"), 0);
    assert_string_equal(o.tls, "tcp-https");
    assert_int_equal(PARSE("--tls", "tcp-https", "--count=3"), 0);
    assert_string_equal(o.tls, "true");
    assert_int_equal(o.count, 10);
    assert_int_equal(PARSE("--old", "--count=3"), 0);
    assert_int_equal(o.count, 3);
    assert_int_equal(PARSE("--old=maybe"), -1);
    assert_string_equal(err, "invalid boolean value \"maybe\" for -old: parse error");
}

static void test_repeatable(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--addr", "a:1", "--addr=b:2", "-addr", "c:3"), 0);
    assert_int_equal(o.addrs.n, 3);
    assert_string_equal(o.addrs.v[0], "a:1");
    assert_string_equal(o.addrs.v[1], "b:2");
    assert_string_equal(o.addrs.v[2], "c:3");
    assert_int_equal(PARSE("--addr=x,y"), 0); /* a string list flag does not split */
    assert_int_equal(o.addrs.n, 1);
    assert_string_equal(o.addrs.v[0], "x,y");
}

static void test_float_lists(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--pct", "0.5,0.99", "--pct=1.0"), 0);
    assert_int_equal(o.pct.n, 3);
    /* kept sorted descending, as nsqd's FloatArray flag does */
    assert_true(o.pct.v[0] == 1.0);
    assert_true(o.pct.v[1] == 0.99);
    assert_true(o.pct.v[2] == 0.5);
    assert_int_equal(PARSE("--pct=0.95, 0.9"), 0);
    assert_int_equal(o.pct.n, 2);
    assert_true(o.pct.v[1] == 0.9);
    assert_int_equal(PARSE("--pct=1e-1"), 0);
    assert_true(o.pct.v[0] == 0.1);
    assert_int_equal(PARSE("--pct=0.5,x"), -1);
    assert_string_equal(err, "invalid value \"0.5,x\" for flag -pct: parse error");
    assert_int_equal(PARSE("--pct="), -1);
    assert_int_equal(PARSE("--pct=0.5,"), -1);
    assert_int_equal(PARSE("--pct=0.5,,0.6"), -1);
    assert_int_equal(PARSE("--pct=,0.5"), -1);
}

static void test_flag_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--foo"), -1);
    assert_string_equal(err, "flag provided but not defined: -foo");
    assert_int_equal(PARSE("-foo=1"), -1);
    assert_string_equal(err, "flag provided but not defined: -foo");
    assert_int_equal(PARSE("--count"), -1);
    assert_string_equal(err, "flag needs an argument: -count");
    assert_int_equal(PARSE("---count=1"), -1);
    assert_string_equal(err, "bad flag syntax: ---count=1");
    assert_int_equal(PARSE("-=1"), -1);
    assert_string_equal(err, "bad flag syntax: -=1");
    assert_int_equal(PARSE("--timeout=5"), -1);
    assert_string_equal(err, "invalid value \"5\" for flag -timeout: missing unit in duration");
    assert_int_equal(PARSE("--timeout=abc"), -1);
    assert_int_equal(PARSE("--timeout=5x"), -1);
    assert_string_equal(err, "invalid value \"5x\" for flag -timeout: unknown unit in duration");
}

static void test_end_of_flags(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--count=3", "--", "--count=5"), 0);
    assert_int_equal(o.count, 3);
    assert_int_equal(PARSE("positional", "--count=5"), 0);
    assert_int_equal(o.count, 10);
    assert_int_equal(PARSE("-", "--count=5"), 0);
    assert_int_equal(o.count, 10);
    assert_int_equal(PARSE("--count=5", "--foo"), -1);
}

static void test_help_version(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--help"), 0);
    assert_true(res.help);
    assert_int_equal(PARSE("-h"), 0);
    assert_true(res.help);
    assert_int_equal(PARSE("-help", "--foo"), 0); /* parsing stops at help */
    assert_true(res.help);
    assert_int_equal(PARSE("--version"), 0);
    assert_true(res.version);
    assert_false(res.help);
    assert_int_equal(PARSE("--version=false"), 0);
    assert_false(res.version);
    /* with --version the config file is not read, as nsqd exits first */
    assert_int_equal(PARSE("--version", "--config=/nonexistent/x.cfg"), 0);
    assert_true(res.version);
    assert_string_equal(res.config_path, "/nonexistent/x.cfg");
}

/* ---- durations ----------------------------------------------------------------------- */

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ns;
    } ok[] = {
        {"0", 0},
        {"-0", 0},
        {"+0", 0},
        {"1h2m3.5s", 3723 * SEC + 500 * MS},
        {"250ms", 250 * MS},
        {"-1s", -SEC},
        {"+5s", 5 * SEC},
        {"1.5h", 5400 * SEC},
        {".5s", 500 * MS},
        {"1.s", SEC},
        {"10us", 10000},
        {"10\xc2\xb5s", 10000},
        {"10\xce\xbcs", 10000},
        {"7ns", 7},
        {"1h1h", 7200 * SEC},
        {"0s", 0},
        {"1.0000000001s", SEC},
        {"9223372036854775807ns", INT64_MAX},
        {"2562047h", 2562047LL * 3600 * SEC},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns = 42;
        if (opts_parse_duration(ok[i].s, &ns) != 0)
            fail_msg("\"%s\" rejected", ok[i].s);
        assert_int_equal(ns, ok[i].ns);
    }
    static const char *const bad[] = {
        "", "1.5", "5", "-", ".", "s", "5x", "1h2", "abc", " 1s", "1s ", "1 s", "--1s",
        "9223372036854775808ns", "2562048h", "1e3s", ".s", "1..5s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = 0;
        if (opts_parse_duration(bad[i], &ns) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_int_equal(opts_parse_duration(NULL, &(int64_t){0}), -1);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *s;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {250 * MS, "250ms"},
        {25 * MS, "25ms"},
        {1500 * 1000, "1.5ms"},
        {2 * SEC, "2s"},
        {60 * SEC, "1m0s"},
        {300 * SEC, "5m0s"},
        {15 * 60 * SEC, "15m0s"},
        {3600 * SEC, "1h0m0s"},
        {3723 * SEC + 500 * MS, "1h2m3.5s"},
        {-SEC, "-1s"},
        {-250 * MS, "-250ms"},
        {SEC + 1, "1.000000001s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        opts_format_duration(cases[i].ns, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].s);
    }
    opts_format_duration(60 * SEC, buf, 3); /* truncated, still terminated */
    assert_string_equal(buf, "1m");
}

/* ---- config file ------------------------------------------------------------------------ */

static void test_config_values(void **state)
{
    (void)state;
    assert_int_equal(load_text("# a comment line\n"
                               "\n"
                               "name = \"hello \\\"world\\\"\\t\\u00e9\" # trailing comment\n"
                               "count = 42\n"
                               "flag = true\n"
                               "on=false\n"
                               "timeout = \"2m\"\n"
                               "addresses = [\n"
                               "    \"a:1\",  # first\n"
                               "    'b:2',\n"
                               "]\n"
                               "pcts = [0.5, 0.99,\n"
                               "  1]\n"
                               "unknown_key = \"ignored\"\n"
                               "another_unknown = [1, [2, 3]]\n"
                               "tls = true\n"),
                     0);
    assert_string_equal(o.name, "hello \"world\"\t\xc3\xa9");
    assert_int_equal(o.count, 42);
    assert_true(o.flag);
    assert_false(o.on);
    assert_int_equal(o.timeout, 120 * SEC);
    assert_int_equal(o.addrs.n, 2);
    assert_string_equal(o.addrs.v[0], "a:1");
    assert_string_equal(o.addrs.v[1], "b:2");
    assert_int_equal(o.pct.n, 3); /* a config array keeps its order */
    assert_true(o.pct.v[0] == 0.5);
    assert_true(o.pct.v[1] == 0.99);
    assert_true(o.pct.v[2] == 1.0);
    assert_string_equal(o.tls, "true");
}

static void test_config_coercion(void **state)
{
    (void)state;
    /* go-options: a bare integer duration is milliseconds; strings convert; a string list
     * may be one comma-separated string */
    assert_int_equal(load_text("timeout = 1500\ncount = \"12\"\naddresses = \"x:1,y:2\"\n"
                               "pcts = \"1.0, 0.9\"\nflag = \"true\"\non = 0\n"),
                     0);
    assert_int_equal(o.timeout, 1500 * MS);
    assert_int_equal(o.count, 12);
    assert_int_equal(o.addrs.n, 2);
    assert_string_equal(o.addrs.v[1], "y:2");
    assert_int_equal(o.pct.n, 2);
    assert_true(o.pct.v[1] == 0.9);
    assert_true(o.flag);
    assert_false(o.on);
    assert_int_equal(load_text("count = 1_000\ntimeout = 0\naddresses = []\n"), 0);
    assert_int_equal(o.count, 1000);
    assert_int_equal(o.timeout, 0);
    assert_int_equal(o.addrs.n, 0);
    assert_int_equal(load_text("count = 0x1F\r\nname = ''\r\n"), 0);
    assert_int_equal(o.count, 31);
    assert_string_equal(o.name, "");
}

static void test_config_tables_ignored(void **state)
{
    (void)state;
    assert_int_equal(load_text("count = 1\n[other]\ncount = 2\nname = \"x\"\n"), 0);
    assert_int_equal(o.count, 1);
    assert_string_equal(o.name, "def");
}

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* after "config file <path>: " */
    } cases[] = {
        {"count = 1\n\ncount = abc\n", "line 3: invalid value abc (strings must be quoted)"},
        {"name = 0.0.0.0:4150\n", "line 1: invalid value 0.0.0.0:4150 (strings must be quoted)"},
        {"count = \"x\"\n", "line 1: invalid value for count: parse error"},
        {"# c\ncount = 1.5\n", "line 2: invalid value for count: expected an integer"},
        {"count = 010\n", "line 1: invalid number 010: leading zeros"},
        {"name = 5\n", "line 1: invalid value for name: expected a quoted string"},
        {"timeout = \"1.5\"\n", "line 1: invalid value for timeout: missing unit in duration"},
        {"timeout = 1.5\n", "line 1: invalid value for timeout: expected a duration string"},
        {"flag = \"maybe\"\n", "line 1: invalid value for flag: parse error"},
        {"addresses = [1, 2]\n", "line 1: invalid value for addresses: expected an array of strings"},
        {"pcts = [\"a\"]\n", "line 1: invalid value for pcts: expected an array of numbers"},
        {"name = \"abc\n", "line 1: unterminated string"},
        {"\n\nname \"abc\"\n", "line 3: expected '=' after key name"},
        {"count = 1 2\n", "line 1: unexpected '2' after the value"},
        {"count = 1\ncount = 2\n", "line 2: key count is given twice"},
        {"addresses = [\n  \"a\",\n  \"b\"\n  \"c\"\n]\n", "line 4: expected ',' or ']' in array"},
        {"addresses = [\n  \"a\",\n", "line 3: unterminated array"},
        {"name =\n", "line 1: missing value"},
        {"name = \"\\q\"\n", "line 1: invalid escape sequence in string"},
        {"a.b = 1\n", "line 1: dotted keys are not supported"},
        {"x = {a = 1}\n", "line 1: inline tables are not supported"},
        {"x = \"\"\"abc\"\"\"\n", "line 1: multi-line strings are not supported"},
        {"= 1\n", "line 1: expected a key"},
        {"[table\n", "line 1: unterminated table header"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (load_text(cases[i].text) != -1)
            fail_msg("case %zu accepted: %s", i, cases[i].text);
        assert_err_has("config file /tmp/cnsq_test_opts_");
        assert_err_has(cases[i].want);
    }
    assert_int_equal(opts_load_config(tdefs, &o, "/nonexistent/dir/x.cfg", err, sizeof(err)),
                     -1);
    assert_string_equal(err, "config file /nonexistent/dir/x.cfg: No such file or directory");
}

/* ---- precedence ---------------------------------------------------------------------- */

static void test_precedence(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, "count = 42\nname = \"from-config\"\naddresses = [\"c:1\", \"c:2\"]\n"
                    "on = false\ntimeout = \"bogus\"\n");
    /* a flag wins over the config file (even over a bad value there), the config over a
     * default; a repeated flag replaces the config's whole list */
    assert_int_equal(PARSE("--count=7", "--config", path, "--addr=f:1", "--timeout=3s"), 0);
    assert_string_equal(res.config_path, path);
    assert_string_equal(o.config, path);
    assert_int_equal(o.count, 7);
    assert_string_equal(o.name, "from-config");
    assert_int_equal(o.addrs.n, 1);
    assert_string_equal(o.addrs.v[0], "f:1");
    assert_false(o.on);
    assert_int_equal(o.timeout, 3 * SEC);
    assert_false(o.flag); /* default: in neither */
    /* without the flag the bad duration in the file is an error */
    assert_int_equal(PARSE("--config=", "--config", path), -1);
    assert_err_has("line 5: invalid value for timeout: invalid duration");
    unlink(path);
    assert_int_equal(PARSE("--config=/nonexistent/x.cfg"), -1);
    assert_string_equal(err, "config file /nonexistent/x.cfg: No such file or directory");
}

/* ---- help --------------------------------------------------------------------------- */

static void test_help_text(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    opts_print_help(tdefs, "prog", f);
    fclose(f);
    assert_non_null(strstr(text, "Usage of prog:\n"));
    assert_non_null(strstr(text, "  -count int\n    \ta count (default 10)\n"));
    assert_non_null(strstr(text, "  -flag\n    \ta flag\n"));
    assert_non_null(strstr(text, "  -on\n    \ton by default (default true)\n"));
    assert_non_null(strstr(text, "  -timeout duration\n    \ta timeout (default 1m0s)\n"));
    assert_non_null(strstr(text, "  -name string\n    \ta name (default \"def\")\n"));
    assert_non_null(strstr(text, "  -addr value\n    \tan address (repeatable)\n"));
    assert_non_null(strstr(text, "  -tls\n    \ttrue, false or tcp-https\n"));
    assert_non_null(strstr(text, "  -config string\n    \tconfig file\n"));
    /* sorted by name */
    assert_true(strstr(text, "-addr") < strstr(text, "-config"));
    assert_true(strstr(text, "-config") < strstr(text, "-count"));
    assert_true(strstr(text, "-timeout") < strstr(text, "-tls"));
    free(text);
}

static void test_defs_with(void **state)
{
    (void)state;
    const char *const ov[] = {"name", "override", "count", "99", NULL};
    opt_def_t *defs = opts_defs_with(tdefs, ov);
    assert_non_null(defs);
    char *argv[] = {"prog", NULL};
    opts_free(tdefs, &o);
    memset(&o, 0, sizeof(o));
    assert_int_equal(opts_parse(defs, &o, 1, argv, NULL, err, sizeof(err)), 0);
    assert_string_equal(o.name, "override");
    assert_int_equal(o.count, 99);
    assert_string_equal(tdefs[2].def, "def"); /* the original is untouched */
    free(defs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_flag_forms, teardown),
        cmocka_unit_test_teardown(test_int_syntax, teardown),
        cmocka_unit_test_teardown(test_bools, teardown),
        cmocka_unit_test_teardown(test_boolstr_and_nofield, teardown),
        cmocka_unit_test_teardown(test_repeatable, teardown),
        cmocka_unit_test_teardown(test_float_lists, teardown),
        cmocka_unit_test_teardown(test_flag_errors, teardown),
        cmocka_unit_test_teardown(test_end_of_flags, teardown),
        cmocka_unit_test_teardown(test_help_version, teardown),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test_teardown(test_config_values, teardown),
        cmocka_unit_test_teardown(test_config_coercion, teardown),
        cmocka_unit_test_teardown(test_config_tables_ignored, teardown),
        cmocka_unit_test_teardown(test_config_errors, teardown),
        cmocka_unit_test_teardown(test_precedence, teardown),
        cmocka_unit_test(test_help_text),
        cmocka_unit_test_teardown(test_defs_with, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
