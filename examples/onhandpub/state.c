/*
 * The state file (the library's file state store, opened for a run) and
 * the grants file of the onhandpub command.
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

int cli_state_open(ohp_filestate **st, const char *path, char *err)
{
    char msg[OHP_FILESINK_MSGSIZE];
    int rc = ohp_filestate_open(st, path, OHP_FILESTATE_NOWAIT, NULL, msg);
    if (rc == OHP_EBUSY) {
        fprintf(stderr, "onhandpub: waiting for another run holding '%s.lock'\n", path);
        rc = ohp_filestate_open(st, path, 0, NULL, msg);
    }
    if (rc != OHP_OK) {
        cli_err(err, "%s", msg);
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
