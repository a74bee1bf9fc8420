/* options: nsqd's flags, their defaults (NSQ 1.3's) and validation. */
#ifndef CNSQ_NSQD_OPTIONS_H
#define CNSQ_NSQD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "common/opts.h"

typedef struct nsqd_opts {
    /* general */
    char *config;
    char *log_level;   /* text as given; parsed into log_lvl */
    log_level_t log_lvl; /* set by nsqd_opts_load */
    char *log_prefix;  /* "[nsqd] " */
    int64_t node_id;   /* default: guid_default_node_id() */
    char *data_path;   /* default: "" = current directory */

    /* listeners and discovery */
    char *tcp_address;   /* "0.0.0.0:4150" */
    char *http_address;  /* "0.0.0.0:4151" ("" disables) */
    char *https_address; /* "0.0.0.0:4152" */
    char *broadcast_address; /* default: hostname */
    int64_t broadcast_tcp_port;  /* 0 = the real port */
    int64_t broadcast_http_port;
    strlist_t lookupd_tcp_addresses;

    /* queues */
    int64_t mem_queue_size;      /* 10000 */
    int64_t max_bytes_per_file;  /* 104857600 */
    int64_t sync_every;          /* 2500 */
    int64_t sync_timeout;        /* ns, 2s */
    int64_t queue_scan_worker_pool_max; /* 4: workers checking in-flight/deferred timeouts */
    int64_t queue_scan_selection_count; /* 20: channels sampled per 100ms scan cycle */

    /* messages */
    int64_t msg_timeout;         /* ns, 60s */
    int64_t max_msg_timeout;     /* ns, 15m */
    int64_t max_msg_size;        /* 1048576 */
    int64_t max_body_size;       /* 5242880 */
    int64_t max_req_timeout;     /* ns, 1h */
    int64_t client_timeout;      /* ns, 60s (not a flag in nsqd 1.3; kept internal) */

    /* client limits */
    int64_t max_heartbeat_interval;    /* ns, 60s */
    int64_t max_rdy_count;             /* 2500 */
    int64_t max_output_buffer_size;    /* 65536 */
    int64_t max_output_buffer_timeout; /* ns, 30s */
    int64_t min_output_buffer_timeout; /* ns, 25ms */
    int64_t output_buffer_timeout;     /* ns, 250ms */
    int64_t max_channel_consumers;     /* 0 = unlimited */

    /* statsd */
    char *statsd_address;
    char *statsd_prefix;          /* "nsq.%s" */
    int64_t statsd_interval;      /* ns, 60s */
    bool statsd_mem_stats;        /* true */
    int64_t statsd_udp_packet_size; /* 508 */
    bool statsd_exclude_ephemeral;

    /* e2e latency */
    floatlist_t e2e_processing_latency_percentiles;
    int64_t e2e_processing_latency_window_time; /* ns, 10m */

    /* TLS */
    char *tls_cert;
    char *tls_key;
    char *tls_root_ca_file;
    char *tls_client_auth_policy;
    char *tls_required;     /* "false" | "true" | "tcp-https" (normalised by nsqd_opts_load;
                             * a tls-client-auth-policy makes "false" "true") */
    char *tls_min_version;  /* "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3" (normalised) */

    /* compression */
    bool deflate;           /* true */
    int64_t max_deflate_level; /* 6 */
    bool snappy;            /* true */

    /* auth */
    strlist_t auth_http_addresses;
    int64_t http_client_connect_timeout; /* ns, 2s */
    int64_t http_client_request_timeout; /* ns, 5s */
} nsqd_opts_t;

extern const opt_def_t nsqd_opt_defs[];

/* Parses argv (and --config) into o, then validates ranges (node id 0..1023, percentiles in
 * (0,1], mem-queue-size >= 0, ...). Returns 0; 1 when --help/--version was handled (printed to
 * stdout; the caller exits 0); -1 with err on a bad flag or value. o need not be initialised;
 * call nsqd_opts_free after any return. nsqd_opt_defs ends with a {NULL} entry. */
int nsqd_opts_load(nsqd_opts_t *o, int argc, char **argv, char *err, size_t errlen);
void nsqd_opts_free(nsqd_opts_t *o);

#endif
