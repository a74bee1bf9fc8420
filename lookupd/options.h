/* options: nsqlookupd's flags, their defaults (NSQ 1.3's) and validation. */
#ifndef CNSQ_LOOKUPD_OPTIONS_H
#define CNSQ_LOOKUPD_OPTIONS_H

#include <stdint.h>

#include "common/log.h"
#include "common/opts.h"

typedef struct lookupd_opts {
    char *config;
    char *log_level;             /* text as given; parsed into log_lvl */
    log_level_t log_lvl;         /* set by lookupd_opts_load */
    char *log_prefix;            /* "[nsqlookupd] " */
    char *tcp_address;           /* "0.0.0.0:4160" */
    char *http_address;          /* "0.0.0.0:4161" */
    char *broadcast_address;     /* default: hostname */
    int64_t inactive_producer_timeout; /* ns, 300s */
    int64_t tombstone_lifetime;        /* ns, 45s */
} lookupd_opts_t;

extern const opt_def_t lookupd_opt_defs[]; /* ends with a {NULL} entry */

/* Parses argv (and --config) into o and validates it. Returns 0; 1 when --help/--version was
 * handled (printed to stdout; the caller exits 0); -1 with err on a bad flag or value.
 * o need not be initialised; call lookupd_opts_free after any return. */
int lookupd_opts_load(lookupd_opts_t *o, int argc, char **argv, char *err, size_t errlen);
void lookupd_opts_free(lookupd_opts_t *o);

#endif
