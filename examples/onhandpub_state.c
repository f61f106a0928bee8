/*
 * onhandpub_state.c - the state file (watermarks and run ids, locked with
 * flock for the whole run) and the grants file of the onhandpub command.
 *
 * State file layout (PSV, layout v1 quoting), docs/cli.md:
 *   ONHANDPUB_STATE|1
 *   LAST_RUN_ID|<n>
 *   SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID
 *   <one row per system and organization>
 */
#define _DEFAULT_SOURCE /* flock */
#include "onhandpub_cli.h"

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
#define STATE_VERSION "1"
#define STATE_COUNTER "LAST_RUN_ID"
#define STATE_MAX_LINE 65536

static const char *const state_columns[] = {"SYSTEM_CODE", "ORGANIZATION_CODE",
                                            "LAST_SNAPSHOT_DATE", "LAST_RUN_ID"};

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
    r->system = strdup(system);
    r->org = strdup(org);
    if (r->system == NULL || r->org == NULL) {
        free(r->system);
        free(r->org);
        return NULL;
    }
    r->snapshot = OHP_TIME_NONE;
    r->run_id = 0;
    st->count++;
    return r;
}

/* Parse the state file on fd strictly; err names the line. */
static int state_parse(cli_state *st, int fd, char *err)
{
    ohp_psv_reader *r = NULL;
    int rc = ohp_psv_reader_new(&r, fd_read, &fd, STATE_MAX_LINE, NULL);
    if (rc != OHP_OK) {
        cli_err(err, "state file '%s': %s", st->path, ohp_strerror(rc));
        return -1;
    }
    const char *const *f;
    size_t n;
    int ret = -1;
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
            if (n != 2 || strcmp(f[0], STATE_MAGIC) != 0 || strcmp(f[1], STATE_VERSION) != 0) {
                cli_err(err,
                        "state file '%s' is corrupt: line 1 must be '" STATE_MAGIC "|" STATE_VERSION
                        "'",
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
            int ok = n == 4;
            for (size_t i = 0; ok && i < 4; i++)
                ok = strcmp(f[i], state_columns[i]) == 0;
            if (!ok) {
                cli_err(err,
                        "state file '%s' is corrupt: line %llu must be the header "
                        "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID",
                        st->path, line);
                goto out;
            }
        } else {
            int64_t snap;
            uint64_t id;
            const char *why = NULL;
            if (n != 4)
                why = "expected 4 fields";
            else if (f[0][0] == '\0' || f[1][0] == '\0')
                why = "empty system or organization code";
            else if (ohp_date_parse(f[2], &snap) != OHP_OK)
                why = "bad LAST_SNAPSHOT_DATE";
            else if (parse_u64(f[3], 0, &id) != 0)
                why = "bad LAST_RUN_ID";
            else if (id > st->last_run_id)
                why = "LAST_RUN_ID greater than the run-id counter";
            else if (find_row(st, f[0], f[1]) != NULL)
                why = "system and organization repeated";
            if (why) {
                cli_err(err, "state file '%s' is corrupt: line %llu: %s", st->path, line, why);
                goto out;
            }
            cli_state_row *sr = add_row(st, f[0], f[1]);
            if (sr == NULL) {
                cli_err(err, "out of memory");
                goto out;
            }
            sr->snapshot = snap;
            sr->run_id = id;
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
    char line[128];
    snprintf(line, sizeof line,
             STATE_MAGIC "|" STATE_VERSION "\n" STATE_COUNTER "|%" PRIu64 "\n"
                         "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID\n",
             st->last_run_id);
    int rc = cli_atomic_write(&a, line, strlen(line), err);
    for (size_t i = 0; rc == 0 && i < st->count; i++) {
        const cli_state_row *r = &st->rows[i];
        char date[OHP_DATE_BUFSIZE];
        if (ohp_date_format(r->snapshot, 0, date) != OHP_OK) {
            cli_err(err, "snapshot date out of range");
            rc = -1;
            break;
        }
        snprintf(line, sizeof line, "|%s|%" PRIu64 "\n", date, r->run_id);
        rc = cli_atomic_field(&a, r->system, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&a, r->org, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, line, strlen(line), err);
    }
    if (rc != 0) {
        cli_atomic_abort(&a);
        return -1;
    }
    return cli_atomic_commit(&a, 0, err);
}

int cli_state_get(void *ud, const char *system_code, const char *organization_code,
                  int64_t *watermark)
{
    cli_state *st = ud;
    const cli_state_row *r = find_row(st, system_code, organization_code);
    *watermark = r ? r->snapshot : OHP_TIME_NONE;
    return 0;
}

int cli_state_next_run_id(void *ud, uint64_t *run_id)
{
    cli_state *st = ud;
    if (st->last_run_id == UINT64_MAX) {
        ohp_job_set_callback_error(st->job, "the run-id counter is exhausted");
        return -1;
    }
    *run_id = st->last_run_id + 1;
    return 0;
}

int cli_state_commit(void *ud, const char *system_code, const char *organization_code,
                     int64_t snapshot_date, uint64_t run_id)
{
    cli_state *st = ud;
    char err[CLI_ERRSIZE];
    cli_state_row *r = find_row(st, system_code, organization_code);
    if (r == NULL && (r = add_row(st, system_code, organization_code)) == NULL) {
        ohp_job_set_callback_error(st->job, "out of memory");
        return -1;
    }
    r->snapshot = snapshot_date;
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
    if (ohp_psv_reader_new(&r, fd_read, &g->fd, 0, NULL) != OHP_OK) {
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
