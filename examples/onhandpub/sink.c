/*
 * The ZIP file sink: the job's archive written to a temporary file in
 * --outdir and put in place under its name when the run commits (and, with
 * --ucm, uploaded first).
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

/* ---- the ZIP file sink ---- */

int cli_sink_open(void *ud, const char *file_name)
{
    cli_sink *s = ud;
    char err[CLI_ERRSIZE];
    /* The name comes from the library; it must stay a plain name inside --outdir. */
    if (file_name == NULL || file_name[0] == '\0' || file_name[0] == '.' ||
        strchr(file_name, '/') != NULL || strlen(file_name) > NAME_MAX - 48) {
        cli_err(err, "refusing the file name '%.200s': not a plain file name", file_name);
        ohp_job_set_callback_error(s->job, err);
        return -1;
    }
    /* Temporaries that killed runs left where O_TMPFILE is not available. */
    (void)cli_clean_temporaries(s->dirfd, NULL);
    if (cli_atomic_open(&s->file, s->dirfd, s->dir, file_name, 1, err) != 0) {
        ohp_job_set_callback_error(s->job, err);
        return -1;
    }
    return 0;
}

int cli_sink_write(void *ud, const void *buf, size_t len)
{
    cli_sink *s = ud;
    char err[CLI_ERRSIZE];
    if (cli_atomic_write(&s->file, buf, len, err) != 0) {
        ohp_job_set_callback_error(s->job, err);
        return -1;
    }
    return 0;
}

int cli_sink_close(void *ud, int commit)
{
    cli_sink *s = ud;
    char err[CLI_ERRSIZE];
    if (!commit) {
        cli_atomic_abort(&s->file);
        return 0;
    }
    char *path = cli_join(s->dir, s->file.name);
    if (path == NULL) {
        cli_atomic_abort(&s->file);
        ohp_job_set_callback_error(s->job, "out of memory");
        return -1;
    }
    /* The name and identity of the file, for the upload (commit resets the name). */
    char *name = strdup(s->file.name);
    if (name == NULL) {
        free(path);
        cli_atomic_abort(&s->file);
        ohp_job_set_callback_error(s->job, "out of memory");
        return -1;
    }
    if (cli_atomic_commit(&s->file, 1, err) != 0) {
        free(path);
        free(name);
        ohp_job_set_callback_error(s->job, err);
        return -1;
    }
    if (s->publish != NULL &&
        s->publish(s->publish_ud, s->dirfd, name, s->file.dev, s->file.ino, err) != 0) {
        /*
         * Not published (the content server did not take it): remove the
         * ZIP again (only if it is still the file this run wrote), so that
         * --outdir holds only published snapshots, and fail the close: the
         * library then records no success.
         */
        struct stat st;
        char msg[CLI_ERRSIZE];
        if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == s->file.dev &&
            st.st_ino == s->file.ino && unlinkat(s->dirfd, name, 0) == 0) {
            (void)fsync(s->dirfd);
            cli_err(msg, "%s; not published: the ZIP was removed from '%s'", err, s->dir);
        } else {
            cli_err(msg, "%s; not published", err);
        }
        free(path);
        free(name);
        ohp_job_set_callback_error(s->job, msg);
        return -1;
    }
    free(name);
    free(s->path);
    s->path = path;
    return 0;
}

void cli_sink_free(cli_sink *s)
{
    cli_atomic_abort(&s->file);
    free(s->path);
    s->path = NULL;
}
