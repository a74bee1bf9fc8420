/* Unit tests for nsqd/diskqueue.c: round trips across file rolls with exact depth, reopen,
 * the metadata format, deletion of read files, corruption (bad size, truncated and garbage
 * files, a bad write file), torn tail after kill -9, files the metadata never saw, write failure
 * via RLIMIT_FSIZE and recovery, empty, delete, durable callbacks and sync timing, plus a printed
 * throughput check. Each test works in its own directory under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "common/wire.h"
#include "nsqd/diskqueue.h"

#define BODY 64
#define REC (WIRE_MSG_HEADER_LEN + BODY) /* 90-byte record */
#define SLOT (REC + 4)                   /* 94 bytes on disk */

typedef struct fx {
    char dir[64];
    struct event_base *base;
} fx_t;

static void rm_dir(const char *dir)
{
    char p[512];
    struct dirent *e;
    DIR *d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/cnsq-dq-XXXXXX");
    if (!mkdtemp(f->dir) || !(f->base = event_base_new())) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rm_dir(f->dir);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static size_t mkrec(uint8_t *out, uint32_t i, size_t body)
{
    wire_msg_header_t h = {.timestamp = i, .attempts = 1};
    char id[WIRE_MSG_ID_LEN + 1];
    snprintf(id, sizeof(id), "%016x", i);
    memcpy(h.id, id, WIRE_MSG_ID_LEN);
    wire_msg_header_encode(out, &h);
    for (size_t k = 0; k < body; k++)
        out[WIRE_MSG_HEADER_LEN + k] = (uint8_t)('a' + (i + k) % 26);
    return WIRE_MSG_HEADER_LEN + body;
}

static int put_one(backend_t *q, uint32_t i, size_t body, char *err, size_t errlen)
{
    uint8_t rec[WIRE_MSG_HEADER_LEN + 2048];
    size_t len = mkrec(rec, i, body);
    return q->ops->put(q, rec, len, err, errlen);
}

static void put_range(backend_t *q, uint32_t from, uint32_t to, size_t body)
{
    char err[256] = "";
    for (uint32_t i = from; i < to; i++)
        if (put_one(q, i, body, err, sizeof(err)) != 0)
            fail_msg("put %u: %s", i, err);
}

/* Pops records from..to-1 and checks each one's bytes. */
static void pop_range(backend_t *q, uint32_t from, uint32_t to, size_t body)
{
    uint8_t want[WIRE_MSG_HEADER_LEN + 2048];
    for (uint32_t i = from; i < to; i++) {
        const uint8_t *rec;
        size_t len;
        int r = q->ops->pop(q, &rec, &len);
        if (r != 1)
            fail_msg("pop %u returned %d", i, r);
        size_t wlen = mkrec(want, i, body);
        assert_int_equal(len, wlen);
        if (memcmp(rec, want, len) != 0)
            fail_msg("record %u differs (got timestamp %llu)", i,
                     (unsigned long long)wire_get_be64(rec));
    }
}

static void pop_none(backend_t *q)
{
    const uint8_t *rec;
    size_t len;
    assert_int_equal(q->ops->pop(q, &rec, &len), 0);
}

static backend_t *open_q(fx_t *f, const char *name, const dq_config_t *c)
{
    char err[256] = "";
    backend_t *q = dq_open(f->base, f->dir, name, c, err, sizeof(err));
    if (!q)
        fail_msg("dq_open: %s", err);
    return q;
}

static void qpath(const fx_t *f, char *out, const char *name, int n, const char *suffix)
{
    if (n < 0)
        snprintf(out, 512, "%s/%s.diskqueue.meta.dat%s", f->dir, name, suffix);
    else
        snprintf(out, 512, "%s/%s.diskqueue.%06d.dat%s", f->dir, name, n, suffix);
}

static bool qexists(const fx_t *f, const char *name, int n, const char *suffix)
{
    char p[512];
    qpath(f, p, name, n, suffix);
    return access(p, F_OK) == 0;
}

static long long qsize(const fx_t *f, const char *name, int n)
{
    char p[512];
    struct stat st;
    qpath(f, p, name, n, "");
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static void read_meta(const fx_t *f, const char *name, char *out, size_t cap)
{
    char p[512];
    qpath(f, p, name, -1, "");
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void write_meta(const fx_t *f, const char *name, const char *text)
{
    char p[512];
    qpath(f, p, name, -1, "");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void run_ms(fx_t *f, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void run_until(fx_t *f, const int *flag, int timeout_ms)
{
    int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    while (!*flag && clock_monotonic_ns() < deadline)
        run_ms(f, 5);
    if (!*flag)
        fail_msg("timed out after %d ms", timeout_ms);
}

typedef struct wlog {
    int n;
    int ids[64];
    int status[64];
} wlog_t;

typedef struct wctx {
    wlog_t *log;
    int id;
} wctx_t;

static void synced_cb(void *arg, int status)
{
    wctx_t *c = arg;
    c->log->ids[c->log->n] = c->id;
    c->log->status[c->log->n++] = status;
}

/* Waits for a sync covering everything done so far (and its file deletions). */
static void wait_synced(fx_t *f, backend_t *q)
{
    wlog_t log = {0};
    wctx_t c = {&log, 1};
    assert_int_equal(q->ops->when_synced(q, synced_cb, &c), 0);
    run_until(f, &log.n, 5000);
    assert_int_equal(log.status[0], 0);
}

typedef struct health {
    int bad, ok;
    char reason[256];
} health_t;

static void health_cb(void *ctx, bool ok, const char *reason)
{
    health_t *h = ctx;
    if (ok) {
        h->ok++;
    } else {
        h->bad++;
        snprintf(h->reason, sizeof(h->reason), "%s", reason);
    }
}

static dq_stats_t stats(const backend_t *q)
{
    dq_stats_t s;
    dq_get_stats(q, &s);
    return s;
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_put_pop_across_rolls(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    backend_t *q = open_q(f, "t", &c);
    pop_none(q);
    put_range(q, 0, 15, BODY);
    assert_int_equal(q->ops->depth(q), 15);
    pop_range(q, 0, 10, BODY);
    assert_int_equal(q->ops->depth(q), 5);
    put_range(q, 15, 23, BODY); /* the reader is in file 2 while the writer rolls on */
    assert_int_equal(q->ops->depth(q), 13);
    pop_range(q, 10, 23, BODY);
    assert_int_equal(q->ops->depth(q), 0);
    pop_none(q);
    wait_synced(f, q);
    /* 23 records, 5 per file: files 0..3 were read to the end and deleted; 4 is being written */
    for (int n = 0; n < 4; n++)
        assert_false(qexists(f, "t", n, ""));
    assert_int_equal(qsize(f, "t", 4), 3 * SLOT);
    dq_stats_t s = stats(q);
    assert_int_equal(s.depth, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.files, 1);
    assert_true(s.healthy);
    q->ops->close(q, 0);
}

static void test_reopen_keeps_order_and_depth(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 7};
    backend_t *q = open_q(f, "t:c", &c);
    put_range(q, 0, 50, BODY);
    pop_range(q, 0, 20, BODY);
    assert_int_equal(stats(q).bytes, 30 * SLOT);
    q->ops->close(q, 0);

    q = open_q(f, "t:c", &c);
    assert_int_equal(q->ops->depth(q), 30);
    assert_int_equal(stats(q).bytes, 30 * SLOT);
    pop_range(q, 20, 35, BODY);
    put_range(q, 50, 60, BODY);
    q->ops->close(q, 0);

    q = open_q(f, "t:c", &c);
    assert_int_equal(q->ops->depth(q), 25);
    pop_range(q, 35, 60, BODY);
    pop_none(q);
    q->ops->close(q, 0);

    q = open_q(f, "t:c", &c);
    assert_int_equal(q->ops->depth(q), 0);
    pop_none(q);
    q->ops->close(q, 0);
}

static void test_metadata_format(void **state)
{
    fx_t *f = *state;
    char meta[128], want[128];
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 7, BODY);
    pop_range(q, 0, 2, BODY);
    wait_synced(f, q); /* written at sync time too, not only at close */
    read_meta(f, "t", meta, sizeof(meta));
    snprintf(want, sizeof(want), "5\n0,%d\n1,%d\n", 2 * SLOT, 2 * SLOT);
    assert_string_equal(meta, want);
    pop_range(q, 2, 5, BODY);
    q->ops->close(q, 0);
    read_meta(f, "t", meta, sizeof(meta));
    snprintf(want, sizeof(want), "2\n1,0\n1,%d\n", 2 * SLOT);
    assert_string_equal(meta, want);
    assert_false(qexists(f, "t", -1, ".tmp"));
    assert_false(qexists(f, "t", 0, "")); /* read to the end: deleted */
}

/* Files written by hand in go-diskqueue's layout are read back. */
static void test_reads_go_layout(void **state)
{
    fx_t *f = *state;
    char p[512], meta[64];
    uint8_t rec[REC], len[4];
    qpath(f, p, "g", 3, "");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (uint32_t i = 0; i < 4; i++) {
        wire_put_be32(len, REC);
        fwrite(len, 1, 4, fp);
        fwrite(rec, 1, mkrec(rec, i, BODY), fp);
    }
    fclose(fp);
    snprintf(meta, sizeof(meta), "3\n3,%d\n3,%d\n", SLOT, 4 * SLOT);
    write_meta(f, "g", meta);
    backend_t *q = open_q(f, "g", NULL);
    assert_int_equal(q->ops->depth(q), 3);
    pop_range(q, 1, 4, BODY);
    pop_none(q);
    put_range(q, 4, 6, BODY);
    pop_range(q, 4, 6, BODY);
    q->ops->close(q, 0);
    assert_int_equal(qsize(f, "g", 3), 6 * SLOT);
}

static void test_invalid_sizes_refused(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    uint8_t rec[2048] = {0};
    dq_config_t c = {.max_msg_size = 1000};
    backend_t *q = open_q(f, "t", &c);
    assert_int_equal(q->ops->put(q, rec, 10, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid message write size (10)"));
    assert_int_equal(q->ops->put(q, rec, 1001, err, sizeof(err)), -1);
    assert_int_equal(q->ops->put(q, rec, 1000, err, sizeof(err)), 0);
    assert_int_equal(q->ops->depth(q), 1);
    q->ops->close(q, 0);
}

/* Records bigger than the read-ahead chunk and the write buffer's flush size. */
static void test_large_records(void **state)
{
    fx_t *f = *state;
    enum { BIG = 700 * 1024 };
    char err[256] = "";
    uint8_t *rec = malloc(BIG);
    const uint8_t *out;
    size_t len;
    assert_non_null(rec);
    dq_config_t c = {.max_bytes_per_file = 1024 * 1024};
    backend_t *q = open_q(f, "big", &c);
    for (uint32_t i = 0; i < 6; i++) {
        memset(rec, 'A' + (int)i, BIG);
        size_t n = i % 2 ? BIG : 100; /* big, small, big, ... across file rolls */
        assert_int_equal(q->ops->put(q, rec, n, err, sizeof(err)), 0);
    }
    q->ops->close(q, 0);
    q = open_q(f, "big", &c);
    for (uint32_t i = 0; i < 6; i++) {
        assert_int_equal(q->ops->pop(q, &out, &len), 1);
        assert_int_equal(len, i % 2 ? BIG : 100);
        assert_int_equal(out[0], 'A' + (int)i);
        assert_int_equal(out[len - 1], 'A' + (int)i);
    }
    pop_none(q);
    q->ops->close(q, 0);
    free(rec);
}

/* ---- corruption --------------------------------------------------------------------------- */

/* 15 records in files 0, 1, 2 (5 each), closed. */
static void make_three_files(fx_t *f, const dq_config_t *c)
{
    backend_t *q = open_q(f, "t", c);
    put_range(q, 0, 15, BODY);
    q->ops->close(q, 0);
    assert_int_equal(qsize(f, "t", 1), 5 * SLOT);
}

static void patch(const fx_t *f, int n, long off, const void *bytes, size_t len)
{
    char p[512];
    qpath(f, p, "t", n, "");
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
    close(fd);
}

/* Pops what is left, expecting `want` (n records), then nothing, with depth 0 at the end. */
static void expect_survivors(backend_t *q, const uint32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pop_range(q, want[i], want[i] + 1, BODY);
    pop_none(q);
    assert_int_equal(q->ops->depth(q), 0);
}

static void test_corrupt_size_bytes(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    patch(f, 1, 2 * SLOT, "\xff\xff\xff\xff", 4); /* record 7's size */
    backend_t *q = open_q(f, "t", &c);
    assert_int_equal(q->ops->depth(q), 15);
    static const uint32_t want[] = {0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14};
    expect_survivors(q, want, sizeof(want) / sizeof(want[0]));
    dq_stats_t s = stats(q);
    assert_int_equal(s.corrupt_count, 1);
    assert_non_null(strstr(s.last_error, "invalid message read size (4294967295)"));
    assert_true(qexists(f, "t", 1, ".bad"));
    assert_false(qexists(f, "t", 1, ""));
    q->ops->close(q, 0);
}

static void test_corrupt_truncated_middle_file(void **state)
{
    fx_t *f = *state;
    char p[512];
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    qpath(f, p, "t", 1, "");
    assert_int_equal(truncate(p, 3 * SLOT + 10), 0); /* record 8 cut short */
    backend_t *q = open_q(f, "t", &c);
    static const uint32_t want[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14};
    expect_survivors(q, want, sizeof(want) / sizeof(want[0]));
    assert_int_equal(stats(q).corrupt_count, 1);
    assert_true(qexists(f, "t", 1, ".bad"));
    /* keeps working afterwards */
    put_range(q, 15, 18, BODY);
    assert_int_equal(q->ops->depth(q), 3);
    pop_range(q, 15, 18, BODY);
    q->ops->close(q, 0);
}

static void test_corrupt_garbage_file(void **state)
{
    fx_t *f = *state;
    uint8_t junk[5 * SLOT];
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    srand(7);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rand();
    junk[0] = 0xab; /* a size far beyond max_msg_size */
    patch(f, 1, 0, junk, sizeof(junk));
    backend_t *q = open_q(f, "t", &c);
    static const uint32_t want[] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
    expect_survivors(q, want, sizeof(want) / sizeof(want[0]));
    assert_int_equal(stats(q).corrupt_count, 1);
    assert_true(qexists(f, "t", 1, ".bad"));
    q->ops->close(q, 0);
}

/* The file being written is bad: it is set aside and writing goes on in a new file. */
static void test_corrupt_write_file(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    patch(f, 2, 2 * SLOT, "\0\0\0\0", 4); /* record 12's size: 0 */
    backend_t *q = open_q(f, "t", &c);
    pop_range(q, 0, 12, BODY);
    pop_none(q);
    assert_int_equal(q->ops->depth(q), 0);
    assert_true(qexists(f, "t", 2, ".bad"));
    put_range(q, 15, 18, BODY);
    assert_int_equal(q->ops->depth(q), 3);
    pop_range(q, 15, 18, BODY);
    pop_none(q);
    q->ops->close(q, 0);
    assert_int_equal(qsize(f, "t", 3), 3 * SLOT);
}

/* ---- metadata that disagrees with the files ----------------------------------------------- */

static void test_bad_metadata_depth(void **state)
{
    fx_t *f = *state;
    char meta[64];
    backend_t *q = open_q(f, "t", NULL);
    put_range(q, 0, 10, BODY);
    q->ops->close(q, 0);

    snprintf(meta, sizeof(meta), "999999\n0,0\n0,%d\n", 10 * SLOT); /* impossible: recounted */
    write_meta(f, "t", meta);
    q = open_q(f, "t", NULL);
    assert_int_equal(q->ops->depth(q), 10);
    q->ops->close(q, 0);

    snprintf(meta, sizeof(meta), "-5\n0,0\n0,%d\n", 10 * SLOT);
    write_meta(f, "t", meta);
    q = open_q(f, "t", NULL);
    assert_int_equal(q->ops->depth(q), 10);
    q->ops->close(q, 0);

    snprintf(meta, sizeof(meta), "7\n0,0\n0,%d\n", 10 * SLOT); /* plausible but wrong */
    write_meta(f, "t", meta);
    q = open_q(f, "t", NULL);
    for (uint32_t i = 0; i < 10; i++) {
        pop_range(q, i, i + 1, BODY);
        assert_true(q->ops->depth(q) >= (i < 9 ? 1 : 0)); /* never 0 or less with records left */
    }
    assert_int_equal(q->ops->depth(q), 0);
    pop_none(q);
    q->ops->close(q, 0);
}

static void test_missing_metadata(void **state)
{
    fx_t *f = *state;
    char p[512];
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    qpath(f, p, "t", -1, "");
    assert_int_equal(unlink(p), 0);
    backend_t *q = open_q(f, "t", &c);
    assert_int_equal(q->ops->depth(q), 15);
    pop_range(q, 0, 15, BODY);
    pop_none(q);
    q->ops->close(q, 0);
}

/* A crash after rolling to new files, before the metadata said so: the later files and the
 * records past the old write position are adopted. */
static void test_files_past_metadata(void **state)
{
    fx_t *f = *state;
    char meta[64];
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    make_three_files(f, &c);
    snprintf(meta, sizeof(meta), "3\n0,0\n0,%d\n", 3 * SLOT);
    write_meta(f, "t", meta);
    backend_t *q = open_q(f, "t", &c);
    assert_int_equal(q->ops->depth(q), 15);
    pop_range(q, 0, 15, BODY);
    put_range(q, 15, 16, BODY);
    pop_range(q, 15, 16, BODY);
    q->ops->close(q, 0);
}

/* ---- crash: kill -9, then a torn last record ---------------------------------------------- */

static void crash_child(const char *dir, int ready_fd)
{
    char err[256];
    struct event_base *base = event_base_new();
    backend_t *q = dq_open(base, dir, "t", NULL, err, sizeof(err));
    if (!q)
        _exit(2);
    put_range(q, 0, 10, BODY);
    wlog_t log = {0};
    wctx_t c = {&log, 1};
    q->ops->when_synced(q, synced_cb, &c);
    while (log.n == 0)
        event_base_loop(base, EVLOOP_ONCE);
    put_range(q, 10, 15, BODY);
    event_base_loop(base, EVLOOP_NONBLOCK); /* written, never fsynced nor in the metadata */
    if (write(ready_fd, "x", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static void test_torn_tail_after_kill9(void **state)
{
    fx_t *f = *state;
    int pfd[2];
    char x, p[512], meta[64], want[64];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        crash_child(f->dir, pfd[1]);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], &x, 1), 1);
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    read_meta(f, "t", meta, sizeof(meta));
    snprintf(want, sizeof(want), "10\n0,0\n0,%d\n", 10 * SLOT);
    assert_string_equal(meta, want);
    assert_int_equal(qsize(f, "t", 0), 15 * SLOT);
    qpath(f, p, "t", 0, "");
    assert_int_equal(truncate(p, 15 * SLOT - 7), 0); /* record 14 torn */

    backend_t *q = open_q(f, "t", NULL);
    assert_int_equal(q->ops->depth(q), 14);
    assert_int_equal(qsize(f, "t", 0), 14 * SLOT); /* the torn record was cut off */
    pop_range(q, 0, 14, BODY);
    pop_none(q);
    assert_int_equal(stats(q).corrupt_count, 0);
    put_range(q, 100, 101, BODY);
    pop_range(q, 100, 101, BODY);
    q->ops->close(q, 0);
}

/* ---- write failures ----------------------------------------------------------------------- */

static bool limit_fsize(struct rlimit *old, rlim_t max)
{
    struct rlimit lim;
    signal(SIGXFSZ, SIG_IGN);
    if (getrlimit(RLIMIT_FSIZE, old) != 0 ||
        (old->rlim_max != RLIM_INFINITY && old->rlim_max < max))
        return false;
    lim.rlim_cur = max;
    lim.rlim_max = old->rlim_max;
    return setrlimit(RLIMIT_FSIZE, &lim) == 0;
}

static void test_write_failure_efbig_then_recovery(void **state)
{
    fx_t *f = *state;
    struct rlimit old;
    health_t h = {0};
    char err[256] = "";
    dq_config_t c = {.hooks = {health_cb, &h}};
    backend_t *q = open_q(f, "t", &c);
    if (!limit_fsize(&old, 64 * 1024)) {
        q->ops->close(q, 1);
        skip();
    }
    uint32_t accepted = 0;
    int r = 0;
    while (accepted < 2000 && (r = put_one(q, accepted, 1000, err, sizeof(err))) == 0)
        accepted++;
    assert_int_equal(r, -1);
    assert_string_equal(err, "disk queue write failed: File too large");
    assert_true(accepted > 0);
    assert_int_equal(q->ops->depth(q), accepted); /* the refused record is not counted */
    assert_int_equal(qsize(f, "t", 0), 0);        /* the partial write was cut back */
    assert_int_equal(h.bad, 1);
    assert_string_equal(h.reason, err);
    dq_stats_t s = stats(q);
    assert_false(s.healthy);
    assert_true(s.write_errors >= 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

    assert_int_equal(put_one(q, accepted, 1000, err, sizeof(err)), 0); /* by itself */
    assert_int_equal(h.ok, 1);
    assert_true(stats(q).healthy);
    assert_int_equal(q->ops->depth(q), accepted + 1);
    pop_range(q, 0, accepted + 1, 1000);
    pop_none(q);
    q->ops->close(q, 0);
    q = open_q(f, "t", &c);
    assert_int_equal(q->ops->depth(q), 0);
    q->ops->close(q, 0);
}

/* The file cannot grow past the limit: it keeps its whole records and writing goes on in a
 * new file. Waiters on records that could not be written hear -1; later puts succeed once the
 * disk takes the bytes. */
static void test_write_failure_rolls_to_new_file(void **state)
{
    fx_t *f = *state;
    struct rlimit old;
    health_t h = {0};
    wlog_t log = {0};
    wctx_t wc = {&log, 1};
    char err[256] = "";
    const long long slot = WIRE_MSG_HEADER_LEN + 1000 + 4;
    dq_config_t c = {.hooks = {health_cb, &h}};
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 10, 1000);
    wait_synced(f, q);
    assert_int_equal(qsize(f, "t", 0), 10 * slot);
    if (!limit_fsize(&old, (rlim_t)(10 * slot + 4000))) {
        q->ops->close(q, 1);
        skip();
    }
    put_range(q, 10, 25, 1000); /* buffered; 15 KiB fit neither file 0 nor a new file */
    assert_int_equal(q->ops->when_synced(q, synced_cb, &wc), 0);
    run_until(f, &log.n, 5000); /* the loop's flush fails */
    assert_int_equal(log.status[0], -1);
    assert_int_equal(h.bad, 1);
    assert_int_equal(qsize(f, "t", 0), 10 * slot); /* cut back to its last whole record */
    assert_int_equal(put_one(q, 25, 1000, err, sizeof(err)), -1);
    assert_string_equal(err, "disk queue write failed: File too large");
    assert_int_equal(q->ops->depth(q), 25);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

    assert_int_equal(put_one(q, 25, 1000, err, sizeof(err)), 0);
    assert_int_equal(h.ok, 1);
    wait_synced(f, q);
    assert_int_equal(qsize(f, "t", 0), 10 * slot);
    assert_int_equal(qsize(f, "t", 1), 16 * slot);
    assert_int_equal(q->ops->depth(q), 26);
    pop_range(q, 0, 26, 1000);
    pop_none(q);
    q->ops->close(q, 0);
}

/* A failed sync (here the metadata write: a directory squats on its temp file) answers the
 * waiters with -1 and marks the queue unhealthy; the next sync heals it. */
static void test_sync_failure_reported_then_recovers(void **state)
{
    fx_t *f = *state;
    char tmp[512];
    health_t h = {0};
    wlog_t log = {0};
    wctx_t wc[2] = {{&log, 0}, {&log, 1}};
    dq_config_t c = {.hooks = {health_cb, &h}};
    backend_t *q = open_q(f, "t", &c);
    qpath(f, tmp, "t", -1, ".tmp");
    assert_int_equal(mkdir(tmp, 0700), 0);
    put_range(q, 0, 3, BODY);
    assert_int_equal(q->ops->when_synced(q, synced_cb, &wc[0]), 0);
    run_until(f, &log.n, 5000);
    assert_int_equal(log.status[0], -1);
    assert_int_equal(h.bad, 1);
    assert_string_equal(h.reason, "disk queue sync failed: metadata write: Is a directory");
    assert_int_equal(stats(q).sync_errors, 1);
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(q->ops->when_synced(q, synced_cb, &wc[1]), 0);
    while (log.n < 2)
        run_ms(f, 5);
    assert_int_equal(log.status[1], 0);
    assert_int_equal(h.ok, 1);
    assert_true(stats(q).healthy);
    pop_range(q, 0, 3, BODY);
    q->ops->close(q, 0);
}

/* ---- empty, delete ------------------------------------------------------------------------ */

static void test_empty(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 12, BODY);
    pop_range(q, 0, 3, BODY);
    assert_int_equal(q->ops->empty(q), 0);
    assert_int_equal(q->ops->depth(q), 0);
    pop_none(q);
    wait_synced(f, q);
    for (int n = 0; n < 3; n++)
        assert_false(qexists(f, "t", n, ""));
    put_range(q, 100, 105, BODY);
    assert_int_equal(q->ops->depth(q), 5);
    pop_range(q, 100, 103, BODY);
    q->ops->close(q, 0);
    q = open_q(f, "t", &c);
    assert_int_equal(q->ops->depth(q), 2);
    pop_range(q, 103, 105, BODY);
    pop_none(q);
    q->ops->close(q, 0);
}

static void test_close_delete_files(void **state)
{
    fx_t *f = *state;
    dq_config_t c = {.max_bytes_per_file = SLOT * 5};
    backend_t *other = open_q(f, "t:c", &c);
    put_range(other, 0, 3, BODY);
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 12, BODY);
    pop_range(q, 0, 6, BODY);
    wait_synced(f, q);
    q->ops->close(q, 1);
    for (int n = 0; n < 3; n++)
        assert_false(qexists(f, "t", n, ""));
    assert_false(qexists(f, "t", -1, ""));
    other->ops->close(other, 0);
    assert_true(qexists(f, "t:c", 0, ""));
    assert_true(qexists(f, "t:c", -1, ""));
}

/* ---- sync policy and durable callbacks ---------------------------------------------------- */

static void test_durable_callback_after_fsync(void **state)
{
    fx_t *f = *state;
    char meta[64], want[64];
    wlog_t log = {0};
    wctx_t ctx[6];
    dq_config_t c = {.sync_every = 1};
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 1, BODY);
    ctx[0] = (wctx_t){&log, 0};
    assert_int_equal(q->ops->when_synced(q, synced_cb, &ctx[0]), 0);
    assert_int_equal(log.n, 0); /* never from inside the call */
    run_until(f, &log.n, 5000);
    assert_int_equal(log.status[0], 0);
    read_meta(f, "t", meta, sizeof(meta)); /* the metadata was written with the sync */
    snprintf(want, sizeof(want), "1\n0,0\n0,%d\n", SLOT);
    assert_string_equal(meta, want);

    for (int i = 1; i < 6; i++) { /* arriving together: answered in order */
        put_range(q, (uint32_t)i, (uint32_t)i + 1, BODY);
        ctx[i] = (wctx_t){&log, i};
        assert_int_equal(q->ops->when_synced(q, synced_cb, &ctx[i]), 0);
    }
    int done = 0;
    while (!done) {
        run_ms(f, 5);
        done = log.n == 6;
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(log.ids[i], i);
        assert_int_equal(log.status[i], 0);
    }
    /* already synced: still answered from the loop, not inline */
    wctx_t late = {&log, 99};
    assert_int_equal(q->ops->when_synced(q, synced_cb, &late), 0);
    assert_int_equal(log.n, 6);
    run_ms(f, 5);
    assert_int_equal(log.n, 7);
    assert_int_equal(log.ids[6], 99);
    q->ops->close(q, 0);
}

static void test_sync_timeout_and_sync_every(void **state)
{
    fx_t *f = *state;
    char meta[64], want[64];
    dq_config_t c = {.sync_every = 1000000, .sync_timeout_ns = 50 * 1000000LL};
    backend_t *q = open_q(f, "t", &c);
    put_range(q, 0, 3, BODY);
    run_ms(f, 300);
    read_meta(f, "t", meta, sizeof(meta));
    snprintf(want, sizeof(want), "3\n0,0\n0,%d\n", 3 * SLOT);
    assert_string_equal(meta, want);
    q->ops->close(q, 0);

    dq_config_t c2 = {.sync_every = 5, .sync_timeout_ns = 3600 * 1000000000LL};
    q = open_q(f, "u", &c2);
    put_range(q, 0, 5, BODY);
    run_ms(f, 100);
    read_meta(f, "u", meta, sizeof(meta));
    snprintf(want, sizeof(want), "5\n0,0\n0,%d\n", 5 * SLOT);
    assert_string_equal(meta, want);
    q->ops->close(q, 0);
}

static void close_from_cb(void *arg, int status)
{
    backend_t *q = arg;
    (void)status;
    q->ops->close(q, 0);
}

static void test_close_inside_callback_is_deferred(void **state)
{
    fx_t *f = *state;
    char meta[64], want[64];
    backend_t *q = open_q(f, "t", NULL);
    put_range(q, 0, 2, BODY);
    assert_int_equal(q->ops->when_synced(q, close_from_cb, q), 0);
    run_ms(f, 200);
    read_meta(f, "t", meta, sizeof(meta));
    snprintf(want, sizeof(want), "2\n0,0\n0,%d\n", 2 * SLOT);
    assert_string_equal(meta, want);
}

/* ---- throughput (printed, not asserted) --------------------------------------------------- */

static void test_throughput(void **state)
{
    fx_t *f = *state;
    enum { N = 1000000, B = 100 };
    uint8_t rec[WIRE_MSG_HEADER_LEN + B];
    char err[256];
    const uint8_t *out;
    size_t len;
    size_t rlen = mkrec(rec, 1, B);
    backend_t *q = open_q(f, "bench", NULL);
    int64_t t0 = clock_monotonic_ns();
    for (uint32_t i = 0; i < N; i++) {
        wire_put_be64(rec, i);
        if (q->ops->put(q, rec, rlen, err, sizeof(err)) != 0)
            fail_msg("put: %s", err);
    }
    int64_t t1 = clock_monotonic_ns();
    q->ops->close(q, 0);
    int64_t t2 = clock_monotonic_ns();
    q = open_q(f, "bench", NULL);
    int64_t t3 = clock_monotonic_ns();
    assert_int_equal(q->ops->depth(q), N);
    for (uint32_t i = 0; i < N; i++) {
        if (q->ops->pop(q, &out, &len) != 1 || len != rlen || wire_get_be64(out) != i)
            fail_msg("pop %u", i);
    }
    int64_t t4 = clock_monotonic_ns();
    pop_none(q);
    q->ops->close(q, 0);
    double mb = (double)N * (double)(rlen + 4) / 1e6;
    printf("diskqueue throughput (%d x %zu-byte records, %.0f MB): put %.2fM/s (%.0f MB/s), "
           "close+fsync %.0f ms, reopen %.2f ms, pop %.2fM/s (%.0f MB/s)\n",
           N, rlen, mb, N / ((double)(t1 - t0) / 1e3), mb / ((double)(t1 - t0) / 1e9),
           (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6, N / ((double)(t4 - t3) / 1e3),
           mb / ((double)(t4 - t3) / 1e9));
}

static void count_cb(void *arg, int status)
{
    int *n = arg;
    if (status == 0)
        (*n)++;
}

/* Durable publishing: one record per fsync, then 100 records sharing each fsync. */
static void test_durable_throughput(void **state)
{
    fx_t *f = *state;
    enum { SEQ = 200, BATCHES = 20, BATCH = 100 };
    dq_config_t c = {.sync_every = 1};
    backend_t *q = open_q(f, "durable", &c);
    int done = 0;
    int64_t t0 = clock_monotonic_ns();
    for (uint32_t i = 0; i < SEQ; i++) {
        put_range(q, i, i + 1, BODY);
        assert_int_equal(q->ops->when_synced(q, count_cb, &done), 0);
        while (done <= (int)i)
            event_base_loop(f->base, EVLOOP_ONCE);
    }
    int64_t t1 = clock_monotonic_ns();
    for (uint32_t b = 0; b < BATCHES; b++) {
        for (uint32_t i = 0; i < BATCH; i++) {
            put_range(q, SEQ + b * BATCH + i, SEQ + b * BATCH + i + 1, BODY);
            assert_int_equal(q->ops->when_synced(q, count_cb, &done), 0);
        }
        while (done < SEQ + (int)((b + 1) * BATCH))
            event_base_loop(f->base, EVLOOP_ONCE);
    }
    int64_t t2 = clock_monotonic_ns();
    assert_int_equal(q->ops->depth(q), SEQ + BATCHES * BATCH);
    q->ops->close(q, 1);
    printf("diskqueue durable: %.0f us per put+fsync round trip (%.0f/s); batches of %d: "
           "%.0f records/s\n", (double)(t1 - t0) / 1e3 / SEQ, SEQ / ((double)(t1 - t0) / 1e9),
           BATCH, BATCHES * BATCH / ((double)(t2 - t1) / 1e9));
}

int main(void)
{
    evthread_use_pthreads(); /* the disk queue's helper thread activates loop events */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_pop_across_rolls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_order_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_go_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_sizes_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_size_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_truncated_middle_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_write_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_metadata_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_past_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_after_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_efbig_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_rolls_to_new_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_failure_reported_then_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delete_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_callback_after_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_timeout_and_sync_every, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_callback_is_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_throughput, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
