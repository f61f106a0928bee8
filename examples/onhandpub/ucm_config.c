/*
 * The content server's configuration: its address (https, or http to a loopback
 * address), the credentials (a mode-600 file or the environment, wiped when
 * freed), and the values put into the listing finder.
 */
#include "ucm.h"

#include <arpa/inet.h>

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

void ucm_wipe(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
}

void ucm_free_common(cli_ucm *u)
{
    ucm_wipe(u->user);
    ucm_wipe(u->password);
    free(u->user);
    free(u->password);
    free(u->url);
    free(u->document_id);
    u->user = u->password = u->url = u->document_id = NULL;
}

int cli_ucm_check_finder_value(const char *what, const char *value, char *err)
{
    if (value[0] == '\0') {
        cli_err(err, "%s: the value is empty", what);
        return -1;
    }
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            cli_err(err, "%s: the value holds a control character", what);
            return -1;
        }
        if (c == ',' || c == ';') {
            cli_err(err,
                    "%s: the value holds '%c', which separates the parameters of the content "
                    "server's listing finder and cannot be sent in one",
                    what, c);
            return -1;
        }
    }
    if (strcasecmp(value, "#NULL") == 0) {
        cli_err(err, "%s: #NULL is the content server's marker for an absent value", what);
        return -1;
    }
    return 0;
}

#ifdef ONHANDPUB_HAVE_CURL

/* ---- global state, URL, credentials ---- */

int cli_ucm_supported(void)
{
    return 1;
}

int cli_ucm_global_init(char *err)
{
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        cli_err(err, "cannot initialise libcurl: %s", curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

void cli_ucm_global_cleanup(void)
{
    curl_global_cleanup();
}

void cli_ucm_free(cli_ucm *u)
{
    ucm_free_common(u);
    if (u->curl)
        curl_easy_cleanup(u->curl);
    u->curl = NULL;
}

/*
 * Is the authority's host (host[:port], [v6][:port]; n bytes) a loopback
 * address: 127.0.0.0/8 in dotted-quad form, ::1 (or ::ffff:127.x.y.z), or
 * the name localhost, which libcurl resolves to loopback itself?
 */
static int loopback_host(const char *auth, size_t n)
{
    char host[64];
    size_t hl;
    if (n > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', n);
        if (close == NULL)
            return 0;
        hl = (size_t)(close - auth) - 1;
        if (hl >= sizeof host)
            return 0;
        memcpy(host, auth + 1, hl);
        host[hl] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return 0;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a6.s6_addr, v4mapped, 12) == 0)
            return a6.s6_addr[12] == 127;
        static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return memcmp(a6.s6_addr, one, 16) == 0;
    }
    const char *colon = memchr(auth, ':', n);
    hl = colon ? (size_t)(colon - auth) : n;
    if (hl == 0 || hl >= sizeof host)
        return 0;
    memcpy(host, auth, hl);
    host[hl] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) != 1)
        return 0;
    return ((const unsigned char *)&a4.s_addr)[0] == 127;
}

int cli_ucm_set_url(cli_ucm *u, const char *url, char *err)
{
    const char *rest;
    int plain = 0;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
        plain = 1;
    } else {
        cli_err(err, "option --ucm: expected an http:// or https:// URL");
        return -1;
    }
    size_t hostlen = strcspn(rest, "/");
    /* Never echo the URL in these messages: it might hold a password. */
    if (memchr(rest, '@', hostlen) != NULL) {
        cli_err(err, "option --ucm: the URL must not hold user information; give the "
                     "credentials with --ucm-credentials or the environment");
        return -1;
    }
    if (hostlen == 0) {
        cli_err(err, "option --ucm: the URL has no host");
        return -1;
    }
    if (strpbrk(url, "?# \t\r\n") != NULL) {
        cli_err(err, "option --ucm: the URL must be the service's base, without query, fragment "
                     "or blanks");
        return -1;
    }
    u->loopback = loopback_host(rest, hostlen);
    u->plain_http = plain;
    /* Basic authentication over http:// shows the password to the network. */
    if (plain && !u->loopback && !u->insecure) {
        cli_err(err, "option --ucm: an http:// URL would send the credentials unencrypted; use "
                     "https://, or give --ucm-insecure to allow it (only a loopback address "
                     "may be used over http:// without it)");
        return -1;
    }
    free(u->url);
    u->url = ucm_xstrdup(url);
    if (u->url == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    size_t n = strlen(u->url);
    while (n > 0 && u->url[n - 1] == '/' && n > (size_t)(rest - url) + hostlen)
        u->url[--n] = '\0';
    return 0;
}

static int set_credentials(cli_ucm *u, const char *user, size_t ulen, const char *pw, size_t plen,
                           char *err)
{
    if (ulen == 0) {
        cli_err(err, "the user name is empty");
        return -1;
    }
    u->user = ucm_xmalloc(ulen + 1);
    u->password = ucm_xmalloc(plen + 1);
    if (u->user == NULL || u->password == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    memcpy(u->user, user, ulen);
    u->user[ulen] = '\0';
    memcpy(u->password, pw, plen);
    u->password[plen] = '\0';
    return 0;
}

/* The credentials from the environment variables. */
static int credentials_from_env(cli_ucm *u, char *err)
{
    const char *user = getenv(CLI_UCM_ENV_USER), *pw = getenv(CLI_UCM_ENV_PASSWORD);
    if (user == NULL || pw == NULL) {
        cli_err(err,
                "no credentials for the content server: give --ucm-credentials FILE or set "
                "%s and %s",
                CLI_UCM_ENV_USER, CLI_UCM_ENV_PASSWORD);
        return -1;
    }
    if (strchr(user, ':') != NULL || strpbrk(user, "\r\n") || strpbrk(pw, "\r\n")) {
        cli_err(err, "%s: a user name with ':' or line breaks cannot be used", CLI_UCM_ENV_USER);
        return -1;
    }
    if (set_credentials(u, user, strlen(user), pw, strlen(pw), err) != 0) {
        char m[CLI_ERRSIZE];
        snprintf(m, sizeof m, "%s: %s", CLI_UCM_ENV_USER, err);
        cli_err(err, "%s", m);
        return -1;
    }
    return 0;
}

/* The credentials file (owner-only, at most CRED_MAX bytes) into buf; its length, or -1. */
static long read_credentials_file(const char *file, char *buf, char *err)
{
    int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cli_err(err, "cannot open credentials file '%s': %s", file, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_err(err, "credentials file '%s' is not a regular file", file);
        (void)close(fd);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        cli_err(err,
                "credentials file '%s' is accessible by group or others (mode %04o); it must "
                "be readable by its owner only (chmod 600)",
                file, (unsigned)(st.st_mode & 07777));
        (void)close(fd);
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, CRED_MAX - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cli_err(err, "cannot read credentials file '%s': %s", file, strerror(errno));
            (void)close(fd);
            return -1;
        }
        n += (size_t)r;
        if (n == CRED_MAX) {
            cli_err(err, "credentials file '%s' is longer than %d bytes", file, CRED_MAX);
            (void)close(fd);
            return -1;
        }
    }
    (void)close(fd);
    buf[n] = '\0';
    return (long)n;
}

int cli_ucm_credentials(cli_ucm *u, const char *file, char *err)
{
    if (file == NULL)
        return credentials_from_env(u, err);
    char buf[CRED_MAX + 1];
    long got = read_credentials_file(file, buf, err);
    int rc = -1;
    if (got >= 0) {
        size_t n = (size_t)got;
        /* One line "user:password", an optional line end, nothing else. */
        size_t line = strcspn(buf, "\r\n");
        size_t end = line;
        if (buf[end] == '\r')
            end++;
        if (buf[end] == '\n')
            end++;
        char *colon = memchr(buf, ':', line);
        if (line == 0 || end != n || memchr(buf, '\0', n) != NULL)
            cli_err(err, "credentials file '%s': expected one line 'user:password'", file);
        else if (colon == NULL)
            cli_err(err, "credentials file '%s': expected 'user:password' (no ':' found)", file);
        else if (set_credentials(u, buf, (size_t)(colon - buf), colon + 1,
                                 line - (size_t)(colon - buf) - 1, err) != 0) {
            char m[CLI_ERRSIZE];
            snprintf(m, sizeof m, "credentials file '%s': %s", file, err);
            cli_err(err, "%s", m);
        } else
            rc = 0;
    }
    volatile char *v = buf;
    for (size_t i = 0; i < sizeof buf; i++)
        v[i] = 0;
    return rc;
}

#endif /* ONHANDPUB_HAVE_CURL */
