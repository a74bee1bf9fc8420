/* options: nsqlookupd's flag table and its validation.
 * Owns lookupd_opt_defs (every nsqlookupd 1.3 flag with NSQ's default; config keys are the
 * flag names with '-' made '_') and lookupd_opts_load: parse (flags > config file > defaults,
 * the hostname filled in at run time), handle --help/--version, then check the log level and
 * durations. */
#include "lookupd/options.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#ifndef NSQ_VERSION
#define NSQ_VERSION "1.3.0"
#endif
#ifndef CNSQ_VERSION
#define CNSQ_VERSION "0.0.0"
#endif

#define F(field) offsetof(lookupd_opts_t, field)

const opt_def_t lookupd_opt_defs[] = {
    {"version", OPT_BOOL, OPT_NOFIELD, NULL, "print the version and exit", NULL},
    {"config", OPT_STRING, F(config), NULL, "path to a config file", NULL},
    {"log-level", OPT_STRING, F(log_level), "info", "log verbosity: debug, info, warn, error or fatal",
     NULL},
    {"log-prefix", OPT_STRING, F(log_prefix), "[nsqlookupd] ", "prefix of every log line", NULL},
    {"verbose", OPT_BOOL, OPT_NOFIELD, NULL, "[deprecated] no effect; use --log-level", NULL},
    {"tcp-address", OPT_STRING, F(tcp_address), "0.0.0.0:4160",
     "<addr>:<port> on which to accept nsqd connections (TCP)", NULL},
    {"http-address", OPT_STRING, F(http_address), "0.0.0.0:4161",
     "<addr>:<port> on which to accept HTTP clients", NULL},
    {"broadcast-address", OPT_STRING, F(broadcast_address), NULL,
     "address of this nsqlookupd node; the default is the hostname", NULL},
    {"inactive-producer-timeout", OPT_DURATION, F(inactive_producer_timeout), "300s",
     "how long an nsqd stays listed as a producer after its last ping", NULL},
    {"tombstone-lifetime", OPT_DURATION, F(tombstone_lifetime), "45s",
     "how long a tombstoned producer stays tombstoned", NULL},
    {NULL, 0, 0, NULL, NULL, NULL},
};

static int validate(lookupd_opts_t *o, char *err, size_t errlen)
{
    char buf[40];
    if (log_level_parse(o->log_level, &o->log_lvl) != 0) {
        errf(err, errlen,
                "invalid value \"%s\" for flag -log-level: invalid log level (debug, info, warn, "
                "error, fatal)",
                o->log_level ? o->log_level : "");
        return -1;
    }
    for (const opt_def_t *d = lookupd_opt_defs; d->name; d++) {
        if (d->type != OPT_DURATION)
            continue;
        int64_t v = *(const int64_t *)((const char *)o + d->offset);
        bool positive = d->offset == F(inactive_producer_timeout); /* 0 would drop every nsqd */
        if (v > 0 || (v == 0 && !positive))
            continue;
        opts_format_duration(v, buf, sizeof(buf));
        errf(err, errlen, "--%s must be %s (got %s)", d->name,
                positive ? "positive" : "zero or more", buf);
        return -1;
    }
    return 0;
}

static int validate_cb(void *o, char *err, size_t errlen) { return validate(o, err, errlen); }

int lookupd_opts_load(lookupd_opts_t *o, int argc, char **argv, char *err, size_t errlen)
{
    char host[256], version[64];
    memset(o, 0, sizeof(*o));
    util_hostname(host, sizeof(host));
    snprintf(version, sizeof(version), "nsqlookupd v%s (cnsq %s)", NSQ_VERSION, CNSQ_VERSION);
    const char *const overrides[] = {"broadcast-address", host, NULL};
    return opts_load_program(lookupd_opt_defs, overrides, "nsqlookupd", version, validate_cb, o,
                             argc, argv, err, errlen);
}

void lookupd_opts_free(lookupd_opts_t *o)
{
    if (o)
        opts_free(lookupd_opt_defs, o);
}
