/*
 * Without libcurl the command builds all the same: every content-server entry
 * point says it was built without it.
 */
#include "ucm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef ONHANDPUB_HAVE_CURL

#define NO_CURL "this onhandpub was built without content-server (UCM) support (libcurl)"

int cli_ucm_supported(void)
{
    return 0;
}

int cli_ucm_global_init(char *err)
{
    cli_err(err, NO_CURL);
    return -1;
}

void cli_ucm_global_cleanup(void) {}

void cli_ucm_free(cli_ucm *u)
{
    ucm_free_common(u);
}

int cli_ucm_set_url(cli_ucm *u, const char *url, char *err)
{
    cli_err(err, NO_CURL);
    return -1;
}

int cli_ucm_credentials(cli_ucm *u, const char *file, char *err)
{
    cli_err(err, NO_CURL);
    return -1;
}

int cli_ucm_upload(cli_ucm *u, int fd, const char *name, char *err)
{
    u->exit_status = 4;
    cli_err(err, NO_CURL);
    return -1;
}

int cli_ucm_sink_publish(void *ud, const char *path, int fd, char *message, size_t message_size)
{
    char err[CLI_ERRSIZE];
    (void)cli_ucm_upload(ud, fd, path, err);
    snprintf(message, message_size, "%s", err);
    return -1;
}

int cli_ucm_fetch(cli_ucm *u, const char *prefix, const char *outdir, const char *state_path)
{
    fprintf(stderr, "onhandpub: %s\n", NO_CURL);
    return 2;
}

#endif /* !ONHANDPUB_HAVE_CURL */
