/* metadata: nsqd.dat, the persistent list of topics and channels.
 * Owns the file and its temp file, the JSON encoding (jansson) and the coalesced write event.
 * Leaves to others: the topics and channels themselves (nsqd, topic), their messages (disk
 * queues), when things change (nsqd's changed hook calls metadata_changed). */
#include "nsqd/metadata.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "nsqd/topic.h"

#define METADATA_FILE "nsqd.dat"
#define METADATA_MAX_BYTES (64 << 20) /* far beyond any real topic list */

struct metadata {
    nsqd_t *n;
    struct event *write_ev;
    bool broken; /* the file could not be loaded: never overwrite it */
    char path[PATH_MAX], tmp[PATH_MAX + 8];
};

static void write_cb(evutil_socket_t fd, short what, void *arg);

metadata_t *metadata_new(nsqd_t *n)
{
    metadata_t *md = calloc(1, sizeof(*md));
    if (!md)
        return NULL;
    md->n = n;
    md->write_ev = event_new(nsqd_base(n), -1, 0, write_cb, md);
    if (!md->write_ev) {
        free(md);
        return NULL;
    }
    snprintf(md->path, sizeof(md->path), "%s/%s", nsqd_data_path(n), METADATA_FILE);
    snprintf(md->tmp, sizeof(md->tmp), "%s.tmp", md->path);
    return md;
}

void metadata_free(metadata_t *md)
{
    if (!md)
        return;
    event_free(md->write_ev);
    free(md);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* The file's bytes (NUL-terminated); NULL with *missing when it does not exist. */
static char *read_file(const char *path, size_t *len, bool *missing, char *err, size_t errlen)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *missing = !f && errno == ENOENT;
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (*len = (size_t)ftell(f)) > METADATA_MAX_BYTES ||
        fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc(*len + 1)) || fread(buf, 1, *len, f) != *len) {
        snprintf(err, errlen, "cannot read %s: %s", path, errno ? strerror(errno) : "too big");
        free(buf);
        buf = NULL;
    } else {
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

/* {"name": valid name, "paused": bool (optional)}; 1 ok, 0 invalid name (skip), -1 bad. */
static int entry_fields(json_t *e, const char **name, bool *paused)
{
    json_t *jn = json_object_get(e, "name"), *jp = json_object_get(e, "paused");
    if (!json_is_object(e) || !json_is_string(jn) ||
        (jp && !json_is_boolean(jp) && !json_is_null(jp)))
        return -1;
    *name = json_string_value(jn);
    *paused = jp && json_is_true(jp);
    return name_is_valid(*name, strlen(*name)) ? 1 : 0;
}

/* An array or null (Go writes a nil slice as null); NULL with *bad when neither. */
static json_t *list_field(json_t *obj, const char *key, bool *bad)
{
    json_t *v = json_object_get(obj, key);
    if (v && !json_is_array(v) && !json_is_null(v))
        *bad = true;
    return json_is_array(v) ? v : NULL;
}

/* Checks the whole document before creating anything. */
static int validate(json_t *root, char *why, size_t whylen)
{
    bool bad = !json_is_object(root);
    json_t *topics = bad ? NULL : list_field(root, "topics", &bad), *t, *c;
    size_t i, j;
    const char *name;
    bool paused;
    json_array_foreach(topics, i, t)
    {
        if (entry_fields(t, &name, &paused) < 0) {
            snprintf(why, whylen, "topic %zu: want {\"name\": string, \"paused\": bool}", i);
            return -1;
        }
        json_t *chans = list_field(t, "channels", &bad);
        json_array_foreach(chans, j, c)
        {
            if (entry_fields(c, &name, &paused) < 0) {
                snprintf(why, whylen, "topic %zu channel %zu: want {\"name\", \"paused\"}", i, j);
                return -1;
            }
        }
    }
    if (bad)
        snprintf(why, whylen, "want {\"topics\": [...], \"version\": string}");
    return bad ? -1 : 0;
}

static void load_channels(topic_t *t, json_t *chans)
{
    size_t j;
    json_t *c;
    const char *name;
    bool paused;
    json_array_foreach(chans, j, c)
    {
        if (entry_fields(c, &name, &paused) == 0) {
            log_warn("NSQ: skipping creation of invalid channel %s", name);
            continue;
        }
        channel_t *ch = topic_get_channel(t, name, strlen(name));
        if (ch && paused)
            chan_pause(ch);
        if (!ch)
            log_error("NSQ: cannot create channel %s:%s: out of memory", topic_name(t), name);
    }
}

int metadata_load(metadata_t *md, char *err, size_t errlen)
{
    size_t len = 0, i;
    bool missing, bad = false, paused;
    char why[PATH_MAX + 256];
    const char *name;
    json_error_t jerr;
    json_t *t;
    char *buf = read_file(md->path, &len, &missing, why, sizeof(why));
    if (!buf && missing)
        return 0; /* fresh start */
    json_t *root = buf ? json_loadb(buf, len, 0, &jerr) : NULL;
    if (buf && !root)
        snprintf(why, sizeof(why), "%s (line %d column %d)", jerr.text, jerr.line, jerr.column);
    free(buf);
    if (!root || validate(root, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "failed to parse metadata in %s - %s (fix or move the file away)",
                 md->path, why);
        md->broken = true;
        json_decref(root);
        return -1;
    }
    json_t *topics = list_field(root, "topics", &bad);
    json_array_foreach(topics, i, t)
    {
        if (entry_fields(t, &name, &paused) == 0) {
            log_warn("NSQ: skipping creation of invalid topic %s", name);
            continue;
        }
        topic_t *topic = nsqd_get_topic(md->n, name, strlen(name));
        if (!topic) {
            log_error("NSQ: cannot create topic %s: out of memory", name);
            continue;
        }
        if (paused)
            topic_pause(topic); /* before its channels: the topic's backlog stays put */
        load_channels(topic, list_field(t, "channels", &bad));
    }
    json_decref(root);
    log_info("NSQ: loaded metadata from %s (%zu topics)", md->path, nsqd_topic_count(md->n));
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

static json_t *entry_json(const char *name, bool paused)
{
    return json_pack("{s:s, s:b}", "name", name, "paused", paused);
}

static json_t *topic_json(topic_t *t)
{
    size_t n = topic_channel_count(t);
    channel_t **chans = calloc(n ? n : 1, sizeof(*chans));
    json_t *list = json_array(), *o = entry_json(topic_name(t), topic_is_paused(t));
    if (!chans || !list || !o) {
        free(chans);
        json_decref(list);
        json_decref(o);
        return NULL;
    }
    n = topic_channels(t, chans, n);
    for (size_t i = 0; i < n; i++)
        if (!chan_is_ephemeral(chans[i]))
            json_array_append_new(list, entry_json(chan_name(chans[i]), chan_is_paused(chans[i])));
    free(chans);
    json_object_set_new(o, "channels", list);
    return o;
}

static char *encode(nsqd_t *n)
{
    size_t count = nsqd_topic_count(n);
    topic_t **topics = calloc(count ? count : 1, sizeof(*topics));
    json_t *list = json_array();
    char *text = NULL;
    if (topics && list) {
        count = nsqd_topics(n, topics, count);
        for (size_t i = 0; i < count; i++)
            if (!topic_is_ephemeral(topics[i]))
                json_array_append_new(list, topic_json(topics[i]));
        json_t *root = json_pack("{s:o, s:s}", "topics", list, "version", NSQ_VERSION);
        list = NULL;
        text = root ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);
    }
    json_decref(list);
    free(topics);
    return text;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* temp file, fsync, rename over the file, fsync the directory. */
static int write_atomically(metadata_t *md, const char *text, char *err, size_t errlen)
{
    int fd = open(md->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", md->tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(md->tmp);
        return -1;
    }
    if (close(fd) < 0 || rename(md->tmp, md->path) < 0) {
        snprintf(err, errlen, "cannot replace %s: %s", md->path, strerror(errno));
        unlink(md->tmp);
        return -1;
    }
    int dfd = open(nsqd_data_path(md->n), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int metadata_write(metadata_t *md, char *err, size_t errlen)
{
    if (md->broken) {
        snprintf(err, errlen, "%s could not be loaded: left as it is", md->path);
        return -1;
    }
    event_del(md->write_ev);
    char *text = encode(md->n);
    if (!text) {
        snprintf(err, errlen, "cannot encode metadata: out of memory");
        return -1;
    }
    log_debug("NSQ: persisting topic/channel metadata to %s", md->path);
    int rc = write_atomically(md, text, err, errlen);
    free(text);
    return rc;
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    char err[PATH_MAX + 128];
    if (metadata_write(arg, err, sizeof(err)) < 0)
        log_error("NSQ: failed to persist metadata - %s", err);
}

void metadata_changed(void *arg)
{
    metadata_t *md = arg;
    if (!md->broken && !event_pending(md->write_ev, EV_TIMEOUT, NULL))
        event_active(md->write_ev, EV_TIMEOUT, 0);
}
