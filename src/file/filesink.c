/* The ready-made file sink (onhandpub.h, "File sink"; docs/files.md). */
#define _GNU_SOURCE /* O_DIRECTORY, F_DUPFD_CLOEXEC */
#include "atomic.h"
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest name a file may take in a folder (leaving room for the temporary's). */
#define NAME_LIMIT 200

enum target { T_FOLDER, T_FILE, T_DIRECT, T_DESCRIPTOR };

struct ohp_filesink {
    ohp_alloc alloc;
    enum target kind;
    char *target;   /* the path given */
    char *dir;      /* T_FOLDER, T_FILE: the folder */
    char *base;     /* T_FILE: the file's name */
    int dirfd;      /* T_FOLDER, T_FILE */
    int descriptor; /* T_DESCRIPTOR: the descriptor named */
    dev_t dev;      /* T_DIRECT: the device or FIFO found at new() */
    ino_t ino;
    ohp_afile file;
    bool open;
    char *path; /* committed */
    ohp_filesink_placed_fn placed;
    void *placed_ud;
    ohp_job *job;
    int error; /* of the last failure */
    char errmsg[OHP_ERRMSG_SIZE];
};

/* Remember the code of a failure (ohp_filesink_error()). */
static int done(ohp_filesink *fs, int rc)
{
    if (rc != OHP_OK)
        fs->error = rc;
    return rc;
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
    return (int)fd;
}

static int open_folder(ohp_filesink *fs, const char *dir, char *msg)
{
    fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dirfd < 0) {
        ohp_errmsg_set(msg, "cannot open directory '%s': %s", dir, strerror(errno));
        return OHP_EFILE;
    }
    return OHP_OK;
}

/* Classify the target and open its folder. */
static int find_target(ohp_filesink *fs, const char *path, unsigned int flags, char *msg)
{
    if (!(flags & OHP_FILESINK_FILE)) {
        fs->kind = T_FOLDER;
        fs->dir = ohp_strdup(&fs->alloc, path);
        if (fs->dir == NULL)
            return OHP_ENOMEM;
        return open_folder(fs, path, msg);
    }
    int known = descriptor_name(path);
    if (known >= 0) {
        fs->kind = T_DESCRIPTOR;
        fs->descriptor = known;
        return OHP_OK;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            ohp_errmsg_set(msg, "'%s' is a directory", path);
            return OHP_EINVAL;
        }
        fs->kind = T_DIRECT; /* a device, FIFO or socket: written straight into */
        fs->dev = st.st_dev;
        fs->ino = st.st_ino;
        return OHP_OK;
    }
    fs->kind = T_FILE;
    int rc = ohp_path_split(&fs->alloc, path, &fs->dir, &fs->base, msg);
    return rc != OHP_OK ? rc : open_folder(fs, fs->dir, msg);
}

OHP_EXPORT int ohp_filesink_new(ohp_filesink **out, const char *path, unsigned int flags,
                                const ohp_allocator *alloc, char *msg)
{
    char local[OHP_ERRMSG_SIZE];
    char *m = msg ? msg : local;
    ohp_alloc a;
    void *obj;
    if (out != NULL)
        *out = NULL;
    int rc = ohp_file_handle_alloc(out != NULL, path, flags, OHP_FILESINK_FILE, alloc, &a,
                                   sizeof(ohp_filesink), &obj, m);
    if (rc != OHP_OK)
        return rc;
    ohp_filesink *fs = obj;
    fs->alloc = a;
    fs->dirfd = fs->descriptor = -1;
    fs->file = (ohp_afile)OHP_AFILE_INIT;
    fs->target = ohp_strdup(&a, path);
    rc = fs->target == NULL ? OHP_ENOMEM : find_target(fs, path, flags, m);
    if (rc != OHP_OK) {
        if (rc == OHP_ENOMEM)
            ohp_errmsg_set(m, "out of memory");
        ohp_filesink_free(fs);
        return rc;
    }
    *out = fs;
    return OHP_OK;
}

OHP_EXPORT void ohp_filesink_free(ohp_filesink *fs)
{
    if (fs == NULL)
        return;
    if (fs->open)
        ohp_afile_abort(&fs->file);
    if (fs->dirfd >= 0)
        (void)close(fs->dirfd);
    ohp_alloc a = fs->alloc;
    ohp_free(&a, fs->target);
    ohp_free(&a, fs->dir);
    ohp_free(&a, fs->base);
    ohp_free(&a, fs->path);
    ohp_free(&a, fs);
}

OHP_EXPORT const char *ohp_filesink_errmsg(const ohp_filesink *fs)
{
    return fs ? fs->errmsg : "";
}

OHP_EXPORT const char *ohp_filesink_path(const ohp_filesink *fs)
{
    return fs ? fs->path : NULL;
}

OHP_EXPORT int ohp_filesink_set_placed_callback(ohp_filesink *fs, ohp_filesink_placed_fn placed,
                                                void *user_data)
{
    if (fs == NULL)
        return OHP_EINVAL;
    if (fs->open)
        return OHP_ESTATE;
    fs->placed = placed;
    fs->placed_ud = placed ? user_data : NULL;
    return OHP_OK;
}

static int fail(ohp_filesink *fs, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);
static int fail(ohp_filesink *fs, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(fs->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

static bool plain_name(const char *name)
{
    return name != NULL && name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
           strlen(name) <= NAME_LIMIT;
}

/* Open the device or FIFO found at new(), still the same file, or the descriptor named. */
static int open_direct(ohp_filesink *fs)
{
    int fd;
    if (fs->kind == T_DESCRIPTOR) {
        fd = fcntl(fs->descriptor, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return fail(fs, OHP_EFILE, "cannot write '%s': %s", fs->target, strerror(errno));
    } else {
        fd = open(fs->target, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
        struct stat now;
        if (fd < 0) {
            int e = errno == ENXIO ? EOPNOTSUPP : errno; /* a socket */
            return fail(fs, OHP_EFILE, "cannot open '%s': %s", fs->target, strerror(e));
        }
        if (fstat(fd, &now) != 0 || S_ISREG(now.st_mode) || S_ISDIR(now.st_mode) ||
            now.st_dev != fs->dev || now.st_ino != fs->ino) {
            (void)close(fd);
            return fail(fs, OHP_EFILE, "'%s' was replaced since the sink was made", fs->target);
        }
    }
    return ohp_afile_open_direct(&fs->file, &fs->alloc, fd, fs->target, fs->errmsg);
}

static int sink_open(ohp_filesink *fs, const char *name)
{
    if (fs->open)
        return fail(fs, OHP_ESTATE, "a file is already open");
    fs->errmsg[0] = '\0';
    fs->error = OHP_OK;
    ohp_free(&fs->alloc, fs->path);
    fs->path = NULL;
    int rc;
    switch (fs->kind) {
    case T_FOLDER:
        /* The name may come from a job's parameters: it must stay a plain name in the folder. */
        if (!plain_name(name))
            return fail(fs, OHP_EINVAL, "refusing the file name '%.200s': not a plain file name",
                        name ? name : "");
        /* Temporaries that killed runs left where O_TMPFILE is not available. */
        (void)ohp_afile_clean(fs->dirfd, NULL);
        rc = ohp_afile_open(&fs->file, &fs->alloc, fs->dirfd, fs->dir, name, true, fs->errmsg);
        break;
    case T_FILE:
        (void)ohp_afile_clean(fs->dirfd, fs->base);
        rc = ohp_afile_open(&fs->file, &fs->alloc, fs->dirfd, fs->dir, fs->base, false, fs->errmsg);
        break;
    default:
        rc = open_direct(fs);
        break;
    }
    fs->open = rc == OHP_OK;
    return rc;
}

static int sink_write(ohp_filesink *fs, const void *buf, size_t len)
{
    if (buf == NULL && len > 0)
        return OHP_EINVAL;
    if (!fs->open)
        return fail(fs, OHP_ESTATE, "no file is open");
    return ohp_afile_write(&fs->file, buf, len, fs->errmsg);
}

static int sink_pending_fd(ohp_filesink *fs, int *fd)
{
    if (fd == NULL)
        return OHP_EINVAL;
    *fd = -1;
    if (!fs->open)
        return fail(fs, OHP_ESTATE, "no file is open");
    return ohp_afile_reader(&fs->file, fd, fs->errmsg);
}

/* After the commit: the placed callback, and the file removed again if it refuses. */
static int call_placed(ohp_filesink *fs, const char *path, dev_t dev, ino_t ino, bool direct)
{
    char text[OHP_ERRMSG_SIZE] = "";
    int fd = -1;
    const char *slash = strrchr(path, '/');
    const char *name = fs->kind == T_FILE ? fs->base : slash ? slash + 1 : path;
    if (!direct) {
        struct stat st;
        fd = openat(fs->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
            if (fd >= 0)
                (void)close(fd);
            return fail(fs, OHP_EFILE, "'%s' was replaced as soon as it was put in place", path);
        }
    }
    int refused = fs->placed(fs->placed_ud, path, fd, text, sizeof text);
    if (fd >= 0)
        (void)close(fd);
    if (!refused)
        return OHP_OK;
    text[sizeof text - 1] = '\0';
    const char *why = text[0] ? text : "refused";
    if (!direct) {
        struct stat st;
        if (fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev &&
            st.st_ino == ino && unlinkat(fs->dirfd, name, 0) == 0) {
            (void)fsync(fs->dirfd);
            ohp_errmsg_set(fs->errmsg, "%s; not published: '%s' was removed", why, path);
            return OHP_ESINK;
        }
    }
    ohp_errmsg_set(fs->errmsg, "%s; not published", why);
    return OHP_ESINK;
}

static int sink_close(ohp_filesink *fs, int commit)
{
    if (!fs->open)
        return fail(fs, OHP_ESTATE, "no file is open");
    fs->open = false;
    if (!commit) {
        ohp_afile_abort(&fs->file);
        return OHP_OK;
    }
    bool direct = fs->file.direct;
    char *path = fs->kind != T_FOLDER ? ohp_strdup(&fs->alloc, fs->target)
                                      : ohp_path_join(&fs->alloc, fs->dir, fs->file.name);
    if (path == NULL) {
        ohp_afile_abort(&fs->file);
        return fail(fs, OHP_ENOMEM, "out of memory");
    }
    int rc = ohp_afile_commit(&fs->file, fs->kind == T_FOLDER, fs->errmsg);
    if (rc == OHP_OK && fs->placed != NULL)
        rc = call_placed(fs, path, fs->file.dev, fs->file.ino, direct);
    if (rc != OHP_OK) {
        ohp_free(&fs->alloc, path);
        return rc;
    }
    fs->path = path;
    return OHP_OK;
}

OHP_EXPORT int ohp_filesink_open(ohp_filesink *fs, const char *name)
{
    return fs ? done(fs, sink_open(fs, name)) : OHP_EINVAL;
}

OHP_EXPORT int ohp_filesink_write(ohp_filesink *fs, const void *buf, size_t len)
{
    return fs ? done(fs, sink_write(fs, buf, len)) : OHP_EINVAL;
}

OHP_EXPORT int ohp_filesink_pending_fd(ohp_filesink *fs, int *fd)
{
    return fs ? done(fs, sink_pending_fd(fs, fd)) : OHP_EINVAL;
}

OHP_EXPORT int ohp_filesink_close(ohp_filesink *fs, int commit)
{
    return fs ? done(fs, sink_close(fs, commit)) : OHP_EINVAL;
}

OHP_EXPORT int ohp_filesink_error(const ohp_filesink *fs)
{
    return fs ? fs->error : OHP_EINVAL;
}

/* ---- as a job's sink ---- */

static int job_open(void *ud, const char *file_name)
{
    ohp_filesink *fs = ud;
    int rc = ohp_filesink_open(fs, file_name);
    if (rc != OHP_OK)
        (void)ohp_job_set_callback_error(fs->job, fs->errmsg);
    return rc != OHP_OK;
}

static int job_write(void *ud, const void *buf, size_t len)
{
    ohp_filesink *fs = ud;
    int rc = ohp_filesink_write(fs, buf, len);
    if (rc != OHP_OK)
        (void)ohp_job_set_callback_error(fs->job, fs->errmsg);
    return rc != OHP_OK;
}

static int job_close(void *ud, int commit)
{
    ohp_filesink *fs = ud;
    int rc = ohp_filesink_close(fs, commit);
    if (rc != OHP_OK)
        (void)ohp_job_set_callback_error(fs->job, fs->errmsg);
    return rc != OHP_OK;
}

OHP_EXPORT int ohp_job_set_filesink(ohp_job *job, ohp_filesink *fs)
{
    if (job == NULL || fs == NULL)
        return OHP_EINVAL;
    int rc = ohp_job_set_sink(job, job_open, job_write, job_close, fs);
    if (rc == OHP_OK)
        fs->job = job;
    return rc;
}
