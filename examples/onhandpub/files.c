/*
 * Files of the onhandpub command: messages, paths, and atomic files (a
 * temporary file put in place under its name only when complete, never a
 * half-written one); locks and the checks of the files it reads.  The
 * ZIP file sink, the rejects file and the input are in sink.c, rejects.c
 * and input.c.
 */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH, renameat2, flock */
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

#define CLI_BUFSIZE 65536
#define CLI_TMP_TRIES 32

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

/* ---- output files ---- */

static uint64_t random_bits(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do {
            n = read(fd, &v, sizeof v);
        } while (n < 0 && errno == EINTR);
        (void)close(fd);
        if (n == (ssize_t)sizeof v)
            return v;
    }
    /* No /dev/urandom: the clock still makes collisions unlikely; O_EXCL makes them harmless. */
    struct timespec ts = {0, 0};
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ts.tv_nsec = 0;
    v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    v ^= v >> 33;
    v *= UINT64_C(0xff51afd7ed558ccd);
    v ^= v >> 33;
    return v;
}

/* Is the named temporary (in dirfd) still the file a created?  1 yes, 0 no, -1 error (errno). */
static int still_ours(const cli_atomic *a)
{
    struct stat st;
    if (fstatat(a->dirfd, a->tmp, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    return S_ISREG(st.st_mode) && st.st_dev == a->dev && st.st_ino == a->ino;
}

/* Is name in dirfd the file a created?  1 yes, 0 no. */
static int name_is_ours(const cli_atomic *a, const char *name)
{
    struct stat st;
    return fstatat(a->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
           st.st_dev == a->dev && st.st_ino == a->ino;
}

static void atomic_reset(cli_atomic *a)
{
    free(a->name);
    free(a->tmp);
    free(a->buf);
    a->name = a->tmp = NULL;
    a->buf = NULL;
    a->len = 0;
    a->fd = -1;
    a->direct = 0;
    if (a->own_dir) {
        if (a->dirfd >= 0)
            (void)close(a->dirfd);
        free(a->owned_dir);
        a->owned_dir = NULL;
        a->dir = NULL;
        a->dirfd = -1;
        a->own_dir = 0;
    }
}

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "a special file";
}

/* The temporary name ".<name>.tmp.<pid>.<16 hex digits>" (tl bytes at tmp). */
static void temp_name(char *tmp, size_t tl, const char *name)
{
    snprintf(tmp, tl, ".%s.tmp.%ld.%016llx", name, (long)getpid(),
             (unsigned long long)random_bits());
}

/*
 * An unnamed temporary file in dirfd, or -1 (errno) when the file system
 * (or the environment: ONHANDPUB_NO_TMPFILE) says no.  It must also be
 * reachable as /proc/self/fd/N, which linkat needs without privileges.
 */
static int open_unnamed(int dirfd)
{
#ifdef O_TMPFILE
    const char *off = getenv("ONHANDPUB_NO_TMPFILE");
    if (off != NULL && off[0] != '\0') {
        errno = EOPNOTSUPP;
        return -1;
    }
    int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    char proc[64];
    struct stat a, b;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (fstat(fd, &a) != 0 || stat(proc, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        (void)close(fd);
        errno = EOPNOTSUPP;
        return -1;
    }
    return fd;
#else
    (void)dirfd;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* Errors of O_TMPFILE that mean "not supported here": use a named temporary. */
static int unnamed_unsupported(int e)
{
    return e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOENT || e == ENOTSUP;
}

int cli_atomic_open(cli_atomic *a, int dirfd, const char *dir, const char *name, int no_replace,
                    char *err)
{
    a->dirfd = dirfd;
    a->dir = dir;
    a->fd = -1;
    a->len = 0;
    a->direct = 0;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (no_replace) {
            cli_err(err, "'%s' already exists in '%s'; it is never replaced", name, dir);
            return -1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            cli_err(err, "'%s' in '%s' is %s, not a regular file; it is never replaced", name, dir,
                    kind_of(st.st_mode));
            return -1;
        }
    } else if (errno != ENOENT) {
        cli_err(err, "cannot check '%s' in '%s': %s", name, dir, strerror(errno));
        return -1;
    }
    size_t tl = strlen(name) + 64;
    a->name = dup_n(name, strlen(name));
    a->buf = malloc(CLI_BUFSIZE);
    if (a->name == NULL || a->buf == NULL) {
        atomic_reset(a);
        cli_err(err, "out of memory");
        return -1;
    }
    a->fd = open_unnamed(dirfd);
    if (a->fd < 0 && !unnamed_unsupported(errno)) {
        cli_err(err, "cannot create a temporary file in '%s': %s", dir, strerror(errno));
        atomic_reset(a);
        return -1;
    }
    if (a->fd < 0) {
        a->tmp = malloc(tl);
        if (a->tmp == NULL) {
            atomic_reset(a);
            cli_err(err, "out of memory");
            return -1;
        }
        for (int i = 0; i < CLI_TMP_TRIES; i++) {
            temp_name(a->tmp, tl, name);
            a->fd = openat(dirfd, a->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (a->fd >= 0 || errno != EEXIST)
                break;
        }
        if (a->fd < 0) {
            cli_err(err, "cannot create a temporary file in '%s': %s", dir, strerror(errno));
            atomic_reset(a);
            return -1;
        }
    }
    /* Held until the file is closed: a later run removes the name only once nobody holds it. */
    (void)flock(a->fd, LOCK_EX | LOCK_NB);
    if (fstat(a->fd, &st) != 0) {
        cli_err(err, "cannot stat a temporary file in '%s': %s", dir, strerror(errno));
        (void)close(a->fd);
        if (a->tmp)
            (void)unlinkat(dirfd, a->tmp, 0);
        atomic_reset(a);
        return -1;
    }
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    return 0;
}

/* "/dev/stdout" and the like: the descriptor they name, or -1. */
static int descriptor_name(const char *path)
{
    if (strcmp(path, "/dev/stdout") == 0)
        return STDOUT_FILENO;
    if (strcmp(path, "/dev/stderr") == 0)
        return STDERR_FILENO;
    const char *digits = NULL;
    if (strncmp(path, "/dev/fd/", 8) == 0)
        digits = path + 8;
    else if (strncmp(path, "/proc/self/fd/", 14) == 0)
        digits = path + 14;
    if (digits == NULL || digits[0] < '0' || digits[0] > '9' || strlen(digits) > 9)
        return -1;
    long fd = 0;
    for (const char *p = digits; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        fd = fd * 10 + (*p - '0');
    }
    return fd <= INT_MAX ? (int)fd : -1;
}

static int direct_setup(cli_atomic *a, int fd, const char *path, char *err)
{
    a->fd = fd;
    a->direct = 1;
    a->name = dup_n(path, strlen(path));
    a->buf = malloc(CLI_BUFSIZE);
    if (a->name == NULL || a->buf == NULL) {
        (void)close(fd);
        atomic_reset(a);
        cli_err(err, "out of memory");
        return -1;
    }
    return 0;
}

int cli_output_open(cli_atomic *a, const char *path, const char *option, char *err)
{
    *a = (cli_atomic)CLI_ATOMIC_INIT;
    if (path == NULL || strcmp(path, "-") == 0)
        path = "/dev/stdout";
    int known = descriptor_name(path);
    if (known >= 0) {
        /* Written where the descriptor points, as the caller set it up (append mode included). */
        int fd = fcntl(known, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            cli_err(err, "option %s: cannot write '%s': %s", option, path, strerror(errno));
            return -1;
        }
        return direct_setup(a, fd, path, err);
    }
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            cli_err(err, "option %s: '%s' is a directory", option, path);
            return -1;
        }
        /* A device, FIFO or socket: written straight into, never replaced. */
        int fd = open(path, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
        struct stat now;
        if (fd < 0) {
            cli_err(err, "option %s: cannot open %s '%s': %s", option, kind_of(st.st_mode), path,
                    strerror(errno == ENXIO && S_ISSOCK(st.st_mode) ? EOPNOTSUPP : errno));
            return -1;
        }
        if (fstat(fd, &now) != 0 || S_ISREG(now.st_mode) || S_ISDIR(now.st_mode) ||
            now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            (void)close(fd);
            cli_err(err, "option %s: '%s' was replaced while it was opened", option, path);
            return -1;
        }
        return direct_setup(a, fd, path, err);
    }
    /* A regular file (or nothing yet, or a symbolic link, which is replaced, never followed). */
    char *dir = NULL, *base = NULL;
    int dirfd = -1;
    if (cli_split_path(path, &dir, &base, err) != 0 || cli_open_dir(dir, &dirfd, err) != 0) {
        char msg[CLI_ERRSIZE];
        cli_err(msg, "option %s: %s", option, err);
        memcpy(err, msg, CLI_ERRSIZE);
        free(dir);
        free(base);
        return -1;
    }
    (void)cli_clean_temporaries(dirfd, base);
    int rc = cli_atomic_open(a, dirfd, dir, base, 0, err);
    free(base);
    if (rc != 0) {
        (void)close(dirfd);
        free(dir);
        return -1;
    }
    a->own_dir = 1;
    a->owned_dir = dir;
    return 0;
}

int cli_output_check(const char *path, const char *option, char *err)
{
    if (path == NULL || strcmp(path, "-") == 0 || descriptor_name(path) >= 0)
        return 0;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_err(err, "option %s: '%s' is a directory", option, path);
        return -1;
    }
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return 0; /* a device or FIFO: written straight into */
    char *dir = NULL, *base = NULL, msg[CLI_ERRSIZE];
    int fd = -1;
    int bad = cli_split_path(path, &dir, &base, msg) != 0 || cli_open_dir(dir, &fd, msg) != 0;
    if (fd >= 0)
        (void)close(fd);
    free(dir);
    free(base);
    if (bad)
        cli_err(err, "option %s: %s", option, msg);
    return bad ? -1 : 0;
}

static int write_all(cli_atomic *a, const unsigned char *p, size_t n, char *err)
{
    while (n > 0) {
        ssize_t w = write(a->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (a->direct)
                cli_err(err, "cannot write '%s': %s", a->name, strerror(errno));
            else
                cli_err(err, "cannot write '%s' in '%s': %s", a->name, a->dir, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int atomic_flush(cli_atomic *a, char *err)
{
    if (a->len == 0)
        return 0;
    int rc = write_all(a, a->buf, a->len, err);
    a->len = 0;
    return rc;
}

int cli_atomic_flush(cli_atomic *a, char *err)
{
    if (a->fd < 0) {
        cli_err(err, "internal error: flush of a closed file");
        return -1;
    }
    return atomic_flush(a, err);
}

int cli_atomic_read_path(const cli_atomic *a, char *buf, size_t size, char *err)
{
    int n;
    if (a->fd < 0 || a->direct) {
        cli_err(err, "internal error: no temporary file to read");
        return -1;
    }
    if (a->tmp != NULL) {
        const char *d = a->dir;
        size_t dl = strlen(d);
        n = snprintf(buf, size, "%s%s%s", d, dl && d[dl - 1] == '/' ? "" : "/", a->tmp);
    } else {
        n = snprintf(buf, size, "/proc/self/fd/%d", a->fd);
    }
    if (n < 0 || (size_t)n >= size) {
        cli_err(err, "path too long in '%s'", a->dir);
        return -1;
    }
    return 0;
}

int cli_atomic_write(cli_atomic *a, const void *buf, size_t len, char *err)
{
    if (a->fd < 0) {
        cli_err(err, "internal error: write to a closed file");
        return -1;
    }
    if (a->len + len > CLI_BUFSIZE && atomic_flush(a, err) != 0)
        return -1;
    if (len >= CLI_BUFSIZE)
        return write_all(a, buf, len, err);
    memcpy(a->buf + a->len, buf, len);
    a->len += len;
    return 0;
}

int cli_atomic_field_n(cli_atomic *a, const char *s, size_t len, char *err)
{
    if (len == 0)
        return 0;
    bool quote = ohp_psv_needs_quote(s, len);
    if (!quote)
        return cli_atomic_write(a, s, len, err);
    if (a->fd < 0) {
        cli_err(err, "internal error: write to a closed file");
        return -1;
    }
    size_t room = OHP_PSV_FIELD_ROOM(len, quote);
    if (a->len + room > CLI_BUFSIZE && atomic_flush(a, err) != 0)
        return -1;
    if (room <= CLI_BUFSIZE) {
        a->len =
            (size_t)((unsigned char *)ohp_psv_put_field((char *)a->buf + a->len, s, len, quote) -
                     a->buf);
        return 0;
    }
    char *tmp = malloc(room);
    if (tmp == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    size_t n = (size_t)(ohp_psv_put_field(tmp, s, len, quote) - tmp);
    int rc = write_all(a, (const unsigned char *)tmp, n, err);
    free(tmp);
    return rc;
}

int cli_atomic_field(cli_atomic *a, const char *s, char *err)
{
    return cli_atomic_field_n(a, s, s ? strlen(s) : 0, err);
}

void cli_atomic_abort(cli_atomic *a)
{
    if (a->fd >= 0) {
        if (a->tmp != NULL && still_ours(a) == 1)
            (void)unlinkat(a->dirfd, a->tmp, 0);
        (void)close(a->fd);
    }
    atomic_reset(a);
}

/* Give the unnamed temporary the name `name` in dirfd; fails with EEXIST if it exists. */
static int link_unnamed(cli_atomic *a, const char *name)
{
#ifdef AT_EMPTY_PATH
    if (linkat(a->fd, "", a->dirfd, name, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != ENOENT && errno != EPERM)
        return -1;
#endif
    /* Without CAP_DAC_READ_SEARCH: through /proc (checked at open). */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", a->fd);
    return linkat(AT_FDCWD, proc, a->dirfd, name, AT_SYMLINK_FOLLOW);
}

/* Rename the named temporary to name, never replacing: renameat2, else link and unlink. */
static int rename_noreplace(cli_atomic *a)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(a->dirfd, a->tmp, a->dirfd, a->name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
#endif
    if (linkat(a->dirfd, a->tmp, a->dirfd, a->name, 0) != 0)
        return -1;
    (void)unlinkat(a->dirfd, a->tmp, 0);
    return 0;
}

/* A device or pipe: nothing to put in place; fsync does not apply to all of them. */
static int commit_direct(cli_atomic *a, char *err)
{
    int fd = a->fd;
    a->fd = -1;
    int bad =
        fsync(fd) != 0 && errno != EINVAL && errno != EROFS && errno != ENOTSUP && errno != EBADF;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad)
        cli_err(err, "cannot write '%s': %s", a->name, strerror(e));
    atomic_reset(a);
    return bad ? -1 : 0;
}

/* Before the file goes in place: on disk, still ours, and its name free to take (or to replace). */
static int check_before_placing(const cli_atomic *a, int no_replace, char *err)
{
    if (fsync(a->fd) != 0) {
        cli_err(err, "cannot flush '%s' in '%s' to disk: %s", a->name, a->dir, strerror(errno));
        return -1;
    }
    if (a->tmp != NULL) {
        int ours = still_ours(a);
        if (ours != 1) {
            if (ours < 0)
                cli_err(err, "cannot check '%s' in '%s': %s", a->tmp, a->dir, strerror(errno));
            else
                cli_err(err, "temporary file '%s' in '%s' was removed or replaced by another file",
                        a->tmp, a->dir);
            return -1;
        }
    }
    struct stat st;
    if (fstatat(a->dirfd, a->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (no_replace) {
            cli_err(err, "'%s' already exists in '%s'; it is never replaced", a->name, a->dir);
            return -1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            cli_err(err, "'%s' in '%s' is %s, not a regular file; it is never replaced", a->name,
                    a->dir, kind_of(st.st_mode));
            return -1;
        }
    }
    return 0;
}

/* The file under its name: linked or renamed without replacing, or renamed over the old one. */
static int place(cli_atomic *a, int no_replace, char *err)
{
    int placed = -1;
    if (no_replace) {
        placed = a->tmp == NULL ? link_unnamed(a, a->name) : rename_noreplace(a);
    } else {
        if (a->tmp == NULL) {
            /* linkat cannot replace: a name for the moment of the rename. */
            size_t tl = strlen(a->name) + 64;
            a->tmp = malloc(tl);
            if (a->tmp == NULL) {
                cli_err(err, "out of memory");
                return -1;
            }
            for (int i = 0; i < CLI_TMP_TRIES; i++) {
                temp_name(a->tmp, tl, a->name);
                placed = link_unnamed(a, a->tmp);
                if (placed == 0 || errno != EEXIST)
                    break;
            }
            if (placed != 0) {
                cli_err(err, "cannot link a temporary file in '%s': %s", a->dir, strerror(errno));
                free(a->tmp);
                a->tmp = NULL;
                return -1;
            }
        }
        placed = renameat(a->dirfd, a->tmp, a->dirfd, a->name);
    }
    if (placed != 0) {
        if (errno == EEXIST)
            cli_err(err, "'%s' already exists in '%s'; it is never replaced", a->name, a->dir);
        else
            cli_err(err, "cannot put '%s' in place in '%s': %s", a->name, a->dir, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_atomic_commit(cli_atomic *a, int no_replace, char *err)
{
    if (a->fd < 0) {
        cli_err(err, "internal error: commit of a closed file");
        return -1;
    }
    if (atomic_flush(a, err) != 0)
        goto fail;
    if (a->direct)
        return commit_direct(a, err);
    if (check_before_placing(a, no_replace, err) != 0 || place(a, no_replace, err) != 0)
        goto fail;
    free(a->tmp);
    a->tmp = NULL;
    int fd = a->fd;
    a->fd = -1;
    int sync_rc = fsync(a->dirfd);
    int sync_errno = errno;
    int close_rc = close(fd);
    int close_errno = errno;
    if (sync_rc != 0 || close_rc != 0) {
        cli_err(err, "cannot %s '%s' in '%s': %s",
                sync_rc != 0 ? "flush the directory of" : "close", a->name, a->dir,
                strerror(sync_rc != 0 ? sync_errno : close_errno));
        if (no_replace && name_is_ours(a, a->name))
            (void)unlinkat(a->dirfd, a->name, 0);
        atomic_reset(a);
        return -1;
    }
    atomic_reset(a);
    return 0;
fail:
    cli_atomic_abort(a);
    return -1;
}

/* ".<name>.tmp.<pid>.<16 hex>": the pid, or -1 when entry is not such a name. */
static long temp_owner(const char *entry, const char *name)
{
    if (entry[0] != '.')
        return -1;
    size_t el = strlen(entry);
    /* ".tmp." + at least one pid digit + "." + 16 hex digits */
    if (el < 1 + 1 + 5 + 1 + 1 + 16)
        return -1;
    const char *hex = entry + el - 16;
    for (int i = 0; i < 16; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return -1;
    if (hex[-1] != '.')
        return -1;
    const char *p = hex - 1; /* the dot before the hex digits */
    const char *q = p;
    while (q > entry && q[-1] >= '0' && q[-1] <= '9')
        q--;
    if (q == p || p - q > 9 || q - entry < 6 || strncmp(q - 5, ".tmp.", 5) != 0)
        return -1;
    if (name != NULL) {
        size_t nl = strlen(name);
        if ((size_t)(q - 5 - (entry + 1)) != nl || strncmp(entry + 1, name, nl) != 0)
            return -1;
    } else if (q - 5 == entry + 1) {
        return -1; /* an empty name */
    }
    long pid = 0;
    for (const char *d = q; d < p; d++)
        pid = pid * 10 + (*d - '0');
    return pid;
}

int cli_clean_temporaries(int dirfd, const char *name)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        (void)close(fd);
        return 0;
    }
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = temp_owner(e->d_name, name);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its process is still there (or not ours to ask) */
        int tfd = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (tfd < 0)
            continue;
        struct stat st, again;
        if (fstat(tfd, &st) == 0 && S_ISREG(st.st_mode) && flock(tfd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(dirfd, e->d_name, &again, AT_SYMLINK_NOFOLLOW) == 0 &&
            again.st_dev == st.st_dev && again.st_ino == st.st_ino &&
            unlinkat(dirfd, e->d_name, 0) == 0)
            removed++;
        (void)close(tfd);
    }
    (void)closedir(d);
    if (removed)
        (void)fsync(dirfd);
    return removed;
}

/* ---- state and lock files ---- */

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
        cli_err(err, "%s '%s' is not a regular file (it is %s)", what, path, kind_of(st.st_mode));
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
