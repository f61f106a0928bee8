/*
 * fetch's state file: the documents fetched so far (id, file name, date),
 * locked for the whole run and replaced atomically.
 */
#define _DEFAULT_SOURCE /* flock */
#include "ucm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef ONHANDPUB_HAVE_CURL

/* ---- fetch: the state file of fetched documents ---- */

#define FETCH_MAGIC "ONHANDPUB_FETCH"
#define FETCH_VERSION "1"
static const char *const fetch_columns[] = {"DOCUMENT_ID", "FILE_NAME", "FETCHED_DATE"};

const fetch_row *fetch_find(const fetch_state *fs, const char *id)
{
    for (size_t i = 0; i < fs->count; i++)
        if (strcmp(fs->rows[i].id, id) == 0)
            return &fs->rows[i];
    return NULL;
}

int fetch_add(fetch_state *fs, const char *id, const char *name, int64_t when)
{
    if (fs->count == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        fetch_row *r = realloc(fs->rows, cap * sizeof *r);
        if (r == NULL)
            return -1;
        fs->rows = r;
        fs->cap = cap;
    }
    fetch_row *r = &fs->rows[fs->count];
    r->id = ucm_xstrdup(id);
    r->name = ucm_xstrdup(name);
    r->when = when;
    if (r->id == NULL || r->name == NULL) {
        free(r->id);
        free(r->name);
        return -1;
    }
    fs->count++;
    return 0;
}

void fetch_state_close(fetch_state *fs)
{
    for (size_t i = 0; i < fs->count; i++) {
        free(fs->rows[i].id);
        free(fs->rows[i].name);
    }
    free(fs->rows);
    free(fs->dir);
    free(fs->base);
    if (fs->dirfd >= 0)
        (void)close(fs->dirfd);
    if (fs->lockfd >= 0)
        (void)close(fs->lockfd); /* releases the lock */
    fs->rows = NULL;
    fs->dir = fs->base = NULL;
    fs->dirfd = fs->lockfd = -1;
    fs->count = fs->cap = 0;
}

static int fetch_parse(fetch_state *fs, int fd, char *err)
{
    ohp_psv_reader *r = NULL;
    if (ohp_psv_reader_new(&r, cli_fd_read, &fd, 65536, NULL) != OHP_OK) {
        cli_err(err, "out of memory");
        return -1;
    }
    const char *const *f;
    size_t n;
    int rc, ret = -1;
    uint64_t line = 0;
    for (;;) {
        rc = ohp_psv_reader_next(r, &f, &n);
        if (rc <= 0)
            break;
        line = ohp_psv_reader_line(r);
        if (line == 1) {
            if (n != 2 || strcmp(f[0], FETCH_MAGIC) != 0 || strcmp(f[1], FETCH_VERSION) != 0) {
                cli_err(err, "fetch state file '%s' line 1: expected '%s|%s'", fs->path,
                        FETCH_MAGIC, FETCH_VERSION);
                goto out;
            }
            continue;
        }
        if (line == 2) {
            if (n != 3 || strcmp(f[0], fetch_columns[0]) != 0 ||
                strcmp(f[1], fetch_columns[1]) != 0 || strcmp(f[2], fetch_columns[2]) != 0) {
                cli_err(err, "fetch state file '%s' line 2: expected the header %s|%s|%s", fs->path,
                        fetch_columns[0], fetch_columns[1], fetch_columns[2]);
                goto out;
            }
            continue;
        }
        int64_t when;
        if (n != 3) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": expected 3 fields, found %zu",
                    fs->path, line, n);
            goto out;
        }
        if (!ucm_valid_id(f[0]) || !ucm_valid_name(f[1]) || ohp_date_parse(f[2], &when) != OHP_OK) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": bad %s", fs->path, line,
                    !ucm_valid_id(f[0])     ? "document id"
                    : !ucm_valid_name(f[1]) ? "file name"
                                            : "date");
            goto out;
        }
        if (fetch_find(fs, f[0]) != NULL) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": document %s listed twice",
                    fs->path, line, f[0]);
            goto out;
        }
        if (fetch_add(fs, f[0], f[1], when) != 0) {
            cli_err(err, "out of memory");
            goto out;
        }
    }
    if (rc < 0) {
        cli_err(err, "fetch state file '%s': %s", fs->path, ohp_psv_reader_errmsg(r));
        goto out;
    }
    if (line < 2) {
        cli_err(err, "fetch state file '%s' is %s", fs->path,
                line == 0 ? "empty" : "missing its header line");
        goto out;
    }
    ret = 0;
out:
    ohp_psv_reader_free(r);
    return ret;
}

int fetch_state_open(fetch_state *fs, const char *path, char *err)
{
    fs->path = path;
    fs->dirfd = fs->lockfd = -1;
    if (cli_split_path(path, &fs->dir, &fs->base, err) != 0 ||
        cli_open_dir(fs->dir, &fs->dirfd, err) != 0)
        return -1;
    char *lock = ucm_xmalloc(strlen(fs->base) + 6);
    char *lockpath = ucm_xmalloc(strlen(path) + 6);
    if (lock == NULL || lockpath == NULL) {
        free(lock);
        free(lockpath);
        cli_err(err, "out of memory");
        return -1;
    }
    sprintf(lock, "%s.lock", fs->base);
    sprintf(lockpath, "%s.lock", path);
    /* Both refused at once, before any waiting: a link, a FIFO, a device, a directory. */
    int bad = cli_check_regular(fs->dirfd, fs->base, "fetch state file", path, err) != 0 ||
              cli_check_regular(fs->dirfd, lock, "lock file", lockpath, err) != 0 ||
              cli_lock_open(fs->dirfd, lock, lockpath, &fs->lockfd, err) != 0;
    free(lock);
    free(lockpath);
    if (bad)
        return -1;
    int fd = -1;
    if (cli_state_file_open(fs->dirfd, fs->base, "fetch state file", path, &fd, err) != 0)
        return -1;
    if (fd < 0)
        return 0;
    int rc = fetch_parse(fs, fd, err);
    (void)close(fd);
    return rc;
}

int fetch_state_save(fetch_state *fs, char *err)
{
    cli_atomic a = CLI_ATOMIC_INIT;
    if (cli_atomic_open(&a, fs->dir, fs->base, 0, err) != 0)
        return -1;
    char line[256];
    snprintf(line, sizeof line, "%s|%s\n%s|%s|%s\n", FETCH_MAGIC, FETCH_VERSION, fetch_columns[0],
             fetch_columns[1], fetch_columns[2]);
    int rc = cli_atomic_write(&a, line, strlen(line), err);
    for (size_t i = 0; rc == 0 && i < fs->count; i++) {
        char date[OHP_DATE_BUFSIZE];
        if (ohp_date_format(fs->rows[i].when, 0, date) != OHP_OK)
            snprintf(date, sizeof date, "1970/01/01 00:00:00");
        rc = cli_atomic_field(&a, fs->rows[i].id, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&a, fs->rows[i].name, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&a, date, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "\n", 1, err);
    }
    if (rc != 0) {
        cli_atomic_abort(&a);
        return -1;
    }
    return cli_atomic_commit(&a, err);
}

#endif /* ONHANDPUB_HAVE_CURL */
