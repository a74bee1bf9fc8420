/* Unit tests for nsqd/options.c and lookupd/options.c: every default equals NSQ 1.3's, the
 * run-time defaults (node id, hostname), config-file keys as nsqd names them (id,
 * nsqlookupd_tcp_addresses, ...), validation errors, TLS normalisation, --help/--version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/guid.h"
#include "lookupd/options.h"
#include "nsqd/options.h"

#define SEC 1000000000LL
#define MS 1000000LL

static char err[512];
static nsqd_opts_t o;

static int load(char **args)
{
    char *argv[16] = {"nsqd"};
    int argc = 1;
    while (args && args[argc - 1] && argc < 15) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    nsqd_opts_free(&o);
    err[0] = '\0';
    return nsqd_opts_load(&o, argc, argv, err, sizeof(err));
}

#define LOAD(...) load((char *[]){__VA_ARGS__, NULL})

static int teardown(void **state)
{
    (void)state;
    nsqd_opts_free(&o);
    memset(&o, 0, sizeof(o));
    return 0;
}

static void hostname(char *buf, size_t len)
{
    assert_int_equal(gethostname(buf, len), 0);
    buf[len - 1] = '\0';
}

static void test_nsqd_defaults(void **state)
{
    (void)state;
    char host[256];
    hostname(host, sizeof(host));
    assert_int_equal(load(NULL), 0);
    assert_string_equal(o.log_level, "info");
    assert_int_equal(o.log_lvl, LOG_INFO);
    assert_string_equal(o.log_prefix, "[nsqd] ");
    assert_int_equal(o.node_id, guid_default_node_id());
    assert_true(o.node_id >= 0 && o.node_id < 1024);
    assert_string_equal(o.data_path, "");
    assert_string_equal(o.tcp_address, "0.0.0.0:4150");
    assert_string_equal(o.http_address, "0.0.0.0:4151");
    assert_string_equal(o.https_address, "0.0.0.0:4152");
    assert_string_equal(o.broadcast_address, host);
    assert_int_equal(o.broadcast_tcp_port, 0);
    assert_int_equal(o.broadcast_http_port, 0);
    assert_int_equal(o.lookupd_tcp_addresses.n, 0);
    assert_int_equal(o.mem_queue_size, 10000);
    assert_int_equal(o.max_bytes_per_file, 104857600);
    assert_int_equal(o.sync_every, 2500);
    assert_int_equal(o.sync_timeout, 2 * SEC);
    assert_int_equal(o.queue_scan_worker_pool_max, 4);
    assert_int_equal(o.queue_scan_selection_count, 20);
    assert_int_equal(o.msg_timeout, 60 * SEC);
    assert_int_equal(o.max_msg_timeout, 15 * 60 * SEC);
    assert_int_equal(o.max_msg_size, 1048576);
    assert_int_equal(o.max_body_size, 5242880);
    assert_int_equal(o.max_req_timeout, 3600 * SEC);
    assert_int_equal(o.client_timeout, 60 * SEC);
    assert_int_equal(o.max_heartbeat_interval, 60 * SEC);
    assert_int_equal(o.max_rdy_count, 2500);
    assert_int_equal(o.max_output_buffer_size, 65536);
    assert_int_equal(o.max_output_buffer_timeout, 30 * SEC);
    assert_int_equal(o.min_output_buffer_timeout, 25 * MS);
    assert_int_equal(o.output_buffer_timeout, 250 * MS);
    assert_int_equal(o.max_channel_consumers, 0);
    assert_string_equal(o.statsd_address, "");
    assert_string_equal(o.statsd_prefix, "nsq.%s");
    assert_int_equal(o.statsd_interval, 60 * SEC);
    assert_true(o.statsd_mem_stats);
    assert_int_equal(o.statsd_udp_packet_size, 508);
    assert_false(o.statsd_exclude_ephemeral);
    assert_int_equal(o.e2e_processing_latency_percentiles.n, 0);
    assert_int_equal(o.e2e_processing_latency_window_time, 600 * SEC);
    assert_string_equal(o.tls_cert, "");
    assert_string_equal(o.tls_key, "");
    assert_string_equal(o.tls_root_ca_file, "");
    assert_string_equal(o.tls_client_auth_policy, "");
    assert_string_equal(o.tls_required, "false");
    assert_string_equal(o.tls_min_version, "tls1.0");
    assert_true(o.deflate);
    assert_int_equal(o.max_deflate_level, 6);
    assert_true(o.snappy);
    assert_int_equal(o.auth_http_addresses.n, 0);
    assert_int_equal(o.http_client_connect_timeout, 2 * SEC);
    assert_int_equal(o.http_client_request_timeout, 5 * SEC);
}

static void test_every_flag_known(void **state)
{
    (void)state;
    /* nsqd 1.3's flag names (apps/nsqd/options.go) */
    static const char *const names[] = {
        "version", "config", "log-level", "log-prefix", "verbose", "node-id", "worker-id",
        "https-address", "http-address", "tcp-address", "auth-http-address",
        "broadcast-address", "broadcast-tcp-port", "broadcast-http-port",
        "lookupd-tcp-address", "http-client-connect-timeout", "http-client-request-timeout",
        "data-path", "mem-queue-size", "max-bytes-per-file", "sync-every", "sync-timeout",
        "queue-scan-worker-pool-max", "queue-scan-selection-count", "msg-timeout",
        "max-msg-timeout", "max-msg-size", "max-req-timeout", "max-body-size",
        "max-heartbeat-interval", "max-rdy-count", "max-output-buffer-size",
        "max-output-buffer-timeout", "min-output-buffer-timeout", "output-buffer-timeout",
        "max-channel-consumers", "statsd-address", "statsd-interval", "statsd-mem-stats",
        "statsd-prefix", "statsd-udp-packet-size", "statsd-exclude-ephemeral",
        "e2e-processing-latency-percentile", "e2e-processing-latency-window-time", "tls-cert",
        "tls-key", "tls-client-auth-policy", "tls-root-ca-file", "tls-required",
        "tls-min-version", "deflate", "max-deflate-level", "snappy",
    };
    size_t n = 0;
    while (nsqd_opt_defs[n].name)
        n++;
    assert_int_equal(n, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            found = found || strcmp(nsqd_opt_defs[j].name, names[i]) == 0;
        if (!found)
            fail_msg("flag -%s missing", names[i]);
    }
}

static void test_nsqd_flags(void **state)
{
    (void)state;
    assert_int_equal(LOAD("--node-id=1023", "--lookupd-tcp-address=a:4160",
                          "-lookupd-tcp-address", "b:4160", "--e2e-processing-latency-percentile",
                          "0.99,1.0", "--log-level=WARN", "--snappy=false", "--msg-timeout=90s",
                          "--tls-min-version=TLS1.2", "--verbose", "--worker-id"),
                     0);
    assert_int_equal(o.node_id, 1023);
    assert_int_equal(o.lookupd_tcp_addresses.n, 2);
    assert_string_equal(o.lookupd_tcp_addresses.v[1], "b:4160");
    assert_int_equal(o.e2e_processing_latency_percentiles.n, 2);
    assert_true(o.e2e_processing_latency_percentiles.v[0] == 1.0);
    assert_int_equal(o.log_lvl, LOG_WARN);
    assert_false(o.snappy);
    assert_int_equal(o.msg_timeout, 90 * SEC);
    assert_string_equal(o.tls_min_version, "tls1.2");
}

static void test_nsqd_validation(void **state)
{
    (void)state;
    static const struct {
        const char *args[4];
        const char *want;
    } cases[] = {
        {{"--node-id=1024"}, "--node-id must be in [0, 1023] (got 1024)"},
        {{"--node-id=-1"}, "--node-id must be in [0, 1023] (got -1)"},
        {{"--e2e-processing-latency-percentile=1.5"}, "invalid E2E processing latency percentile: 1.5"},
        {{"--e2e-processing-latency-percentile=0"}, "invalid E2E processing latency percentile: 0"},
        {{"--e2e-processing-latency-percentile=nan"}, "invalid E2E processing latency percentile"},
        {{"--e2e-processing-latency-percentile=0.5", "--e2e-processing-latency-window-time=0"},
         "--e2e-processing-latency-window-time must be positive"},
        {{"--mem-queue-size=-1"}, "--mem-queue-size must be >= 0 (got -1)"},
        {{"--max-msg-size=0"}, "--max-msg-size must be in [1, 2147483647] (got 0)"},
        {{"--max-body-size=0"}, "--max-body-size must be in"},
        {{"--max-deflate-level=10"}, "--max-deflate-level must be in [1, 9] (got 10)"},
        {{"--max-deflate-level=0"}, "--max-deflate-level must be in [1, 9] (got 0)"},
        {{"--broadcast-tcp-port=70000"}, "--broadcast-tcp-port must be in [0, 65535]"},
        {{"--msg-timeout=-1s"}, "--msg-timeout must be positive (got -1s)"},
        {{"--sync-timeout=0"}, "--sync-timeout must be positive (got 0s)"},
        {{"--max-req-timeout=-5m"}, "--max-req-timeout must be zero or more (got -5m0s)"},
        {{"--log-level=verbose"}, "invalid value \"verbose\" for flag -log-level"},
        {{"--tls-required=maybe"}, "invalid value \"maybe\" for flag -tls-required"},
        {{"--tls-required"}, "cannot require TLS client connections without TLS key and cert"},
        {{"--tls-client-auth-policy=require"}, "cannot require TLS client connections"},
        {{"--tls-client-auth-policy=sometimes", "--tls-cert=c", "--tls-key=k"},
         "invalid value \"sometimes\" for flag -tls-client-auth-policy"},
        {{"--tls-cert=c"}, "--tls-cert and --tls-key must be given together"},
        {{"--tls-min-version=ssl3.0"}, "invalid value \"ssl3.0\" for flag -tls-min-version"},
        {{"--mem-queue-size=abc"}, "invalid value \"abc\" for flag -mem-queue-size: parse error"},
        {{"--foo"}, "flag provided but not defined: -foo"},
        {{"--statsd-udp-packet-size=0"}, "--statsd-udp-packet-size must be in [1, 65507]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (load((char **)cases[i].args) != -1)
            fail_msg("case %zu (%s) accepted", i, cases[i].args[0]);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
    /* the edges that are fine */
    assert_int_equal(LOAD("--node-id=0", "--mem-queue-size=0", "--max-channel-consumers=0",
                          "--http-client-connect-timeout=0", "--max-deflate-level=9"),
                     0);
}

static void test_nsqd_tls_normalised(void **state)
{
    (void)state;
    assert_int_equal(LOAD("--tls-client-auth-policy=require-verify", "--tls-cert=c", "--tls-key=k"),
                     0);
    assert_string_equal(o.tls_required, "true"); /* the policy implies TLS required */
    assert_int_equal(LOAD("--tls-required=TCP-HTTPS", "--tls-cert=c", "--tls-key=k"), 0);
    assert_string_equal(o.tls_required, "tcp-https");
    assert_int_equal(LOAD("--tls-required", "--tls-cert=c", "--tls-key=k"), 0);
    assert_string_equal(o.tls_required, "true");
    assert_int_equal(LOAD("--tls-required=0"), 0);
    assert_string_equal(o.tls_required, "false");
    assert_int_equal(LOAD("--tls-min-version="), 0);
    assert_string_equal(o.tls_min_version, "tls1.0");
}

static void write_tmp(char path[64], const char *text)
{
    strcpy(path, "/tmp/cnsq_test_nsqd_opts_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_nsqd_config_file(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, "## a cnsq config in nsqd's format\n"
                    "log_level = \"debug\"\n"
                    "id = 77\n"
                    "tcp_address = \"127.0.0.1:14150\"\n"
                    "nsqlookupd_tcp_addresses = [\n"
                    "    \"127.0.0.1:4160\",\n"
                    "    \"127.0.0.2:4160\"\n"
                    "]\n"
                    "mem_queue_size = 500\n"
                    "max_msg_timeout = \"30m\"\n"
                    "sync_timeout = 500\n"
                    "e2e_processing_latency_percentiles = [\n"
                    "    1.0,\n"
                    "    0.99,\n"
                    "    0.95\n"
                    "]\n"
                    "auth_http_addresses = [\"127.0.0.1:4181\"]\n"
                    "statsd_mem_stats = false\n"
                    "tls_cert = \"c.pem\"\n"
                    "tls_key = \"k.pem\"\n"
                    "tls_required = true\n"
                    "tls_min_version = \"\"\n"
                    "node_id = 5\n");
    assert_int_equal(LOAD("--config", path, "--mem-queue-size=9"), 0);
    assert_int_equal(o.log_lvl, LOG_DEBUG);
    assert_int_equal(o.node_id, 77); /* nsqd's key is "id"; node_id is not one of its keys */
    assert_string_equal(o.tcp_address, "127.0.0.1:14150");
    assert_int_equal(o.lookupd_tcp_addresses.n, 2);
    assert_string_equal(o.lookupd_tcp_addresses.v[1], "127.0.0.2:4160");
    assert_int_equal(o.mem_queue_size, 9); /* the flag wins */
    assert_int_equal(o.max_msg_timeout, 30 * 60 * SEC);
    assert_int_equal(o.sync_timeout, 500 * MS); /* bare integer duration = milliseconds */
    assert_int_equal(o.e2e_processing_latency_percentiles.n, 3);
    assert_true(o.e2e_processing_latency_percentiles.v[2] == 0.95);
    assert_int_equal(o.auth_http_addresses.n, 1);
    assert_false(o.statsd_mem_stats);
    assert_string_equal(o.tls_required, "true");
    assert_string_equal(o.tls_min_version, "tls1.0");
    assert_string_equal(o.config, path);
    unlink(path);

    write_tmp(path, "id = 5\n\nmem_queue_size = -1\n");
    assert_int_equal(LOAD("--config", path), -1);
    assert_string_equal(err, "--mem-queue-size must be >= 0 (got -1)");
    unlink(path);

    write_tmp(path, "id = 5\nmem_queue_size = lots\n");
    assert_int_equal(LOAD("--config", path), -1);
    assert_true(strstr(err, ": line 2: invalid value lots") != NULL);
    unlink(path);
}

/* Runs nsqd_opts_load with stdout captured; returns the output (malloc'd), rc in *rc. */
static char *load_stdout(char **args, int *rc)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    *rc = load(args);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fds[1]);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, (1 << 20) - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    return buf;
}

static void test_nsqd_help_version(void **state)
{
    (void)state;
    int rc = 0;
    char *out = load_stdout((char *[]){"--version", NULL}, &rc);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "nsqd v" NSQ_VERSION " (cnsq " CNSQ_VERSION ")\n");
    free(out);
    out = load_stdout((char *[]){"--help", NULL}, &rc);
    assert_int_equal(rc, 1);
    assert_true(strncmp(out, "Usage of nsqd:\n", 15) == 0);
    assert_non_null(strstr(out, "  -mem-queue-size int\n"));
    assert_non_null(strstr(out, "(default 10000)\n"));
    assert_non_null(strstr(out, "  -msg-timeout duration\n"));
    assert_non_null(strstr(out, "(default 1m0s)\n"));
    assert_non_null(strstr(out, "(default \"[nsqd] \")\n"));
    assert_non_null(strstr(out, "  -lookupd-tcp-address value\n"));
    assert_non_null(strstr(out, "  -snappy\n"));
    assert_non_null(strstr(out, "  -tls-required\n"));
    free(out);
    out = load_stdout((char *[]){"-h", NULL}, &rc);
    assert_int_equal(rc, 1);
    free(out);
}

/* ---- nsqlookupd ------------------------------------------------------------------------ */

static void test_lookupd(void **state)
{
    (void)state;
    lookupd_opts_t lo;
    char host[256];
    hostname(host, sizeof(host));
    char *argv0[] = {"nsqlookupd", NULL};
    assert_int_equal(lookupd_opts_load(&lo, 1, argv0, err, sizeof(err)), 0);
    assert_string_equal(lo.log_level, "info");
    assert_int_equal(lo.log_lvl, LOG_INFO);
    assert_string_equal(lo.log_prefix, "[nsqlookupd] ");
    assert_string_equal(lo.tcp_address, "0.0.0.0:4160");
    assert_string_equal(lo.http_address, "0.0.0.0:4161");
    assert_string_equal(lo.broadcast_address, host);
    assert_int_equal(lo.inactive_producer_timeout, 300 * SEC);
    assert_int_equal(lo.tombstone_lifetime, 45 * SEC);
    lookupd_opts_free(&lo);

    char path[64];
    write_tmp(path, "tombstone_lifetime = \"10s\"\ninactive_producer_timeout = 60000\n");
    char *argv1[] = {"nsqlookupd", "--config", path, "-tcp-address", ":1", NULL};
    assert_int_equal(lookupd_opts_load(&lo, 5, argv1, err, sizeof(err)), 0);
    assert_int_equal(lo.tombstone_lifetime, 10 * SEC);
    assert_int_equal(lo.inactive_producer_timeout, 60 * SEC);
    assert_string_equal(lo.tcp_address, ":1");
    lookupd_opts_free(&lo);
    unlink(path);

    char *argv2[] = {"nsqlookupd", "--inactive-producer-timeout=0", NULL};
    assert_int_equal(lookupd_opts_load(&lo, 2, argv2, err, sizeof(err)), -1);
    assert_string_equal(err, "--inactive-producer-timeout must be positive (got 0s)");
    lookupd_opts_free(&lo);
    char *argv3[] = {"nsqlookupd", "--data-path=x", NULL};
    assert_int_equal(lookupd_opts_load(&lo, 2, argv3, err, sizeof(err)), -1);
    assert_string_equal(err, "flag provided but not defined: -data-path");
    lookupd_opts_free(&lo);
    char *argv4[] = {"nsqlookupd", "--log-level", "nope", NULL};
    assert_int_equal(lookupd_opts_load(&lo, 3, argv4, err, sizeof(err)), -1);
    lookupd_opts_free(&lo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nsqd_defaults, teardown),
        cmocka_unit_test(test_every_flag_known),
        cmocka_unit_test_teardown(test_nsqd_flags, teardown),
        cmocka_unit_test_teardown(test_nsqd_validation, teardown),
        cmocka_unit_test_teardown(test_nsqd_tls_normalised, teardown),
        cmocka_unit_test_teardown(test_nsqd_config_file, teardown),
        cmocka_unit_test_teardown(test_nsqd_help_version, teardown),
        cmocka_unit_test(test_lookupd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
