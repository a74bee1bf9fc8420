/* opts: command-line and config-file options from a table.
 *
 * Flags follow Go's flag package, as nsqd's users type them: "-flag" and "--flag" are the same;
 * values as "--flag=value" or "--flag value"; booleans bare ("--snappy") or "=true|false";
 * repeatable list flags ("--lookupd-tcp-address a --lookupd-tcp-address b"; float lists also
 * take a comma list). "--config=FILE" reads nsqd's TOML-style config file, whose keys are the
 * flag names with '-' made '_' (or the def's cfg_key). Precedence: flags > config file > defaults.
 * Values are stored into a caller's options struct at each def's offset. A defs table ends with
 * an entry whose name is NULL. The def named "config" names the config file and one named
 * "version" sets opts_result_t.version; "-h"/"-help" are built in, as in Go. */
#ifndef CNSQ_OPTS_H
#define CNSQ_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPT_STRING,    /* char *            (malloc'd, may be NULL for "") */
    OPT_STRLIST,   /* strlist_t          repeatable */
    OPT_INT,       /* int64_t */
    OPT_BOOL,      /* bool */
    OPT_DURATION,  /* int64_t nanoseconds, Go syntax "1h2m3.5s", "250ms", "0" */
    OPT_FLOATLIST, /* floatlist_t        repeatable and/or comma-separated (flags keep it sorted
                    * descending, as nsqd's FloatArray does) */
    OPT_BOOLSTR,   /* char *  a string flag that may also be given bare, meaning "true"
                    * (Go's IsBoolFlag Value, e.g. --tls-required[=tcp-https]) */
} opt_type_t;

/* offset for flags that are accepted (and shown by --help) but stored nowhere: deprecated
 * no-op flags, and "version" (reported in opts_result_t). */
#define OPT_NOFIELD ((size_t)-1)

typedef struct strlist { char **v; int n; } strlist_t;
typedef struct floatlist { double *v; int n; } floatlist_t;

typedef struct opt_def {
    const char *name;    /* long flag name, e.g. "mem-queue-size" */
    opt_type_t type;
    size_t offset;       /* offsetof(your_opts_t, field) */
    const char *def;     /* default as text, shown by --help; NULL = empty */
    const char *help;
    const char *cfg_key; /* config-file key when not name with '-' -> '_' (NULL = derived) */
} opt_def_t;

typedef struct opts_result {
    bool help;          /* --help / -h given: caller prints opts_print_help and exits 0 */
    bool version;       /* --version given */
    char *config_path;  /* --config value (malloc'd) or NULL */
} opts_result_t;

/* Sets defaults, reads --config if given, then applies argv (argv[0] is skipped).
 * Returns 0, or -1 with a precise reason in err ("flag provided but not defined: -foo",
 * "invalid value \"x\" for flag -mem-queue-size: ..."). As in Go, parsing stops at "--" or
 * at the first argument that is not a flag. With --help or --version the config file is not
 * read. opts need not be initialised; after any return release it with opts_free (and
 * free(res->config_path)). */
int opts_parse(const opt_def_t *defs, void *opts, int argc, char **argv, opts_result_t *res,
               char *err, size_t errlen);

/* A daemon's whole option load: defaults (with run-time overrides: a NULL-terminated list of
 * name, default pairs, e.g. {"broadcast-address", hostname, NULL}), --config, argv, then
 * --help (usage to stdout) / --version (version_line to stdout) or validate(opts).
 * Returns 0; 1 when --help/--version was printed (exit 0); -1 with err. */
typedef int (*opts_validate_fn)(void *opts, char *err, size_t errlen);
int opts_load_program(const opt_def_t *defs, const char *const *overrides, const char *progname,
                      const char *version_line, opts_validate_fn validate, void *opts, int argc,
                      char **argv, char *err, size_t errlen);

/* Applies one config file (used by opts_parse). Unknown keys are ignored, as nsqd does. */
int opts_load_config(const opt_def_t *defs, void *opts, const char *path, char *err, size_t errlen);

/* "Usage of <prog>:" then every flag with its type, help and default. */
void opts_print_help(const opt_def_t *defs, const char *progname, FILE *out);

/* A malloc'd copy of defs (release with free()) in which the defaults of some flags are
 * replaced, for defaults known only at run time (the hostname). overrides holds pairs
 * name, default, ending with NULL; the strings are borrowed. NULL when out of memory. */
opt_def_t *opts_defs_with(const opt_def_t *defs, const char *const *overrides);

/* Frees strings and lists held by opts. */
void opts_free(const opt_def_t *defs, void *opts);

/* Go duration syntax: "300ms", "-1.5h", "2h45m", "0". ns out. 0 or -1. */
int opts_parse_duration(const char *s, int64_t *ns);
/* Formats like Go's Duration.String(): "1m0s", "250ms", "2s". */
void opts_format_duration(int64_t ns, char *out, size_t outlen);

#endif
