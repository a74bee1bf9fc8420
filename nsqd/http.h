/* http: nsqd's HTTP API (NSQ 1.3's routes, parameters, status codes and bodies) on the shared
 * server in common/httputil. Publishes through nsqd and topics, reads state only through the
 * stats snapshot, and holds the run-time settable options (PUT /config/...). */
#ifndef CNSQ_NSQD_HTTP_H
#define CNSQ_NSQD_HTTP_H

#include <stddef.h>

#include "common/opts.h"
#include "nsqd/nsqd.h"
#include "nsqd/tcp.h"

typedef struct http_server http_server_t;

/* Listens on addr ("host:port"); port_out gets the real port. tcp (may be NULL) is read for
 * client stats. Borrows n and tcp (both outlive the server). NULL with err on failure. */
http_server_t *http_server_new(nsqd_t *n, tcp_server_t *tcp, const char *addr, int *port_out,
                               char *err, size_t errlen);
void http_server_free(http_server_t *s);

/* nsqlookupd_tcp_addresses as last set (starts as --lookupd-tcp-address; PUT /config replaces
 * it). Owned by the server. */
const strlist_t *http_server_lookupd_addresses(const http_server_t *s);

/* Called after PUT /config/<opt> changed a setting ("nsqlookupd_tcp_addresses", "log_level"),
 * so the lookup loop can reconnect. fn may be NULL. */
typedef void (*http_config_changed_fn)(void *ctx, const char *opt);
void http_server_set_config_hook(http_server_t *s, http_config_changed_fn fn, void *ctx);

#endif
