/* protocol_v2: nsqd's V2 protocol on one client. Owns the incremental parser (a command line,
 * then for some commands a [4B size] body read straight into its message), the command table
 * with nsqd 1.3's checks, codes and texts, IDENTIFY negotiation and message delivery (the
 * client's chan_consumer ops). Queues are the channel's and topic's; the socket, timers and the
 * close path are client.c's.
 *
 * Output buffering: nsqd holds message frames in a bufio.Writer of output_buffer_size and
 * flushes it at least every output_buffer_timeout. Here every frame goes into the
 * bufferevent's output buffer and libevent writes whatever has accumulated when the loop next
 * finds the socket writable: frames produced in one loop turn leave in one writev, i.e. a
 * flush per turn, never later than output_buffer_timeout. The negotiated size and timeout are
 * validated, reported (IDENTIFY, /stats) and otherwise only bound latency from above.
 * Slow consumers: RDY bounds what can be in flight to a client, so its output buffer stays
 * near RDY x message size; a peer that stops reading is closed by the write timeout (one
 * heartbeat interval, as nsqd's write deadline). Nothing is ever dropped from the buffer. */
#include "nsqd/protocol_v2.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "nsqd/client.h"

#ifndef CNSQ_VERSION
#define CNSQ_VERSION "0.0.0"
#endif

#define NS_PER_MS INT64_C(1000000)
/* nsqd reads command lines through a 16 KiB bufio.Reader: longer lines cannot be commands */
#define V2_MAX_LINE 16383
/* tokens kept per line; more are ignored (no command reads past its third) */
#define V2_MAX_ARGS 8
/* message bodies at least this large are queued by reference, not copied */
#define V2_REF_BODY 4096
/* wait for bodies at least this large with a read low watermark (one wake-up, not one per read) */
#define V2_WATERMARK_MIN 4096
/* nsqd's defaultBufferSize: a client's output buffer until IDENTIFY says otherwise */
#define V2_DEFAULT_OUTPUT_BUFFER 16384

typedef struct v2_state v2_state_t;
typedef struct v2_cmd v2_cmd_t;

/* A durable publish waiting for its fsync; outlives its client (c is then NULL). */
typedef struct v2_wait {
    client_t *c;
} v2_wait_t;

enum { PH_LINE, PH_LEN, PH_BODY, PH_MPUB_COUNT, PH_MPUB_LEN, PH_MPUB_BODY };

struct v2_state {
    int phase;
    const v2_cmd_t *cmd; /* the command waiting for its body */
    size_t scanned;      /* PH_LINE: leading input bytes known to hold no '\n' */
    size_t lowmark;      /* the read low watermark currently set */
    bool tls_required;
    int32_t body_len;             /* the declared body size */
    char topic[NAME_MAX_LEN + 1]; /* PUB/MPUB/DPUB */
    size_t topic_len;
    int64_t defer_ns;  /* DPUB */
    int64_t mpub_left; /* MPUB: declared body bytes not consumed yet */
    int32_t mpub_count, mpub_size, mpub_n;
    msg_t **mpub_msgs; /* the messages read so far (one reference each) */
    size_t mpub_cap;
    /* durable mode: the publish waiting for its fsync. Reading is paused meanwhile, so the
     * replies keep the commands' order. */
    v2_wait_t *wait;
    const char *wait_name, *wait_code;
    size_t wait_count;
};

/* line: checks the arguments (and state); for commands with a body it records what the body
 * step needs. len: checks the body size. body: consumes exactly body_len bytes. Each returns
 * true to go on parsing; a fatal error closes the client, which stops the parser. */
struct v2_cmd {
    const char *name;
    bool (*line)(client_t *c, v2_state_t *st, char **argv, int argc);
    bool (*len)(client_t *c, v2_state_t *st, int32_t len);
    bool (*body)(client_t *c, v2_state_t *st, struct evbuffer *in);
    const char *fail_code; /* PUB/DPUB: the code of a failed put */
};

static void deliver(chan_consumer_t *cc, msg_t *m, uint16_t attempts);
static void channel_closed(chan_consumer_t *cc);
static const chan_consumer_ops_t consumer_ops = {.deliver = deliver,
                                                 .channel_closed = channel_closed};

/* ---- pure helpers ------------------------------------------------------------------------- */

int protocol_v2_parse_base10(const char *s, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    *out = n;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || n > len || s[0] >= 0xf8)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t protocol_v2_quote(const char *s, size_t len, char *out, size_t outlen)
{
    static const char esc_from[] = "\a\b\f\n\r\t\v\"\\", esc_to[] = "abfnrtv\"\\";
    const unsigned char *u = (const unsigned char *)s;
    size_t need = 0;
    char piece[8];
#define EMIT(str, n)                                                                               \
    do {                                                                                           \
        for (size_t k_ = 0; k_ < (n); k_++, need++)                                                \
            if (need + 1 < outlen)                                                                 \
                out[need] = (str)[k_];                                                             \
    } while (0)
    EMIT("\"", 1);
    for (size_t i = 0; i < len;) {
        const char *e = u[i] ? strchr(esc_from, u[i]) : NULL;
        size_t seq = u[i] >= 0x80 ? utf8_seq(u + i, len - i) : 0;
        if (e) {
            piece[0] = '\\';
            piece[1] = esc_to[e - esc_from];
            EMIT(piece, 2);
        } else if (u[i] >= 0x20 && u[i] < 0x7f) {
            EMIT(s + i, 1);
        } else if (seq) {
            EMIT(s + i, seq);
            i += seq;
            continue;
        } else {
            snprintf(piece, sizeof(piece), "\\x%02x", u[i]);
            EMIT(piece, 4);
        }
        i++;
    }
    EMIT("\"", 1);
#undef EMIT
    if (outlen)
        out[need < outlen ? need : outlen - 1] = '\0';
    return need;
}

/* ---- IDENTIFY decoding -------------------------------------------------------------------- */

typedef struct identify_raw {
    const char *client_id, *hostname, *user_agent; /* borrowed from the JSON */
    bool feature_negotiation, tls_v1, snappy, deflate;
    int64_t heartbeat_interval, output_buffer_size, output_buffer_timeout;
    int64_t deflate_level, sample_rate, msg_timeout;
} identify_raw_t;

enum { F_STR, F_BOOL, F_INT, F_INT32 };

/* nsqd's identifyDataV2 fields; other keys are ignored, as encoding/json does */
static const struct identify_field {
    const char *key;
    int type;
    size_t off;
} identify_fields[] = {
    {"client_id", F_STR, offsetof(identify_raw_t, client_id)},
    {"hostname", F_STR, offsetof(identify_raw_t, hostname)},
    {"user_agent", F_STR, offsetof(identify_raw_t, user_agent)},
    {"feature_negotiation", F_BOOL, offsetof(identify_raw_t, feature_negotiation)},
    {"tls_v1", F_BOOL, offsetof(identify_raw_t, tls_v1)},
    {"snappy", F_BOOL, offsetof(identify_raw_t, snappy)},
    {"deflate", F_BOOL, offsetof(identify_raw_t, deflate)},
    {"deflate_level", F_INT, offsetof(identify_raw_t, deflate_level)},
    {"heartbeat_interval", F_INT, offsetof(identify_raw_t, heartbeat_interval)},
    {"output_buffer_size", F_INT, offsetof(identify_raw_t, output_buffer_size)},
    {"output_buffer_timeout", F_INT, offsetof(identify_raw_t, output_buffer_timeout)},
    {"sample_rate", F_INT32, offsetof(identify_raw_t, sample_rate)},
    {"msg_timeout", F_INT, offsetof(identify_raw_t, msg_timeout)},
};

/* Stores one JSON value as encoding/json would: null leaves the field alone, a value of the
 * wrong type is an error. */
static int store_field(identify_raw_t *raw, const struct identify_field *f, json_t *v)
{
    char *p = (char *)raw + f->off;
    if (json_is_null(v))
        return 0;
    switch (f->type) {
    case F_STR:
        if (!json_is_string(v))
            return -1;
        *(const char **)p = json_string_value(v);
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v))
            return -1;
        *(bool *)p = json_is_true(v);
        return 0;
    default:
        if (!json_is_integer(v))
            return -1;
        json_int_t n = json_integer_value(v);
        if (f->type == F_INT32 && (n < INT32_MIN || n > INT32_MAX))
            return -1;
        *(int64_t *)p = (int64_t)n;
        return 0;
    }
}

static int decode_identify(json_t *root, identify_raw_t *raw)
{
    const char *key;
    json_t *v;
    if (json_is_null(root))
        return 0; /* encoding/json accepts a null document */
    if (!json_is_object(root))
        return -1;
    json_object_foreach(root, key, v)
    {
        /* encoding/json matches keys exactly or, failing that, ignoring case */
        const struct identify_field *f = NULL;
        for (size_t i = 0; i < sizeof(identify_fields) / sizeof(identify_fields[0]); i++) {
            if (strcmp(identify_fields[i].key, key) == 0) {
                f = &identify_fields[i];
                break;
            }
            if (!f && strcasecmp(identify_fields[i].key, key) == 0)
                f = &identify_fields[i];
        }
        if (f && store_field(raw, f, v) < 0)
            return -1;
    }
    return 0;
}

/* nsqd's range rules (client_v2.go Set*), in its order. */
static int apply_identify(const identify_raw_t *r, const nsqd_opts_t *o, v2_identify_t *id,
                          char *err, size_t errlen)
{
    int64_t v = r->heartbeat_interval;
    if (v == -1)
        id->heartbeat_interval = 0;
    else if (v >= 1000 && v <= o->max_heartbeat_interval / NS_PER_MS)
        id->heartbeat_interval = v * NS_PER_MS;
    else if (v != 0)
        goto bad_hb;
    v = r->output_buffer_timeout;
    if (v == -1)
        id->output_buffer_timeout = 0;
    else if (v >= o->min_output_buffer_timeout / NS_PER_MS &&
             v <= o->max_output_buffer_timeout / NS_PER_MS && v != 0)
        id->output_buffer_timeout = v * NS_PER_MS;
    else if (v != 0)
        goto bad_obt;
    v = r->output_buffer_size;
    if (v == -1) {
        id->output_buffer_size = 1; /* nsqd: "effectively no buffer" */
        id->output_buffer_timeout = 0;
    } else if (v >= 64 && v <= o->max_output_buffer_size) {
        id->output_buffer_size = v;
    } else if (v != 0) {
        goto bad_obs;
    }
    if (r->sample_rate < 0 || r->sample_rate > 99)
        goto bad_sample;
    id->sample_rate = (int)r->sample_rate;
    v = r->msg_timeout;
    if (v >= 1000 && v <= o->max_msg_timeout / NS_PER_MS)
        id->msg_timeout = v * NS_PER_MS;
    else if (v != 0)
        goto bad_msg_timeout;
    return 0;
bad_hb:
    snprintf(err, errlen, "IDENTIFY heartbeat interval (%lld) is invalid", (long long)v);
    return -1;
bad_obt:
    snprintf(err, errlen, "IDENTIFY output buffer timeout (%lld) is invalid", (long long)v);
    return -1;
bad_obs:
    snprintf(err, errlen, "IDENTIFY output buffer size (%lld) is invalid", (long long)v);
    return -1;
bad_sample:
    snprintf(err, errlen, "IDENTIFY sample rate (%lld) is invalid", (long long)r->sample_rate);
    return -1;
bad_msg_timeout:
    snprintf(err, errlen, "IDENTIFY msg timeout (%lld) is invalid", (long long)v);
    return -1;
}

int protocol_v2_parse_identify(const char *body, size_t len, const nsqd_opts_t *o,
                               v2_identify_t *id, char *err, size_t errlen)
{
    identify_raw_t raw = {0};
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!root || decode_identify(root, &raw) < 0) {
        json_decref(root);
        snprintf(err, errlen, "IDENTIFY failed to decode JSON body");
        return -1;
    }
    id->feature_negotiation = raw.feature_negotiation;
    id->tls_v1 = raw.tls_v1;
    id->snappy = raw.snappy;
    id->deflate = raw.deflate;
    id->deflate_level = raw.deflate_level;
    id->client_id = strdup(raw.client_id ? raw.client_id : "");
    id->hostname = strdup(raw.hostname ? raw.hostname : "");
    id->user_agent = strdup(raw.user_agent ? raw.user_agent : "");
    json_decref(root);
    if (!id->client_id || !id->hostname || !id->user_agent) {
        snprintf(err, errlen, "IDENTIFY failed out of memory");
        return -1;
    }
    return apply_identify(&raw, o, id, err, errlen);
}

/* ---- replies ------------------------------------------------------------------------------ */

/* Sends "CODE description" as an error frame; fatal errors close the client once the frame
 * is written. Returns true for non-fatal errors (parsing goes on). */
__attribute__((format(printf, 4, 5))) static bool fail(client_t *c, bool fatal, const char *code,
                                                       const char *fmt, ...)
{
    char small[512], *buf = small;
    va_list ap;
    int pre = snprintf(small, sizeof(small), "%s ", code);
    va_start(ap, fmt);
    int n = vsnprintf(small + pre, sizeof(small) - (size_t)pre, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)(pre + n) >= sizeof(small) && (buf = malloc((size_t)(pre + n) + 1)) != NULL) {
        memcpy(buf, small, (size_t)pre);
        va_start(ap, fmt);
        vsnprintf(buf + pre, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else if (!buf) {
        buf = small;
        n = (int)sizeof(small) - 1 - pre;
    }
    log_error("[%s] - %s", c->remote_address, buf);
    client_send(c, WIRE_FRAME_ERROR, buf, (size_t)(pre + n));
    if (buf != small)
        free(buf);
    if (fatal)
        client_close(c, true);
    return !fatal;
}

static bool respond(client_t *c, const char *text)
{
    client_send(c, WIRE_FRAME_RESPONSE, text, strlen(text));
    return true;
}

/* Go's %q of a name for an error text (malloc'd; NULL on OOM). */
static char *quote_dup(const char *s)
{
    size_t len = strlen(s);
    size_t need = protocol_v2_quote(s, len, NULL, 0);
    char *q = malloc(need + 1);
    if (q)
        protocol_v2_quote(s, len, q, need + 1);
    return q;
}

static bool fail_name(client_t *c, const char *code, const char *fmt_prefix, const char *what,
                      const char *name)
{
    char *q = quote_dup(name);
    bool r = fail(c, true, code, "%s%s name %s is not valid", fmt_prefix, what, q ? q : "\"\"");
    free(q);
    return r;
}

/* ---- delivery (chan_consumer ops) --------------------------------------------------------- */

static void unref_cleanup(const void *data, size_t len, void *arg)
{
    msg_unref(arg);
}

static void encode_header(uint8_t *p, const msg_t *m, uint16_t attempts)
{
    wire_msg_header_t h = {.timestamp = m->timestamp, .attempts = attempts};
    memcpy(h.id, m->id, WIRE_MSG_ID_LEN);
    wire_frame_header(p, WIRE_FRAME_MESSAGE, WIRE_MSG_HEADER_LEN + (size_t)m->body_len);
    wire_msg_header_encode(p + WIRE_FRAME_HEADER_LEN, &h);
}

/* Small bodies are copied once, straight into the output buffer; large ones are referenced
 * (the buffer holds a message reference until the body is written). */
static void deliver(chan_consumer_t *cc, msg_t *m, uint16_t attempts)
{
    client_t *c = client_from_consumer(cc);
    struct evbuffer *out = client_output(c);
    enum { HDR = WIRE_FRAME_HEADER_LEN + WIRE_MSG_HEADER_LEN };
    if (m->body_len < V2_REF_BODY) {
        struct evbuffer_iovec v;
        size_t total = HDR + (size_t)m->body_len;
        if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) == 1) {
            encode_header(v.iov_base, m, attempts);
            memcpy((uint8_t *)v.iov_base + HDR, m->body, m->body_len);
            v.iov_len = total;
            if (evbuffer_commit_space(out, &v, 1) == 0)
                return;
        }
    } else {
        uint8_t hdr[HDR];
        encode_header(hdr, m, attempts);
        if (evbuffer_add(out, hdr, HDR) == 0) {
            if (evbuffer_add_reference(out, m->body, m->body_len, unref_cleanup, msg_ref(m)) == 0)
                return;
            msg_unref(m);
        }
    }
    /* a partial frame would corrupt the stream: drop the connection (the message is requeued
     * when the client is freed, a loop turn later) */
    log_error("[%s] - out of memory writing message %.16s", c->remote_address, m->id);
    client_abort(c);
}

static void channel_closed(chan_consumer_t *cc)
{
    client_t *c = client_from_consumer(cc);
    log_info("PROTOCOL(V2): [%s] channel deleted: closing", c->remote_address);
    client_close(c, true);
}

/* ---- commands without a body -------------------------------------------------------------- */

static bool cmd_nop(client_t *c, v2_state_t *st, char **argv, int argc)
{
    return true;
}

static bool cmd_sub(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (c->state != CLIENT_STATE_INIT)
        return fail(c, true, "E_INVALID", "cannot SUB in current state");
    if (c->heartbeat_interval <= 0)
        return fail(c, true, "E_INVALID", "cannot SUB with heartbeats disabled");
    if (argc < 3)
        return fail(c, true, "E_INVALID", "SUB insufficient number of parameters");
    size_t tlen = strlen(argv[1]), clen = strlen(argv[2]);
    if (!name_is_valid(argv[1], tlen))
        return fail_name(c, "E_BAD_TOPIC", "SUB ", "topic", argv[1]);
    if (!name_is_valid(argv[2], clen))
        return fail_name(c, "E_BAD_CHANNEL", "SUB ", "channel", argv[2]);
    topic_t *t = nsqd_get_topic(c->nsqd, argv[1], tlen);
    channel_t *ch = t ? topic_get_channel(t, argv[2], clen) : NULL;
    if (!ch)
        return fail(c, true, "E_SUB_FAILED", "SUB failed out of memory");
    int64_t max = c->opts->max_channel_consumers;
    if (max > 0 && (int64_t)chan_consumer_count(ch) >= max)
        return fail(c, true, "E_SUB_FAILED", "SUB failed consumers for %s:%s exceeds limit of %lld",
                    argv[1], argv[2], (long long)max);
    c->consumer.ready_count = 0;
    if (chan_add_consumer(ch, &c->consumer, max) < 0)
        return fail(c, true, "E_SUB_FAILED", "SUB failed");
    c->state = CLIENT_STATE_SUBSCRIBED;
    memcpy(c->sub_topic, argv[1], tlen + 1);
    memcpy(c->sub_channel, argv[2], clen + 1);
    return respond(c, "OK");
}

static bool cmd_rdy(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (c->state == CLIENT_STATE_CLOSING) {
        log_info("PROTOCOL(V2): [%s] ignoring RDY after CLS in state ClientStateV2Closing",
                 c->remote_address);
        return true;
    }
    if (c->state != CLIENT_STATE_SUBSCRIBED)
        return fail(c, true, "E_INVALID", "cannot RDY in current state");
    uint64_t count = 1;
    if (argc > 1 && protocol_v2_parse_base10(argv[1], strlen(argv[1]), &count) < 0)
        return fail(c, true, "E_INVALID", "RDY could not parse count %s", argv[1]);
    int64_t max = c->opts->max_rdy_count;
    if ((int64_t)count < 0 || (int64_t)count > max)
        return fail(c, true, "E_INVALID", "RDY count %lld out of range 0-%lld",
                    (long long)(int64_t)count, (long long)max);
    chan_consumer_set_ready(&c->consumer, (int64_t)count);
    return true;
}

/* The state and id checks FIN, REQ and TOUCH share. */
static bool check_msg_cmd(client_t *c, const char *name, char **argv, int argc, int need)
{
    if (c->state != CLIENT_STATE_SUBSCRIBED && c->state != CLIENT_STATE_CLOSING)
        return fail(c, true, "E_INVALID", "cannot %s in current state", name);
    if (argc < need)
        return fail(c, true, "E_INVALID", "%s insufficient number of params", name);
    if (strlen(argv[1]) != WIRE_MSG_ID_LEN)
        return fail(c, true, "E_INVALID", "invalid message ID");
    return true;
}

static bool cmd_fin(client_t *c, v2_state_t *st, char **argv, int argc)
{
    char err[128] = "ID not in flight";
    if (!check_msg_cmd(c, "FIN", argv, argc, 2))
        return false;
    channel_t *ch = c->consumer.channel;
    if (!ch || chan_finish(ch, &c->consumer, argv[1], WIRE_MSG_ID_LEN, err, sizeof(err)) < 0)
        return fail(c, false, "E_FIN_FAILED", "FIN %s failed %s", argv[1], err);
    return true;
}

static bool cmd_req(client_t *c, v2_state_t *st, char **argv, int argc)
{
    char err[128] = "ID not in flight";
    uint64_t ms;
    if (!check_msg_cmd(c, "REQ", argv, argc, 3))
        return false;
    if (protocol_v2_parse_base10(argv[2], strlen(argv[2]), &ms) < 0)
        return fail(c, true, "E_INVALID", "REQ could not parse timeout %s", argv[2]);
    int64_t max = c->opts->max_req_timeout;
    int64_t delay = ms > (uint64_t)(INT64_MAX / NS_PER_MS) ? INT64_MAX : (int64_t)ms * NS_PER_MS;
    if (delay > max) {
        log_info("PROTOCOL(V2): [%s] REQ timeout %lld out of range 0-%lld. Setting to %lld",
                 c->remote_address, (long long)delay, (long long)max, (long long)max);
        delay = max;
    }
    channel_t *ch = c->consumer.channel;
    if (!ch ||
        chan_requeue(ch, &c->consumer, argv[1], WIRE_MSG_ID_LEN, delay, err, sizeof(err)) < 0)
        return fail(c, false, "E_REQ_FAILED", "REQ %s failed %s", argv[1], err);
    return true;
}

static bool cmd_touch(client_t *c, v2_state_t *st, char **argv, int argc)
{
    char err[128] = "ID not in flight";
    if (!check_msg_cmd(c, "TOUCH", argv, argc, 2))
        return false;
    channel_t *ch = c->consumer.channel;
    if (!ch || chan_touch(ch, &c->consumer, argv[1], WIRE_MSG_ID_LEN, err, sizeof(err)) < 0)
        return fail(c, false, "E_TOUCH_FAILED", "TOUCH %s failed %s", argv[1], err);
    return true;
}

static bool cmd_cls(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (c->state != CLIENT_STATE_SUBSCRIBED)
        return fail(c, true, "E_INVALID", "cannot CLS in current state");
    chan_consumer_set_ready(&c->consumer, 0);
    c->state = CLIENT_STATE_CLOSING;
    return respond(c, "CLOSE_WAIT");
}

/* ---- IDENTIFY and AUTH -------------------------------------------------------------------- */

static bool cmd_identify(client_t *c, v2_state_t *st, char **argv, int argc)
{
    /* nsqd allows IDENTIFY again until SUB (its state only leaves init there) */
    if (c->state != CLIENT_STATE_INIT)
        return fail(c, true, "E_INVALID", "cannot IDENTIFY in current state");
    return true;
}

static bool cmd_auth(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (c->state != CLIENT_STATE_INIT)
        return fail(c, true, "E_INVALID", "cannot AUTH in current state");
    if (argc != 1)
        return fail(c, true, "E_INVALID", "AUTH invalid number of parameters");
    return true;
}

/* IDENTIFY and AUTH bodies: checked against --max-body-size, in nsqd's order. */
static bool len_body(client_t *c, v2_state_t *st, int32_t len)
{
    if (len > c->opts->max_body_size)
        return fail(c, true, "E_BAD_BODY", "%s body too big %d > %lld", st->cmd->name, len,
                    (long long)c->opts->max_body_size);
    if (len <= 0)
        return fail(c, true, "E_BAD_BODY", "%s invalid body size %d", st->cmd->name, len);
    st->phase = PH_BODY;
    return true;
}

static bool body_auth(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    evbuffer_drain(in, (size_t)st->body_len);
    return fail(c, true, "E_AUTH_DISABLED", "AUTH disabled");
}

/* The feature negotiation reply: exactly nsqd 1.3's keys, in its order. TLS, snappy and
 * deflate are not offered (yet), so the client keeps talking plain V2. */
static bool identify_reply(client_t *c)
{
    const nsqd_opts_t *o = c->opts;
    int64_t level = 6 < o->max_deflate_level ? 6 : o->max_deflate_level;
    char buf[512];
    int n = snprintf(
        buf, sizeof(buf),
        "{\"max_rdy_count\":%lld,\"version\":\"%s\",\"max_msg_timeout\":%lld,"
        "\"msg_timeout\":%lld,\"tls_v1\":false,\"deflate\":false,"
        "\"deflate_level\":%lld,\"max_deflate_level\":%lld,\"snappy\":false,"
        "\"sample_rate\":%d,\"auth_required\":false,\"output_buffer_size\":%lld,"
        "\"output_buffer_timeout\":%lld}",
        (long long)o->max_rdy_count, NSQ_VERSION, (long long)(o->max_msg_timeout / NS_PER_MS),
        (long long)(c->consumer.msg_timeout / NS_PER_MS), (long long)level,
        (long long)o->max_deflate_level, c->consumer.sample_rate, (long long)c->output_buffer_size,
        (long long)(c->output_buffer_timeout / NS_PER_MS));
    client_send(c, WIRE_FRAME_RESPONSE, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    return true;
}

static bool body_identify(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    char err[256];
    size_t len = (size_t)st->body_len;
    v2_identify_t id = {
        .heartbeat_interval = c->heartbeat_interval,
        .output_buffer_size = c->output_buffer_size,
        .output_buffer_timeout = c->output_buffer_timeout,
        .sample_rate = c->consumer.sample_rate,
        .msg_timeout = c->consumer.msg_timeout,
    };
    const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    int rc = body ? protocol_v2_parse_identify(body, len, c->opts, &id, err, sizeof(err)) : -1;
    evbuffer_drain(in, len);
    if (rc == 0 && client_set_identity(c, id.client_id, id.hostname, id.user_agent) < 0) {
        snprintf(err, sizeof(err), "IDENTIFY failed out of memory");
        rc = -1;
    }
    free(id.client_id);
    free(id.hostname);
    free(id.user_agent);
    if (rc < 0)
        return fail(c, true, "E_BAD_BODY", "%s", body ? err : "IDENTIFY failed to read body");
    log_info("[%s] IDENTIFY: client_id=%s hostname=%s user_agent=%s heartbeat=%lldms "
             "output_buffer=%lld/%lldms sample_rate=%d msg_timeout=%lldms",
             c->remote_address, c->client_id, c->hostname, c->user_agent,
             (long long)(id.heartbeat_interval / NS_PER_MS), (long long)id.output_buffer_size,
             (long long)(id.output_buffer_timeout / NS_PER_MS), id.sample_rate,
             (long long)(id.msg_timeout / NS_PER_MS));
    c->output_buffer_size = id.output_buffer_size;
    c->output_buffer_timeout = id.output_buffer_timeout;
    c->consumer.sample_rate = id.sample_rate;
    c->consumer.msg_timeout = id.msg_timeout;
    client_set_heartbeat(c, id.heartbeat_interval);
    if (!id.feature_negotiation)
        return respond(c, "OK");
    /* refused as nsqd does, although cnsq does not offer either yet */
    if (c->opts->deflate && id.deflate && c->opts->snappy && id.snappy)
        return fail(c, true, "E_IDENTIFY_FAILED",
                    "cannot enable both deflate and snappy compression");
    return identify_reply(c);
}

/* ---- PUB and DPUB ------------------------------------------------------------------------- */

static bool take_topic(client_t *c, v2_state_t *st, const char *name)
{
    size_t len = strlen(name);
    if (!name_is_valid(name, len))
        return false;
    memcpy(st->topic, name, len + 1);
    st->topic_len = len;
    return true;
}

static bool cmd_pub(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (argc < 2)
        return fail(c, true, "E_INVALID", "PUB insufficient number of parameters");
    if (!take_topic(c, st, argv[1]))
        return fail_name(c, "E_BAD_TOPIC", "PUB ", "topic", argv[1]);
    st->defer_ns = 0;
    return true;
}

static bool cmd_dpub(client_t *c, v2_state_t *st, char **argv, int argc)
{
    uint64_t ms;
    if (argc < 3)
        return fail(c, true, "E_INVALID", "DPUB insufficient number of parameters");
    if (!take_topic(c, st, argv[1]))
        return fail_name(c, "E_BAD_TOPIC", "DPUB ", "topic", argv[1]);
    if (protocol_v2_parse_base10(argv[2], strlen(argv[2]), &ms) < 0)
        return fail(c, true, "E_INVALID", "DPUB could not parse timeout %s", argv[2]);
    int64_t max = c->opts->max_req_timeout;
    if (ms > (uint64_t)(max / NS_PER_MS))
        return fail(c, true, "E_INVALID", "DPUB timeout %llu out of range 0-%lld",
                    (unsigned long long)ms, (long long)(max / NS_PER_MS));
    st->defer_ns = (int64_t)ms * NS_PER_MS;
    return true;
}

/* PUB and DPUB bodies: checked against --max-msg-size, in nsqd's order. */
static bool len_message(client_t *c, v2_state_t *st, int32_t len)
{
    if (len <= 0)
        return fail(c, true, "E_BAD_MESSAGE", "%s invalid message body size %d", st->cmd->name,
                    len);
    if (len > c->opts->max_msg_size)
        return fail(c, true, "E_BAD_MESSAGE", "%s message too big %d > %lld", st->cmd->name, len,
                    (long long)c->opts->max_msg_size);
    st->phase = PH_BODY;
    return true;
}

/* The topic a publish goes to, or NULL after a fatal error naming why. */
static topic_t *publish_topic(client_t *c, v2_state_t *st, const char *code, const char *name)
{
    if (nsqd_is_exiting(c->nsqd)) {
        fail(c, true, code, "%s failed exiting", name);
        return NULL;
    }
    topic_t *t = nsqd_get_topic(c->nsqd, st->topic, st->topic_len);
    if (!t)
        fail(c, true, code, "%s failed out of memory", name);
    return t;
}

static void pub_synced_cb(void *arg, int status);

/* The publish is queued: answer OK once its records are on disk. Spilled records are written
 * now (a refused write fails the publish and takes them back); durable mode also waits for
 * their fsync, with reading paused (returns false: the parser stops until pub_synced_cb). */
static bool publish_ack(client_t *c, v2_state_t *st, topic_t *t, const char *name,
                        const char *code, size_t count)
{
    char err[256];
    if (topic_commit(t, err, sizeof(err)) < 0)
        return fail(c, true, code, "%s failed %s", name, err);
    if (nsqd_is_durable(c->nsqd)) {
        v2_wait_t *w = malloc(sizeof(*w));
        if (!w)
            return fail(c, true, code, "%s failed out of memory", name);
        int r = topic_when_synced(t, pub_synced_cb, w, err, sizeof(err));
        if (r != 1)
            free(w);
        if (r < 0)
            return fail(c, true, code, "%s failed %s", name, err);
        if (r == 1) {
            w->c = c;
            st->wait = w;
            st->wait_name = name;
            st->wait_code = code;
            st->wait_count = count;
            bufferevent_disable(c->bev, EV_READ);
            return false;
        }
    }
    client_count_pub(c, st->topic, count);
    return respond(c, "OK");
}

static void pub_synced_cb(void *arg, int status)
{
    v2_wait_t *w = arg;
    client_t *c = w->c;
    free(w);
    if (!c)
        return; /* the client went away meanwhile */
    v2_state_t *st = c->v2;
    st->wait = NULL;
    if (c->closing)
        return;
    if (status != 0) {
        const char *why = nsqd_health_error(c->nsqd);
        fail(c, true, st->wait_code, "%s failed %s", st->wait_name,
             why ? why : "disk queue sync failed");
        return;
    }
    client_count_pub(c, st->topic, st->wait_count);
    respond(c, "OK");
    /* the commands read meanwhile: from the loop, not inside the disk queue's callback */
    bufferevent_enable(c->bev, EV_READ);
    bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static bool body_pub(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    const char *name = st->cmd->name, *code = st->cmd->fail_code;
    size_t len = (size_t)st->body_len;
    char err[256];
    topic_t *t = publish_topic(c, st, code, name);
    if (!t)
        return false;
    msg_t *m = nsqd_alloc_message(c->nsqd, len);
    if (!m)
        return fail(c, true, code, "%s failed out of memory", name);
    evbuffer_remove(in, m->body, len); /* the one copy: socket buffer -> message */
    if (topic_put(t, m, st->defer_ns, err, sizeof(err)) < 0)
        return fail(c, true, code, "%s failed %s", name, err);
    return publish_ack(c, st, t, name, code, 1);
}

/* ---- MPUB: [4B size][4B count]([4B size][body])*, each body read into its message ------- */

static void mpub_release(v2_state_t *st)
{
    for (int32_t i = 0; i < st->mpub_n; i++)
        msg_unref(st->mpub_msgs[i]);
    st->mpub_n = 0;
}

static bool cmd_mpub(client_t *c, v2_state_t *st, char **argv, int argc)
{
    if (argc < 2)
        return fail(c, true, "E_INVALID", "MPUB insufficient number of parameters");
    /* nsqd repeats the code in this one description */
    if (!take_topic(c, st, argv[1]))
        return fail_name(c, "E_BAD_TOPIC", "E_BAD_TOPIC MPUB ", "topic", argv[1]);
    /* as nsqd, the topic exists from here on even if the body turns out bad */
    if (!nsqd_is_exiting(c->nsqd))
        nsqd_get_topic(c->nsqd, st->topic, st->topic_len);
    return true;
}

static bool len_mpub(client_t *c, v2_state_t *st, int32_t len)
{
    if (len <= 0)
        return fail(c, true, "E_BAD_BODY", "MPUB invalid body size %d", len);
    if (len > c->opts->max_body_size)
        return fail(c, true, "E_BAD_BODY", "MPUB body too big %d > %lld", len,
                    (long long)c->opts->max_body_size);
    st->mpub_left = len;
    st->phase = PH_MPUB_COUNT;
    return true;
}

/* nsqd reads exactly count messages whatever the declared size says; cnsq also refuses
 * messages that run past the declared body, which bounds what one MPUB can make it hold. */
static bool mpub_overrun(client_t *c, v2_state_t *st, int64_t n)
{
    if (st->mpub_left >= n) {
        st->mpub_left -= n;
        return false;
    }
    fail(c, true, "E_BAD_BODY", "MPUB message(%d) runs past the body size %d", st->mpub_n,
         st->body_len);
    return true;
}

static bool step_mpub_count(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    uint8_t b[4];
    if (evbuffer_remove(in, b, 4) != 4)
        return false;
    int32_t n = (int32_t)wire_get_be32(b);
    int64_t max = (c->opts->max_body_size - 4) / 5; /* 4 = count, 5 = size + 1 byte */
    if (n <= 0 || n > max)
        return fail(c, true, "E_BAD_BODY", "MPUB invalid message count %d", n);
    if (mpub_overrun(c, st, 4))
        return false;
    st->mpub_count = n;
    st->mpub_n = 0;
    st->phase = PH_MPUB_LEN;
    return true;
}

static bool step_mpub_len(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    uint8_t b[4];
    if (evbuffer_remove(in, b, 4) != 4)
        return false;
    int32_t size = (int32_t)wire_get_be32(b);
    if (mpub_overrun(c, st, 4))
        return false;
    if (size <= 0)
        return fail(c, true, "E_BAD_MESSAGE", "MPUB invalid message(%d) body size %d", st->mpub_n,
                    size);
    if (size > c->opts->max_msg_size)
        return fail(c, true, "E_BAD_MESSAGE", "MPUB message too big %d > %lld", size,
                    (long long)c->opts->max_msg_size);
    if (mpub_overrun(c, st, size))
        return false;
    st->mpub_size = size;
    st->phase = PH_MPUB_BODY;
    return true;
}

static bool mpub_finish(client_t *c, v2_state_t *st)
{
    size_t n = (size_t)st->mpub_n;
    char err[256];
    /* all or nothing: check room for every message before queueing any */
    topic_t *t = publish_topic(c, st, "E_MPUB_FAILED", "MPUB");
    if (t && !topic_can_accept(t, n)) {
        topic_refusal(t, n, err, sizeof(err));
        t = NULL;
        fail(c, true, "E_MPUB_FAILED", "MPUB failed %s", err);
    }
    if (!t) {
        mpub_release(st);
        return false;
    }
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) /* takes the reference */
        refused += topic_put(t, st->mpub_msgs[i], 0, err, sizeof(err)) < 0;
    st->mpub_n = 0;
    if (st->mpub_cap > 4096) { /* do not keep a huge array around after one big MPUB */
        free(st->mpub_msgs);
        st->mpub_msgs = NULL;
        st->mpub_cap = 0;
    }
    if (refused) {
        topic_abort(t);
        return fail(c, true, "E_MPUB_FAILED", "MPUB failed %s", err);
    }
    return publish_ack(c, st, t, "MPUB", "E_MPUB_FAILED", n);
}

static bool step_mpub_body(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    size_t size = (size_t)st->mpub_size;
    if (evbuffer_get_length(in) < size)
        return false;
    if ((size_t)st->mpub_n == st->mpub_cap) {
        size_t cap = st->mpub_cap ? st->mpub_cap * 2 : 16;
        if (cap > (size_t)st->mpub_count)
            cap = (size_t)st->mpub_count;
        msg_t **a = realloc(st->mpub_msgs, cap * sizeof(*a));
        if (!a)
            return fail(c, true, "E_MPUB_FAILED", "MPUB failed out of memory");
        st->mpub_msgs = a;
        st->mpub_cap = cap;
    }
    msg_t *m = nsqd_alloc_message(c->nsqd, size);
    if (!m)
        return fail(c, true, "E_MPUB_FAILED", "MPUB failed out of memory");
    evbuffer_remove(in, m->body, size);
    st->mpub_msgs[st->mpub_n++] = m;
    if (st->mpub_n < st->mpub_count) {
        st->phase = PH_MPUB_LEN;
        return true;
    }
    /* bytes declared but not used by count messages are read as commands, as nsqd does */
    st->phase = PH_LINE;
    return mpub_finish(c, st);
}

/* ---- the command table -------------------------------------------------------------------- */

/* Most frequent first: the lookup is a short linear scan. */
static const v2_cmd_t commands[] = {
    {"PUB", cmd_pub, len_message, body_pub, "E_PUB_FAILED"},
    {"FIN", cmd_fin, NULL, NULL, NULL},
    {"RDY", cmd_rdy, NULL, NULL, NULL},
    {"MPUB", cmd_mpub, len_mpub, NULL, NULL},
    {"REQ", cmd_req, NULL, NULL, NULL},
    {"TOUCH", cmd_touch, NULL, NULL, NULL},
    {"NOP", cmd_nop, NULL, NULL, NULL},
    {"DPUB", cmd_dpub, len_message, body_pub, "E_DPUB_FAILED"},
    {"SUB", cmd_sub, NULL, NULL, NULL},
    {"IDENTIFY", cmd_identify, len_body, body_identify, NULL},
    {"CLS", cmd_cls, NULL, NULL, NULL},
    {"AUTH", cmd_auth, len_body, body_auth, NULL},
};

static const v2_cmd_t *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool dispatch(client_t *c, v2_state_t *st, char **argv, int argc)
{
    const v2_cmd_t *cmd = find_command(argv[0]);
    if (log_enabled(LOG_DEBUG))
        log_debug("PROTOCOL(V2): [%s] %s%s%s%s%s", c->remote_address, argv[0], argc > 1 ? " " : "",
                  argc > 1 ? argv[1] : "", argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
    if (st->tls_required && (!cmd || cmd->line != cmd_identify))
        return fail(c, true, "E_INVALID", "cannot %s in current state (TLS required)", argv[0]);
    if (!cmd)
        return fail(c, true, "E_INVALID", "invalid command %s", argv[0]);
    if (!cmd->line(c, st, argv, argc) || c->closing)
        return false;
    if (cmd->len) {
        st->cmd = cmd;
        st->phase = PH_LEN;
    }
    return true;
}

/* ---- the parser --------------------------------------------------------------------------- */

static bool step_line(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    if (st->scanned >= avail)
        return false;
    struct evbuffer_ptr from, eol;
    evbuffer_ptr_set(in, &from, st->scanned, EVBUFFER_PTR_SET);
    eol = evbuffer_search(in, "\n", 1, &from);
    if (eol.pos < 0) {
        st->scanned = avail;
        if (avail > V2_MAX_LINE)
            return fail(c, true, "E_INVALID", "command line longer than %d bytes", V2_MAX_LINE);
        return false;
    }
    st->scanned = 0;
    size_t len = (size_t)eol.pos;
    if (len > V2_MAX_LINE)
        return fail(c, true, "E_INVALID", "command line longer than %d bytes", V2_MAX_LINE);
    char line[V2_MAX_LINE + 1];
    evbuffer_remove(in, line, len + 1); /* with its '\n', which the split overwrites */
    char *argv[V2_MAX_ARGS];
    int argc = wire_split_command(line, len, argv, V2_MAX_ARGS);
    if (argc < 0)
        argc = V2_MAX_ARGS + 1; /* argv holds the first V2_MAX_ARGS; the rest are unused */
    if (argc == 0) {
        argv[0] = line; /* "": nsqd answers "invalid command " */
        argc = 1;
    }
    return dispatch(c, st, argv, argc);
}

static bool step_len(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    uint8_t b[4];
    if (evbuffer_remove(in, b, 4) != 4)
        return false;
    st->body_len = (int32_t)wire_get_be32(b);
    return st->cmd->len(c, st, st->body_len);
}

static bool step_body(client_t *c, v2_state_t *st, struct evbuffer *in)
{
    if (evbuffer_get_length(in) < (size_t)st->body_len)
        return false;
    st->phase = PH_LINE;
    bool more = st->cmd->body(c, st, in); /* reads st->cmd for its name and codes */
    st->cmd = NULL;
    return more;
}

/* Bytes of input the current step waits for (0 = any). */
static size_t wanted(const v2_state_t *st)
{
    switch (st->phase) {
    case PH_BODY:
        return (size_t)st->body_len;
    case PH_MPUB_BODY:
        return (size_t)st->mpub_size;
    case PH_LINE:
        return 0;
    default:
        return 4;
    }
}

static bool (*const steps[])(client_t *, v2_state_t *, struct evbuffer *) = {
    [PH_LINE] = step_line,         [PH_LEN] = step_len,
    [PH_BODY] = step_body,         [PH_MPUB_COUNT] = step_mpub_count,
    [PH_MPUB_LEN] = step_mpub_len, [PH_MPUB_BODY] = step_mpub_body,
};

static void v2_read(client_t *c)
{
    v2_state_t *st = c->v2;
    struct evbuffer *in = client_input(c);
    while (!c->closing && !st->wait) {
        size_t need = wanted(st);
        if (need && evbuffer_get_length(in) < need)
            break;
        if (!steps[st->phase](c, st, in))
            break;
    }
    if (c->closing || st->wait)
        return;
    /* a large body: sleep until all of it is here rather than wake on every read */
    size_t need = wanted(st), mark = 0;
    if (need >= V2_WATERMARK_MIN && evbuffer_get_length(in) < need)
        mark = need;
    if (mark != st->lowmark) {
        bufferevent_setwatermark(c->bev, EV_READ, mark, 0);
        st->lowmark = mark;
    }
}

static void v2_free(client_t *c)
{
    v2_state_t *st = c->v2;
    if (!st)
        return;
    mpub_release(st);
    free(st->mpub_msgs);
    if (st->wait)
        st->wait->c = NULL;
    free(st);
    c->v2 = NULL;
}

void protocol_v2_attach(client_t *c)
{
    v2_state_t *st = calloc(1, sizeof(*st));
    if (!st) {
        log_error("[%s] - out of memory", c->remote_address);
        client_close(c, false);
        return;
    }
    const char *tls = c->opts->tls_required;
    st->tls_required = tls && *tls && strcmp(tls, "false") != 0;
    st->phase = PH_LINE;
    c->v2 = st;
    c->on_free = v2_free;
    c->consumer.ops = &consumer_ops;
    c->consumer.msg_timeout = c->opts->msg_timeout;
    c->output_buffer_size = V2_DEFAULT_OUTPUT_BUFFER;
    c->output_buffer_timeout = c->opts->output_buffer_timeout;
    client_set_heartbeat(c, c->heartbeat_interval);
    client_set_reader(c, v2_read);
}
