/*
 * Files of the onhandpub command: messages, paths, the files it writes
 * (through the library's file sink: put in place under their names only
 * when complete, never half-written), locks and the checks of the files it
 * reads.  The rejects file and the input are in rejects.c and input.c.
 */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH, renameat2, flock */
#include "cli.h"
#include "filekind.h"
#include "psv_field.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_err(char *err, const char *fmt, ...)
{
    char raw[CLI_ERRSIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    ohp_escape_text(err, CLI_ERRSIZE, raw, strlen(raw)); /* values quoted in it stay visible text */
}

/* ---- paths ---- */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int cli_split_path(const char *path, char **dir, char **base, char *err)
{
    *dir = *base = NULL;
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) {
        cli_err(err, "'%s' does not name a file", path);
        return -1;
    }
    if (slash == NULL)
        *dir = dup_n(".", 1);
    else if (slash == path)
        *dir = dup_n("/", 1);
    else
        *dir = dup_n(path, (size_t)(slash - path));
    *base = dup_n(b, strlen(b));
    if (*dir == NULL || *base == NULL) {
        free(*dir);
        free(*base);
        *dir = *base = NULL;
        cli_err(err, "out of memory");
        return -1;
    }
    return 0;
}

int cli_open_dir(const char *dir, int *fd, char *err)
{
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        cli_err(err, "cannot open directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

char *cli_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + (size_t)slash, name, nl + 1);
    return p;
}

/* ---- output files: the library's file sink (onhandpub.h, "File sink") ---- */

static int sink_failed(cli_atomic *a, char *err)
{
    cli_err(err, "%s", ohp_filesink_errmsg(a->fs));
    return -1;
}

static int atomic_begin(cli_atomic *a, const char *path, unsigned flags, const char *name,
                        const char *option, char *err)
{
    char msg[OHP_FILESINK_MSGSIZE];
    *a = (cli_atomic)CLI_ATOMIC_INIT;
    if (ohp_filesink_new(&a->fs, path, flags, NULL, msg) != OHP_OK) {
        if (option)
            cli_err(err, "option %s: %s", option, msg);
        else
            cli_err(err, "%s", msg);
        return -1;
    }
    if (ohp_filesink_open(a->fs, name) != OHP_OK) {
        (void)sink_failed(a, err);
        ohp_filesink_free(a->fs);
        a->fs = NULL;
        return -1;
    }
    return 0;
}

int cli_atomic_open(cli_atomic *a, const char *dir, const char *name, int no_replace, char *err)
{
    if (no_replace)
        return atomic_begin(a, dir, 0, name, NULL, err);
    char *path = cli_join(dir, name);
    if (path == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    int rc = atomic_begin(a, path, OHP_FILESINK_FILE, NULL, NULL, err);
    free(path);
    return rc;
}

int cli_output_open(cli_atomic *a, const char *path, const char *option, char *err)
{
    if (path == NULL || strcmp(path, "-") == 0)
        path = "/dev/stdout";
    return atomic_begin(a, path, OHP_FILESINK_FILE, NULL, option, err);
}

int cli_output_check(const char *path, const char *option, char *err)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return 0;
    char msg[OHP_FILESINK_MSGSIZE];
    ohp_filesink *fs = NULL;
    if (ohp_filesink_new(&fs, path, OHP_FILESINK_FILE, NULL, msg) != OHP_OK) {
        cli_err(err, "option %s: %s", option, msg);
        return -1;
    }
    ohp_filesink_free(fs);
    return 0;
}

int cli_atomic_write(cli_atomic *a, const void *buf, size_t len, char *err)
{
    if (ohp_filesink_write(a->fs, buf, len) != OHP_OK)
        return sink_failed(a, err);
    return 0;
}

int cli_atomic_reader(cli_atomic *a, int *fd, char *err)
{
    if (ohp_filesink_pending_fd(a->fs, fd) != OHP_OK)
        return sink_failed(a, err);
    return 0;
}

int cli_atomic_field(cli_atomic *a, const char *s, char *err)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0)
        return 0;
    bool quote = ohp_psv_needs_quote(s, len);
    if (!quote)
        return cli_atomic_write(a, s, len, err);
    char small[512];
    size_t room = OHP_PSV_FIELD_ROOM(len, quote);
    char *out = room <= sizeof small ? small : malloc(room);
    if (out == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    size_t n = (size_t)(ohp_psv_put_field(out, s, len, quote) - out);
    int rc = cli_atomic_write(a, out, n, err);
    if (out != small)
        free(out);
    return rc;
}

void cli_atomic_abort(cli_atomic *a)
{
    ohp_filesink_free(a->fs); /* an open file is discarded */
    a->fs = NULL;
}

int cli_atomic_commit(cli_atomic *a, char *err)
{
    int rc = ohp_filesink_close(a->fs, 1) == OHP_OK ? 0 : sink_failed(a, err);
    cli_atomic_abort(a);
    return rc;
}

/* ---- lock files and the files the command reads ---- */

int cli_check_regular(int dirfd, const char *name, const char *what, const char *path, char *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        cli_err(err, "cannot check %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_err(err, "%s '%s' is not a regular file (it is %s)", what, path,
                ohp_file_kind(st.st_mode));
        return -1;
    }
    return 0;
}

/* Open name (flags: O_RDONLY, or O_RDWR | O_CREAT) as a regular file only. */
static int open_regular(int dirfd, const char *name, int flags, const char *what, const char *path,
                        int *fd, char *err)
{
    *fd = -1;
    /* Never open anything else: opening a FIFO or a device can block or act. */
    if (cli_check_regular(dirfd, name, what, path, err) != 0)
        return -1;
    *fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0666);
    if (*fd < 0) {
        if (errno == ENOENT && !(flags & O_CREAT))
            return 0;
        if (errno == ELOOP || errno == ENXIO || errno == EISDIR)
            cli_err(err, "%s '%s' is not a regular file", what, path);
        else
            cli_err(err, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_err(err, "%s '%s' is not a regular file", what, path);
        (void)close(*fd);
        *fd = -1;
        return -1;
    }
    /* Back to blocking reads and writes (O_NONBLOCK only kept open() from waiting). */
    int fl = fcntl(*fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    return 0;
}

int cli_lock_open(int dirfd, const char *name, const char *path, int *fd, char *err)
{
    if (open_regular(dirfd, name, O_RDWR | O_CREAT, "lock file", path, fd, err) != 0)
        return -1;
    int rc = flock(*fd, LOCK_EX | LOCK_NB);
    if (rc != 0 && errno == EWOULDBLOCK) {
        fprintf(stderr, "onhandpub: waiting for another run holding '%s'\n", path);
        do {
            rc = flock(*fd, LOCK_EX);
        } while (rc != 0 && errno == EINTR);
    }
    if (rc != 0) {
        cli_err(err, "cannot lock '%s': %s", path, strerror(errno));
        (void)close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

int cli_state_file_open(int dirfd, const char *name, const char *what, const char *path, int *fd,
                        char *err)
{
    return open_regular(dirfd, name, O_RDONLY, what, path, fd, err);
}
