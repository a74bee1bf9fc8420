/* options: nsqd's flag table and its validation.
 * Owns nsqd_opt_defs (every nsqd 1.3 flag with NSQ's default and config-file key) and
 * nsqd_opts_load: parse (flags > config file > defaults, with the run-time defaults node id
 * and hostname filled in), handle --help/--version, then check ranges and normalise the
 * TLS and log-level settings the rest of nsqd relies on. */
#include "nsqd/options.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/util.h"

#ifndef NSQ_VERSION
#define NSQ_VERSION "1.3.0"
#endif
#ifndef CNSQ_VERSION
#define CNSQ_VERSION "0.0.0"
#endif

#define NS_PER_SEC 1000000000LL

#define F(field) offsetof(nsqd_opts_t, field)

const opt_def_t nsqd_opt_defs[] = {
    /* general */
    {"version", OPT_BOOL, OPT_NOFIELD, NULL, "print the version and exit", NULL},
    {"config", OPT_STRING, F(config), NULL, "path to a config file", NULL},
    {"log-level", OPT_STRING, F(log_level), "info", "log verbosity: debug, info, warn, error or fatal",
     NULL},
    {"log-prefix", OPT_STRING, F(log_prefix), "[nsqd] ", "prefix of every log line", NULL},
    {"verbose", OPT_BOOL, OPT_NOFIELD, NULL, "[deprecated] no effect; use --log-level", NULL},
    {"node-id", OPT_INT, F(node_id), NULL,
     "unique part of message ids, in [0,1024); the default is derived from the hostname", "id"},
    {"worker-id", OPT_BOOL, OPT_NOFIELD, NULL, "[deprecated] use --node-id", NULL},
    {"data-path", OPT_STRING, F(data_path), NULL,
     "directory for disk-backed queues and metadata (default: the working directory)", NULL},

    /* listeners and discovery */
    {"tcp-address", OPT_STRING, F(tcp_address), "0.0.0.0:4150",
     "<addr>:<port> on which to accept TCP clients", NULL},
    {"http-address", OPT_STRING, F(http_address), "0.0.0.0:4151",
     "<addr>:<port> on which to accept HTTP clients (empty disables HTTP)", NULL},
    {"https-address", OPT_STRING, F(https_address), "0.0.0.0:4152",
     "<addr>:<port> on which to accept HTTPS clients (needs --tls-cert and --tls-key)", NULL},
    {"broadcast-address", OPT_STRING, F(broadcast_address), NULL,
     "address registered with nsqlookupd; the default is the hostname", NULL},
    {"broadcast-tcp-port", OPT_INT, F(broadcast_tcp_port), "0",
     "TCP port registered with nsqlookupd (0: the port actually listened on)", NULL},
    {"broadcast-http-port", OPT_INT, F(broadcast_http_port), "0",
     "HTTP port registered with nsqlookupd (0: the port actually listened on)", NULL},
    {"lookupd-tcp-address", OPT_STRLIST, F(lookupd_tcp_addresses), NULL,
     "TCP address of an nsqlookupd (repeat for several)", "nsqlookupd_tcp_addresses"},
    {"http-client-connect-timeout", OPT_DURATION, F(http_client_connect_timeout), "2s",
     "connect timeout of outgoing HTTP requests", NULL},
    {"http-client-request-timeout", OPT_DURATION, F(http_client_request_timeout), "5s",
     "overall timeout of outgoing HTTP requests", NULL},

    /* queues */
    {"mem-queue-size", OPT_INT, F(mem_queue_size), "10000",
     "messages kept in memory per topic and per channel before spilling to disk", NULL},
    {"max-bytes-per-file", OPT_INT, F(max_bytes_per_file), "104857600",
     "size at which a disk queue file is rolled over", NULL},
    {"sync-every", OPT_INT, F(sync_every), "2500", "disk queue writes/reads between fsyncs", NULL},
    {"sync-timeout", OPT_DURATION, F(sync_timeout), "2s",
     "longest time between disk queue fsyncs", NULL},
    {"queue-scan-worker-pool-max", OPT_INT, F(queue_scan_worker_pool_max), "4",
     "most workers scanning channels for in-flight and deferred timeouts", NULL},
    {"queue-scan-selection-count", OPT_INT, F(queue_scan_selection_count), "20",
     "channels sampled per scan cycle (every 100ms) for timeouts", NULL},

    /* messages */
    {"msg-timeout", OPT_DURATION, F(msg_timeout), "60s",
     "default time a consumer has before an unfinished message is requeued", NULL},
    {"max-msg-timeout", OPT_DURATION, F(max_msg_timeout), "15m",
     "largest message timeout a client may ask for", NULL},
    {"max-msg-size", OPT_INT, F(max_msg_size), "1048576", "largest message body in bytes",
     NULL},
    {"max-req-timeout", OPT_DURATION, F(max_req_timeout), "1h",
     "largest requeue delay (REQ) or publish deferral (DPUB)", NULL},
    {"max-body-size", OPT_INT, F(max_body_size), "5242880",
     "largest command body (e.g. a whole MPUB) in bytes", NULL},

    /* client limits */
    {"max-heartbeat-interval", OPT_DURATION, F(max_heartbeat_interval), "60s",
     "largest heartbeat interval a client may ask for", NULL},
    {"max-rdy-count", OPT_INT, F(max_rdy_count), "2500", "largest RDY count a client may set",
     NULL},
    {"max-output-buffer-size", OPT_INT, F(max_output_buffer_size), "65536",
     "largest output buffer (bytes) a client may ask for", NULL},
    {"max-output-buffer-timeout", OPT_DURATION, F(max_output_buffer_timeout), "30s",
     "longest output flush delay a client may ask for", NULL},
    {"min-output-buffer-timeout", OPT_DURATION, F(min_output_buffer_timeout), "25ms",
     "shortest output flush delay a client may ask for", NULL},
    {"output-buffer-timeout", OPT_DURATION, F(output_buffer_timeout), "250ms",
     "default delay before buffered output is flushed to a client", NULL},
    {"max-channel-consumers", OPT_INT, F(max_channel_consumers), "0",
     "most consumers per channel on this nsqd (0: no limit)", NULL},

    /* statsd */
    {"statsd-address", OPT_STRING, F(statsd_address), NULL,
     "UDP <addr>:<port> of a statsd to push stats to (empty: off)", NULL},
    {"statsd-prefix", OPT_STRING, F(statsd_prefix), "nsq.%s",
     "prefix of statsd keys (%s becomes this node's broadcast host_port)", NULL},
    {"statsd-interval", OPT_DURATION, F(statsd_interval), "60s", "time between statsd pushes",
     NULL},
    {"statsd-mem-stats", OPT_BOOL, F(statsd_mem_stats), "true",
     "also push memory statistics to statsd", NULL},
    {"statsd-udp-packet-size", OPT_INT, F(statsd_udp_packet_size), "508",
     "largest statsd datagram in bytes", NULL},
    {"statsd-exclude-ephemeral", OPT_BOOL, F(statsd_exclude_ephemeral), "false",
     "leave ephemeral topics and channels out of statsd", NULL},

    /* e2e latency */
    {"e2e-processing-latency-percentile", OPT_FLOATLIST, F(e2e_processing_latency_percentiles),
     NULL,
     "end-to-end latency quantile to track, in (0,1]; repeat or give a comma list like "
     "1.0,0.99,0.95 (default: none)",
     "e2e_processing_latency_percentiles"},
    {"e2e-processing-latency-window-time", OPT_DURATION,
     F(e2e_processing_latency_window_time), "10m",
     "time window the latency quantiles are computed over", NULL},

    /* TLS */
    {"tls-cert", OPT_STRING, F(tls_cert), NULL, "path to the TLS certificate file", NULL},
    {"tls-key", OPT_STRING, F(tls_key), NULL, "path to the TLS private key file", NULL},
    {"tls-root-ca-file", OPT_STRING, F(tls_root_ca_file), NULL,
     "path to the CA file used to verify client certificates", NULL},
    {"tls-client-auth-policy", OPT_STRING, F(tls_client_auth_policy), NULL,
     "client certificate policy: require or require-verify (implies --tls-required)", NULL},
    {"tls-required", OPT_BOOLSTR, F(tls_required), "false",
     "require TLS from clients: true, false or tcp-https (TCP only)", NULL},
    {"tls-min-version", OPT_STRING, F(tls_min_version), "tls1.0",
     "oldest TLS version accepted: tls1.0, tls1.1, tls1.2 or tls1.3", NULL},

    /* compression */
    {"deflate", OPT_BOOL, F(deflate), "true", "let clients negotiate deflate compression", NULL},
    {"max-deflate-level", OPT_INT, F(max_deflate_level), "6",
     "highest deflate level a client may negotiate (1-9; higher costs more CPU)", NULL},
    {"snappy", OPT_BOOL, F(snappy), "true", "let clients negotiate snappy compression", NULL},

    /* auth */
    {"auth-http-address", OPT_STRLIST, F(auth_http_addresses), NULL,
     "<addr>:<port> or full URL of an auth server (repeat for several)", "auth_http_addresses"},
    {NULL, 0, 0, NULL, NULL, NULL},
};

/* Integer options and their allowed ranges. */
static const struct int_range {
    const char *flag;
    size_t offset;
    int64_t min, max;
} int_ranges[] = {
    {"node-id", F(node_id), 0, 1023},
    {"broadcast-tcp-port", F(broadcast_tcp_port), 0, 65535},
    {"broadcast-http-port", F(broadcast_http_port), 0, 65535},
    {"mem-queue-size", F(mem_queue_size), 0, INT64_MAX},
    {"max-bytes-per-file", F(max_bytes_per_file), 1, INT64_MAX},
    {"sync-every", F(sync_every), 1, INT64_MAX},
    {"queue-scan-worker-pool-max", F(queue_scan_worker_pool_max), 1, INT64_MAX},
    {"queue-scan-selection-count", F(queue_scan_selection_count), 1, INT64_MAX},
    {"max-msg-size", F(max_msg_size), 1, INT32_MAX},
    {"max-body-size", F(max_body_size), 1, INT32_MAX},
    {"max-rdy-count", F(max_rdy_count), 0, INT64_MAX},
    {"max-output-buffer-size", F(max_output_buffer_size), 0, INT64_MAX},
    {"max-channel-consumers", F(max_channel_consumers), 0, INT64_MAX},
    {"statsd-udp-packet-size", F(statsd_udp_packet_size), 1, 65507},
    {"max-deflate-level", F(max_deflate_level), 1, 9},
};

/* Durations that must be positive (every duration must be >= 0). */
static const char *const positive_durations[] = {"sync-timeout", "msg-timeout",
                                                 "statsd-interval"};

/* --tls-required values (after lowercasing, as nsqd does) and what they mean. */
static const struct {
    const char *word, *mode;
} tls_required_words[] = {
    {"1", "true"},  {"t", "true"},  {"true", "true"},   {"tcp-https", "tcp-https"},
    {"0", "false"}, {"f", "false"}, {"false", "false"},
};

static const char *const tls_versions[] = {"tls1.0", "tls1.1", "tls1.2", "tls1.3"};
static const char *const tls_auth_policies[] = {"", "require", "require-verify"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int check_int_ranges(const nsqd_opts_t *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < COUNT(int_ranges); i++) {
        const struct int_range *r = &int_ranges[i];
        int64_t v = *(const int64_t *)((const char *)o + r->offset);
        if (v >= r->min && v <= r->max)
            continue;
        if (r->max == INT64_MAX)
            errf(err, errlen, "--%s must be >= %" PRId64 " (got %" PRId64 ")", r->flag,
                    r->min, v);
        else
            errf(err, errlen, "--%s must be in [%" PRId64 ", %" PRId64 "] (got %" PRId64 ")",
                    r->flag, r->min, r->max, v);
        return -1;
    }
    return 0;
}

static bool is_positive_duration(const char *flag)
{
    for (size_t i = 0; i < COUNT(positive_durations); i++)
        if (strcmp(positive_durations[i], flag) == 0)
            return true;
    return false;
}

static int check_durations(const nsqd_opts_t *o, char *err, size_t errlen)
{
    char buf[40];
    for (const opt_def_t *d = nsqd_opt_defs; d->name; d++) {
        if (d->type != OPT_DURATION)
            continue;
        int64_t v = *(const int64_t *)((const char *)o + d->offset);
        bool positive = is_positive_duration(d->name);
        if (v > 0 || (v == 0 && !positive))
            continue;
        opts_format_duration(v, buf, sizeof(buf));
        errf(err, errlen, "--%s must be %s (got %s)", d->name,
                positive ? "positive" : "zero or more", buf);
        return -1;
    }
    return 0;
}

static int check_percentiles(const nsqd_opts_t *o, char *err, size_t errlen)
{
    const floatlist_t *l = &o->e2e_processing_latency_percentiles;
    for (int i = 0; i < l->n; i++) {
        if (!(l->v[i] > 0 && l->v[i] <= 1)) { /* also rejects NaN */
            errf(err, errlen, "invalid E2E processing latency percentile: %g (must be in (0,1])",
                    l->v[i]);
            return -1;
        }
    }
    if (l->n > 0 && o->e2e_processing_latency_window_time <= 0) {
        errf(err, errlen, "--e2e-processing-latency-window-time must be positive");
        return -1;
    }
    return 0;
}

static int check_log_level(nsqd_opts_t *o, char *err, size_t errlen)
{
    if (log_level_parse(o->log_level, &o->log_lvl) == 0)
        return 0;
    errf(err, errlen,
            "invalid value \"%s\" for flag -log-level: invalid log level (debug, info, warn, "
            "error, fatal)",
            o->log_level ? o->log_level : "");
    return -1;
}

/* Replaces *slot with a copy of word. */
static int replace_str(char **slot, const char *word, char *err, size_t errlen)
{
    char *dup = strdup(word);
    if (!dup) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = dup;
    return 0;
}

/* Normalises tls_required to false|true|tcp-https, as nsqd's parser reads it. */
static int check_tls_required(nsqd_opts_t *o, char *err, size_t errlen)
{
    char low[32];
    const char *given = o->tls_required ? o->tls_required : "";
    size_t n = strlen(given);
    for (size_t i = 0; i < n && i + 1 < sizeof(low); i++)
        low[i] = (char)(given[i] >= 'A' && given[i] <= 'Z' ? given[i] - 'A' + 'a' : given[i]);
    low[n < sizeof(low) ? n : sizeof(low) - 1] = '\0';
    for (size_t i = 0; n < sizeof(low) && i < COUNT(tls_required_words); i++)
        if (strcmp(low, tls_required_words[i].word) == 0)
            return replace_str(&o->tls_required, tls_required_words[i].mode, err, errlen);
    errf(err, errlen, "invalid value \"%s\" for flag -tls-required: want true, false or tcp-https",
            given);
    return -1;
}

static int find_word(const char *const *words, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(words[i], s) == 0)
            return (int)i;
    return -1;
}

static int check_tls(nsqd_opts_t *o, char *err, size_t errlen)
{
    const char *minv = o->tls_min_version && *o->tls_min_version ? o->tls_min_version : "tls1.0";
    const char *policy = o->tls_client_auth_policy ? o->tls_client_auth_policy : "";
    bool have_cert = o->tls_cert && *o->tls_cert, have_key = o->tls_key && *o->tls_key;
    int v = find_word(tls_versions, COUNT(tls_versions), minv);

    if (v < 0) {
        errf(err, errlen, "invalid value \"%s\" for flag -tls-min-version: want tls1.0, tls1.1, "
                "tls1.2 or tls1.3", minv);
        return -1;
    }
    if (replace_str(&o->tls_min_version, tls_versions[v], err, errlen))
        return -1;
    if (find_word(tls_auth_policies, COUNT(tls_auth_policies), policy) < 0) {
        errf(err, errlen, "invalid value \"%s\" for flag -tls-client-auth-policy: want require "
                "or require-verify", policy);
        return -1;
    }
    if (check_tls_required(o, err, errlen))
        return -1;
    if (*policy && strcmp(o->tls_required, "false") == 0 &&
        replace_str(&o->tls_required, "true", err, errlen))
        return -1;
    if (have_cert != have_key) {
        errf(err, errlen, "--tls-cert and --tls-key must be given together");
        return -1;
    }
    if (!have_cert && strcmp(o->tls_required, "false") != 0) {
        errf(err, errlen, "cannot require TLS client connections without TLS key and cert");
        return -1;
    }
    return 0;
}

static int validate(nsqd_opts_t *o, char *err, size_t errlen)
{
    if (check_log_level(o, err, errlen) || check_int_ranges(o, err, errlen) ||
        check_durations(o, err, errlen) || check_percentiles(o, err, errlen) ||
        check_tls(o, err, errlen))
        return -1;
    o->client_timeout = 60 * NS_PER_SEC; /* not a flag in nsqd 1.3 */
    return 0;
}

static int validate_cb(void *o, char *err, size_t errlen) { return validate(o, err, errlen); }

int nsqd_opts_load(nsqd_opts_t *o, int argc, char **argv, char *err, size_t errlen)
{
    char host[256], node[24], version[64];
    memset(o, 0, sizeof(*o));
    util_hostname(host, sizeof(host));
    snprintf(node, sizeof(node), "%" PRId64, guid_default_node_id());
    snprintf(version, sizeof(version), "nsqd v%s (cnsq %s)", NSQ_VERSION, CNSQ_VERSION);
    const char *const overrides[] = {"node-id", node, "broadcast-address", host, NULL};
    return opts_load_program(nsqd_opt_defs, overrides, "nsqd", version, validate_cb, o, argc,
                             argv, err, errlen);
}

void nsqd_opts_free(nsqd_opts_t *o)
{
    if (o)
        opts_free(nsqd_opt_defs, o);
}
