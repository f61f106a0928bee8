/*
 * The balances input (--input): a file or standard input, read twice in an
 * incremental run (a pipe is spooled to an unnamed temporary file), and
 * where a record came from for messages.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "psv_field.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- input ---- */

void cli_input_init(cli_input *in, const char *path, int may_rewind)
{
    memset(in, 0, sizeof *in);
    in->path = path;
    in->fd = -1;
    in->spool = -1;
    in->start = -1;
    in->may_rewind = may_rewind;
}

/* An unnamed temporary file for the copy of a pipe. */
static int open_spool(cli_input *in)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
#ifdef O_TMPFILE
    in->spool = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (in->spool >= 0)
        return 0;
#endif
    char path[4096];
    snprintf(path, sizeof path, "%s/onhandpub-input.XXXXXX", dir);
    in->spool = mkstemp(path);
    if (in->spool >= 0)
        (void)fcntl(in->spool, F_SETFD, FD_CLOEXEC);
    if (in->spool < 0) {
        cli_err(in->err, "cannot create a temporary copy of input '%s' in %s: %s", in->path, dir,
                strerror(errno));
        return -1;
    }
    (void)unlink(path); /* nameless from here: nothing to leave behind */
    return 0;
}

static int spool_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
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

int cli_input_read(void *ud, void *buf, size_t cap, size_t *got)
{
    cli_input *in = ud;
    *got = 0;
    if (in->failed)
        return -1;
    if (in->fd < 0) {
        /* Opened on the first read: a refused run never touches the input. */
        if (strcmp(in->path, "-") == 0) {
            in->fd = STDIN_FILENO;
        } else {
            in->fd = open(in->path, O_RDONLY | O_CLOEXEC);
            if (in->fd < 0) {
                cli_err(in->err, "cannot open input '%s': %s", in->path, strerror(errno));
                in->failed = 1;
                return -1;
            }
        }
        off_t at = lseek(in->fd, 0, SEEK_CUR);
        in->start = at < 0 ? -1 : (long long)at;
        if (in->start < 0 && in->may_rewind && open_spool(in) != 0) {
            in->failed = 1;
            return -1;
        }
    }
    int fd = in->replay ? in->spool : in->fd;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            if (n > 0 && !in->replay && in->spool >= 0 &&
                spool_write(in->spool, buf, (size_t)n) != 0) {
                cli_err(in->err, "cannot copy input '%s' to a temporary file: %s", in->path,
                        strerror(errno));
                in->failed = 1;
                return -1;
            }
            return 0;
        }
        if (errno != EINTR) {
            cli_err(in->err, "cannot read input '%s': %s", in->path, strerror(errno));
            in->failed = 1;
            return -1;
        }
    }
}

int cli_input_rewind(void *ud)
{
    cli_input *in = ud;
    if (in->failed)
        return -1;
    if (in->fd < 0)
        return 0; /* nothing read yet */
    if (in->start >= 0) {
        if (lseek(in->fd, (off_t)in->start, SEEK_SET) < 0) {
            cli_err(in->err, "cannot rewind input '%s': %s", in->path, strerror(errno));
            in->failed = 1;
            return -1;
        }
        return 0;
    }
    if (in->spool < 0 || lseek(in->spool, 0, SEEK_SET) < 0) {
        cli_err(in->err, "cannot read input '%s' a second time: it is a pipe", in->path);
        in->failed = 1;
        return -1;
    }
    in->replay = 1;
    return 0;
}

void cli_input_close(cli_input *in)
{
    if (in->fd > STDIN_FILENO)
        (void)close(in->fd);
    in->fd = -1;
    if (in->spool >= 0)
        (void)close(in->spool);
    in->spool = -1;
}

void cli_input_where(const ohp_balance_reader *br, const char *input, uint64_t ordinal, char *buf,
                     size_t size)
{
    char name[CLI_ERRSIZE];
    if (input == NULL || strcmp(input, "-") == 0)
        snprintf(name, sizeof name, "standard input");
    else
        snprintf(name, sizeof name, "input '%.300s'", input);
    uint64_t line = 0;
    size_t column = 0;
    const char *column_name = NULL;
    if (br == NULL ||
        ohp_balance_reader_locate(br, ordinal, &line, &column, &column_name) != OHP_OK)
        snprintf(buf, size, "%s", name);
    else if (column_name != NULL)
        snprintf(buf, size, "%s, line %llu, column %zu (%.60s)", name, (unsigned long long)line,
                 column, column_name);
    else
        snprintf(buf, size, "%s, line %llu", name, (unsigned long long)line);
}
