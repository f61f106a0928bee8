/*
 * Input files read through the library's read/seek callbacks: a regular
 * file read with pread at the reader's position, or a pipe read front to
 * back (reconcile's and inspect's snapshots and external files).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_file_read(void *ud, void *buf, size_t cap, size_t *got)
{
    cli_file_in *f = ud;
    for (;;) {
        ssize_t n = f->seekable ? pread(f->fd, buf, cap, (off_t)f->pos) : read(f->fd, buf, cap);
        if (n >= 0) {
            f->pos += (uint64_t)n;
            *got = (size_t)n;
            cli_progress_bytes(f->progress, (uint64_t)n);
            return 0;
        }
        if (errno != EINTR) {
            cli_err(f->err, "cannot read '%s': %s", f->path, strerror(errno));
            return -1;
        }
    }
}

int cli_file_seek(void *ud, uint64_t off)
{
    ((cli_file_in *)ud)->pos = off;
    return 0;
}

int cli_file_open(cli_file_in *f, const char *path, char *err)
{
    f->path = path;
    f->pos = 0;
    f->err[0] = '\0';
    f->fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        cli_err(err, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        cli_err(err, "cannot stat '%s': %s", path, strerror(errno));
        close(f->fd);
        f->fd = -1;
        return -1;
    }
    f->seekable = S_ISREG(st.st_mode);
    f->size = f->seekable ? (uint64_t)st.st_size : 0;
    return 0;
}

/* Is the file a ZIP (local header signature)? */
int cli_file_is_zip(cli_file_in *f)
{
    unsigned char sig[4];
    if (!f->seekable)
        return 0;
    ssize_t n = pread(f->fd, sig, sizeof sig, 0);
    return n == 4 && sig[0] == 'P' && sig[1] == 'K' && sig[2] == 3 && sig[3] == 4;
}
