/* diskqueue: one topic's or channel's queue on disk, in go-diskqueue's file format.
 * Owns the queue's data files and metadata, its write buffer and read-ahead buffer, crash
 * recovery at open, corruption handling (bad files renamed *.bad) and the sync policy.
 * Blocking work (fdatasync, metadata write + rename, deleting consumed files) runs on one helper
 * thread shared by every queue; its result comes back to the loop through each queue's done
 * event. What a record contains (the wire message) is the caller's business. */
#include "nsqd/diskqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"

#define DQ_RCHUNK (128 * 1024)    /* read-ahead: one pread fills up to this much */
#define DQ_WFLUSH (256 * 1024)    /* the write buffer is written once it would pass this */
#define DQ_SCAN_CHUNK (64 * 1024) /* recovery reads record headers through a window this big */
#define DQ_META_MAX 128

typedef struct i64vec {
    int64_t *v;
    size_t n, cap;
} i64vec_t;

/* One fsync + metadata pass. Embedded in its queue; at most one in flight per queue. The loop
 * fills it, the worker runs it; busy and done are guarded by g_worker.mu. */
typedef struct sync_job {
    struct sync_job *next; /* worker queue */
    struct dq *dq;
    bool busy, done;
    i64vec_t fds;     /* fdatasync, then close */
    i64vec_t unlinks; /* [from, to] pairs of file numbers, deleted after the metadata */
    bool sync_dir;    /* a data file was created: fsync the directory too */
    char meta[DQ_META_MAX];
    uint64_t seq; /* changes up to this one are covered */
    int err;      /* errno of the first failure, 0 = success */
    const char *what;
} sync_job_t;

typedef struct waiter {
    uint64_t seq;
    backend_synced_cb cb;
    void *arg;
    bool failed;
} waiter_t;

typedef struct dq {
    backend_t be; /* first: backend_t * <-> dq_t * */
    struct event_base *base;
    char *dir, *name, *meta_path, *meta_tmp;
    dq_config_t cfg;

    /* write side: wpos counts buffered bytes too; the file holds whole records up to
     * wpos - wlen ("flushed") */
    int wfd;
    int64_t wfile, wpos;
    uint8_t *wbuf;
    size_t wlen, wcap;
    int64_t wnrec;          /* records in wbuf */
    uint64_t first_buf_seq; /* change number of the first of them */
    bool wfile_exists, wfd_dirty, dir_dirty, write_failed;

    /* read side: rbuf[0] is at offset rbase of file rfile; the next record is at rpos, which
     * is rbase + roff; rend is a finished file's end (-1 while it is the write file) */
    int rfd;
    int64_t rfile, rpos, rend, rbase;
    uint8_t *rbuf;
    size_t rcap, roff, rlen;

    int64_t depth, bytes;
    bool depth_unknown; /* depth hit 0 with records left (metadata was wrong) */

    /* sync: seq numbers every change (put, pop, file change) */
    uint64_t seq, synced_seq, sync_started_seq, sync_covers;
    bool sync_wanted, sync_inflight, sync_failed, timer_armed, flush_armed;
    i64vec_t pend_fds, pend_unlinks; /* for the next job */
    sync_job_t job;
    struct event *done_ev, *flush_ev, *timer_ev;
    waiter_t *waiters;
    size_t whead, nwait, wcapw;

    bool healthy, closing, close_pending, close_delete;
    int dispatching; /* inside hooks or callbacks: close is deferred */
    uint64_t corrupt_count, write_errors, sync_errors;
    char last_error[256];
} dq_t;

static void done_cb(evutil_socket_t fd, short what, void *arg);
static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void close_now(dq_t *dq);
static const backend_ops_t dq_ops;

/* ---- small helpers ------------------------------------------------------------------------ */

static int vec_push(i64vec_t *a, int64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        int64_t *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* Moves src's items to the end of dst (src left empty). -1 on out of memory, src intact. */
static int vec_move(i64vec_t *dst, i64vec_t *src)
{
    if (dst->n == 0) {
        i64vec_t t = *dst;
        *dst = *src;
        *src = t;
        return 0;
    }
    if (dst->n + src->n > dst->cap) {
        size_t cap = dst->n + src->n;
        int64_t *v = realloc(dst->v, cap * sizeof(*v));
        if (!v)
            return -1;
        dst->v = v;
        dst->cap = cap;
    }
    memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
    dst->n += src->n;
    src->n = 0;
    return 0;
}

static int64_t flushed(const dq_t *dq)
{
    return dq->wpos - (int64_t)dq->wlen;
}

/* Path of data file n (suffix "" or ".bad"). Lengths were checked at open. */
static void data_path(const dq_t *dq, int64_t n, const char *suffix, char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/%s.diskqueue.%06lld.dat%s", dq->dir, dq->name, (long long)n,
             suffix);
}

static bool file_exists(const dq_t *dq, int64_t n)
{
    char path[PATH_MAX];
    data_path(dq, n, "", path);
    return access(path, F_OK) == 0;
}

static void set_error(dq_t *dq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(dq_t *dq, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dq->last_error, sizeof(dq->last_error), fmt, ap);
    va_end(ap);
}

/* Calls the health hook when healthy flips. Close from inside the hook is deferred. */
static void update_health(dq_t *dq)
{
    bool ok = !dq->write_failed && !dq->sync_failed;
    if (ok == dq->healthy || dq->closing)
        return;
    dq->healthy = ok;
    if (!dq->cfg.hooks.health)
        return;
    dq->dispatching++;
    dq->cfg.hooks.health(dq->cfg.hooks.ctx, ok, ok ? "" : dq->last_error);
    dq->dispatching--;
}

static void arm_flush(dq_t *dq)
{
    if (!dq->flush_armed) {
        dq->flush_armed = true;
        event_active(dq->flush_ev, EV_TIMEOUT, 0);
    }
}

static void arm_timer(dq_t *dq)
{
    if (!dq->timer_armed) {
        struct timeval tv = {(time_t)(dq->cfg.sync_timeout_ns / 1000000000),
                             (suseconds_t)(dq->cfg.sync_timeout_ns % 1000000000 / 1000)};
        dq->timer_armed = true;
        evtimer_add(dq->timer_ev, &tv);
    }
}

/* Every put, pop and file change: counts toward sync_every, else arms the sync timeout. */
static void note_change(dq_t *dq)
{
    dq->seq++;
    if (dq->seq - dq->sync_started_seq >= (uint64_t)dq->cfg.sync_every) {
        dq->sync_wanted = true;
        arm_flush(dq);
    } else {
        arm_timer(dq);
    }
}

/* File numbers [from, to] to delete once metadata no longer points at them. */
static void add_unlinks(dq_t *dq, int64_t from, int64_t to)
{
    if (vec_push(&dq->pend_unlinks, from) == 0) {
        if (vec_push(&dq->pend_unlinks, to) == 0)
            return;
        dq->pend_unlinks.n--;
    }
    for (int64_t n = from; n <= to; n++) { /* out of memory: delete now */
        char path[PATH_MAX];
        data_path(dq, n, "", path);
        unlink(path);
    }
}

/* A written file descriptor for the next job to fdatasync and close. */
static void add_fd(i64vec_t *fds, int fd)
{
    if (vec_push(fds, fd) != 0) { /* out of memory: sync here */
        fdatasync(fd);
        close(fd);
    }
}

/* ---- the shared worker thread ------------------------------------------------------------- */

static struct {
    pthread_mutex_t life; /* serializes start and stop */
    pthread_mutex_t mu;   /* the queue, and every job's busy/done/result */
    pthread_cond_t work, idle;
    pthread_t thread;
    int refs;
    bool stop;
    sync_job_t *head, *tail;
} g_worker = {
    .life = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .idle = PTHREAD_COND_INITIALIZER,
};

static void sync_exec(const dq_t *dq, sync_job_t *j);

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_worker.mu);
    for (;;) {
        while (!g_worker.head && !g_worker.stop)
            pthread_cond_wait(&g_worker.work, &g_worker.mu);
        sync_job_t *j = g_worker.head;
        if (!j)
            break; /* stopping, queue drained */
        g_worker.head = j->next;
        if (!g_worker.head)
            g_worker.tail = NULL;
        pthread_mutex_unlock(&g_worker.mu);
        sync_exec(j->dq, j);
        pthread_mutex_lock(&g_worker.mu);
        j->busy = false;
        j->done = true;
        event_active(j->dq->done_ev, EV_TIMEOUT, 0); /* before close can free it */
        pthread_cond_broadcast(&g_worker.idle);
    }
    pthread_mutex_unlock(&g_worker.mu);
    return NULL;
}

/* The first queue starts the thread (with signals blocked: SIGXFSZ from a write past
 * RLIMIT_FSIZE then leaves EFBIG instead of killing the process). */
static int worker_ref(char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&g_worker.life);
    if (g_worker.refs == 0) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        g_worker.stop = false;
        rc = pthread_create(&g_worker.thread, NULL, worker_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0)
            snprintf(err, errlen, "cannot start the disk queue thread: %s", strerror(rc));
    }
    if (rc == 0)
        g_worker.refs++;
    pthread_mutex_unlock(&g_worker.life);
    return rc == 0 ? 0 : -1;
}

/* The last queue stops and joins it (after it drained its queue). */
static void worker_unref(void)
{
    pthread_mutex_lock(&g_worker.life);
    if (--g_worker.refs == 0) {
        pthread_mutex_lock(&g_worker.mu);
        g_worker.stop = true;
        pthread_cond_signal(&g_worker.work);
        pthread_mutex_unlock(&g_worker.mu);
        pthread_join(g_worker.thread, NULL);
    }
    pthread_mutex_unlock(&g_worker.life);
}

static void worker_submit(sync_job_t *j)
{
    pthread_mutex_lock(&g_worker.mu);
    j->busy = true;
    j->next = NULL;
    if (g_worker.tail)
        g_worker.tail->next = j;
    else
        g_worker.head = j;
    g_worker.tail = j;
    pthread_cond_signal(&g_worker.work);
    pthread_mutex_unlock(&g_worker.mu);
}

/* Blocks until the queue's job is back from the worker (close, at most one fsync). */
static void worker_wait(dq_t *dq)
{
    pthread_mutex_lock(&g_worker.mu);
    while (dq->job.busy)
        pthread_cond_wait(&g_worker.idle, &g_worker.mu);
    pthread_mutex_unlock(&g_worker.mu);
}

/* ---- metadata: "depth\nreadFile,readPos\nwriteFile,writePos\n" ----------------------------- */

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the temp file, fsyncs it and renames it over the metadata. 0 or -1 (errno). */
static int meta_write(const dq_t *dq, const char *text)
{
    int fd = open(dq->meta_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(dq->meta_tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0 || rename(dq->meta_tmp, dq->meta_path) != 0)
        return -1;
    return 0;
}

static int parse_i64_field(const char **p, char sep, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (errno || end == *p || *end != sep)
        return -1;
    *out = v;
    *p = end + 1;
    return 0;
}

/* 1 read, 0 no metadata file (or unreadable: logged), -1 error with err. */
static int meta_read(dq_t *dq, char *err, size_t errlen)
{
    char buf[DQ_META_MAX];
    int fd = open(dq->meta_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot open %s: %s", dq->meta_path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", dq->meta_path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    const char *p = buf;
    if (parse_i64_field(&p, '\n', &dq->depth) != 0 || parse_i64_field(&p, ',', &dq->rfile) != 0 ||
        parse_i64_field(&p, '\n', &dq->rpos) != 0 || parse_i64_field(&p, ',', &dq->wfile) != 0 ||
        parse_i64_field(&p, '\n', &dq->wpos) != 0 || dq->rfile < 0 || dq->rpos < 0 ||
        dq->wfile < 0 || dq->wpos < 0) {
        log_error("DISKQUEUE(%s) metadata %s is unreadable, recovering from the data files",
                  dq->name, dq->meta_path);
        dq->depth = dq->rfile = dq->rpos = dq->wfile = dq->wpos = 0;
        return 0;
    }
    return 1;
}

/* ---- the sync job ------------------------------------------------------------------------- */

static void job_fail(sync_job_t *j, const char *what)
{
    if (!j->err) {
        j->err = errno ? errno : EIO;
        j->what = what;
    }
}

/* The blocking part: on the worker, or on the loop at close. Touches only j and dq's paths. */
static void sync_exec(const dq_t *dq, sync_job_t *j)
{
    for (size_t i = 0; i < j->fds.n; i++) {
        if (fdatasync((int)j->fds.v[i]) != 0)
            job_fail(j, "fsync");
        close((int)j->fds.v[i]);
    }
    j->fds.n = 0;
    if (!j->err && meta_write(dq, j->meta) != 0)
        job_fail(j, "metadata write");
    if (!j->err && j->sync_dir) {
        int dfd = open(dq->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            job_fail(j, "directory fsync");
        if (dfd >= 0)
            close(dfd);
        j->sync_dir = j->err != 0;
    }
    if (j->err)
        return; /* unlinks wait for metadata that no longer names the files */
    for (size_t i = 0; i + 1 < j->unlinks.n; i += 2) {
        for (int64_t n = j->unlinks.v[i]; n <= j->unlinks.v[i + 1]; n++) {
            char path[PATH_MAX];
            data_path(dq, n, "", path);
            if (unlink(path) != 0 && errno != ENOENT)
                log_error("DISKQUEUE(%s) cannot remove %s: %s", dq->name, path, strerror(errno));
        }
    }
    j->unlinks.n = 0;
}

/* Moves what the next sync covers into the job. take_wfd (close): the job gets the write fd
 * itself instead of a duplicate. */
static void job_prepare(dq_t *dq, sync_job_t *j, bool take_wfd)
{
    if (vec_move(&j->fds, &dq->pend_fds) != 0) { /* out of memory: sync them here */
        for (size_t i = 0; i < dq->pend_fds.n; i++) {
            fdatasync((int)dq->pend_fds.v[i]);
            close((int)dq->pend_fds.v[i]);
        }
        dq->pend_fds.n = 0;
    }
    vec_move(&j->unlinks, &dq->pend_unlinks); /* out of memory: they wait for the next job */
    if (dq->wfd >= 0 && (dq->wfd_dirty || take_wfd)) {
        int fd = take_wfd ? dq->wfd : fcntl(dq->wfd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0)
            add_fd(&j->fds, fd);
        else
            fdatasync(dq->wfd); /* no fd left to hand over: sync here */
        if (take_wfd)
            dq->wfd = -1;
        dq->wfd_dirty = false;
    }
    j->sync_dir = j->sync_dir || dq->dir_dirty;
    dq->dir_dirty = false;
    int64_t depth = dq->depth - dq->wnrec; /* what the files hold */
    snprintf(j->meta, sizeof(j->meta), "%lld\n%lld,%lld\n%lld,%lld\n",
             (long long)(depth > 0 ? depth : 0), (long long)dq->rfile, (long long)dq->rpos,
             (long long)dq->wfile, (long long)flushed(dq));
    j->seq = dq->wnrec > 0 ? dq->first_buf_seq - 1 : dq->seq;
    j->err = 0;
    j->what = NULL;
    dq->sync_started_seq = dq->seq;
    dq->sync_covers = j->seq;
}

static int flush(dq_t *dq, char *err, size_t errlen);

/* Writes the buffer and hands an fsync + metadata pass to the worker (one at a time). */
static void start_sync(dq_t *dq)
{
    if (dq->sync_inflight || dq->closing)
        return; /* done_cb starts the next one */
    dq->sync_wanted = false;
    if (dq->wlen > 0)
        flush(dq, NULL, 0);
    if (dq->wlen == 0 && dq->wcap > 0) { /* give idle memory back */
        free(dq->wbuf);
        dq->wbuf = NULL;
        dq->wcap = 0;
    }
    job_prepare(dq, &dq->job, false);
    dq->sync_inflight = true;
    worker_submit(&dq->job);
}

/* Marks every unsynced waiter up to seq as failed and lets done_cb answer them. */
static void fail_waiters(dq_t *dq, uint64_t from, uint64_t to)
{
    bool any = false;
    for (size_t i = dq->whead; i < dq->nwait; i++) {
        waiter_t *w = &dq->waiters[i];
        if (w->seq >= from && w->seq <= to && w->seq > dq->synced_seq) {
            w->failed = true;
            any = true;
        }
    }
    if (any)
        event_active(dq->done_ev, EV_TIMEOUT, 0);
}

/* Takes the job's result once the worker is done with it. */
static void collect_job(dq_t *dq)
{
    sync_job_t *j = &dq->job;
    pthread_mutex_lock(&g_worker.mu);
    bool done = j->done;
    j->done = false;
    pthread_mutex_unlock(&g_worker.mu);
    if (!done)
        return;
    dq->sync_inflight = false;
    if (j->err) {
        dq->sync_errors++;
        set_error(dq, "disk queue sync failed: %s: %s", j->what, strerror(j->err));
        log_error("DISKQUEUE(%s) %s", dq->name, dq->last_error);
        dq->sync_failed = true;
        fail_waiters(dq, 0, j->seq);
        arm_timer(dq); /* try again */
    } else {
        if (j->seq > dq->synced_seq)
            dq->synced_seq = j->seq;
        dq->sync_failed = false;
    }
    update_health(dq);
}

/* Answers waiters in order: synced -> 0, failed -> -1; stops at the first still pending. */
static void fire_waiters(dq_t *dq)
{
    dq->dispatching++;
    while (dq->whead < dq->nwait) {
        waiter_t w = dq->waiters[dq->whead];
        if (w.seq > dq->synced_seq && !w.failed)
            break;
        dq->whead++;
        w.cb(w.arg, w.seq <= dq->synced_seq ? 0 : -1);
    }
    if (dq->whead == dq->nwait)
        dq->whead = dq->nwait = 0;
    dq->dispatching--;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    dq_t *dq = arg;
    (void)fd;
    (void)what;
    if (!dq->close_pending) {
        collect_job(dq);
        fire_waiters(dq);
    }
    if (dq->close_pending) {
        close_now(dq);
        return;
    }
    if (dq->sync_wanted)
        start_sync(dq);
}

/* End of the loop iteration: write the buffer, start a sync that was asked for. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    dq_t *dq = arg;
    (void)fd;
    (void)what;
    dq->flush_armed = false;
    if (dq->close_pending)
        return;
    if (dq->wlen > 0)
        flush(dq, NULL, 0);
    if (dq->sync_wanted)
        start_sync(dq);
}

static int open_write_file(dq_t *dq);

/* A write failed and nothing is buffered any more (the refused records were taken back with
 * unput): try the disk with a block of zeros past the end, cut off again at once, so that
 * health recovers by itself once the disk takes writes. A crash in between leaves zeros,
 * which recovery cuts as a torn tail. */
static void probe_write(dq_t *dq)
{
    static const uint8_t zeros[4096];
    int64_t off = flushed(dq);
    ssize_t n = -1;
    if (open_write_file(dq) == 0) {
        n = pwrite(dq->wfd, zeros, sizeof(zeros), off);
        int e = n < 0 ? errno : ENOSPC;
        if (ftruncate(dq->wfd, off) != 0 && n > 0)
            n = -1, e = errno;
        errno = e;
    }
    if (n == (ssize_t)sizeof(zeros)) {
        dq->write_failed = false;
        log_info("DISKQUEUE(%s) writes succeed again", dq->name);
        update_health(dq);
        return;
    }
    set_error(dq, "disk queue write failed: %s", strerror(errno));
    arm_timer(dq);
}

/* sync_timeout after a change: sync if anything is unsynced (or retry a failed write). */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    dq_t *dq = arg;
    (void)fd;
    (void)what;
    dq->timer_armed = false;
    if (dq->close_pending)
        return;
    if (dq->wlen > 0 || dq->seq != dq->sync_started_seq || dq->pend_fds.n || dq->pend_unlinks.n ||
        dq->sync_failed) {
        dq->sync_wanted = true;
        start_sync(dq);
        if (dq->wlen > 0)
            arm_timer(dq); /* the disk still refuses the buffer: keep trying */
    }
    if (dq->write_failed && dq->wlen == 0)
        probe_write(dq);
}

int dq_when_synced(backend_t *b, backend_synced_cb cb, void *arg)
{
    dq_t *dq = (dq_t *)b;
    if (dq->nwait == dq->wcapw) {
        if (dq->whead > 0) {
            memmove(dq->waiters, dq->waiters + dq->whead,
                    (dq->nwait - dq->whead) * sizeof(waiter_t));
            dq->nwait -= dq->whead;
            dq->whead = 0;
        } else {
            size_t cap = dq->wcapw ? dq->wcapw * 2 : 16;
            waiter_t *w = realloc(dq->waiters, cap * sizeof(*w));
            if (!w)
                return -1;
            dq->waiters = w;
            dq->wcapw = cap;
        }
    }
    dq->waiters[dq->nwait++] = (waiter_t){dq->seq, cb, arg, false};
    if (dq->seq <= dq->synced_seq) {
        event_active(dq->done_ev, EV_TIMEOUT, 0);
    } else if (dq->seq > dq->sync_covers || !dq->sync_inflight) {
        dq->sync_wanted = true;
        arm_flush(dq);
    }
    return 0;
}

/* ---- write path --------------------------------------------------------------------------- */

static int open_write_file(dq_t *dq)
{
    char path[PATH_MAX];
    if (dq->wfd >= 0)
        return 0;
    data_path(dq, dq->wfile, "", path);
    dq->wfd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (dq->wfd < 0)
        return -1;
    if (!dq->wfile_exists)
        dq->dir_dirty = true;
    dq->wfile_exists = true;
    log_debug("DISKQUEUE(%s) writing %s", dq->name, path);
    return 0;
}

/* Starts the next data file. Buffered records move with the write position. The finished
 * file's descriptor goes to the next sync job. */
static void roll_file(dq_t *dq)
{
    if (dq->rfile == dq->wfile)
        dq->rend = flushed(dq);
    if (dq->wfd >= 0) {
        if (dq->wfd_dirty)
            add_fd(&dq->pend_fds, dq->wfd);
        else
            close(dq->wfd);
        dq->wfd = -1;
        dq->wfd_dirty = false;
    }
    dq->wfile++;
    dq->wpos = (int64_t)dq->wlen;
    dq->wfile_exists = false;
    dq->sync_wanted = true; /* like go-diskqueue: sync at every new file */
    arm_flush(dq);
}

/* A write failed after `written` bytes at off: cut them so the file ends on a record, keep
 * the buffer for a retry, report. EFBIG means this file cannot grow: go on in a new one. */
static void write_error(dq_t *dq, int e, int64_t off, size_t written, char *err, size_t errlen)
{
    bool roll = e == EFBIG && off > 0;
    if (written > 0 && ftruncate(dq->wfd, off) != 0) {
        log_error("DISKQUEUE(%s) cannot cut a partial write at %lld: %s", dq->name, (long long)off,
                  strerror(errno));
        roll = true;
    }
    dq->write_errors++;
    set_error(dq, "disk queue write failed: %s", strerror(e));
    if (err)
        snprintf(err, errlen, "%s", dq->last_error);
    if (!dq->write_failed)
        log_error("DISKQUEUE(%s) %s (%lld records kept in memory for a retry)", dq->name,
                  dq->last_error, (long long)dq->wnrec);
    dq->write_failed = true;
    if (roll)
        roll_file(dq);
    fail_waiters(dq, dq->first_buf_seq, dq->seq);
    arm_timer(dq);
    update_health(dq);
}

/* Writes the buffer (whole records) at the flushed position. 0, or -1 with err (may be NULL). */
static int flush(dq_t *dq, char *err, size_t errlen)
{
    int64_t off = flushed(dq);
    size_t done = 0;
    if (dq->wlen == 0)
        return 0;
    if (open_write_file(dq) != 0)
        goto fail;
    while (done < dq->wlen) {
        ssize_t n = pwrite(dq->wfd, dq->wbuf + done, dq->wlen - done, off + (int64_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            goto fail;
        }
        done += (size_t)n;
    }
    dq->wlen = 0;
    dq->wnrec = 0;
    dq->wfd_dirty = true;
    if (dq->write_failed) {
        dq->write_failed = false;
        log_info("DISKQUEUE(%s) writes succeed again", dq->name);
        update_health(dq);
    }
    return 0;
fail:
    write_error(dq, errno, off, done, err, errlen);
    return -1;
}

static int wbuf_reserve(dq_t *dq, size_t more)
{
    if (dq->wlen + more <= dq->wcap)
        return 0;
    size_t cap = dq->wcap ? dq->wcap : 64 * 1024;
    while (cap < dq->wlen + more)
        cap *= 2;
    uint8_t *p = realloc(dq->wbuf, cap);
    if (!p)
        return -1;
    dq->wbuf = p;
    dq->wcap = cap;
    return 0;
}

/* One record in two pieces (head, then body): the caller need not assemble it. */
static int dq_putv(backend_t *b, const uint8_t *head, size_t hlen, const uint8_t *body,
                   size_t blen, char *err, size_t errlen)
{
    dq_t *dq = (dq_t *)b;
    size_t len = hlen + blen, total = len + 4;
    if (len < (size_t)dq->cfg.min_msg_size || len > (size_t)dq->cfg.max_msg_size) {
        snprintf(err, errlen, "invalid message write size (%zu) min_msg_size=%d max_msg_size=%d",
                 len, (int)dq->cfg.min_msg_size, (int)dq->cfg.max_msg_size);
        return -1;
    }
    if (dq->wlen > 0 && (dq->write_failed || dq->wlen + total > DQ_WFLUSH) &&
        flush(dq, err, errlen) != 0)
        return -1;
    if (dq->wpos > 0 && dq->wpos + (int64_t)total > dq->cfg.max_bytes_per_file) {
        if (flush(dq, err, errlen) != 0)
            return -1;
        roll_file(dq);
    }
    if (wbuf_reserve(dq, total) != 0) {
        snprintf(err, errlen, "disk queue write failed: out of memory");
        return -1;
    }
    wire_put_be32(dq->wbuf + dq->wlen, (uint32_t)len);
    memcpy(dq->wbuf + dq->wlen + 4, head, hlen);
    if (blen)
        memcpy(dq->wbuf + dq->wlen + 4 + hlen, body, blen);
    dq->wlen += total;
    dq->wpos += (int64_t)total;
    dq->depth++;
    dq->bytes += (int64_t)total;
    note_change(dq);
    if (dq->wnrec++ == 0)
        dq->first_buf_seq = dq->seq;
    arm_flush(dq);
    return 0;
}

static int dq_put(backend_t *b, const uint8_t *rec, size_t len, char *err, size_t errlen)
{
    return dq_putv(b, rec, len, NULL, 0, err, errlen);
}

/* Writes the buffer now: a publisher learns at once whether the disk took its records. */
static int dq_flush(backend_t *b, char *err, size_t errlen)
{
    return flush((dq_t *)b, err, errlen);
}

/* Takes back the last n records put while they are still in the write buffer: a publish that
 * is refused because the disk refused its records leaves nothing behind. */
static int dq_unput(backend_t *b, size_t n)
{
    dq_t *dq = (dq_t *)b;
    size_t keep = 0;
    if ((int64_t)n > dq->wnrec)
        return -1;
    for (int64_t i = 0; i < dq->wnrec - (int64_t)n; i++)
        keep += 4 + (size_t)wire_get_be32(dq->wbuf + keep);
    size_t drop = dq->wlen - keep;
    dq->wlen = keep;
    dq->wpos -= (int64_t)drop;
    dq->bytes -= (int64_t)drop;
    dq->depth -= (int64_t)n;
    dq->wnrec -= (int64_t)n;
    return 0;
}

static bool dq_healthy(const backend_t *b)
{
    return ((const dq_t *)b)->healthy;
}

/* ---- read path ---------------------------------------------------------------------------- */

enum { FILL_OK, FILL_SHORT, FILL_IOERR, FILL_NOMEM };
enum { RD_NONE = 0, RD_GOT = 1, RD_AGAIN = 2, RD_FATAL = -1 };

/* Makes `need` unread bytes available in rbuf, reading ahead as far as fits before end. */
static int rbuf_fill(dq_t *dq, size_t need, int64_t end)
{
    if (dq->rlen - dq->roff >= need)
        return FILL_OK;
    if (dq->roff > 0) {
        memmove(dq->rbuf, dq->rbuf + dq->roff, dq->rlen - dq->roff);
        dq->rlen -= dq->roff;
        dq->rbase += (int64_t)dq->roff;
        dq->roff = 0;
    }
    if (need > dq->rcap) {
        size_t cap = need > DQ_RCHUNK ? need : DQ_RCHUNK;
        uint8_t *p = realloc(dq->rbuf, cap);
        if (!p)
            return FILL_NOMEM;
        dq->rbuf = p;
        dq->rcap = cap;
    }
    while (dq->rlen < need) {
        int64_t at = dq->rbase + (int64_t)dq->rlen;
        int64_t room = (int64_t)(dq->rcap - dq->rlen);
        if (room > end - at)
            room = end - at;
        if (room <= 0)
            return FILL_SHORT;
        ssize_t n = pread(dq->rfd, dq->rbuf + dq->rlen, (size_t)room, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FILL_IOERR;
        if (n == 0)
            return FILL_SHORT;
        dq->rlen += (size_t)n;
    }
    return FILL_OK;
}

static void read_reset(dq_t *dq, int64_t file)
{
    if (dq->rfd >= 0)
        close(dq->rfd);
    dq->rfd = -1;
    dq->rfile = file;
    dq->rpos = dq->rbase = 0;
    dq->rend = -1;
    dq->roff = dq->rlen = 0;
}

static void recount_bytes(dq_t *dq);

/* The read file is unusable from rpos on: rename it *.bad, count it, go on with the next. */
static int bad_file(dq_t *dq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_file(dq_t *dq, const char *fmt, ...)
{
    char why[128], path[PATH_MAX], bad[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    data_path(dq, dq->rfile, "", path);
    data_path(dq, dq->rfile, ".bad", bad);
    dq->corrupt_count++;
    set_error(dq, "%s at offset %lld of file %06lld, set aside as *.bad", why, (long long)dq->rpos,
              (long long)dq->rfile);
    log_error("DISKQUEUE(%s) %s: %s -> %s", dq->name, dq->last_error, path, bad);
    if (dq->rfile == dq->wfile) { /* the write file too: buffered records go to a new one */
        if (dq->wfd >= 0)
            close(dq->wfd);
        dq->wfd = -1;
        dq->wfd_dirty = false;
        dq->wfile++;
        dq->wpos = (int64_t)dq->wlen;
        dq->wfile_exists = false;
        dq->depth = dq->wnrec;
    }
    if (rename(path, bad) != 0 && errno != ENOENT)
        log_error("DISKQUEUE(%s) cannot rename %s: %s", dq->name, path, strerror(errno));
    read_reset(dq, dq->rfile + 1);
    recount_bytes(dq);
    note_change(dq);
    dq->sync_wanted = true;
    arm_flush(dq);
    return RD_AGAIN;
}

/* A finished file was read to its end: delete it after the next metadata write. */
static void finish_file(dq_t *dq)
{
    add_unlinks(dq, dq->rfile, dq->rfile);
    read_reset(dq, dq->rfile + 1);
    note_change(dq);
    dq->sync_wanted = true; /* like go-diskqueue: sync at every new read file */
    arm_flush(dq);
}

static int open_read_file(dq_t *dq)
{
    char path[PATH_MAX];
    struct stat st;
    data_path(dq, dq->rfile, "", path);
    dq->rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (dq->rfd < 0)
        return -1;
    if (dq->rfile < dq->wfile && dq->rend < 0) {
        if (fstat(dq->rfd, &st) != 0)
            return -1;
        dq->rend = st.st_size;
    }
    dq->rbase = dq->rpos;
    dq->roff = dq->rlen = 0;
    return 0;
}

static int fill_or_bad(dq_t *dq, size_t need, int64_t end, const char *what)
{
    int r = rbuf_fill(dq, need, end);
    if (r == FILL_OK)
        return RD_GOT;
    if (r == FILL_NOMEM)
        return RD_FATAL;
    if (r == FILL_IOERR)
        return bad_file(dq, "read error in %s: %s", what, strerror(errno));
    return bad_file(dq, "truncated %s (file ends at %lld)", what,
                    (long long)(dq->rbase + (int64_t)dq->rlen));
}

/* One step: RD_GOT with the record, RD_NONE, RD_AGAIN (moved to another file), RD_FATAL. */
static int read_next(dq_t *dq, const uint8_t **rec, size_t *len)
{
    bool at_write = dq->rfile == dq->wfile;
    if (at_write && dq->rpos >= dq->wpos)
        return RD_NONE;
    if (at_write && dq->rpos >= flushed(dq) && flush(dq, NULL, 0) != 0)
        return RD_NONE; /* the rest is in the write buffer and the disk refuses it */
    if (dq->rfd < 0 && open_read_file(dq) != 0)
        return bad_file(dq, "cannot open: %s", strerror(errno));
    if (!at_write && dq->rpos >= dq->rend) {
        if (dq->rpos > dq->rend)
            return bad_file(dq, "read position past the end (%lld)", (long long)dq->rend);
        finish_file(dq);
        return RD_AGAIN;
    }
    int64_t end = at_write ? flushed(dq) : dq->rend;
    int r = fill_or_bad(dq, 4, end, "record size");
    if (r != RD_GOT)
        return r;
    uint32_t n = wire_get_be32(dq->rbuf + dq->roff);
    if (n < (uint32_t)dq->cfg.min_msg_size || n > (uint32_t)dq->cfg.max_msg_size)
        return bad_file(dq, "invalid message read size (%u)", n);
    if ((r = fill_or_bad(dq, 4 + (size_t)n, end, "record")) != RD_GOT)
        return r;
    *rec = dq->rbuf + dq->roff + 4;
    *len = n;
    dq->roff += 4 + (size_t)n;
    dq->rpos += 4 + (int64_t)n;
    dq->bytes -= 4 + (int64_t)n;
    dq->depth--;
    note_change(dq);
    if (!at_write && dq->rpos >= dq->rend)
        finish_file(dq); /* keeps rbuf's memory: *rec stays valid */
    return RD_GOT;
}

/* Depth follows the files: 0 at the write position, at least 1 before it. */
static void check_depth(dq_t *dq)
{
    if (dq->rfile == dq->wfile && dq->rpos >= dq->wpos) {
        if (dq->depth != 0 && !dq->depth_unknown)
            log_warn("DISKQUEUE(%s) depth %lld at the end of the queue, resetting to 0", dq->name,
                     (long long)dq->depth);
        dq->depth = 0;
        dq->bytes = 0;
        dq->depth_unknown = false;
    } else if (dq->depth < 1) {
        if (!dq->depth_unknown)
            log_warn("DISKQUEUE(%s) depth reached %lld with records left: the metadata was "
                     "wrong, reporting 1 until the end",
                     dq->name, (long long)dq->depth);
        dq->depth_unknown = true;
        dq->depth = 1;
    }
}

static int dq_pop(backend_t *b, const uint8_t **rec, size_t *len)
{
    dq_t *dq = (dq_t *)b;
    for (;;) { /* every RD_AGAIN moves to a later file, so this ends */
        int r = read_next(dq, rec, len);
        if (r == RD_AGAIN)
            continue;
        check_depth(dq);
        if (r == RD_NONE && dq->rcap && dq->roff == dq->rlen) {
            free(dq->rbuf); /* drained: give the read-ahead memory back */
            dq->rbuf = NULL;
            dq->rcap = dq->roff = dq->rlen = 0;
            dq->rbase = dq->rpos;
        }
        return r;
    }
}

static int64_t dq_depth(const backend_t *b)
{
    return ((const dq_t *)b)->depth;
}

/* ---- recovery at open --------------------------------------------------------------------- */

/* Walks record headers from *pos to the end of fd, counting whole records of valid size;
 * stops at the first bad size or a record running past the end. 0, or -1 (errno). */
static int scan_records(const dq_t *dq, int fd, int64_t *pos, int64_t *count, int64_t *size)
{
    struct stat st;
    uint8_t *win = malloc(DQ_SCAN_CHUNK);
    int64_t p = *pos, wstart = 0, wlen = 0, n = 0;
    if (!win || fstat(fd, &st) != 0) {
        free(win);
        return -1;
    }
    while (p + 4 <= st.st_size) {
        if (p < wstart || p + 4 > wstart + wlen) {
            ssize_t got = pread(fd, win, DQ_SCAN_CHUNK, p);
            if (got < 0) { /* never mistake an I/O error for a torn tail */
                free(win);
                return -1;
            }
            if (got < 4)
                break;
            wstart = p;
            wlen = got;
        }
        uint32_t len = wire_get_be32(win + (p - wstart));
        if (len < (uint32_t)dq->cfg.min_msg_size || len > (uint32_t)dq->cfg.max_msg_size ||
            p + 4 + (int64_t)len > st.st_size)
            break;
        p += 4 + (int64_t)len;
        n++;
    }
    free(win);
    *pos = p;
    *count += n;
    *size = st.st_size;
    return 0;
}

/* The write file may hold records written after the metadata (crash before the next sync):
 * count them, and cut a torn last record. */
static int scan_write_tail(dq_t *dq, int fd, bool *recount)
{
    struct stat st;
    int64_t pos = dq->wpos, n = 0, size;
    if (fstat(fd, &st) != 0)
        return -1;
    if (st.st_size < dq->wpos) {
        log_warn("DISKQUEUE(%s) file %06lld is %lld bytes, shorter than the metadata's %lld",
                 dq->name, (long long)dq->wfile, (long long)st.st_size, (long long)dq->wpos);
        pos = dq->rfile == dq->wfile && dq->rpos <= st.st_size ? dq->rpos : 0;
        *recount = true;
    }
    if (scan_records(dq, fd, &pos, &n, &size) != 0)
        return -1;
    if (pos < size) {
        log_warn("DISKQUEUE(%s) cutting %lld bytes of torn data off file %06lld at %lld", dq->name,
                 (long long)(size - pos), (long long)dq->wfile, (long long)pos);
        if (ftruncate(fd, pos) != 0)
            return -1;
    }
    if (n > 0 && pos > dq->wpos)
        log_info("DISKQUEUE(%s) recovered %lld records written after the metadata", dq->name,
                 (long long)n);
    if (!*recount)
        dq->depth += n;
    dq->wpos = pos;
    return 0;
}

/* Recovers the write end: the metadata's write file, then any later files (a roll the
 * metadata never saw). */
static int recover_write_end(dq_t *dq, bool *recount, char *err, size_t errlen)
{
    char path[PATH_MAX];
    for (;;) {
        data_path(dq, dq->wfile, "", path);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        dq->wfile_exists = fd >= 0;
        if (fd < 0 && dq->wpos > 0) {
            log_warn("DISKQUEUE(%s) write file %s is missing", dq->name, path);
            dq->wpos = 0;
            *recount = true;
        }
        if (fd >= 0) {
            int r = scan_write_tail(dq, fd, recount);
            int e = errno;
            close(fd);
            if (r != 0) {
                snprintf(err, errlen, "cannot recover %s: %s", path, strerror(e));
                return -1;
            }
        }
        if (!file_exists(dq, dq->wfile + 1))
            return 0;
        log_warn("DISKQUEUE(%s) adopting file %06lld written after the metadata", dq->name,
                 (long long)dq->wfile + 1);
        dq->wfile++;
        dq->wpos = 0;
    }
}

/* No metadata: the lowest and highest data file numbers in the directory. 1 found, 0 none. */
static int find_files(const dq_t *dq, int64_t *lo, int64_t *hi)
{
    DIR *d = opendir(dq->dir);
    struct dirent *e;
    size_t plen = strlen(dq->name);
    int found = 0;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        char *end;
        if (strncmp(s, dq->name, plen) != 0 || strncmp(s + plen, ".diskqueue.", 11) != 0)
            continue;
        s += plen + 11;
        if (*s < '0' || *s > '9')
            continue;
        long long n = strtoll(s, &end, 10);
        if (strcmp(end, ".dat") != 0 || n < 0)
            continue;
        if (!found || n < *lo)
            *lo = n;
        if (!found || n > *hi)
            *hi = n;
        found = 1;
    }
    closedir(d);
    return found;
}

static int64_t count_records(dq_t *dq)
{
    int64_t total = 0;
    for (int64_t f = dq->rfile; f <= dq->wfile; f++) {
        char path[PATH_MAX];
        int64_t pos = f == dq->rfile ? dq->rpos : 0, size;
        data_path(dq, f, "", path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        scan_records(dq, fd, &pos, &total, &size);
        close(fd);
    }
    return total;
}

/* bytes: what the files hold from the read position to the write position. */
static void recount_bytes(dq_t *dq)
{
    int64_t total = dq->wpos - (dq->rfile == dq->wfile ? dq->rpos : 0);
    for (int64_t f = dq->rfile; f < dq->wfile; f++) {
        char path[PATH_MAX];
        struct stat st;
        data_path(dq, f, "", path);
        if (stat(path, &st) == 0)
            total += st.st_size - (f == dq->rfile ? dq->rpos : 0);
    }
    dq->bytes = total > 0 ? total : 0;
}

/* Makes the positions and depth agree with the files. Reads record headers only where the
 * metadata is missing or wrong, and past its write position. */
static int recover(dq_t *dq, bool have_meta, char *err, size_t errlen)
{
    int64_t lo = 0, hi = 0;
    bool recount = !have_meta;
    if (!have_meta && find_files(dq, &lo, &hi)) {
        log_warn("DISKQUEUE(%s) no metadata: recovering files %06lld..%06lld", dq->name,
                 (long long)lo, (long long)hi);
        dq->rfile = lo;
        dq->wfile = hi;
    }
    if (recover_write_end(dq, &recount, err, errlen) != 0)
        return -1;
    if (dq->rfile > dq->wfile || (dq->rfile == dq->wfile && dq->rpos > dq->wpos)) {
        log_error("DISKQUEUE(%s) read position %lld,%lld is past the write position "
                  "%lld,%lld: starting at the write position",
                  dq->name, (long long)dq->rfile, (long long)dq->rpos, (long long)dq->wfile,
                  (long long)dq->wpos);
        dq->rfile = dq->wfile;
        dq->rpos = dq->wpos;
    }
    while (dq->rfile < dq->wfile && !file_exists(dq, dq->rfile)) {
        log_warn("DISKQUEUE(%s) read file %06lld is missing, skipping it", dq->name,
                 (long long)dq->rfile);
        dq->rfile++;
        dq->rpos = 0;
        recount = true;
    }
    recount_bytes(dq);
    /* depth must lie between bytes/(4+max) and bytes/(4+min) */
    int64_t most = dq->bytes / (4 + dq->cfg.min_msg_size);
    int64_t least = (dq->bytes + 4 + dq->cfg.max_msg_size - 1) / (4 + dq->cfg.max_msg_size);
    if (recount || dq->depth < least || dq->depth > most) {
        int64_t n = count_records(dq);
        if (n != dq->depth)
            log_warn("DISKQUEUE(%s) depth %lld disagrees with the files: recounted %lld", dq->name,
                     (long long)dq->depth, (long long)n);
        dq->depth = n;
    }
    dq->rbase = dq->rpos;
    return 0;
}

/* ---- open / empty / close ----------------------------------------------------------------- */

static void dq_free(dq_t *dq)
{
    if (!dq)
        return;
    if (dq->done_ev)
        event_free(dq->done_ev);
    if (dq->flush_ev)
        event_free(dq->flush_ev);
    if (dq->timer_ev)
        event_free(dq->timer_ev);
    if (dq->rfd >= 0)
        close(dq->rfd);
    if (dq->wfd >= 0)
        close(dq->wfd);
    for (size_t i = 0; i < dq->job.fds.n; i++)
        close((int)dq->job.fds.v[i]);
    for (size_t i = 0; i < dq->pend_fds.n; i++)
        close((int)dq->pend_fds.v[i]);
    free(dq->job.fds.v);
    free(dq->job.unlinks.v);
    free(dq->pend_fds.v);
    free(dq->pend_unlinks.v);
    free(dq->waiters);
    free(dq->wbuf);
    free(dq->rbuf);
    free(dq->dir);
    free(dq->name);
    free(dq->meta_path);
    free(dq->meta_tmp);
    free(dq);
}

static int apply_config(dq_t *dq, const dq_config_t *cfg, char *err, size_t errlen)
{
    if (cfg)
        dq->cfg = *cfg;
    dq_config_t *c = &dq->cfg;
    if (c->max_bytes_per_file <= 0)
        c->max_bytes_per_file = DQ_DEFAULT_MAX_BYTES_PER_FILE;
    if (c->min_msg_size <= 0)
        c->min_msg_size = DQ_DEFAULT_MIN_MSG_SIZE;
    if (c->max_msg_size <= 0)
        c->max_msg_size = DQ_DEFAULT_MAX_MSG_SIZE;
    if (c->sync_every <= 0)
        c->sync_every = DQ_DEFAULT_SYNC_EVERY;
    if (c->sync_timeout_ns <= 0)
        c->sync_timeout_ns = DQ_DEFAULT_SYNC_TIMEOUT_NS;
    if (c->min_msg_size > c->max_msg_size || c->max_msg_size > INT32_MAX - 4) {
        snprintf(err, errlen, "invalid disk queue record size bounds %d..%d", (int)c->min_msg_size,
                 (int)c->max_msg_size);
        return -1;
    }
    return 0;
}

static char *meta_name(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s.diskqueue.meta.dat%s", dir, name, suffix);
    return s;
}

/* Allocates the queue, its strings and events. */
static dq_t *dq_alloc(struct event_base *base, const char *dir, const char *name)
{
    dq_t *dq = calloc(1, sizeof(*dq));
    if (!dq)
        return NULL;
    dq->be.ops = &dq_ops;
    dq->base = base;
    dq->rfd = dq->wfd = -1;
    dq->rend = -1;
    dq->healthy = true;
    dq->job.dq = dq;
    dq->dir = strdup(dir);
    dq->name = strdup(name);
    dq->meta_path = meta_name(dir, name, "");
    dq->meta_tmp = meta_name(dir, name, ".tmp");
    dq->done_ev = event_new(base, -1, 0, done_cb, dq);
    dq->flush_ev = event_new(base, -1, 0, flush_cb, dq);
    dq->timer_ev = evtimer_new(base, timer_cb, dq);
    if (!dq->dir || !dq->name || !dq->meta_path || !dq->meta_tmp || !dq->done_ev || !dq->flush_ev ||
        !dq->timer_ev) {
        dq_free(dq);
        return NULL;
    }
    return dq;
}

backend_t *dq_open(struct event_base *base, const char *data_path, const char *name,
                   const dq_config_t *cfg, char *err, size_t errlen)
{
    struct stat st;
    dq_t *dq = NULL;
    int have_meta;
    if (!base || !data_path || !name || !*name || strchr(name, '/') ||
        strlen(data_path) + strlen(name) + 40 >= PATH_MAX) {
        snprintf(err, errlen, "invalid disk queue name or path");
        return NULL;
    }
    if (stat(data_path, &st) != 0) {
        snprintf(err, errlen, "data path %s: %s", data_path, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data path %s: not a directory", data_path);
        return NULL;
    }
    if (!(dq = dq_alloc(base, data_path, name))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (apply_config(dq, cfg, err, errlen) != 0 || worker_ref(err, errlen) != 0) {
        dq_free(dq);
        return NULL;
    }
    if ((have_meta = meta_read(dq, err, errlen)) < 0)
        goto fail;
    int64_t before[5] = {dq->depth, dq->rfile, dq->rpos, dq->wfile, dq->wpos};
    if (recover(dq, have_meta, err, errlen) != 0)
        goto fail;
    int64_t after[5] = {dq->depth, dq->rfile, dq->rpos, dq->wfile, dq->wpos};
    if (memcmp(before, after, sizeof(before)) != 0 || (!have_meta && dq->wfile_exists)) {
        note_change(dq); /* write what recovery found, so a second crash starts from here */
        dq->sync_wanted = true;
        arm_flush(dq);
    }
    if (dq->depth > 0)
        log_info("DISKQUEUE(%s) opened: depth %lld, read %lld,%lld, write %lld,%lld", dq->name,
                 (long long)dq->depth, (long long)dq->rfile, (long long)dq->rpos,
                 (long long)dq->wfile, (long long)dq->wpos);
    return &dq->be;
fail:
    dq_free(dq);
    worker_unref();
    return NULL;
}

bool dq_exists(const char *data_path, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.diskqueue.meta.dat", data_path, name);
    return access(path, F_OK) == 0;
}

static int dq_empty(backend_t *b)
{
    dq_t *dq = (dq_t *)b;
    log_info("DISKQUEUE(%s) emptying: %lld records", dq->name, (long long)dq->depth);
    if (dq->wfd >= 0)
        close(dq->wfd); /* an in-flight sync holds its own duplicate */
    dq->wfd = -1;
    dq->wfd_dirty = false;
    add_unlinks(dq, dq->rfile, dq->wfile);
    read_reset(dq, dq->wfile + 1);
    free(dq->rbuf);
    dq->rbuf = NULL;
    dq->rcap = 0;
    dq->wfile = dq->rfile;
    dq->wpos = 0;
    dq->wlen = 0;
    dq->wnrec = 0;
    dq->wfile_exists = false;
    dq->depth = dq->bytes = 0;
    dq->depth_unknown = false;
    dq->write_failed = false;
    update_health(dq);
    note_change(dq);
    dq->sync_wanted = true;
    arm_flush(dq);
    return 0;
}

/* close(delete_files): everything goes now, on the loop (a queue re-created under the same
 * name right after must not find old files). */
static void delete_all(dq_t *dq)
{
    char path[PATH_MAX];
    add_unlinks(dq, dq->rfile, dq->wfile);
    for (int pass = 0; pass < 2; pass++) {
        i64vec_t *u = pass ? &dq->pend_unlinks : &dq->job.unlinks;
        for (size_t i = 0; i + 1 < u->n; i += 2)
            for (int64_t n = u->v[i]; n <= u->v[i + 1]; n++) {
                data_path(dq, n, "", path);
                unlink(path);
            }
        u->n = 0;
    }
    unlink(dq->meta_path);
    unlink(dq->meta_tmp);
    log_info("DISKQUEUE(%s) deleted", dq->name);
}

/* close without delete: write the buffer, fdatasync, write the metadata, here and now. */
static void final_sync(dq_t *dq)
{
    if (flush(dq, NULL, 0) != 0)
        log_error("DISKQUEUE(%s) closing: %lld buffered records lost: %s", dq->name,
                  (long long)dq->wnrec, dq->last_error);
    job_prepare(dq, &dq->job, true);
    sync_exec(dq, &dq->job);
    if (dq->job.err)
        log_error("DISKQUEUE(%s) closing: sync failed: %s: %s", dq->name, dq->job.what,
                  strerror(dq->job.err));
    else
        dq->synced_seq = dq->job.seq;
}

static void close_now(dq_t *dq)
{
    dq->closing = true;
    evtimer_del(dq->timer_ev);
    event_del(dq->flush_ev);
    worker_wait(dq);
    collect_job(dq);
    if (dq->close_delete)
        delete_all(dq);
    else
        final_sync(dq);
    fail_waiters(dq, 0, UINT64_MAX); /* anything not synced by now never will be */
    fire_waiters(dq);
    log_debug("DISKQUEUE(%s) closed: depth %lld", dq->name, (long long)dq->depth);
    dq_free(dq);
    worker_unref();
}

static void dq_close(backend_t *b, int delete_files)
{
    dq_t *dq = (dq_t *)b;
    if (dq->closing || dq->close_pending)
        return;
    dq->close_delete = delete_files != 0;
    if (dq->dispatching > 0) { /* inside our own hook or callback: finish in done_cb */
        dq->close_pending = true;
        event_active(dq->done_ev, EV_TIMEOUT, 0);
        return;
    }
    close_now(dq);
}

static int dq_backend_when_synced(backend_t *b, backend_synced_cb cb, void *arg)
{
    return dq_when_synced(b, cb, arg);
}

static void dq_backend_stats(const backend_t *b, backend_stats_t *out)
{
    dq_get_stats(b, out);
}

static const backend_ops_t dq_ops = {
    .put = dq_put,
    .putv = dq_putv,
    .flush = dq_flush,
    .unput = dq_unput,
    .healthy = dq_healthy,
    .get_stats = dq_backend_stats,
    .depth = dq_depth,
    .pop = dq_pop,
    .empty = dq_empty,
    .close = dq_close,
    .when_synced = dq_backend_when_synced,
};

void dq_get_stats(const backend_t *b, dq_stats_t *out)
{
    const dq_t *dq = (const dq_t *)b;
    memset(out, 0, sizeof(*out));
    out->depth = dq->depth;
    out->bytes = dq->bytes;
    out->files = dq->wfile - dq->rfile + (dq->wfile_exists ? 1 : 0);
    out->corrupt_count = dq->corrupt_count;
    out->write_errors = dq->write_errors;
    out->sync_errors = dq->sync_errors;
    out->healthy = dq->healthy;
    snprintf(out->last_error, sizeof(out->last_error), "%s", dq->last_error);
}
