/*
 * The ready-made file state store (onhandpub.h, "File state store";
 * docs/files.md, "The state file"): watermarks and run ids in a PSV file
 * replaced whole on every change, locked through a sibling "<path>.lock".
 */
#define _GNU_SOURCE /* O_DIRECTORY, flock */
#include "atomic.h"
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "ONHANDPUB_STATE"
#define STATE_COUNTER "LAST_RUN_ID"
#define STATE_MAX_LINE 65536
/* PUBLISH_RUN_ID holds at most 18 digits. */
#define MAX_RUN_ID UINT64_C(999999999999999999)

static const char *const columns_v1[] = {"SYSTEM_CODE", "ORGANIZATION_CODE", "LAST_SNAPSHOT_DATE",
                                         "LAST_RUN_ID"};
static const char *const columns_v2[] = {"SYSTEM_CODE", "ORGANIZATION_CODE",  "ITEM_CLASS",
                                         "WATERMARK",   "LAST_SNAPSHOT_DATE", "LAST_RUN_ID"};
static const char *const class_names[2] = {"SERIAL", "NONSERIAL"};

typedef struct row {
    char *system;
    char *org;
    ohp_class_state cls[2]; /* per ohp_item_class; last_snapshot OHP_TIME_NONE: never published */
    uint64_t run_id;        /* the last successful run */
} row;

struct ohp_filestate {
    ohp_alloc alloc;
    char *path, *dir, *base;
    int dirfd;
    int lockfd;
    uint64_t last_run_id;
    row *rows;
    size_t count, cap;
    ohp_job *job;
    char errmsg[OHP_ERRMSG_SIZE];
};

static int fail(ohp_filestate *fs, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);
static int fail(ohp_filestate *fs, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(fs->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* A decimal integer without sign; zero_ok allows 0. */
static int parse_u64(const char *s, bool zero_ok, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v == 0 && !zero_ok)
        return -1;
    *out = v;
    return 0;
}

static row *find_row(const ohp_filestate *fs, const char *system, const char *org)
{
    for (size_t i = 0; i < fs->count; i++)
        if (strcmp(fs->rows[i].system, system) == 0 && strcmp(fs->rows[i].org, org) == 0)
            return &fs->rows[i];
    return NULL;
}

static row *add_row(ohp_filestate *fs, const char *system, const char *org)
{
    if (fs->count == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 8;
        row *n = ohp_realloc(&fs->alloc, fs->rows, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        fs->rows = n;
        fs->cap = cap;
    }
    row *r = &fs->rows[fs->count];
    for (int k = 0; k < 2; k++)
        r->cls[k].watermark = r->cls[k].last_snapshot = OHP_TIME_NONE;
    r->system = ohp_strdup(&fs->alloc, system);
    r->org = ohp_strdup(&fs->alloc, org);
    if (r->system == NULL || r->org == NULL) {
        ohp_free(&fs->alloc, r->system);
        ohp_free(&fs->alloc, r->org);
        return NULL;
    }
    r->run_id = 0;
    fs->count++;
    return r;
}

/* A data row of either version; NULL or the reason it is corrupt. */
static const char *parse_row(ohp_filestate *fs, int version, const char *const *f, size_t n)
{
    size_t want = version == 1 ? 4 : 6;
    if (n != want)
        return version == 1 ? "expected 4 fields" : "expected 6 fields";
    if (f[0][0] == '\0' || f[1][0] == '\0')
        return "empty system or organization code";
    int cls = -1;
    ohp_class_state cs = {OHP_TIME_NONE, OHP_TIME_NONE};
    const char *snap_text = f[version == 1 ? 2 : 4], *id_text = f[version == 1 ? 3 : 5];
    if (version == 2) {
        for (int k = 0; k < 2; k++)
            if (strcmp(f[2], class_names[k]) == 0)
                cls = k;
        if (cls < 0)
            return "ITEM_CLASS must be SERIAL or NONSERIAL";
        if (ohp_date_parse(f[3], &cs.watermark) != OHP_OK)
            return "bad WATERMARK";
    }
    uint64_t id;
    if (ohp_date_parse(snap_text, &cs.last_snapshot) != OHP_OK)
        return "bad LAST_SNAPSHOT_DATE";
    if (version == 1)
        cs.watermark = cs.last_snapshot;
    else if (cs.watermark > cs.last_snapshot)
        return "WATERMARK later than LAST_SNAPSHOT_DATE";
    if (parse_u64(id_text, false, &id) != 0)
        return "bad LAST_RUN_ID";
    if (id > fs->last_run_id)
        return "LAST_RUN_ID greater than the run-id counter";
    row *r = find_row(fs, f[0], f[1]);
    if (r != NULL && (version == 1 || r->cls[cls].last_snapshot != OHP_TIME_NONE))
        return version == 1 ? "system and organization repeated"
                            : "system, organization and item class repeated";
    if (r == NULL && (r = add_row(fs, f[0], f[1])) == NULL)
        return "out of memory";
    for (int k = 0; k < 2; k++)
        if (version == 1 || k == cls)
            r->cls[k] = cs;
    if (id > r->run_id)
        r->run_id = id;
    return NULL;
}

static int fd_read(void *ud, void *buf, size_t cap, size_t *got)
{
    int fd = *(const int *)ud;
    *got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* The header lines: row 0 the version, row 1 the counter, row 2 the columns. */
static int parse_header(ohp_filestate *fs, uint64_t rowno, unsigned long long line,
                        const char *const *f, size_t n, int *version)
{
    if (rowno == 0) {
        if (n == 2 && strcmp(f[0], STATE_MAGIC) == 0)
            *version = strcmp(f[1], "1") == 0 ? 1 : strcmp(f[1], "2") == 0 ? 2 : 0;
        if (*version == 0)
            return fail(fs, OHP_EPARSE,
                        "state file '%s' is corrupt: line 1 must be '" STATE_MAGIC
                        "|2' (or '|1', read as version 2)",
                        fs->path);
    } else if (rowno == 1) {
        if (n != 2 || strcmp(f[0], STATE_COUNTER) != 0 ||
            parse_u64(f[1], true, &fs->last_run_id) != 0)
            return fail(fs, OHP_EPARSE,
                        "state file '%s' is corrupt: line %llu must be '" STATE_COUNTER
                        "|<number>'",
                        fs->path, line);
    } else {
        const char *const *cols = *version == 1 ? columns_v1 : columns_v2;
        size_t ncols = *version == 1 ? 4 : 6;
        bool ok = n == ncols;
        for (size_t i = 0; ok && i < ncols; i++)
            ok = strcmp(f[i], cols[i]) == 0;
        if (!ok)
            return fail(fs, OHP_EPARSE,
                        "state file '%s' is corrupt: line %llu must be the header %s", fs->path,
                        line,
                        *version == 1 ? "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|"
                                        "LAST_RUN_ID"
                                      : "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|"
                                        "LAST_SNAPSHOT_DATE|LAST_RUN_ID");
    }
    return OHP_OK;
}

/* Parse the state file on fd strictly (version 1 or 2); the message names the line. */
static int parse(ohp_filestate *fs, int fd)
{
    ohp_allocator pub;
    ohp_psv_reader *r = NULL;
    int rc =
        ohp_psv_reader_new(&r, fd_read, &fd, STATE_MAX_LINE, ohp_alloc_public(&fs->alloc, &pub));
    if (rc != OHP_OK)
        return fail(fs, rc, "state file '%s': %s", fs->path, ohp_strerror(rc));
    const char *const *f;
    size_t n;
    int version = 0;
    for (uint64_t rowno = 0;; rowno++) {
        int got = ohp_psv_reader_next(r, &f, &n);
        unsigned long long line = (unsigned long long)ohp_psv_reader_line(r);
        if (got < 0) {
            rc = fail(fs,
                      got == OHP_EIO      ? OHP_EFILE
                      : got == OHP_ENOMEM ? OHP_ENOMEM
                                          : OHP_EPARSE,
                      "state file '%s': %s", fs->path, ohp_psv_reader_errmsg(r));
            break;
        }
        if (got == 0) {
            if (rowno < 3)
                rc = fail(fs, OHP_EPARSE,
                          "state file '%s' is corrupt: it ends before its header is complete",
                          fs->path);
            break;
        }
        if (rowno < 3) {
            rc = parse_header(fs, rowno, line, f, n, &version);
            if (rc != OHP_OK)
                break;
            continue;
        }
        const char *why = parse_row(fs, version, f, n);
        if (why) {
            rc = fail(fs, strcmp(why, "out of memory") == 0 ? OHP_ENOMEM : OHP_EPARSE,
                      "state file '%s' is corrupt: line %llu: %s", fs->path, line, why);
            break;
        }
    }
    ohp_psv_reader_free(r);
    return rc;
}

/* name in the folder must be a regular file or missing: never open anything else. */
static int check_regular(ohp_filestate *fs, const char *name, const char *what, const char *path)
{
    struct stat st;
    if (fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return OHP_OK;
        return fail(fs, OHP_EFILE, "cannot check %s '%s': %s", what, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return fail(fs, OHP_EFILE, "%s '%s' is not a regular file (it is %s)", what, path,
                    ohp_file_kind(st.st_mode));
    return OHP_OK;
}

/* Open name (O_RDONLY, or O_RDWR | O_CREAT) as a regular file only; *fd -1 when missing. */
static int open_regular(ohp_filestate *fs, const char *name, int flags, const char *what,
                        const char *path, int *fd)
{
    *fd = -1;
    int rc = check_regular(fs, name, what, path);
    if (rc != OHP_OK)
        return rc;
    /* O_NONBLOCK: a FIFO put there meanwhile must not block the open. */
    *fd = openat(fs->dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0666);
    if (*fd < 0) {
        if (errno == ENOENT && !(flags & O_CREAT))
            return OHP_OK;
        if (errno == ELOOP || errno == ENXIO || errno == EISDIR)
            return fail(fs, OHP_EFILE, "%s '%s' is not a regular file", what, path);
        return fail(fs, OHP_EFILE, "cannot open %s '%s': %s", what, path, strerror(errno));
    }
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)close(*fd);
        *fd = -1;
        return fail(fs, OHP_EFILE, "%s '%s' is not a regular file", what, path);
    }
    int fl = fcntl(*fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    return OHP_OK;
}

static int lock(ohp_filestate *fs, const char *lockname, const char *lockpath, bool wait)
{
    int rc = open_regular(fs, lockname, O_RDWR | O_CREAT, "lock file", lockpath, &fs->lockfd);
    if (rc != OHP_OK)
        return rc;
    int got = flock(fs->lockfd, LOCK_EX | LOCK_NB);
    if (got != 0 && errno == EWOULDBLOCK) {
        if (!wait)
            return fail(fs, OHP_EBUSY, "state file '%s' is in use by another run (it holds '%s')",
                        fs->path, lockpath);
        do {
            got = flock(fs->lockfd, LOCK_EX);
        } while (got != 0 && errno == EINTR);
    }
    if (got != 0)
        return fail(fs, OHP_EFILE, "cannot lock '%s': %s", lockpath, strerror(errno));
    return OHP_OK;
}

static int open_store(ohp_filestate *fs, const char *path, unsigned int flags)
{
    fs->path = ohp_strdup(&fs->alloc, path);
    if (fs->path == NULL)
        return fail(fs, OHP_ENOMEM, "out of memory");
    int rc = ohp_path_split(&fs->alloc, path, &fs->dir, &fs->base, fs->errmsg);
    if (rc != OHP_OK)
        return rc;
    fs->dirfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dirfd < 0)
        return fail(fs, OHP_EFILE, "cannot open directory '%s': %s", fs->dir, strerror(errno));
    size_t pl = strlen(path);
    char *lockpath = ohp_malloc(&fs->alloc, pl + 6);
    if (lockpath == NULL)
        return fail(fs, OHP_ENOMEM, "out of memory");
    snprintf(lockpath, pl + 6, "%s.lock", path);
    const char *lockname = lockpath + (pl - strlen(fs->base));
    /* Both refused at once, before any waiting: a link, a FIFO, a device, a directory. */
    rc = check_regular(fs, fs->base, "state file", path);
    if (rc == OHP_OK)
        rc = check_regular(fs, lockname, "lock file", lockpath);
    /* The lock lives in a sibling file that is never replaced, so it outlives every rename. */
    if (rc == OHP_OK)
        rc = lock(fs, lockname, lockpath, !(flags & OHP_FILESTATE_NOWAIT));
    ohp_free(&fs->alloc, lockpath);
    if (rc != OHP_OK)
        return rc;
    /* Temporaries of killed runs where O_TMPFILE is not available, under the lock. */
    (void)ohp_afile_clean(fs->dirfd, fs->base);
    if (flags & OHP_FILESTATE_TRUNCATE)
        return OHP_OK;
    int fd = -1;
    rc = open_regular(fs, fs->base, O_RDONLY, "state file", path, &fd);
    if (rc != OHP_OK || fd < 0)
        return rc; /* fd < 0: no previous runs */
    rc = parse(fs, fd);
    (void)close(fd);
    return rc;
}

OHP_EXPORT int ohp_filestate_open(ohp_filestate **out, const char *path, unsigned int flags,
                                  const ohp_allocator *alloc, char *msg)
{
    char local[OHP_ERRMSG_SIZE];
    char *m = msg ? msg : local;
    ohp_alloc a;
    void *obj;
    if (out != NULL)
        *out = NULL;
    int rc = ohp_file_handle_alloc(out != NULL, path, flags,
                                   OHP_FILESTATE_NOWAIT | OHP_FILESTATE_TRUNCATE, alloc, &a,
                                   sizeof(ohp_filestate), &obj, m);
    if (rc != OHP_OK)
        return rc;
    ohp_filestate *fs = obj;
    fs->alloc = a;
    fs->dirfd = fs->lockfd = -1;
    rc = open_store(fs, path, flags);
    if (rc != OHP_OK) {
        memcpy(m, fs->errmsg, sizeof fs->errmsg);
        ohp_filestate_close(fs);
        return rc;
    }
    *out = fs;
    return OHP_OK;
}

OHP_EXPORT void ohp_filestate_close(ohp_filestate *fs)
{
    if (fs == NULL)
        return;
    ohp_alloc a = fs->alloc;
    for (size_t i = 0; i < fs->count; i++) {
        ohp_free(&a, fs->rows[i].system);
        ohp_free(&a, fs->rows[i].org);
    }
    ohp_free(&a, fs->rows);
    if (fs->lockfd >= 0)
        (void)close(fs->lockfd); /* releases the lock */
    if (fs->dirfd >= 0)
        (void)close(fs->dirfd);
    ohp_free(&a, fs->path);
    ohp_free(&a, fs->dir);
    ohp_free(&a, fs->base);
    ohp_free(&a, fs);
}

OHP_EXPORT const char *ohp_filestate_errmsg(const ohp_filestate *fs)
{
    return fs ? fs->errmsg : "";
}

OHP_EXPORT uint64_t ohp_filestate_last_run_id(const ohp_filestate *fs)
{
    return fs ? fs->last_run_id : 0;
}

OHP_EXPORT int ohp_filestate_get(const ohp_filestate *fs, const char *system_code,
                                 const char *organization_code, ohp_class_state state[2],
                                 uint64_t *run_id)
{
    if (fs == NULL || system_code == NULL || organization_code == NULL || state == NULL)
        return OHP_EINVAL;
    const row *r = find_row(fs, system_code, organization_code);
    for (int k = 0; k < 2; k++) {
        if (r)
            state[k] = r->cls[k];
        else
            state[k].watermark = state[k].last_snapshot = OHP_TIME_NONE;
    }
    if (run_id)
        *run_id = r ? r->run_id : 0;
    return OHP_OK;
}

/* One row of the file into b. */
static int format_row(ohp_filestate *fs, ohp_buf *b, const row *r, int k)
{
    char w[OHP_DATE_BUFSIZE], snap[OHP_DATE_BUFSIZE], tail[96];
    if (ohp_date_format(r->cls[k].watermark, 0, w) != OHP_OK ||
        ohp_date_format(r->cls[k].last_snapshot, 0, snap) != OHP_OK)
        return fail(fs, OHP_EINVAL, "a date of '%s', '%s' is out of range", r->system, r->org);
    snprintf(tail, sizeof tail, "|%s|%s|%s|%" PRIu64 "\n", class_names[k], w, snap, r->run_id);
    if (ohp_psv_append_field(b, &fs->alloc, r->system, strlen(r->system)) != 0 ||
        ohp_buf_putc(b, &fs->alloc, '|') != 0 ||
        ohp_psv_append_field(b, &fs->alloc, r->org, strlen(r->org)) != 0 ||
        ohp_buf_append(b, &fs->alloc, tail, strlen(tail)) != 0)
        return fail(fs, OHP_ENOMEM, "out of memory");
    return OHP_OK;
}

OHP_EXPORT int ohp_filestate_save(ohp_filestate *fs)
{
    if (fs == NULL)
        return OHP_EINVAL;
    ohp_afile a;
    int rc = ohp_afile_open(&a, &fs->alloc, fs->dirfd, fs->dir, fs->base, false, fs->errmsg);
    if (rc != OHP_OK)
        return rc;
    char head[160];
    snprintf(head, sizeof head,
             STATE_MAGIC "|2\n" STATE_COUNTER "|%" PRIu64 "\n"
                         "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|"
                         "LAST_RUN_ID\n",
             fs->last_run_id);
    rc = ohp_afile_write(&a, head, strlen(head), fs->errmsg);
    ohp_buf b = {0};
    for (size_t i = 0; rc == OHP_OK && i < fs->count; i++) {
        for (int k = 0; rc == OHP_OK && k < 2; k++) {
            if (fs->rows[i].cls[k].last_snapshot == OHP_TIME_NONE)
                continue; /* the class was never published */
            b.len = 0;
            rc = format_row(fs, &b, &fs->rows[i], k);
            if (rc == OHP_OK)
                rc = ohp_afile_write(&a, b.data, b.len, fs->errmsg);
        }
    }
    ohp_buf_free(&b, &fs->alloc);
    if (rc != OHP_OK) {
        ohp_afile_abort(&a);
        return rc;
    }
    return ohp_afile_commit(&a, false, fs->errmsg);
}

OHP_EXPORT int ohp_filestate_reserve_run_id(ohp_filestate *fs, uint64_t requested, uint64_t *run_id)
{
    if (fs == NULL || run_id == NULL)
        return OHP_EINVAL;
    if (requested > MAX_RUN_ID)
        return fail(fs, OHP_EINVAL, "run id %" PRIu64 " has more than 18 digits", requested);
    uint64_t id = requested;
    if (id == 0) {
        if (fs->last_run_id >= MAX_RUN_ID)
            return fail(fs, OHP_ELIMIT,
                        "the run-id counter of state file '%s' is at %" PRIu64
                        ", the most a snapshot can carry (18 digits): no run id is left",
                        fs->path, fs->last_run_id);
        id = fs->last_run_id + 1;
    }
    if (id <= fs->last_run_id) {
        *run_id = id; /* given again: the counter does not move back */
        return OHP_OK;
    }
    /* Recorded before the archive is written: never handed out again. */
    uint64_t before = fs->last_run_id;
    fs->last_run_id = id;
    int rc = ohp_filestate_save(fs);
    if (rc != OHP_OK) {
        fs->last_run_id = before;
        return rc;
    }
    *run_id = id;
    return OHP_OK;
}

OHP_EXPORT int ohp_filestate_put(ohp_filestate *fs, const char *system_code,
                                 const char *organization_code, const ohp_class_state state[2],
                                 uint64_t run_id)
{
    if (fs == NULL || state == NULL || !ohp_present(system_code) ||
        !ohp_present(organization_code) || run_id == 0 || run_id > MAX_RUN_ID)
        return OHP_EINVAL;
    for (int k = 0; k < 2; k++)
        if (state[k].last_snapshot != OHP_TIME_NONE &&
            (state[k].watermark == OHP_TIME_NONE || state[k].watermark > state[k].last_snapshot))
            return fail(fs, OHP_EINVAL, "the watermark of a class is later than its last snapshot");
    row *r = find_row(fs, system_code, organization_code);
    if (r == NULL && (r = add_row(fs, system_code, organization_code)) == NULL)
        return fail(fs, OHP_ENOMEM, "out of memory");
    for (int k = 0; k < 2; k++)
        if (state[k].last_snapshot != OHP_TIME_NONE)
            r->cls[k] = state[k];
    r->run_id = run_id;
    if (run_id > fs->last_run_id)
        fs->last_run_id = run_id;
    return OHP_OK;
}

/* ---- as a job's state store ---- */

static int store_get(void *ud, const char *system_code, const char *organization_code,
                     ohp_class_state state[2])
{
    return ohp_filestate_get(ud, system_code, organization_code, state, NULL) != OHP_OK;
}

static int store_reserve(void *ud, uint64_t requested, uint64_t *run_id)
{
    ohp_filestate *fs = ud;
    int rc = ohp_filestate_reserve_run_id(fs, requested, run_id);
    if (rc != OHP_OK)
        (void)ohp_job_set_callback_error(fs->job, fs->errmsg);
    return rc != OHP_OK;
}

static int store_commit(void *ud, const char *system_code, const char *organization_code, int items,
                        const ohp_class_state state[2], uint64_t run_id)
{
    (void)items; /* the classes it did not cover come back as get gave them */
    ohp_filestate *fs = ud;
    row *r = find_row(fs, system_code, organization_code);
    if (r == NULL && (r = add_row(fs, system_code, organization_code)) == NULL) {
        (void)ohp_job_set_callback_error(fs->job, "out of memory");
        return 1;
    }
    row before = *r;
    uint64_t counter = fs->last_run_id;
    r->cls[0] = state[0];
    r->cls[1] = state[1];
    r->run_id = run_id;
    if (run_id > fs->last_run_id)
        fs->last_run_id = run_id;
    if (ohp_filestate_save(fs) != OHP_OK) {
        *r = before; /* the file keeps the previous state; so does memory */
        fs->last_run_id = counter;
        (void)ohp_job_set_callback_error(fs->job, fs->errmsg);
        return 1;
    }
    return 0;
}

OHP_EXPORT int ohp_job_set_filestate(ohp_job *job, ohp_filestate *fs)
{
    if (job == NULL || fs == NULL)
        return OHP_EINVAL;
    static const ohp_state_store store = {OHP_STATE_STORE_VERSION, store_get, store_reserve,
                                          store_commit};
    int rc = ohp_job_set_state_store2(job, &store, fs);
    if (rc == OHP_OK)
        fs->job = job;
    return rc;
}
