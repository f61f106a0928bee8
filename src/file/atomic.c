/* Files put in place whole: the temporary, its commit and the cleanup after killed runs. */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH, renameat2, flock */
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TRIES 32
/* ".<name>.tmp.<pid>.<16 hex>" is the name plus at most this many bytes. */
#define TMP_EXTRA 48

int ohp_file_handle_alloc(bool have_out, const char *path, unsigned int flags, unsigned int known,
                          const ohp_allocator *alloc, ohp_alloc *a, size_t size, void **obj,
                          char *msg)
{
    *obj = NULL;
    msg[0] = '\0';
    if (!have_out) {
        ohp_errmsg_set(msg, "no place for the handle");
        return OHP_EINVAL;
    }
    if (path == NULL || path[0] == '\0' || (flags & ~known) != 0) {
        ohp_errmsg_set(msg, path == NULL || path[0] == '\0' ? "no path" : "unknown flags");
        return OHP_EINVAL;
    }
    int rc = ohp_alloc_init(a, alloc);
    if (rc != OHP_OK) {
        ohp_errmsg_set(msg, "invalid allocator");
        return rc;
    }
    *obj = ohp_calloc(a, 1, size);
    if (*obj == NULL) {
        ohp_errmsg_set(msg, "out of memory");
        return OHP_ENOMEM;
    }
    return OHP_OK;
}

static char *dup_n(const ohp_alloc *al, const char *s, size_t n)
{
    char *p = ohp_malloc(al, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int ohp_path_split(const ohp_alloc *al, const char *path, char **dir, char **base, char *msg)
{
    *dir = *base = NULL;
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) {
        ohp_errmsg_set(msg, "'%s' does not name a file", path);
        return OHP_EINVAL;
    }
    if (slash == NULL)
        *dir = dup_n(al, ".", 1);
    else if (slash == path)
        *dir = dup_n(al, "/", 1);
    else
        *dir = dup_n(al, path, (size_t)(slash - path));
    *base = dup_n(al, b, strlen(b));
    if (*dir == NULL || *base == NULL) {
        ohp_free(al, *dir);
        ohp_free(al, *base);
        *dir = *base = NULL;
        ohp_errmsg_set(msg, "out of memory");
        return OHP_ENOMEM;
    }
    return OHP_OK;
}

char *ohp_path_join(const ohp_alloc *al, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    bool slash = dl > 0 && dir[dl - 1] != '/';
    size_t size = dl + slash + strlen(name) + 1;
    char *p = ohp_malloc(al, size);
    if (p != NULL)
        snprintf(p, size, "%s%s%s", dir, slash ? "/" : "", name);
    return p;
}

static uint64_t random_bits(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    /* No entropy yet: the clock still makes collisions unlikely; O_EXCL makes them harmless. */
    struct timespec ts = {0, 0};
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    v ^= v >> 33;
    v *= UINT64_C(0xff51afd7ed558ccd);
    v ^= v >> 33;
    return v;
}

static void temp_name(char *tmp, size_t size, const char *name)
{
    snprintf(tmp, size, ".%s.tmp.%ld.%016llx", name, (long)getpid(),
             (unsigned long long)random_bits());
}

/* Is `name` in the folder the file a wrote?  1 yes, 0 no, -1 error (errno). */
static int is_ours(const ohp_afile *a, const char *name)
{
    struct stat st;
    if (fstatat(a->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    return S_ISREG(st.st_mode) && st.st_dev == a->dev && st.st_ino == a->ino;
}

static void reset(ohp_afile *a)
{
    const ohp_alloc *al = a->alloc;
    if (al != NULL) {
        ohp_free(al, a->name);
        ohp_free(al, a->tmp);
        ohp_free(al, a->buf);
    }
    a->name = a->tmp = NULL;
    a->buf = NULL;
    a->len = 0;
    a->fd = -1;
    a->direct = false;
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
static bool unnamed_unsupported(int e)
{
    return e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOENT || e == ENOTSUP;
}

/* The name must be free (no_replace) or a regular file or link to replace. */
static int check_name(const ohp_afile *a, const char *name, bool no_replace, char *msg)
{
    struct stat st;
    if (fstatat(a->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (no_replace) {
            ohp_errmsg_set(msg, "'%s' already exists in '%s'; it is never replaced", name, a->dir);
            return OHP_EEXISTS;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            ohp_errmsg_set(msg, "'%s' in '%s' is %s, not a regular file; it is never replaced",
                           name, a->dir, ohp_file_kind(st.st_mode));
            return OHP_EINVAL;
        }
    } else if (errno != ENOENT) {
        ohp_errmsg_set(msg, "cannot check '%s' in '%s': %s", name, a->dir, strerror(errno));
        return OHP_EFILE;
    }
    return OHP_OK;
}

int ohp_afile_open(ohp_afile *a, const ohp_alloc *al, int dirfd, const char *dir, const char *name,
                   bool no_replace, char *msg)
{
    *a = (ohp_afile)OHP_AFILE_INIT;
    a->alloc = al;
    a->dirfd = dirfd;
    a->dir = dir;
    int rc = check_name(a, name, no_replace, msg);
    if (rc != OHP_OK)
        return rc;
    size_t tl = strlen(name) + TMP_EXTRA;
    a->name = dup_n(al, name, strlen(name));
    a->buf = ohp_malloc(al, OHP_AFILE_BUFSIZE);
    if (a->name == NULL || a->buf == NULL)
        goto nomem;
    a->fd = open_unnamed(dirfd);
    if (a->fd < 0 && !unnamed_unsupported(errno))
        goto cannot;
    if (a->fd < 0) {
        a->tmp = ohp_malloc(al, tl);
        if (a->tmp == NULL)
            goto nomem;
        for (int i = 0; i < TMP_TRIES; i++) {
            temp_name(a->tmp, tl, name);
            a->fd = openat(dirfd, a->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (a->fd >= 0 || errno != EEXIST)
                break;
        }
        if (a->fd < 0)
            goto cannot;
    }
    /* Held until the file is closed: a later run removes the name only once nobody holds it. */
    (void)flock(a->fd, LOCK_EX | LOCK_NB);
    struct stat st;
    if (fstat(a->fd, &st) != 0) {
        ohp_errmsg_set(msg, "cannot stat a temporary file in '%s': %s", dir, strerror(errno));
        (void)close(a->fd);
        if (a->tmp)
            (void)unlinkat(dirfd, a->tmp, 0);
        reset(a);
        return OHP_EFILE;
    }
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    return OHP_OK;
nomem:
    reset(a);
    ohp_errmsg_set(msg, "out of memory");
    return OHP_ENOMEM;
cannot:;
    int e = errno;
    struct stat ds;
    if (fstat(dirfd, &ds) == 0 && ds.st_nlink == 0)
        ohp_errmsg_set(msg, "cannot create a temporary file in '%s': the folder was removed", dir);
    else
        ohp_errmsg_set(msg, "cannot create a temporary file in '%s': %s", dir, strerror(e));
    reset(a);
    return OHP_EFILE;
}

int ohp_afile_open_direct(ohp_afile *a, const ohp_alloc *al, int fd, const char *label, char *msg)
{
    *a = (ohp_afile)OHP_AFILE_INIT;
    a->alloc = al;
    a->fd = fd;
    a->direct = true;
    a->name = dup_n(al, label, strlen(label));
    a->buf = ohp_malloc(al, OHP_AFILE_BUFSIZE);
    if (a->name == NULL || a->buf == NULL) {
        (void)close(fd);
        reset(a);
        ohp_errmsg_set(msg, "out of memory");
        return OHP_ENOMEM;
    }
    return OHP_OK;
}

static int write_all(ohp_afile *a, const unsigned char *p, size_t n, char *msg)
{
    while (n > 0) {
        ssize_t w = write(a->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (a->direct)
                ohp_errmsg_set(msg, "cannot write '%s': %s", a->name, strerror(errno));
            else
                ohp_errmsg_set(msg, "cannot write '%s' in '%s': %s", a->name, a->dir,
                               strerror(errno));
            return OHP_EFILE;
        }
        p += w;
        n -= (size_t)w;
    }
    return OHP_OK;
}

int ohp_afile_flush(ohp_afile *a, char *msg)
{
    if (a->fd < 0) {
        ohp_errmsg_set(msg, "no file is open");
        return OHP_ESTATE;
    }
    if (a->len == 0)
        return OHP_OK;
    int rc = write_all(a, a->buf, a->len, msg);
    a->len = 0;
    return rc;
}

int ohp_afile_write(ohp_afile *a, const void *buf, size_t len, char *msg)
{
    if (a->fd < 0) {
        ohp_errmsg_set(msg, "no file is open");
        return OHP_ESTATE;
    }
    if (a->len + len > OHP_AFILE_BUFSIZE) {
        int rc = ohp_afile_flush(a, msg);
        if (rc != OHP_OK)
            return rc;
    }
    if (len >= OHP_AFILE_BUFSIZE)
        return write_all(a, buf, len, msg);
    if (len > 0)
        memcpy(a->buf + a->len, buf, len);
    a->len += len;
    return OHP_OK;
}

int ohp_afile_reader(ohp_afile *a, int *fd, char *msg)
{
    *fd = -1;
    if (a->fd < 0 || a->direct) {
        ohp_errmsg_set(msg, "no temporary file to read");
        return OHP_ESTATE;
    }
    int rc = ohp_afile_flush(a, msg);
    if (rc != OHP_OK)
        return rc;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", a->fd);
    int r = a->tmp != NULL ? openat(a->dirfd, a->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                           : open(proc, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (r < 0 || fstat(r, &st) != 0 || st.st_dev != a->dev || st.st_ino != a->ino) {
        int e = r < 0 ? errno : ESTALE;
        if (r >= 0)
            (void)close(r);
        ohp_errmsg_set(msg, "cannot read back the temporary of '%s' in '%s': %s", a->name, a->dir,
                       strerror(e));
        return OHP_EFILE;
    }
    *fd = r;
    return OHP_OK;
}

void ohp_afile_abort(ohp_afile *a)
{
    if (a->fd >= 0) {
        if (a->tmp != NULL && is_ours(a, a->tmp) == 1)
            (void)unlinkat(a->dirfd, a->tmp, 0);
        (void)close(a->fd);
    }
    reset(a);
}

/* Give the unnamed temporary the name `name`; fails with EEXIST if it exists. */
static int link_unnamed(ohp_afile *a, const char *name)
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

/* Rename the named temporary to its name, never replacing: renameat2, else link and unlink. */
static int rename_noreplace(ohp_afile *a)
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
static int commit_direct(ohp_afile *a, char *msg)
{
    int fd = a->fd;
    a->fd = -1;
    bool bad =
        fsync(fd) != 0 && errno != EINVAL && errno != EROFS && errno != ENOTSUP && errno != EBADF;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = true;
        e = errno;
    }
    if (bad)
        ohp_errmsg_set(msg, "cannot write '%s': %s", a->name, strerror(e));
    reset(a);
    return bad ? OHP_EFILE : OHP_OK;
}

/* Before the file goes in place: on disk, still ours, and its name free to take (or replace). */
static int check_before_placing(const ohp_afile *a, bool no_replace, char *msg)
{
    if (fsync(a->fd) != 0) {
        ohp_errmsg_set(msg, "cannot flush '%s' in '%s' to disk: %s", a->name, a->dir,
                       strerror(errno));
        return OHP_EFILE;
    }
    if (a->tmp != NULL) {
        int ours = is_ours(a, a->tmp);
        if (ours != 1) {
            if (ours < 0)
                ohp_errmsg_set(msg, "cannot check '%s' in '%s': %s", a->tmp, a->dir,
                               strerror(errno));
            else
                ohp_errmsg_set(msg,
                               "temporary file '%s' in '%s' was removed or replaced by another "
                               "file",
                               a->tmp, a->dir);
            return OHP_EFILE;
        }
    }
    return check_name(a, a->name, no_replace, msg);
}

/* The file under its name: linked or renamed without replacing, or renamed over the old one. */
static int place(ohp_afile *a, bool no_replace, char *msg)
{
    int placed = -1;
    if (no_replace) {
        placed = a->tmp == NULL ? link_unnamed(a, a->name) : rename_noreplace(a);
    } else {
        if (a->tmp == NULL) {
            /* linkat cannot replace: a name for the moment of the rename. */
            size_t tl = strlen(a->name) + TMP_EXTRA;
            a->tmp = ohp_malloc(a->alloc, tl);
            if (a->tmp == NULL) {
                ohp_errmsg_set(msg, "out of memory");
                return OHP_ENOMEM;
            }
            for (int i = 0; i < TMP_TRIES; i++) {
                temp_name(a->tmp, tl, a->name);
                placed = link_unnamed(a, a->tmp);
                if (placed == 0 || errno != EEXIST)
                    break;
            }
            if (placed != 0) {
                ohp_errmsg_set(msg, "cannot link a temporary file in '%s': %s", a->dir,
                               strerror(errno));
                ohp_free(a->alloc, a->tmp);
                a->tmp = NULL;
                return OHP_EFILE;
            }
        }
        placed = renameat(a->dirfd, a->tmp, a->dirfd, a->name);
    }
    if (placed != 0) {
        if (errno == EEXIST) {
            ohp_errmsg_set(msg, "'%s' already exists in '%s'; it is never replaced", a->name,
                           a->dir);
            return OHP_EEXISTS;
        }
        ohp_errmsg_set(msg, "cannot put '%s' in place in '%s': %s", a->name, a->dir,
                       strerror(errno));
        return OHP_EFILE;
    }
    return OHP_OK;
}

int ohp_afile_commit(ohp_afile *a, bool no_replace, char *msg)
{
    int rc = ohp_afile_flush(a, msg);
    if (rc == OHP_ESTATE)
        return rc;
    if (rc == OHP_OK && a->direct)
        return commit_direct(a, msg);
    if (rc == OHP_OK)
        rc = check_before_placing(a, no_replace, msg);
    if (rc == OHP_OK)
        rc = place(a, no_replace, msg);
    if (rc != OHP_OK) {
        ohp_afile_abort(a);
        return rc;
    }
    ohp_free(a->alloc, a->tmp);
    a->tmp = NULL;
    int fd = a->fd;
    a->fd = -1;
    int sync_rc = fsync(a->dirfd);
    int sync_errno = errno;
    int close_rc = close(fd);
    int close_errno = errno;
    if (sync_rc != 0 || close_rc != 0) {
        ohp_errmsg_set(msg, "cannot %s '%s' in '%s': %s",
                       sync_rc != 0 ? "flush the directory of" : "close", a->name, a->dir,
                       strerror(sync_rc != 0 ? sync_errno : close_errno));
        if (no_replace && is_ours(a, a->name) == 1)
            (void)unlinkat(a->dirfd, a->name, 0);
        reset(a);
        return OHP_EFILE;
    }
    reset(a);
    return OHP_OK;
}

/* ".<name>.tmp.<pid>.<16 hex>": the pid, or -1 when entry is not such a name. */
static long temp_owner(const char *entry, const char *name)
{
    if (entry[0] != '.')
        return -1;
    size_t el = strlen(entry);
    /* "." + a name + ".tmp." + at least one pid digit + "." + 16 hex digits */
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

int ohp_afile_clean(int dirfd, const char *name)
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
    const struct dirent *e;
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
