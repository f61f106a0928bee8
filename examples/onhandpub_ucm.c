/*
 * onhandpub_ucm.c - the content-server hop of the onhandpub command: upload
 * the published ZIP to Oracle UCM (WebCenter Content) through the ERP
 * integration REST resource, and fetch the documents on the receiving side.
 *
 *   POST {base}/fscmRestApi/resources/11.13.18.05/erpintegrations
 *        {"OperationName":"uploadFileToUCM",...}          -> "DocumentId"
 *        {"OperationName":"getDocumentForDocumentId",...} -> "DocumentContent"
 *   GET  {base}/fscmRestApi/resources/11.13.18.05/erpintegrations
 *        ?finder=DocumentIdsByFilePrefixRF;filePrefix=P,docAccount=A,comment=%23NULL
 *        -> {"items":[{"DocumentId":...,"FileName":...},...]}
 *
 * The finder's three variables are always given; the unused comment is
 * the service's null marker #NULL (percent-encoded), never an empty value.
 *
 * Bodies are streamed both ways: the upload's base64 is produced while it
 * is sent, the download's base64 is decoded into the file while it
 * arrives, and the upload's answer, which echoes the whole DocumentContent,
 * is parsed as it arrives keeping only DocumentId, so memory stays flat
 * whatever the file size.  Built only with libcurl (ONHANDPUB_HAVE_CURL);
 * without it every entry point says so.
 */
#define _DEFAULT_SOURCE /* flock */
#include "onhandpub_cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Wipe a secret (the compiler may not drop these stores). */
static void wipe(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
}

static void free_common(cli_ucm *u)
{
    wipe(u->user);
    wipe(u->password);
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
    free_common(u);
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

int cli_ucm_upload(cli_ucm *u, int dirfd, const char *name, dev_t dev, ino_t ino, char *err)
{
    u->exit_status = 4;
    cli_err(err, NO_CURL);
    return -1;
}

int cli_ucm_sink_publish(void *ud, int dirfd, const char *name, dev_t dev, ino_t ino, char *err)
{
    return cli_ucm_upload(ud, dirfd, name, dev, ino, err);
}

int cli_ucm_fetch(cli_ucm *u, const char *prefix, const char *outdir, const char *state_path)
{
    fprintf(stderr, "onhandpub: %s\n", NO_CURL);
    return 2;
}

#else /* ONHANDPUB_HAVE_CURL */

#include <curl/curl.h>

#include "zipread.h" /* the library's ZIP reader, compiled into the command */

#define RESOURCE "/fscmRestApi/resources/11.13.18.05/erpintegrations"
#define CRED_MAX 4096
#define ID_MAX 128
#define SMALL_MAX 1024         /* names and ids kept from answers */
#define ANSWER_MAX (64u << 20) /* bytes of a listing answer (an upload's answer: any) */
#define RETRY_AFTER_MAX 300.0  /* seconds: the longest Retry-After waited for */
#define ERRBODY_MAX 2048       /* bytes of an error answer kept for the message */
#define LIST_PAGE 500
#define LIST_MAX 100000     /* documents in one listing */
#define B64_RAW (3 * 16384) /* file bytes encoded per step */
#define JSON_DEPTH 64
#define JSON_CHUNK 16384

enum { EXIT_USAGE_ = 2, EXIT_DENIED_ = 3, EXIT_FAILED_ = 4 };

/* Outcome of one request. */
enum { UR_OK, UR_RETRY, UR_DENIED, UR_FAILED };

/* ---- helpers ---- */

static void *xmalloc(size_t n)
{
    return malloc(n ? n : 1);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
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

static size_t b64_encode(const unsigned char *in, size_t n, char *out);

/* No credentials ever leave the program, whatever the text came from. */
static void scrub(const cli_ucm *u, char *msg, size_t size)
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
            wipe(plain);
            wipe(token);
        }
        free(plain);
        free(token);
    }
}

/* Printable one-line excerpt of a service's answer (blanks folded, "..." when cut). */
static void excerpt(const char *body, size_t len, char *out, size_t size)
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

static void sleep_seconds(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A document id: 1 to ID_MAX characters of A-Z a-z 0-9 _ . - */
static int valid_id(const char *s)
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

/* A file name to save under: plain, not hidden, printable, no quoting needed. */
static int valid_name(const char *s)
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

/* JSON string literal of s (quotes included), malloc'ed. */
static char *json_quote(const char *s)
{
    size_t n = 2;
    for (const char *p = s; *p; p++)
        n += ((unsigned char)*p < 0x20) ? 6 : (*p == '"' || *p == '\\') ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '"';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            if (c == '"' || c == '\\')
                *o++ = '\\';
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

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
    free_common(u);
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
    u->url = xstrdup(url);
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
    u->user = xmalloc(ulen + 1);
    u->password = xmalloc(plen + 1);
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

int cli_ucm_credentials(cli_ucm *u, const char *file, char *err)
{
    if (file == NULL) {
        const char *user = getenv(CLI_UCM_ENV_USER), *pw = getenv(CLI_UCM_ENV_PASSWORD);
        if (user == NULL || pw == NULL) {
            cli_err(err,
                    "no credentials for the content server: give --ucm-credentials FILE or set "
                    "%s and %s",
                    CLI_UCM_ENV_USER, CLI_UCM_ENV_PASSWORD);
            return -1;
        }
        if (strchr(user, ':') != NULL || strpbrk(user, "\r\n") || strpbrk(pw, "\r\n")) {
            cli_err(err, "%s: a user name with ':' or line breaks cannot be used",
                    CLI_UCM_ENV_USER);
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
    char buf[CRED_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
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
        if (n == sizeof buf - 1) {
            cli_err(err, "credentials file '%s' is longer than %d bytes", file, CRED_MAX);
            (void)close(fd);
            memset(buf, 0, sizeof buf);
            return -1;
        }
    }
    (void)close(fd);
    buf[n] = '\0';
    /* One line "user:password", an optional line end, nothing else. */
    size_t line = strcspn(buf, "\r\n");
    size_t end = line;
    if (buf[end] == '\r')
        end++;
    if (buf[end] == '\n')
        end++;
    int rc = -1;
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
    volatile char *v = buf;
    for (size_t i = 0; i < sizeof buf; i++)
        v[i] = 0;
    return rc;
}

/* ---- a streaming JSON parser ---- */

enum {
    JEV_STR,       /* a chunk of a string value (data, len) */
    JEV_STR_END,   /* the end of a string value */
    JEV_SCALAR,    /* a number, true, false or null (data, len) */
    JEV_OBJ_OPEN,  /* { */
    JEV_OBJ_CLOSE, /* } */
    JEV_ARR_OPEN,  /* [ */
    JEV_ARR_CLOSE  /* ] */
};

/*
 * Event handler: depth is the value's depth (the top-level value is 0),
 * key its key in the enclosing object, NULL inside an array or at the
 * top.  Non-zero stops the parser.
 */
typedef int (*json_event_fn)(void *ud, int ev, int depth, const char *key, const char *data,
                             size_t len);

enum {
    JS_VALUE, /* expecting a value */
    JS_VALUE_OR_CLOSE_ARR,
    JS_KEY, /* expecting a key string */
    JS_KEY_OR_CLOSE_OBJ,
    JS_COLON,
    JS_COMMA_OR_CLOSE,
    JS_STRING,
    JS_SCALAR,
    JS_DONE
};

typedef struct json_parser {
    int state;
    int depth;              /* open containers */
    char stack[JSON_DEPTH]; /* 'o' or 'a' */
    int in_key;             /* the string being read is a key */
    char key[256];          /* current key (of the value being read) */
    size_t keylen;
    int esc;                /* 0, 1 after '\\', 2..5 reading \\u digits */
    unsigned u, hi;         /* \\u value, pending high surrogate */
    char chunk[JSON_CHUNK]; /* decoded string bytes not yet delivered */
    size_t chunklen;
    char scalar[64];
    size_t scalarlen;
    json_event_fn fn;
    void *ud;
    char err[160];
} json_parser;

static void json_init(json_parser *j, json_event_fn fn, void *ud)
{
    memset(j, 0, sizeof *j);
    j->state = JS_VALUE;
    j->fn = fn;
    j->ud = ud;
}

static const char *json_key(const json_parser *j)
{
    return j->depth > 0 && j->stack[j->depth - 1] == 'o' ? j->key : NULL;
}

static int json_fail(json_parser *j, const char *msg)
{
    if (j->err[0] == '\0')
        snprintf(j->err, sizeof j->err, "%s", msg);
    return -1;
}

static int json_emit(json_parser *j, int ev, const char *data, size_t len)
{
    if (j->fn(j->ud, ev, j->depth, json_key(j), data, len) != 0)
        return json_fail(j, "stopped");
    return 0;
}

/* After a value: the container's next separator, or the end. */
static void json_after_value(json_parser *j)
{
    j->state = j->depth == 0 ? JS_DONE : JS_COMMA_OR_CLOSE;
}

static int json_flush_chunk(json_parser *j)
{
    if (j->chunklen == 0 || j->in_key)
        return 0;
    size_t n = j->chunklen;
    j->chunklen = 0;
    return json_emit(j, JEV_STR, j->chunk, n);
}

static int json_put(json_parser *j, const char *s, size_t n)
{
    if (j->in_key) {
        for (size_t i = 0; i < n; i++)
            if (j->keylen + 1 < sizeof j->key)
                j->key[j->keylen++] = s[i];
        return 0;
    }
    while (n > 0) {
        if (j->chunklen == sizeof j->chunk && json_flush_chunk(j) != 0)
            return -1;
        size_t k = sizeof j->chunk - j->chunklen;
        if (k > n)
            k = n;
        memcpy(j->chunk + j->chunklen, s, k);
        j->chunklen += k;
        s += k;
        n -= k;
    }
    return 0;
}

/* Length of the plain run at p (no quote, backslash or control character). */
static size_t json_plain_run(const char *p, size_t n)
{
    size_t k = 0;
    while (k < n && p[k] != '"' && p[k] != '\\' && (unsigned char)p[k] >= 0x20)
        k++;
    return k;
}

static int json_put_code(json_parser *j, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return json_put(j, b, n);
}

static int json_end_scalar(json_parser *j)
{
    j->scalar[j->scalarlen] = '\0';
    const char *s = j->scalar;
    int ok;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || strcmp(s, "null") == 0) {
        ok = 1;
    } else {
        char *end;
        errno = 0;
        (void)strtod(s, &end);
        ok = *s != '\0' && *end == '\0' && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
    }
    if (!ok)
        return json_fail(j, "not JSON: bad literal");
    if (json_emit(j, JEV_SCALAR, j->scalar, j->scalarlen) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

static int json_string_char(json_parser *j, char c)
{
    unsigned char uc = (unsigned char)c;
    if (j->esc == 1) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *p = c ? strchr(from, c) : NULL;
        if (c == 'u') {
            j->esc = 2;
            j->u = 0;
            return 0;
        }
        if (p == NULL)
            return json_fail(j, "not JSON: bad escape");
        j->esc = 0;
        if (j->hi)
            return json_fail(j, "not JSON: lone surrogate");
        return json_put(j, &to[p - from], 1);
    }
    if (j->esc >= 2) {
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return json_fail(j, "not JSON: bad \\u escape");
        j->u = j->u * 16 + d;
        if (++j->esc < 6)
            return 0;
        j->esc = 0;
        unsigned cp = j->u;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (j->hi)
                return json_fail(j, "not JSON: lone surrogate");
            j->hi = cp;
            return 0;
        }
        if (cp >= 0xdc00 && cp < 0xe000) {
            if (!j->hi)
                return json_fail(j, "not JSON: lone surrogate");
            cp = 0x10000 + ((j->hi - 0xd800) << 10) + (cp - 0xdc00);
            j->hi = 0;
        } else if (j->hi) {
            return json_fail(j, "not JSON: lone surrogate");
        }
        return json_put_code(j, cp);
    }
    if (j->hi && c != '\\')
        return json_fail(j, "not JSON: lone surrogate");
    if (c == '\\') {
        j->esc = 1;
        return 0;
    }
    if (uc < 0x20)
        return json_fail(j, "not JSON: control character in a string");
    if (c != '"')
        return json_put(j, &c, 1);
    /* End of the string. */
    if (j->in_key) {
        j->key[j->keylen] = '\0';
        j->in_key = 0;
        j->state = JS_COLON;
        return 0;
    }
    if (json_flush_chunk(j) != 0 || json_emit(j, JEV_STR_END, NULL, 0) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

static int json_begin_value(json_parser *j, char c)
{
    switch (c) {
    case '"':
        j->state = JS_STRING;
        j->in_key = 0;
        j->chunklen = 0;
        return 0;
    case '{':
    case '[':
        if (j->depth == JSON_DEPTH)
            return json_fail(j, "JSON nested too deeply");
        if (json_emit(j, c == '{' ? JEV_OBJ_OPEN : JEV_ARR_OPEN, NULL, 0) != 0)
            return -1;
        j->stack[j->depth++] = c == '{' ? 'o' : 'a';
        j->state = c == '{' ? JS_KEY_OR_CLOSE_OBJ : JS_VALUE_OR_CLOSE_ARR;
        return 0;
    default:
        if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
            j->state = JS_SCALAR;
            j->scalarlen = 0;
            j->scalar[j->scalarlen++] = c;
            return 0;
        }
        return json_fail(j, "not JSON: unexpected character");
    }
}

static int json_close(json_parser *j, char c)
{
    char want = c == '}' ? 'o' : 'a';
    if (j->depth == 0 || j->stack[j->depth - 1] != want)
        return json_fail(j, "not JSON: unbalanced brackets");
    j->depth--;
    if (json_emit(j, c == '}' ? JEV_OBJ_CLOSE : JEV_ARR_CLOSE, NULL, 0) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

static int json_feed(json_parser *j, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (j->state == JS_STRING) {
            /* A long value (an echoed DocumentContent) is copied run by run. */
            size_t run = j->esc == 0 && !j->hi ? json_plain_run(p + i, n - i) : 0;
            if (run > 1) {
                if (json_put(j, p + i, run) != 0)
                    return -1;
                i += run - 1;
                continue;
            }
            if (json_string_char(j, c) != 0)
                return -1;
            continue;
        }
        if (j->state == JS_SCALAR) {
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-' ||
                c == '+' || c == 'E') {
                if (j->scalarlen + 1 >= sizeof j->scalar)
                    return json_fail(j, "not JSON: literal too long");
                j->scalar[j->scalarlen++] = c;
                continue;
            }
            if (json_end_scalar(j) != 0)
                return -1;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        switch (j->state) {
        case JS_VALUE:
            if (json_begin_value(j, c) != 0)
                return -1;
            break;
        case JS_VALUE_OR_CLOSE_ARR:
            if (c == ']') {
                if (json_close(j, c) != 0)
                    return -1;
            } else if (json_begin_value(j, c) != 0)
                return -1;
            break;
        case JS_KEY_OR_CLOSE_OBJ:
        case JS_KEY:
            if (c == '}' && j->state == JS_KEY_OR_CLOSE_OBJ) {
                if (json_close(j, c) != 0)
                    return -1;
            } else if (c == '"') {
                j->state = JS_STRING;
                j->in_key = 1;
                j->keylen = 0;
            } else
                return json_fail(j, "not JSON: expected a key");
            break;
        case JS_COLON:
            if (c != ':')
                return json_fail(j, "not JSON: expected ':'");
            j->state = JS_VALUE;
            break;
        case JS_COMMA_OR_CLOSE:
            if (c == ',')
                j->state = j->stack[j->depth - 1] == 'o' ? JS_KEY : JS_VALUE;
            else if (c == '}' || c == ']') {
                if (json_close(j, c) != 0)
                    return -1;
            } else
                return json_fail(j, "not JSON: expected ',' or a closing bracket");
            break;
        case JS_DONE:
            return json_fail(j, "not JSON: text after the value");
        default:
            return json_fail(j, "internal error: JSON parser state");
        }
    }
    return 0;
}

static int json_finish(json_parser *j)
{
    if (j->state == JS_SCALAR && j->depth == 0 && json_end_scalar(j) != 0)
        return -1;
    if (j->state != JS_DONE)
        return json_fail(j, "not JSON: the answer ends early");
    return 0;
}

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode n bytes; out holds 4 * ceil(n / 3) characters. */
static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* Streaming decoder: strict alphabet, padding only at the end, line breaks ignored. */
typedef struct b64_decoder {
    uint32_t acc;
    int nacc; /* characters in acc */
    int pad;  /* '=' seen */
    int bad;
} b64_decoder;

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode n characters into out (room for 3 * n / 4 + 3 bytes); returns bytes or -1. */
static long b64_decode(b64_decoder *d, const char *in, size_t n, unsigned char *out)
{
    long o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            d->pad++;
            if (d->nacc + d->pad > 4 || d->nacc < 2) {
                d->bad = 1;
                return -1;
            }
            if (d->nacc + d->pad == 4) {
                if (d->nacc == 2) {
                    out[o++] = (unsigned char)(d->acc >> 4);
                } else {
                    out[o++] = (unsigned char)(d->acc >> 10);
                    out[o++] = (unsigned char)(d->acc >> 2);
                }
                d->nacc = 0;
                d->acc = 0;
                d->pad = 5; /* complete: nothing may follow */
            }
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || d->pad) {
            d->bad = 1;
            return -1;
        }
        d->acc = d->acc << 6 | (uint32_t)v;
        if (++d->nacc == 4) {
            out[o++] = (unsigned char)(d->acc >> 16);
            out[o++] = (unsigned char)(d->acc >> 8);
            out[o++] = (unsigned char)d->acc;
            d->nacc = 0;
            d->acc = 0;
        }
    }
    return o;
}

static int b64_finish(const b64_decoder *d)
{
    return !d->bad && d->nacc == 0 && (d->pad == 0 || d->pad == 5) ? 0 : -1;
}

/* ---- HTTP ---- */

/* The answer of one request. */
typedef struct answer {
    CURL *curl;
    long status;
    int json;               /* 2xx: fed to the parser */
    json_parser *jp;        /* NULL: the body is ignored */
    size_t total, limit;    /* body bytes seen, and the most accepted (0: any) */
    char body[ERRBODY_MAX]; /* the beginning of a non-2xx answer */
    size_t bodylen;
    int failed; /* the handler refused the answer */
    char err[CLI_ERRSIZE];
} answer;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    answer *a = ud;
    size_t n = size * nmemb;
    if (a->status == 0) {
        (void)curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
        a->json = a->status >= 200 && a->status < 300;
    }
    if (!a->json) {
        size_t room = sizeof a->body - a->bodylen;
        size_t k = n < room ? n : room;
        memcpy(a->body + a->bodylen, p, k);
        a->bodylen += k;
        return n;
    }
    a->total += n;
    if (a->limit && a->total > a->limit) {
        a->failed = 1;
        cli_err(a->err, "the answer is larger than %zu bytes", a->limit);
        return 0;
    }
    if (a->jp && json_feed(a->jp, p, n) != 0) {
        a->failed = 1;
        if (a->err[0] == '\0')
            cli_err(a->err, "%s", a->jp->err);
        return 0;
    }
    return n;
}

/* The streamed upload body: JSON prefix, base64 of the file, JSON suffix. */
typedef struct upload_body {
    const char *prefix, *suffix;
    size_t prefix_len, suffix_len;
    int fd;
    uint64_t size, off; /* file size and bytes read */
    int phase;          /* 0 prefix, 1 content, 2 suffix, 3 done */
    size_t pos;         /* within the prefix, the encoded chunk or the suffix */
    unsigned char raw[B64_RAW];
    char enc[B64_RAW / 3 * 4];
    size_t enclen;
    int failed;
    char err[CLI_ERRSIZE];
} upload_body;

static uint64_t upload_length(const upload_body *b)
{
    return b->prefix_len + (b->size + 2) / 3 * 4 + b->suffix_len;
}

static size_t copy_out(char *dst, size_t room, const char *src, size_t len, size_t *pos)
{
    size_t k = len - *pos < room ? len - *pos : room;
    memcpy(dst, src + *pos, k);
    *pos += k;
    return k;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    upload_body *b = ud;
    size_t room = size * nitems, out = 0;
    while (out < room && b->phase < 3) {
        if (b->phase == 0) {
            out += copy_out(buf + out, room - out, b->prefix, b->prefix_len, &b->pos);
            if (b->pos == b->prefix_len) {
                b->phase = 1;
                b->pos = b->enclen = 0;
            }
        } else if (b->phase == 1) {
            if (b->pos == b->enclen) {
                if (b->off == b->size) {
                    b->phase = 2;
                    b->pos = 0;
                    continue;
                }
                size_t want = sizeof b->raw, got = 0;
                if (b->size - b->off < want)
                    want = (size_t)(b->size - b->off);
                while (got < want) {
                    ssize_t r = pread(b->fd, b->raw + got, want - got, (off_t)(b->off + got));
                    if (r < 0 && errno == EINTR)
                        continue;
                    if (r <= 0) {
                        b->failed = 1;
                        cli_err(b->err, "cannot read the ZIP for the upload: %s",
                                r < 0 ? strerror(errno) : "the file became shorter");
                        return CURL_READFUNC_ABORT;
                    }
                    got += (size_t)r;
                }
                b->off += got;
                b->enclen = b64_encode(b->raw, got, b->enc);
                b->pos = 0;
            }
            out += copy_out(buf + out, room - out, b->enc, b->enclen, &b->pos);
        } else {
            out += copy_out(buf + out, room - out, b->suffix, b->suffix_len, &b->pos);
            if (b->pos == b->suffix_len)
                b->phase = 3;
        }
    }
    return out;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    upload_body *b = ud;
    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    b->phase = 0;
    b->pos = 0;
    b->off = 0;
    b->enclen = 0;
    return CURL_SEEKFUNC_OK;
}

/* Is this transport error worth another try? */
static int transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/*
 * One request: GET url, or POST the small JSON text post, or POST the
 * streamed body up.  Returns UR_OK (2xx, answer parsed), UR_RETRY,
 * UR_DENIED or UR_FAILED with a message in err (scrubbed).
 */
static int request(cli_ucm *u, const char *what, const char *url, const char *post, upload_body *up,
                   answer *a, char *err)
{
    CURL *h = u->curl;
    if (h == NULL) {
        h = u->curl = curl_easy_init();
        if (h == NULL) {
            cli_err(err, "%s: cannot create a libcurl handle", what);
            return UR_FAILED;
        }
    }
    curl_easy_reset(h);
    u->retry_after = -1;
    char cerr[CURL_ERROR_SIZE];
    cerr[0] = '\0';
    struct curl_slist *hdr = NULL, *t;
    const char *hl[] = {"Accept: application/json", "Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < (post || up ? 3u : 1u); i++) {
        t = curl_slist_append(hdr, hl[i]);
        if (t == NULL) {
            curl_slist_free_all(hdr);
            cli_err(err, "out of memory");
            return UR_FAILED;
        }
        hdr = t;
    }
    a->curl = h;
    CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    SET(CURLOPT_USERNAME, u->user);
    SET(CURLOPT_PASSWORD, u->password);
    SET(CURLOPT_CONNECTTIMEOUT, u->connect_timeout);
    SET(CURLOPT_TIMEOUT, u->timeout);
    SET(CURLOPT_SSL_VERIFYPEER, u->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, u->insecure ? 0L : 2L);
    if (u->cacert) {
        /* That bundle alone, not the system's store besides. */
        SET(CURLOPT_CAINFO, u->cacert);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    /* A loopback service over http:// is reached directly: no proxy sees the password. */
    if (u->plain_http && u->loopback)
        SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_USERAGENT, "onhandpub/" OHP_VERSION_STRING);
    SET(CURLOPT_ERRORBUFFER, cerr);
    SET(CURLOPT_HTTPHEADER, hdr);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, a);
    if (up) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, up);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, up);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload_length(up));
    } else if (post) {
        SET(CURLOPT_POSTFIELDS, post);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    if (cc == CURLE_OK)
        cc = curl_easy_perform(h);
    else
        snprintf(cerr, sizeof cerr, "cannot set up the request: %s", curl_easy_strerror(cc));
    long status = 0;
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* Seconds, or an HTTP date made relative; 0 when absent or in the past. */
    curl_off_t retry_after = 0;
    if (cc == CURLE_OK && (status == 429 || status == 503) &&
        curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
        u->retry_after = (double)retry_after;
    /* Drop the references to our buffers and the credentials' copies. */
    curl_easy_reset(h);
    curl_slist_free_all(hdr);
    if (a->status == 0)
        a->status = status;

    int outcome;
    char msg[CLI_ERRSIZE];
    if (up && up->failed) {
        snprintf(msg, sizeof msg, "%s", up->err);
        outcome = UR_FAILED;
    } else if (a->failed) {
        snprintf(msg, sizeof msg, "the service's answer was refused: %s", a->err);
        outcome = UR_FAILED;
    } else if (cc != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        size_t ml = strlen(msg);
        while (ml > 0 && msg[ml - 1] == '\n')
            msg[--ml] = '\0';
        outcome = transient(cc) ? UR_RETRY : UR_FAILED;
    } else if (a->status >= 200 && a->status < 300) {
        if (a->jp && json_finish(a->jp) != 0) {
            snprintf(msg, sizeof msg, "the service's answer was refused: %s", a->jp->err);
            outcome = UR_FAILED;
        } else {
            outcome = UR_OK;
            msg[0] = '\0';
        }
    } else {
        char text[512];
        excerpt(a->body, a->bodylen, text, sizeof text);
        snprintf(msg, sizeof msg, "HTTP %ld%s%s", a->status, text[0] ? ": " : "", text);
        if (a->status == 401 || a->status == 403)
            outcome = UR_DENIED;
        else if (a->status == 429 || (a->status >= 500 && a->status < 600))
            outcome = UR_RETRY; /* too many requests, or a server error */
        else
            outcome = UR_FAILED;
    }
    if (outcome != UR_OK) {
        if (outcome == UR_DENIED)
            cli_err(err, "%s: not authorized by the content server (%s)", what, msg);
        else
            cli_err(err, "%s: %s", what, msg);
        scrub(u, err, CLI_ERRSIZE);
    }
    return outcome;
}

static double backoff_for(const cli_ucm *u, unsigned attempt)
{
    double s = u->backoff;
    for (unsigned i = 1; i < attempt && s < 3600; i++)
        s *= 2;
    return s;
}

/*
 * The wait before retry number attempt: the last answer's Retry-After
 * (429 or 503) when it gave one, at most RETRY_AFTER_MAX seconds, else the
 * backoff.  how (size bytes) says which, for the message.
 */
static double retry_wait(const cli_ucm *u, unsigned attempt, char *how, size_t size)
{
    how[0] = '\0';
    if (u->retry_after < 0)
        return backoff_for(u, attempt);
    if (u->retry_after > RETRY_AFTER_MAX) {
        snprintf(how, size,
                 " (the service asked for %.0f s with Retry-After; waiting at most %.0f s)",
                 u->retry_after, RETRY_AFTER_MAX);
        return RETRY_AFTER_MAX;
    }
    snprintf(how, size, " (as the service asked with Retry-After)");
    return u->retry_after;
}

/* ---- listing ---- */

typedef struct doc_entry {
    char *id, *name;
    int nul; /* the id or the file name holds a NUL byte (kept up to it only) */
} doc_entry;

typedef struct listing {
    int in_items;
    char id[SMALL_MAX], name[SMALL_MAX];
    size_t idlen, namelen;
    int have_id, have_name, id_long, name_long, nul;
    int field; /* 1 collecting DocumentId, 2 FileName */
    doc_entry *docs;
    size_t count, cap;
    int oom, too_many;
    int has_more; /* the page says more follow ("hasMore": true) */
    size_t seen;  /* item objects read, usable or not */
} listing;

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->docs[i].id);
        free(l->docs[i].name);
    }
    free(l->docs);
    memset(l, 0, sizeof *l);
}

static void collect(char *buf, size_t *len, int *too_long, int *nul, const char *data, size_t n)
{
    if (memchr(data, '\0', n) != NULL)
        *nul = 1;
    if (*len + n >= SMALL_MAX) {
        *too_long = 1;
        return;
    }
    memcpy(buf + *len, data, n);
    *len += n;
    buf[*len] = '\0';
}

static int on_list_event(void *ud, int ev, int depth, const char *key, const char *data, size_t len)
{
    listing *l = ud;
    if (depth == 1 && key && strcmp(key, "hasMore") == 0) {
        l->has_more = ev == JEV_SCALAR && strcmp(data, "true") == 0;
        return 0;
    }
    if (depth == 1 && key && strcmp(key, "items") == 0) {
        if (ev == JEV_ARR_OPEN)
            l->in_items = 1;
        else if (ev == JEV_ARR_CLOSE)
            l->in_items = 0;
        return 0;
    }
    if (!l->in_items)
        return 0;
    if (depth == 2 && ev == JEV_OBJ_OPEN) {
        l->idlen = l->namelen = 0;
        l->id[0] = l->name[0] = '\0';
        l->have_id = l->have_name = l->id_long = l->name_long = l->nul = 0;
        return 0;
    }
    if (depth == 2 && ev == JEV_OBJ_CLOSE) {
        l->seen++;
        if (!l->have_id && !l->have_name)
            return 0;
        if (l->count == LIST_MAX) {
            l->too_many = 1;
            return -1;
        }
        if (l->count == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            doc_entry *d = realloc(l->docs, cap * sizeof *d);
            if (d == NULL) {
                l->oom = 1;
                return -1;
            }
            l->docs = d;
            l->cap = cap;
        }
        /* An over-long or missing value becomes "" and is refused by the caller. */
        doc_entry *d = &l->docs[l->count];
        d->id = xstrdup(l->have_id && !l->id_long ? l->id : "");
        d->name = xstrdup(l->have_name && !l->name_long ? l->name : "");
        d->nul = l->nul;
        if (d->id == NULL || d->name == NULL) {
            free(d->id);
            free(d->name);
            l->oom = 1;
            return -1;
        }
        l->count++;
        return 0;
    }
    if (depth != 3 || key == NULL)
        return 0;
    int f = strcmp(key, "DocumentId") == 0 ? 1 : strcmp(key, "FileName") == 0 ? 2 : 0;
    if (f == 0)
        return 0;
    if (ev == JEV_STR || ev == JEV_SCALAR) {
        if (ev == JEV_SCALAR && (strcmp(data, "null") == 0 || f == 2))
            return 0;
        if (f == 1) {
            collect(l->id, &l->idlen, &l->id_long, &l->nul, data, len);
            l->have_id = 1;
        } else {
            collect(l->name, &l->namelen, &l->name_long, &l->nul, data, len);
            l->have_name = 1;
        }
    } else if (ev == JEV_STR_END) {
        if (f == 1)
            l->have_id = 1;
        else
            l->have_name = 1;
    }
    return 0;
}

static char *escape_value(cli_ucm *u, const char *s)
{
    char *e = curl_easy_escape(u->curl, s, 0);
    if (e == NULL)
        return NULL;
    char *copy = xstrdup(e);
    curl_free(e);
    return copy;
}

/* List the account's documents whose names start with prefix. */
static int list_prefix(cli_ucm *u, const char *prefix, listing *l, char *err)
{
    memset(l, 0, sizeof *l);
    if (u->curl == NULL && (u->curl = curl_easy_init()) == NULL) {
        cli_err(err, "cannot create a libcurl handle");
        return UR_FAILED;
    }
    char *p = escape_value(u, prefix), *acc = escape_value(u, u->account);
    size_t n =
        strlen(u->url) + strlen(RESOURCE) + (p ? strlen(p) : 0) + (acc ? strlen(acc) : 0) + 160;
    char *url = xmalloc(n);
    json_parser *jp = malloc(sizeof *jp);
    answer *a = malloc(sizeof *a);
    int rc = UR_FAILED;
    if (p == NULL || acc == NULL || url == NULL || jp == NULL || a == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    /* Page by page ("limit", "offset"), as long as the service says "hasMore". */
    for (size_t offset = 0;;) {
        snprintf(url, n,
                 "%s" RESOURCE "?finder=DocumentIdsByFilePrefixRF;filePrefix=%s,docAccount=%s,"
                 "comment=%%23NULL&limit=%d&offset=%zu",
                 u->url, p, acc, LIST_PAGE, offset);
        size_t before = l->seen;
        l->has_more = 0;
        json_init(jp, on_list_event, l);
        memset(a, 0, sizeof *a);
        a->jp = jp;
        a->limit = ANSWER_MAX;
        rc = request(u, "UCM listing", url, NULL, NULL, a, err);
        if (rc == UR_FAILED && (l->oom || l->too_many))
            cli_err(err, "UCM listing: %s",
                    l->oom ? "out of memory" : "more documents than can be handled at once");
        if (rc != UR_OK || !l->has_more)
            break;
        if (l->seen == before) {
            cli_err(err, "UCM listing: the service says more documents follow but sent none");
            rc = UR_FAILED;
            break;
        }
        offset += l->seen - before;
    }
out:
    free(p);
    free(acc);
    free(url);
    free(jp);
    free(a);
    if (rc != UR_OK)
        listing_free(l);
    return rc;
}

/* ---- upload ---- */

/*
 * What is kept of the upload's answer: DocumentId only.  The rest, the
 * echoed DocumentContent included (as large as the upload's base64), goes
 * through the streaming parser and is dropped chunk by chunk.
 */
typedef struct upload_answer {
    char id[SMALL_MAX];
    size_t idlen;
    int have, too_long;
    int ended; /* a DocumentId value was read whole */
    int twice; /* ... and another one followed */
} upload_answer;

static int on_upload_event(void *ud, int ev, int depth, const char *key, const char *data,
                           size_t len)
{
    upload_answer *r = ud;
    if (depth != 1 || key == NULL || strcmp(key, "DocumentId") != 0)
        return 0;
    if (r->ended && (ev == JEV_STR || ev == JEV_STR_END || ev == JEV_SCALAR)) {
        r->twice = 1;
        return 0;
    }
    if (ev == JEV_STR || (ev == JEV_SCALAR && strcmp(data, "null") != 0)) {
        /* an id holding a NUL byte is as unusable as an over-long one */
        collect(r->id, &r->idlen, &r->too_long, &r->too_long, data, len);
        r->have = 1;
    }
    if (ev == JEV_STR_END || ev == JEV_SCALAR)
        r->ended = 1;
    return 0;
}

/*
 * One upload.  *unsure is set when the service said 2xx but its answer
 * could not be used: the document may have been stored all the same.
 */
static int upload_once(cli_ucm *u, upload_body *b, const char *url, char **id, int *unsure,
                       char *err)
{
    *unsure = 0;
    json_parser *jp = malloc(sizeof *jp);
    answer *a = calloc(1, sizeof *a);
    upload_answer r;
    memset(&r, 0, sizeof r);
    if (jp == NULL || a == NULL) {
        free(jp);
        free(a);
        cli_err(err, "out of memory");
        return UR_FAILED;
    }
    json_init(jp, on_upload_event, &r);
    a->jp = jp;
    a->limit = 0; /* the echo of DocumentContent is as long as the upload: no limit */
    (void)on_seek(b, 0, SEEK_SET);
    b->failed = 0;
    int rc = request(u, "UCM upload", url, NULL, b, a, err);
    int ok_status = a->status >= 200 && a->status < 300;
    free(jp);
    free(a);
    if (rc != UR_OK) {
        *unsure = rc == UR_FAILED && ok_status && !b->failed;
        return rc;
    }
    if (!r.have || r.too_long || r.twice || !valid_id(r.id)) {
        cli_err(err, "UCM upload: the service answered %s",
                r.twice ? "with more than one DocumentId" : "without a usable document id");
        *unsure = 1;
        return UR_FAILED;
    }
    *id = xstrdup(r.id);
    if (*id == NULL) {
        cli_err(err, "out of memory");
        return UR_FAILED;
    }
    return UR_OK;
}

int cli_ucm_sink_publish(void *ud, int dirfd, const char *name, dev_t dev, ino_t ino, char *err)
{
    return cli_ucm_upload(ud, dirfd, name, dev, ino, err);
}

/*
 * Look the account up by the exact file name: UR_OK with *id the
 * document's id (malloc'ed) or NULL when there is none, or the listing's
 * failure.
 */
static int find_document(cli_ucm *u, const char *name, char **id, char *err)
{
    *id = NULL;
    listing l;
    int lr = list_prefix(u, name, &l, err);
    if (lr != UR_OK)
        return lr;
    for (size_t i = 0; i < l.count && *id == NULL; i++)
        if (strcmp(l.docs[i].name, name) == 0 && valid_id(l.docs[i].id)) {
            *id = xstrdup(l.docs[i].id);
            if (*id == NULL) {
                cli_err(err, "out of memory");
                lr = UR_FAILED;
                break;
            }
        }
    listing_free(&l);
    return lr;
}

static int finish_failure(cli_ucm *u, int outcome)
{
    u->exit_status = outcome == UR_DENIED ? EXIT_DENIED_ : EXIT_FAILED_;
    return -1;
}

int cli_ucm_upload(cli_ucm *u, int dirfd, const char *name, dev_t dev, ino_t ino, char *err)
{
    u->exit_status = 0;
    u->found_existing = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
        cli_err(err, "UCM upload: cannot open '%s' again: %s", name,
                fd < 0 ? strerror(errno) : "it was replaced");
        if (fd >= 0)
            (void)close(fd);
        return finish_failure(u, UR_FAILED);
    }
    char *qacc = json_quote(u->account), *qname = json_quote(name);
    static const char prefix[] = "{\"OperationName\":\"uploadFileToUCM\",\"DocumentContent\":\"";
    size_t sl = (qacc ? strlen(qacc) : 0) + (qname ? strlen(qname) : 0) + 128;
    char *suffix = xmalloc(sl);
    size_t ul = strlen(u->url) + sizeof RESOURCE;
    char *url = xmalloc(ul);
    upload_body *b = calloc(1, sizeof *b);
    int outcome = UR_FAILED;
    if (qacc == NULL || qname == NULL || suffix == NULL || url == NULL || b == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    snprintf(url, ul, "%s" RESOURCE, u->url);
    snprintf(suffix, sl,
             "\",\"DocumentAccount\":%s,\"ContentType\":\"zip\",\"FileName\":%s,"
             "\"DocumentId\":null}",
             qacc, qname);
    b->prefix = prefix;
    b->prefix_len = sizeof prefix - 1;
    b->suffix = suffix;
    b->suffix_len = strlen(suffix);
    b->fd = fd;
    b->size = (uint64_t)st.st_size;

    char last[CLI_ERRSIZE] = "";
    for (unsigned attempt = 0;; attempt++) {
        if (attempt > 0) {
            if (attempt > u->retries) {
                cli_err(err, "%s (gave up after %u attempt%s)", last, attempt,
                        attempt == 1 ? "" : "s");
                outcome = UR_FAILED;
                break;
            }
            char how[128];
            double wait = retry_wait(u, attempt, how, sizeof how);
            fprintf(stderr, "onhandpub: %s; checking the content server and retrying in %.1f s%s\n",
                    last, wait, how);
            sleep_seconds(wait);
            /* Did the document arrive after all?  Then take it; never upload twice. */
            char *found = NULL;
            int lr = find_document(u, name, &found, err);
            if (lr == UR_RETRY) {
                snprintf(last, sizeof last, "%s", err);
                continue; /* not known: no upload on this attempt */
            }
            if (lr != UR_OK) {
                outcome = lr;
                break;
            }
            if (found) {
                u->document_id = found;
                u->found_existing = 1;
                outcome = UR_OK;
                break;
            }
        }
        char *id = NULL;
        int unsure;
        outcome = upload_once(u, b, url, &id, &unsure, err);
        if (outcome == UR_OK) {
            u->document_id = id;
            break;
        }
        if (outcome == UR_FAILED && unsure) {
            /* Accepted, but the answer is unusable: stored or not?  Never upload twice. */
            char lerr[CLI_ERRSIZE], msg[CLI_ERRSIZE];
            char *found = NULL;
            int lr = find_document(u, name, &found, lerr);
            if (lr == UR_OK && found) {
                u->document_id = found;
                u->found_existing = 1;
                outcome = UR_OK;
                break;
            }
            if (lr == UR_OK)
                snprintf(msg, sizeof msg, "%s; the account holds no document of that name", err);
            else
                snprintf(msg, sizeof msg,
                         "%s; whether the document was stored is unknown: the listing failed "
                         "(%s)",
                         err, lerr);
            snprintf(err, CLI_ERRSIZE, "%s", msg);
            break;
        }
        if (outcome != UR_RETRY)
            break;
        snprintf(last, sizeof last, "%s", err);
    }
out:
    (void)close(fd);
    free(qacc);
    free(qname);
    free(suffix);
    free(url);
    free(b);
    if (outcome != UR_OK)
        return finish_failure(u, outcome);
    return 0;
}

/* ---- fetch: the state file of fetched documents ---- */

#define FETCH_MAGIC "ONHANDPUB_FETCH"
#define FETCH_VERSION "1"
static const char *const fetch_columns[] = {"DOCUMENT_ID", "FILE_NAME", "FETCHED_DATE"};

typedef struct fetch_row {
    char *id, *name;
    int64_t when;
} fetch_row;

typedef struct fetch_state {
    const char *path;
    char *dir, *base;
    int dirfd, lockfd;
    fetch_row *rows;
    size_t count, cap;
} fetch_state;

static int fd_read(void *ud, void *buf, size_t cap, size_t *got)
{
    int fd = *(const int *)ud;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return -1;
    }
}

static const fetch_row *fetch_find(const fetch_state *fs, const char *id)
{
    for (size_t i = 0; i < fs->count; i++)
        if (strcmp(fs->rows[i].id, id) == 0)
            return &fs->rows[i];
    return NULL;
}

static int fetch_add(fetch_state *fs, const char *id, const char *name, int64_t when)
{
    if (fs->count == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        fetch_row *r = realloc(fs->rows, cap * sizeof *r);
        if (r == NULL)
            return -1;
        fs->rows = r;
        fs->cap = cap;
    }
    fetch_row *r = &fs->rows[fs->count];
    r->id = xstrdup(id);
    r->name = xstrdup(name);
    r->when = when;
    if (r->id == NULL || r->name == NULL) {
        free(r->id);
        free(r->name);
        return -1;
    }
    fs->count++;
    return 0;
}

static void fetch_state_close(fetch_state *fs)
{
    for (size_t i = 0; i < fs->count; i++) {
        free(fs->rows[i].id);
        free(fs->rows[i].name);
    }
    free(fs->rows);
    free(fs->dir);
    free(fs->base);
    if (fs->dirfd >= 0)
        (void)close(fs->dirfd);
    if (fs->lockfd >= 0)
        (void)close(fs->lockfd); /* releases the lock */
    fs->rows = NULL;
    fs->dir = fs->base = NULL;
    fs->dirfd = fs->lockfd = -1;
    fs->count = fs->cap = 0;
}

static int fetch_parse(fetch_state *fs, int fd, char *err)
{
    ohp_psv_reader *r = NULL;
    if (ohp_psv_reader_new(&r, fd_read, &fd, 65536, NULL) != OHP_OK) {
        cli_err(err, "out of memory");
        return -1;
    }
    const char *const *f;
    size_t n;
    int rc, ret = -1;
    uint64_t line = 0;
    for (;;) {
        rc = ohp_psv_reader_next(r, &f, &n);
        if (rc <= 0)
            break;
        line = ohp_psv_reader_line(r);
        if (line == 1) {
            if (n != 2 || strcmp(f[0], FETCH_MAGIC) != 0 || strcmp(f[1], FETCH_VERSION) != 0) {
                cli_err(err, "fetch state file '%s' line 1: expected '%s|%s'", fs->path,
                        FETCH_MAGIC, FETCH_VERSION);
                goto out;
            }
            continue;
        }
        if (line == 2) {
            if (n != 3 || strcmp(f[0], fetch_columns[0]) != 0 ||
                strcmp(f[1], fetch_columns[1]) != 0 || strcmp(f[2], fetch_columns[2]) != 0) {
                cli_err(err, "fetch state file '%s' line 2: expected the header %s|%s|%s", fs->path,
                        fetch_columns[0], fetch_columns[1], fetch_columns[2]);
                goto out;
            }
            continue;
        }
        int64_t when;
        if (n != 3) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": expected 3 fields, found %zu",
                    fs->path, line, n);
            goto out;
        }
        if (!valid_id(f[0]) || !valid_name(f[1]) || ohp_date_parse(f[2], &when) != OHP_OK) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": bad %s", fs->path, line,
                    !valid_id(f[0])     ? "document id"
                    : !valid_name(f[1]) ? "file name"
                                        : "date");
            goto out;
        }
        if (fetch_find(fs, f[0]) != NULL) {
            cli_err(err, "fetch state file '%s' line %" PRIu64 ": document %s listed twice",
                    fs->path, line, f[0]);
            goto out;
        }
        if (fetch_add(fs, f[0], f[1], when) != 0) {
            cli_err(err, "out of memory");
            goto out;
        }
    }
    if (rc < 0) {
        cli_err(err, "fetch state file '%s': %s", fs->path, ohp_psv_reader_errmsg(r));
        goto out;
    }
    if (line < 2) {
        cli_err(err, "fetch state file '%s' is %s", fs->path,
                line == 0 ? "empty" : "missing its header line");
        goto out;
    }
    ret = 0;
out:
    ohp_psv_reader_free(r);
    return ret;
}

/* Lock "<path>.lock" and load path (missing: nothing fetched yet). */
static int fetch_state_open(fetch_state *fs, const char *path, char *err)
{
    fs->path = path;
    fs->dirfd = fs->lockfd = -1;
    if (cli_split_path(path, &fs->dir, &fs->base, err) != 0 ||
        cli_open_dir(fs->dir, &fs->dirfd, err) != 0)
        return -1;
    char *lock = xmalloc(strlen(fs->base) + 6);
    char *lockpath = xmalloc(strlen(path) + 6);
    if (lock == NULL || lockpath == NULL) {
        free(lock);
        free(lockpath);
        cli_err(err, "out of memory");
        return -1;
    }
    sprintf(lock, "%s.lock", fs->base);
    sprintf(lockpath, "%s.lock", path);
    /* Both refused at once, before any waiting: a link, a FIFO, a device, a directory. */
    int bad = cli_check_regular(fs->dirfd, fs->base, "fetch state file", path, err) != 0 ||
              cli_check_regular(fs->dirfd, lock, "lock file", lockpath, err) != 0 ||
              cli_lock_open(fs->dirfd, lock, lockpath, &fs->lockfd, err) != 0;
    free(lock);
    free(lockpath);
    if (bad)
        return -1;
    /* Temporaries of killed runs where O_TMPFILE is not available, under the lock. */
    (void)cli_clean_temporaries(fs->dirfd, fs->base);
    int fd = -1;
    if (cli_state_file_open(fs->dirfd, fs->base, "fetch state file", path, &fd, err) != 0)
        return -1;
    if (fd < 0)
        return 0;
    int rc = fetch_parse(fs, fd, err);
    (void)close(fd);
    return rc;
}

static int fetch_state_save(fetch_state *fs, char *err)
{
    cli_atomic a = CLI_ATOMIC_INIT;
    if (cli_atomic_open(&a, fs->dirfd, fs->dir, fs->base, 0, err) != 0)
        return -1;
    char line[256];
    snprintf(line, sizeof line, "%s|%s\n%s|%s|%s\n", FETCH_MAGIC, FETCH_VERSION, fetch_columns[0],
             fetch_columns[1], fetch_columns[2]);
    int rc = cli_atomic_write(&a, line, strlen(line), err);
    for (size_t i = 0; rc == 0 && i < fs->count; i++) {
        char date[OHP_DATE_BUFSIZE];
        if (ohp_date_format(fs->rows[i].when, 0, date) != OHP_OK)
            snprintf(date, sizeof date, "1970/01/01 00:00:00");
        rc = cli_atomic_field(&a, fs->rows[i].id, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&a, fs->rows[i].name, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&a, date, err);
        if (rc == 0)
            rc = cli_atomic_write(&a, "\n", 1, err);
    }
    if (rc != 0) {
        cli_atomic_abort(&a);
        return -1;
    }
    return cli_atomic_commit(&a, 0, err);
}

/* ---- fetch: download, check, save ---- */

typedef struct download {
    cli_atomic *file;
    b64_decoder dec;
    int have_content;
    int failed;
    unsigned char out[JSON_CHUNK / 4 * 3 + 8];
    char err[CLI_ERRSIZE];
} download;

static int on_download_event(void *ud, int ev, int depth, const char *key, const char *data,
                             size_t len)
{
    download *d = ud;
    if (depth != 1 || key == NULL || strcmp(key, "DocumentContent") != 0)
        return 0;
    if (ev == JEV_STR) {
        d->have_content = 1;
        /* The parser hands over at most JSON_CHUNK characters at a time. */
        long n = b64_decode(&d->dec, data, len, d->out);
        if (n < 0) {
            d->failed = 1;
            cli_err(d->err, "DocumentContent is not valid base64");
            return -1;
        }
        if (n > 0 && cli_atomic_write(d->file, d->out, (size_t)n, d->err) != 0) {
            d->failed = 1;
            return -1;
        }
    } else if (ev == JEV_STR_END) {
        d->have_content = 1;
    }
    return 0;
}

/* zipread.c over a file descriptor (with fd_read above). */
static int fd_seek(void *ud, uint64_t off)
{
    return off > (uint64_t)INT64_MAX || lseek(*(int *)ud, (off_t)off, SEEK_SET) < 0 ? -1 : 0;
}

/*
 * A valid ZIP with exactly one .psv entry whose data inflate to its size and
 * match its CRC-32, read as `reconcile` reads it (docs/psv-format.md, "Reading
 * an archive back").
 */
static int zip_check(const char *path, char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cli_err(err, "cannot read it back: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    zr_io io = {0};
    io.read = fd_read;
    io.seek = fd_seek;
    io.ud = &fd;
    io.size = (uint64_t)st.st_size;
    zipread z;
    zr_init(&z, &io);
    int ret = -1;
    unsigned char *buf = NULL;
    int rc = zr_open(&z);
    if (rc != ZR_OK) {
        cli_err(err, "%s", z.err);
        goto out;
    }
    if (z.name_len < 5 || strcmp(z.name + z.name_len - 4, ".psv") != 0 ||
        strchr(z.name, '/') != NULL) {
        cli_err(err, "the ZIP's entry '%.200s' is not a .psv file", z.name);
        goto out;
    }
    if ((buf = malloc(65536)) == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    size_t got;
    while ((rc = zr_read(&z, buf, 65536, &got)) == ZR_OK && got > 0)
        ;
    if (rc != ZR_OK) {
        cli_err(err, "the ZIP's entry '%.200s': %s", z.name, z.err);
        goto out;
    }
    ret = 0;
out:
    free(buf);
    zr_close(&z);
    close(fd);
    return ret;
}

/* Download one document into a temporary file in outdir, check it, rename it. */
static int fetch_one(cli_ucm *u, const char *url, int dirfd, const char *outdir,
                     const doc_entry *doc, char *err)
{
    char *qid = json_quote(doc->id);
    size_t bl = (qid ? strlen(qid) : 0) + 80;
    char *body = xmalloc(bl);
    download *d = calloc(1, sizeof *d);
    json_parser *jp = malloc(sizeof *jp);
    answer *a = malloc(sizeof *a);
    cli_atomic file = CLI_ATOMIC_INIT;
    char what[256];
    int outcome = UR_FAILED;
    snprintf(what, sizeof what, "UCM download of document %s", doc->id);
    if (qid == NULL || body == NULL || d == NULL || jp == NULL || a == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    snprintf(body, bl, "{\"OperationName\":\"getDocumentForDocumentId\",\"DocumentId\":%s}", qid);
    for (unsigned attempt = 0;; attempt++) {
        if (attempt > 0) {
            char how[128];
            double wait = retry_wait(u, attempt, how, sizeof how);
            fprintf(stderr, "onhandpub: %s; retrying in %.1f s%s\n", err, wait, how);
            sleep_seconds(wait);
        }
        if (cli_atomic_open(&file, dirfd, outdir, doc->name, 1, err) != 0) {
            outcome = UR_FAILED;
            break;
        }
        memset(d, 0, sizeof *d);
        d->file = &file;
        json_init(jp, on_download_event, d);
        memset(a, 0, sizeof *a);
        a->jp = jp;
        outcome = request(u, what, url, body, NULL, a, err);
        if (outcome == UR_FAILED && d->failed)
            cli_err(err, "%s: %s", what, d->err);
        if (outcome == UR_OK && (!d->have_content || b64_finish(&d->dec) != 0)) {
            cli_err(err, "%s: %s", what,
                    d->have_content ? "DocumentContent is not valid base64"
                                    : "the answer has no DocumentContent");
            outcome = UR_FAILED;
        }
        if (outcome == UR_OK || outcome != UR_RETRY || attempt >= u->retries)
            break;
        cli_atomic_abort(&file);
    }
    if (outcome != UR_OK)
        goto out;
    /* Check the ZIP where it lies, as the temporary file (unnamed or named). */
    char tmppath[PATH_MAX];
    char zerr[CLI_ERRSIZE];
    if (cli_atomic_flush(&file, err) != 0 ||
        cli_atomic_read_path(&file, tmppath, sizeof tmppath, err) != 0) {
        outcome = UR_FAILED;
        goto out;
    }
    if (zip_check(tmppath, zerr) != 0) {
        cli_err(err, "document %s (%s) refused: %s", doc->id, doc->name, zerr);
        outcome = UR_FAILED;
        goto out;
    }
    /* Put in place without replacing anything (linkat / RENAME_NOREPLACE). */
    if (cli_atomic_commit(&file, 1, err) != 0) {
        outcome = UR_FAILED;
        goto out;
    }
out:
    cli_atomic_abort(&file);
    free(qid);
    free(body);
    free(d);
    free(jp);
    free(a);
    return outcome;
}

int cli_ucm_fetch(cli_ucm *u, const char *prefix, const char *outdir, const char *state_path)
{
    char err[CLI_ERRSIZE];
    fetch_state fs;
    memset(&fs, 0, sizeof fs);
    fs.dirfd = fs.lockfd = -1;
    int outfd = -1, status = 0;
    char *url = NULL;
    listing l;
    memset(&l, 0, sizeof l);
    if (cli_open_dir(outdir, &outfd, err) != 0) {
        fprintf(stderr, "onhandpub: option --outdir: %s\n", err);
        return EXIT_USAGE_;
    }
    if (state_path && fetch_state_open(&fs, state_path, err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        status = EXIT_FAILED_;
        goto out;
    }
    /* Temporaries of killed fetches where O_TMPFILE is not available. */
    (void)cli_clean_temporaries(outfd, NULL);
    size_t ul = strlen(u->url) + sizeof RESOURCE;
    url = xmalloc(ul);
    if (url == NULL) {
        fprintf(stderr, "onhandpub: out of memory\n");
        status = EXIT_FAILED_;
        goto out;
    }
    snprintf(url, ul, "%s" RESOURCE, u->url);

    /* The listing, retried like any request. */
    int lr;
    for (unsigned attempt = 0;; attempt++) {
        lr = list_prefix(u, prefix, &l, err);
        if (lr != UR_RETRY || attempt >= u->retries)
            break;
        char how[128];
        double wait = retry_wait(u, attempt + 1, how, sizeof how);
        fprintf(stderr, "onhandpub: %s; retrying in %.1f s%s\n", err, wait, how);
        sleep_seconds(wait);
    }
    if (lr != UR_OK) {
        fprintf(stderr, "onhandpub: %s\n", err);
        status = lr == UR_DENIED ? EXIT_DENIED_ : EXIT_FAILED_;
        goto out;
    }

    size_t fetched = 0, skipped = 0, failed = 0;
    for (size_t i = 0; i < l.count; i++) {
        const doc_entry *doc = &l.docs[i];
        if (doc->nul || !valid_id(doc->id) || !valid_name(doc->name)) {
            char idtxt[64], nametxt[128];
            excerpt(doc->id, strlen(doc->id), idtxt, sizeof idtxt);
            excerpt(doc->name, strlen(doc->name), nametxt, sizeof nametxt);
            fprintf(stderr, "onhandpub: document '%s' (%s) refused: unusable %s\n", idtxt, nametxt,
                    doc->nul             ? "document id or file name (it holds a NUL byte)"
                    : !valid_id(doc->id) ? "document id"
                                         : "file name");
            failed++;
            continue;
        }
        /* Only names with the prefix (the service matches by prefix too). */
        if (strncmp(doc->name, prefix, strlen(prefix)) != 0)
            continue;
        if (fetch_find(&fs, doc->id) != NULL) {
            skipped++;
            continue;
        }
        int rc = fetch_one(u, url, outfd, outdir, doc, err);
        if (rc == UR_DENIED) {
            fprintf(stderr, "onhandpub: %s\n", err);
            status = EXIT_DENIED_;
            goto summary;
        }
        if (rc != UR_OK) {
            fprintf(stderr, "onhandpub: %s\n", err);
            failed++;
            continue;
        }
        char *path = cli_join(outdir, doc->name);
        printf("%s\n", path ? path : doc->name);
        free(path);
        fetched++;
        if (state_path) {
            int bad = fetch_add(&fs, doc->id, doc->name, (int64_t)time(NULL));
            if (bad)
                cli_err(err, "out of memory");
            else
                bad = fetch_state_save(&fs, err);
            if (bad) {
                fprintf(stderr,
                        "onhandpub: %s was saved but the fetch state file could not be "
                        "written: %s; the next fetch will download it again\n",
                        doc->name, err);
                status = EXIT_FAILED_;
                goto summary;
            }
        }
    }
summary:
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        status = EXIT_FAILED_;
    }
    fprintf(stderr,
            "onhandpub: fetched %zu document%s, %zu fetched before, %zu refused or failed "
            "(prefix %s, account %s)\n",
            fetched, fetched == 1 ? "" : "s", skipped, failed, prefix, u->account);
    if (status == 0 && failed > 0)
        status = EXIT_FAILED_;
out:
    listing_free(&l);
    free(url);
    fetch_state_close(&fs);
    if (outfd >= 0)
        (void)close(outfd);
    return status;
}

#endif /* ONHANDPUB_HAVE_CURL */
