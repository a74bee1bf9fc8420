/* main: nsqd's entry point. Parses options, builds the event loop and wires the modules
 * (registry, metadata, TCP, HTTP) in start order; SIGINT/SIGTERM stop them in reverse order,
 * writing every message and the metadata to disk, and exit 0.
 * Owns nothing but the wiring: every piece of state belongs to a module. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "nsqd/http.h"
#include "nsqd/metadata.h"
#include "nsqd/nsqd.h"
#include "nsqd/options.h"
#include "nsqd/statsd.h"
#include "nsqd/tcp.h"
#include "nsqd/telemetry.h"

typedef struct daemon {
    struct event_base *base;
    nsqd_t *nsqd;
    metadata_t *metadata;
    bool loaded; /* nsqd.dat was read: it may be written at exit */
    tcp_server_t *tcp;
    http_server_t *http;
    telemetry_t *tel;
    statsd_t *statsd; /* only with --statsd-address */
    struct event *sigint, *sigterm;
    int lock_fd;
} daemon_t;

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    daemon_t *d = arg;
    log_info("received signal %d: exiting", (int)sig);
    nsqd_set_exiting(d->nsqd);
    event_base_loopbreak(d->base);
}

/* Creates the data path if missing and locks it (flock on the directory, as nsqd's dirlock):
 * a second nsqd on the same path refuses to start. The lock lives as long as the process. */
static int prepare_data_path(daemon_t *d, const char *path, char *err, size_t errlen)
{
    struct stat st;
    const char *dir = (path && *path) ? path : ".";
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--data-path=%s is not a directory", dir);
        return -1;
    }
    if (stat(dir, &st) < 0 && mkdir(dir, 0755) < 0) {
        snprintf(err, errlen, "--data-path=%s: %s", dir, strerror(errno));
        return -1;
    }
    d->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen,
                 "--data-path=%s in use (possibly by another instance of nsqd): %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Recreates the topics and channels of nsqd.dat (reopening their disk queues), then keeps the
 * file up to date. A file that cannot be parsed stops the start and is left alone. */
static int start_metadata(daemon_t *d, char *err, size_t errlen)
{
    d->metadata = metadata_new(d->nsqd);
    if (!d->metadata) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (metadata_load(d->metadata, err, errlen) < 0)
        return -1;
    d->loaded = true;
    nsqd_hooks_t hooks = {.changed = metadata_changed, .ctx = d->metadata};
    nsqd_set_hooks(d->nsqd, &hooks);
    return metadata_write(d->metadata, err, errlen);
}

static int start(daemon_t *d, const nsqd_opts_t *o, char *err, size_t errlen)
{
    int tcp_port = 0, http_port = 0;
    if (prepare_data_path(d, o->data_path, err, errlen) < 0)
        return -1;
    d->nsqd = nsqd_new(d->base, o, err, errlen);
    if (!d->nsqd)
        return -1;
    if (start_metadata(d, err, errlen) < 0)
        return -1;
    d->tcp = tcp_server_new(d->nsqd, o->tcp_address, &tcp_port, err, errlen);
    if (!d->tcp)
        return -1;
    log_info("TCP: listening on %s (port %d)", o->tcp_address, tcp_port);
    if (o->http_address && *o->http_address) {
        d->http = http_server_new(d->nsqd, d->tcp, o->http_address, &http_port, err, errlen);
        if (!d->http)
            return -1;
        log_info("HTTP: listening on %s (port %d)", o->http_address, http_port);
    }
    nsqd_set_ports(d->nsqd, tcp_port, http_port);
    if (!(d->tel = telemetry_new(d->nsqd, err, errlen)))
        return -1;
    if (o->statsd_address && *o->statsd_address &&
        !(d->statsd = statsd_new(d->nsqd, d->tel, err, errlen)))
        return -1;
    d->sigint = evsignal_new(d->base, SIGINT, signal_cb, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, signal_cb, d);
    evsignal_add(d->sigint, NULL);
    evsignal_add(d->sigterm, NULL);
    return 0;
}

/* Writes every queued, in-flight (requeued by now) and deferred message and the metadata. */
static void persist(daemon_t *d)
{
    char err[512];
    size_t lost = nsqd_persist(d->nsqd);
    if (lost)
        log_error("NSQ: %zu messages could not be written to disk", lost);
    if (metadata_write(d->metadata, err, sizeof(err)) < 0)
        log_error("NSQ: failed to persist metadata - %s", err);
}

/* Reverse start order: stop accepting (TCP, HTTP: pending durable replies get 503), freeze
 * delivery, close clients (their in-flight messages go back to their channels, attempts
 * kept), write everything to disk, then free the registry (the disk queues sync and close). */
static void stop(daemon_t *d)
{
    if (d->tcp)
        tcp_server_stop_accepting(d->tcp);
    http_server_free(d->http);
    d->http = NULL;
    if (d->nsqd)
        nsqd_freeze(d->nsqd);
    if (d->tcp)
        tcp_server_close_clients(d->tcp);
    if (d->loaded)
        persist(d);
    tcp_server_free(d->tcp);
    metadata_free(d->metadata);
    statsd_free(d->statsd); /* sends what is left at once */
    telemetry_free(d->tel);
    nsqd_free(d->nsqd);
    if (d->sigint)
        event_free(d->sigint);
    if (d->sigterm)
        event_free(d->sigterm);
}

int main(int argc, char **argv)
{
    char err[512] = "";
    nsqd_opts_t opts;
    int rc = nsqd_opts_load(&opts, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "nsqd: %s\n", err);
        nsqd_opts_free(&opts);
        return rc < 0 ? 2 : 0;
    }
    log_level_t lvl = LOG_INFO;
    log_level_parse(opts.log_level, &lvl);
    log_setup(lvl, opts.log_prefix);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a write past RLIMIT_FSIZE fails with EFBIG instead */
    evthread_use_pthreads();  /* the fsync helper thread activates loop events */
    log_info("nsqd v%s (cnsq %s)", NSQ_VERSION, CNSQ_VERSION);

    daemon_t d = {.lock_fd = -1};
    d.base = event_base_new();
    if (!d.base) {
        log_fatal("event_base_new failed");
        return 1;
    }
    rc = start(&d, &opts, err, sizeof(err));
    if (rc == 0)
        rc = event_base_dispatch(d.base) < 0 ? -1 : 0;
    else
        log_fatal("%s", err);
    stop(&d);
    event_base_free(d.base);
    if (d.lock_fd >= 0)
        close(d.lock_fd);
    nsqd_opts_free(&opts);
    return rc == 0 ? 0 : 1;
}
