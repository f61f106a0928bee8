/*
 * The state file (watermarks and run ids, locked with
 * flock for the whole run) and the grants file of the onhandpub command.
 *
 * State file layout (PSV, layout v1 quoting), docs/cli.md:
 *   ONHANDPUB_STATE|2
 *   LAST_RUN_ID|<n>          the highest run id reserved
 *   SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|LAST_RUN_ID
 *   <one row per system, organization and item class published>
 * Version 1 (one row per system and organization, columns
 * SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID) is read as
 * that date for both classes, and written back as version 2.
 */
#define _DEFAULT_SOURCE /* flock */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "ONHANDPUB_STATE"
#define STATE_VERSION "2"
#define STATE_COUNTER "LAST_RUN_ID"
#define STATE_MAX_LINE 65536
/* PUBLISH_RUN_ID holds at most 18 digits. */
#define STATE_MAX_RUN_ID 999999999999999999ull

static const char *const state_columns_v1[] = {"SYSTEM_CODE", "ORGANIZATION_CODE",
                                               "LAST_SNAPSHOT_DATE", "LAST_RUN_ID"};
static const char *const state_columns[] = {"SYSTEM_CODE", "ORGANIZATION_CODE",  "ITEM_CLASS",
                                            "WATERMARK",   "LAST_SNAPSHOT_DATE", "LAST_RUN_ID"};
static const char *const class_names[2] = {"SERIAL", "NONSERIAL"};

int cli_fd_read(void *ud, void *buf, size_t cap, size_t *got)
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

/* A decimal integer without sign; zero_ok allows 0. */
static int parse_u64(const char *s, int zero_ok, uint64_t *out)
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

static cli_state_row *find_row(cli_state *st, const char *system, const char *org)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->rows[i].system, system) == 0 && strcmp(st->rows[i].org, org) == 0)
            return &st->rows[i];
    return NULL;
}

static cli_state_row *add_row(cli_state *st, const char *system, const char *org)
{
    if (st->count == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        cli_state_row *n = realloc(st->rows, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        st->rows = n;
        st->cap = cap;
    }
    cli_state_row *r = &st->rows[st->count];
    for (int k = 0; k < 2; k++)
        r->cls[k].watermark = r->cls[k].last_snapshot = OHP_TIME_NONE;
    r->system = strdup(system);
    r->org = strdup(org);
    if (r->system == NULL || r->org == NULL) {
        free(r->system);
        free(r->org);
        return NULL;
    }
    r->run_id = 0;
    st->count++;
    return r;
}

/* A data row of either version into st; NULL or the reason it is corrupt. */
static const char *state_row(cli_state *st, int version, const char *const *f, size_t n)
{
    size_t want = version == 1 ? 4 : 6;
    if (n != want)
        return version == 1 ? "expected 4 fields" : "expected 6 fields";
    if (f[0][0] == '\0' || f[1][0] == '\0')
        return "empty system or organization code";
    int cls = -1;
    ohp_class_state cs;
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
    if (parse_u64(id_text, 0, &id) != 0)
        return "bad LAST_RUN_ID";
    if (id > st->last_run_id)
        return "LAST_RUN_ID greater than the run-id counter";
    cli_state_row *sr = find_row(st, f[0], f[1]);
    if (sr != NULL && (version == 1 || sr->cls[cls].last_snapshot != OHP_TIME_NONE))
        return version == 1 ? "system and organization repeated"
                            : "system, organization and item class repeated";
    if (sr == NULL && (sr = add_row(st, f[0], f[1])) == NULL)
        return "out of memory";
    for (int k = 0; k < 2; k++)
        if (version == 1 || k == cls)
            sr->cls[k] = cs;
    if (id > sr->run_id)
        sr->run_id = id;
    return NULL;
}

/* Parse the state file on fd strictly (version 1 or 2); err names the line. */
static int state_parse(cli_state *st, int fd, char *err)
{
    ohp_psv_reader *r = NULL;
    int rc = ohp_psv_reader_new(&r, cli_fd_read, &fd, STATE_MAX_LINE, NULL);
    if (rc != OHP_OK) {
        cli_err(err, "state file '%s': %s", st->path, ohp_strerror(rc));
        return -1;
    }
    const char *const *f;
    size_t n;
    int ret = -1, version = 0;
    for (uint64_t row = 0;; row++) {
        int got = ohp_psv_reader_next(r, &f, &n);
        unsigned long long line = (unsigned long long)ohp_psv_reader_line(r);
        if (got < 0) {
            cli_err(err, "state file '%s': %s", st->path, ohp_psv_reader_errmsg(r));
            goto out;
        }
        if (got == 0) {
            if (row < 3) {
                cli_err(err, "state file '%s' is corrupt: it ends before its header is complete",
                        st->path);
                goto out;
            }
            break;
        }
        if (row == 0) {
            if (n == 2 && strcmp(f[0], STATE_MAGIC) == 0)
                version = strcmp(f[1], "1") == 0 ? 1 : strcmp(f[1], "2") == 0 ? 2 : 0;
            if (version == 0) {
                cli_err(err,
                        "state file '%s' is corrupt: line 1 must be '" STATE_MAGIC
                        "|2' (or '|1', read as version 2)",
                        st->path);
                goto out;
            }
        } else if (row == 1) {
            if (n != 2 || strcmp(f[0], STATE_COUNTER) != 0 ||
                parse_u64(f[1], 1, &st->last_run_id) != 0) {
                cli_err(err,
                        "state file '%s' is corrupt: line %llu must be '" STATE_COUNTER
                        "|<number>'",
                        st->path, line);
                goto out;
            }
        } else if (row == 2) {
            const char *const *cols = version == 1 ? state_columns_v1 : state_columns;
            size_t ncols = version == 1 ? 4 : 6;
            int ok = n == ncols;
            for (size_t i = 0; ok && i < ncols; i++)
                ok = strcmp(f[i], cols[i]) == 0;
            if (!ok) {
                cli_err(err, "state file '%s' is corrupt: line %llu must be the header %s",
                        st->path, line,
                        version == 1 ? "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|"
                                       "LAST_RUN_ID"
                                     : "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|"
                                       "LAST_SNAPSHOT_DATE|LAST_RUN_ID");
                goto out;
            }
        } else {
            const char *why = state_row(st, version, f, n);
            if (why) {
                cli_err(err, "state file '%s' is corrupt: line %llu: %s", st->path, line, why);
                goto out;
            }
        }
    }
    ret = 0;
out:
    ohp_psv_reader_free(r);
    return ret;
}

/*
 * Parse a state file from fd into st (st->path names it in messages), as
 * cli_state_open does after locking; for the parser's fuzz target.
 */
int cli_state_parse_fd(cli_state *st, int fd, char *err);
int cli_state_parse_fd(cli_state *st, int fd, char *err)
{
    return state_parse(st, fd, err);
}

int cli_state_open(cli_state *st, const char *path, char *err)
{
    st->dirfd = -1;
    st->lockfd = -1;
    st->path = strdup(path);
    if (st->path == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    if (cli_split_path(path, &st->dir, &st->base, err) != 0)
        return -1;
    if (cli_open_dir(st->dir, &st->dirfd, err) != 0)
        return -1;

    /* Both refused at once, before any waiting: a link, a FIFO, a device, a directory. */
    char *lock = malloc(strlen(path) + 6);
    if (lock == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    sprintf(lock, "%s.lock", path);
    const char *lockbase = strrchr(lock, '/') ? strrchr(lock, '/') + 1 : lock;
    if (cli_check_regular(st->dirfd, st->base, "state file", path, err) != 0 ||
        cli_check_regular(st->dirfd, lockbase, "lock file", lock, err) != 0) {
        free(lock);
        return -1;
    }
    /* The lock lives in a sibling file that is never replaced, so it outlives every rename. */
    int rc = cli_lock_open(st->dirfd, lockbase, lock, &st->lockfd, err);
    free(lock);
    if (rc != 0)
        return -1;
    /* Temporaries of killed runs where O_TMPFILE is not available, under the lock. */
    (void)cli_clean_temporaries(st->dirfd, st->base);

    int fd = -1;
    if (cli_state_file_open(st->dirfd, st->base, "state file", path, &fd, err) != 0)
        return -1;
    if (fd < 0)
        return 0; /* no previous runs */
    rc = state_parse(st, fd, err);
    (void)close(fd);
    return rc;
}

void cli_state_close(cli_state *st)
{
    for (size_t i = 0; i < st->count; i++) {
        free(st->rows[i].system);
        free(st->rows[i].org);
    }
    free(st->rows);
    st->rows = NULL;
    st->count = st->cap = 0;
    if (st->lockfd >= 0)
        (void)close(st->lockfd); /* releases the lock */
    if (st->dirfd >= 0)
        (void)close(st->dirfd);
    st->lockfd = st->dirfd = -1;
    free(st->path);
    free(st->dir);
    free(st->base);
    st->path = st->dir = st->base = NULL;
}

int cli_state_save(cli_state *st, char *err)
{
    cli_atomic a = CLI_ATOMIC_INIT;
    if (cli_atomic_open(&a, st->dirfd, st->dir, st->base, 0, err) != 0)
        return -1;
    char line[160];
    snprintf(line, sizeof line,
             STATE_MAGIC "|" STATE_VERSION "\n" STATE_COUNTER "|%" PRIu64 "\n"
                         "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|"
                         "LAST_RUN_ID\n",
             st->last_run_id);
    int rc = cli_atomic_write(&a, line, strlen(line), err);
    for (size_t i = 0; rc == 0 && i < st->count; i++) {
        const cli_state_row *r = &st->rows[i];
        for (int k = 0; rc == 0 && k < 2; k++) {
            if (r->cls[k].last_snapshot == OHP_TIME_NONE)
                continue; /* the class was never published */
            char w[OHP_DATE_BUFSIZE], snap[OHP_DATE_BUFSIZE];
            if (ohp_date_format(r->cls[k].watermark, 0, w) != OHP_OK ||
                ohp_date_format(r->cls[k].last_snapshot, 0, snap) != OHP_OK) {
                cli_err(err, "snapshot date out of range");
                rc = -1;
                break;
            }
            snprintf(line, sizeof line, "|%s|%s|%s|%" PRIu64 "\n", class_names[k], w, snap,
                     r->run_id);
            rc = cli_atomic_field(&a, r->system, err);
            if (rc == 0)
                rc = cli_atomic_write(&a, "|", 1, err);
            if (rc == 0)
                rc = cli_atomic_field(&a, r->org, err);
            if (rc == 0)
                rc = cli_atomic_write(&a, line, strlen(line), err);
        }
    }
    if (rc != 0) {
        cli_atomic_abort(&a);
        return -1;
    }
    return cli_atomic_commit(&a, 0, err);
}

int cli_state_get(void *ud, const char *system_code, const char *organization_code,
                  ohp_class_state state[2])
{
    cli_state *st = ud;
    const cli_state_row *r = find_row(st, system_code, organization_code);
    for (int k = 0; k < 2; k++) {
        if (r)
            state[k] = r->cls[k];
        else
            state[k].watermark = state[k].last_snapshot = OHP_TIME_NONE;
    }
    return 0;
}

int cli_state_reserve_run_id(void *ud, uint64_t requested, uint64_t *run_id)
{
    cli_state *st = ud;
    char err[CLI_ERRSIZE];
    uint64_t id = requested;
    if (id == 0) {
        if (st->last_run_id >= STATE_MAX_RUN_ID) {
            cli_err(err,
                    "the run-id counter of state file '%s' is at %" PRIu64
                    ", the most a snapshot can carry (18 digits): no run id is left",
                    st->path, st->last_run_id);
            ohp_job_set_callback_error(st->job, err);
            return -1;
        }
        id = st->last_run_id + 1;
    }
    if (id <= st->last_run_id) {
        *run_id = id; /* given again: the counter does not move back */
        return 0;
    }
    /* Recorded before the archive is written: never handed out again. */
    uint64_t before = st->last_run_id;
    st->last_run_id = id;
    if (cli_state_save(st, err) != 0) {
        st->last_run_id = before;
        ohp_job_set_callback_error(st->job, err);
        return -1;
    }
    *run_id = id;
    return 0;
}

int cli_state_commit(void *ud, const char *system_code, const char *organization_code, int items,
                     const ohp_class_state state[2], uint64_t run_id)
{
    (void)items; /* the classes it did not cover come back as get gave them */
    cli_state *st = ud;
    char err[CLI_ERRSIZE];
    cli_state_row *r = find_row(st, system_code, organization_code);
    if (r == NULL && (r = add_row(st, system_code, organization_code)) == NULL) {
        ohp_job_set_callback_error(st->job, "out of memory");
        return -1;
    }
    r->cls[0] = state[0];
    r->cls[1] = state[1];
    r->run_id = run_id;
    if (run_id > st->last_run_id)
        st->last_run_id = run_id;
    if (cli_state_save(st, err) != 0) {
        ohp_job_set_callback_error(st->job, err);
        return -1;
    }
    return 0;
}

/* ---- grants ---- */

int cli_grants_open(cli_grants *g, const char *path, char *err)
{
    g->path = path;
    g->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0) {
        cli_err(err, "cannot read grants file '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(g->fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        cli_err(err, "cannot read grants file '%s': %s", path,
                S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
        (void)close(g->fd);
        g->fd = -1;
        return -1;
    }
    return 0;
}

void cli_grants_close(cli_grants *g)
{
    if (g->fd >= 0)
        (void)close(g->fd);
    g->fd = -1;
}

int cli_grants_authorize(void *ud, const char *user, const char *privilege, int *granted)
{
    cli_grants *g = ud;
    char err[CLI_ERRSIZE];
    ohp_psv_reader *r = NULL;
    *granted = 0;
    if (ohp_psv_reader_new(&r, cli_fd_read, &g->fd, 0, NULL) != OHP_OK) {
        ohp_job_set_callback_error(g->job, "out of memory");
        return -1;
    }
    const char *const *f;
    size_t n;
    int ret = -1;
    for (uint64_t row = 0;; row++) {
        int got = ohp_psv_reader_next(r, &f, &n);
        unsigned long long line = (unsigned long long)ohp_psv_reader_line(r);
        if (got < 0) {
            cli_err(err, "grants file '%s': %s", g->path, ohp_psv_reader_errmsg(r));
            goto out;
        }
        if (got == 0) {
            if (row == 0) {
                cli_err(err,
                        "grants file '%s' is empty: the header USER_NAME|PRIVILEGE_CODE is "
                        "required",
                        g->path);
                goto out;
            }
            break;
        }
        if (row == 0) {
            if (n != 2 || strcmp(f[0], "USER_NAME") != 0 || strcmp(f[1], "PRIVILEGE_CODE") != 0) {
                cli_err(err, "grants file '%s': line 1 must be the header USER_NAME|PRIVILEGE_CODE",
                        g->path);
                goto out;
            }
            continue;
        }
        if (n == 1 && f[0][0] == '\0')
            continue; /* blank line */
        if (n != 2) {
            cli_err(err, "grants file '%s': line %llu: expected 2 fields, found %zu", g->path, line,
                    n);
            goto out;
        }
        if (strcmp(f[0], user) == 0 && strcmp(f[1], privilege) == 0 &&
            strcmp(privilege, OHP_PRIVILEGE) == 0)
            *granted = 1;
    }
    ret = 0;
out:
    ohp_psv_reader_free(r);
    if (ret != 0)
        ohp_job_set_callback_error(g->job, err);
    return ret;
}
