/* protocol_v2: nsqd's V2 TCP protocol on a client (after the "  V2" magic): the incremental
 * command parser, the command table (IDENTIFY, SUB, RDY, FIN, REQ, TOUCH, PUB, MPUB, DPUB, NOP,
 * CLS, AUTH) and message delivery (the client's chan_consumer ops). The pure helpers below are
 * exported for unit tests. */
#ifndef CNSQ_NSQD_PROTOCOL_V2_H
#define CNSQ_NSQD_PROTOCOL_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsqd/options.h"
#include "nsqd/tcp.h"

/* Takes over the client's reads (the magic has been consumed) and starts its heartbeat. */
void protocol_v2_attach(client_t *c);

/* nsqd's decimal parsing for RDY/REQ/DPUB arguments: digits only, no sign; "" is 0 (as in
 * nsqd). Overflow saturates at UINT64_MAX. 0, or -1 on any other byte. */
int protocol_v2_parse_base10(const char *s, size_t len, uint64_t *out);

/* Go's %q of a byte string (double quotes, backslash escapes for quotes, backslashes and
 * control bytes), NUL-terminated and truncated to fit outlen. Returns the length it needs
 * without truncation (excluding the NUL), like snprintf. */
size_t protocol_v2_quote(const char *s, size_t len, char *out, size_t outlen);

/* IDENTIFY: the negotiable settings of a client. Filled by the caller with the current values
 * (nsqd's defaults for a new client); protocol_v2_parse_identify updates them. */
typedef struct v2_identify {
    char *client_id, *hostname, *user_agent; /* malloc'd ("" when absent); caller frees */
    bool feature_negotiation, tls_v1, snappy, deflate;
    int64_t deflate_level;
    int64_t heartbeat_interval;    /* ns, 0 = disabled */
    int64_t output_buffer_size;    /* bytes */
    int64_t output_buffer_timeout; /* ns, 0 = none */
    int sample_rate;               /* 0..99 */
    int64_t msg_timeout;           /* ns */
} v2_identify_t;

/* Decodes the JSON body and applies nsqd's range rules against o. 0, or -1 with the error
 * description nsqd sends after "E_BAD_BODY " in err ("IDENTIFY failed to decode JSON body",
 * "IDENTIFY heartbeat interval (300001) is invalid", ...). */
int protocol_v2_parse_identify(const char *body, size_t len, const nsqd_opts_t *o,
                               v2_identify_t *id, char *err, size_t errlen);

#endif
