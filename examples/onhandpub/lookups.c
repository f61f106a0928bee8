/*
 * The external systems' lookups file (--lookups): read whole (it is small)
and loaded into a registry.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOOKUPS_MAX_BYTES (16u * 1024u * 1024u)

/* ---- lookups ---- */

/* Read a small configuration file into memory (the lookups file). */
static int slurp(const char *path, char **out, size_t *len, char *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_err(err, "cannot read lookups file '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        (void)close(fd);
        cli_err(err, "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            /* A file of exactly the limit fits: one byte more is read to tell. */
            if (n > LOOKUPS_MAX_BYTES) {
                cli_err(err, "lookups file '%s' is larger than %u bytes", path, LOOKUPS_MAX_BYTES);
                goto fail;
            }
            size_t ncap = cap * 2 > LOOKUPS_MAX_BYTES ? (size_t)LOOKUPS_MAX_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                cli_err(err, "out of memory");
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cli_err(err, "cannot read lookups file '%s': %s", path, strerror(errno));
            goto fail;
        }
        n += (size_t)r;
    }
    (void)close(fd);
    *out = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    (void)close(fd);
    return -1;
}

int cli_load_registry(const char *lookups, ohp_registry **reg, char *err)
{
    *reg = NULL;
    int rc = ohp_registry_new(reg, NULL);
    if (rc != OHP_OK) {
        cli_err(err, "%s", ohp_strerror(rc));
        return -1;
    }
    if (lookups == NULL)
        return 0;
    char *buf;
    size_t len;
    if (slurp(lookups, &buf, &len, err) != 0)
        return -1;
    rc = ohp_registry_load_psv(*reg, buf, len);
    free(buf);
    if (rc != OHP_OK) {
        cli_err(err, "lookups file '%s': %s", lookups, ohp_registry_errmsg(*reg));
        return -1;
    }
    return 0;
}
