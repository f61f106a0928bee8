/*
 * Files put in place whole (docs/files.md): a file is written as a
 * temporary in its folder (unnamed with O_TMPFILE where the file system
 * has it, else ".<name>.tmp.<pid>.<16 hex>" held under flock) and given its
 * name only when complete, so a killed process never leaves a half-written
 * file under a real name.  The ready-made file sink and the file state store
 * are built on it.  POSIX with Linux extensions; nothing here is exported.
 */
#ifndef OHP_FILE_ATOMIC_H
#define OHP_FILE_ATOMIC_H

#include "filekind.h"
#include "ohp_internal.h"

#include <sys/types.h>

typedef struct ohp_afile {
    const ohp_alloc *alloc;
    int dirfd;       /* borrowed: the folder */
    const char *dir; /* borrowed: the folder's name, for messages */
    char *name;      /* the final name in dir (direct: the path, for messages) */
    char *tmp;       /* the named temporary; NULL when unnamed or direct */
    int fd;          /* -1: closed */
    bool direct;     /* fd is the destination itself (device, FIFO, descriptor) */
    dev_t dev;       /* identity of the file written (not direct) */
    ino_t ino;
    unsigned char *buf; /* OHP_AFILE_BUFSIZE bytes waiting for write() */
    size_t len;
} ohp_afile;

#define OHP_AFILE_BUFSIZE 65536
#define OHP_AFILE_INIT                                                                             \
    {                                                                                              \
        NULL, -1, NULL, NULL, NULL, -1, false, 0, 0, NULL, 0                                       \
    }

/*
 * Create the temporary for name in dirfd, mode 0666 less the umask.
 * no_replace: an existing name is refused now (OHP_EEXISTS) and at commit;
 * otherwise only a name that is not a regular file or a symbolic link is
 * refused (OHP_EINVAL).  OHP_OK, or an error with msg set.
 */
int ohp_afile_open(ohp_afile *a, const ohp_alloc *alloc, int dirfd, const char *dir,
                   const char *name, bool no_replace, char *msg);
/* Write into fd itself (taken over), which label names in messages. */
int ohp_afile_open_direct(ohp_afile *a, const ohp_alloc *alloc, int fd, const char *label,
                          char *msg);
int ohp_afile_write(ohp_afile *a, const void *buf, size_t len, char *msg);
int ohp_afile_flush(ohp_afile *a, char *msg);
/*
 * fsync, then give the file its name (no_replace: never over an existing
 * name) and fsync the folder.  A direct file is flushed and closed.  On
 * failure the temporary is removed.  The object is closed either way;
 * a->dev/a->ino keep the identity of the file placed.
 */
int ohp_afile_commit(ohp_afile *a, bool no_replace, char *msg);
/* Discard: remove the temporary (only if it is still ours), close, free. */
void ohp_afile_abort(ohp_afile *a);
/* A new read-only descriptor on the temporary (flushed first), or -1. */
int ohp_afile_reader(ohp_afile *a, int *fd, char *msg);

/*
 * Remove the named temporaries of name (every name when NULL) left in dirfd
 * by processes that no longer exist and whose lock nobody holds.  Returns
 * how many were removed.
 */
int ohp_afile_clean(int dirfd, const char *name);

/*
 * What every file handle's constructor starts with: a place for the handle
 * (have_out), path not empty, flags within known, the allocator
 * valid; then *obj, size bytes zeroed from it (its allocator in *a).
 * OHP_OK, or OHP_EINVAL / OHP_ENOMEM with msg set.
 */
int ohp_file_handle_alloc(bool have_out, const char *path, unsigned int flags, unsigned int known,
                          const ohp_allocator *alloc, ohp_alloc *a, size_t size, void **obj,
                          char *msg);

/* Split a path into its folder ("." without a slash) and last part, allocated. */
int ohp_path_split(const ohp_alloc *alloc, const char *path, char **dir, char **base, char *msg);
/* "dir/name", allocated, or NULL. */
char *ohp_path_join(const ohp_alloc *alloc, const char *dir, const char *name);

#endif
