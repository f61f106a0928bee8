/*
 * Small helpers of the content-server client: allocation that exits on no
 * memory, credentials scrubbed from messages, excerpts of answers, the
 * checks of a document id and a file name.
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

#ifdef ONHANDPUB_HAVE_CURL

/* ---- helpers ---- */

void *ucm_xmalloc(size_t n)
{
    return malloc(n ? n : 1);
}

char *ucm_xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = ucm_xmalloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* Replace every occurrence of needle in msg (size bytes) by "***", truncating if need be. */
static void scrub_one(char *msg, size_t size, const char *needle)
{
    if (needle == NULL || *needle == '\0' || size == 0)
        return;
    size_t nl = strlen(needle), o = 0;
    char *out = malloc(size);
    if (out == NULL) {
        if (strstr(msg, needle) != NULL)
            snprintf(msg, size, "(message withheld)");
        return;
    }
    for (const char *p = msg; *p && o + 1 < size;) {
        if (strncmp(p, needle, nl) == 0) {
            for (int k = 0; k < 3 && o + 1 < size; k++)
                out[o++] = '*';
            p += nl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    memcpy(msg, out, o + 1);
    free(out);
}

void ucm_scrub(const cli_ucm *u, char *msg, size_t size)
{
    scrub_one(msg, size, u->password);
    scrub_one(msg, size, u->user);
    /* The basic authentication token, should an answer repeat the header. */
    if (u->user && u->password) {
        size_t n = strlen(u->user) + 1 + strlen(u->password);
        char *plain = malloc(n + 1), *token = malloc((n + 2) / 3 * 4 + 1);
        if (plain && token) {
            snprintf(plain, n + 1, "%s:%s", u->user, u->password);
            token[b64_encode((const unsigned char *)plain, n, token)] = '\0';
            scrub_one(msg, size, token);
            ucm_wipe(plain);
            ucm_wipe(token);
        }
        free(plain);
        free(token);
    }
}

void ucm_excerpt(const char *body, size_t len, char *out, size_t size)
{
    size_t o = 0, i = 0;
    int space = 1;
    for (; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!space)
                out[o++] = ' ';
            space = 1;
            continue;
        }
        out[o++] = (char)c;
        space = 0;
    }
    if (i < len && size > 4) {
        o = o > size - 4 ? size - 4 : o;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

void ucm_sleep(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int ucm_valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ID_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

int ucm_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX - 48 || s[0] == '.')
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '/' || c == '|' || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

#endif /* ONHANDPUB_HAVE_CURL */
