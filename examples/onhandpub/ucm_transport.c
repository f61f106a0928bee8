/*
 * One request to the content server through libcurl: bodies streamed both
 * ways, answers parsed as they arrive, retries with backoff after a network
 * error, a 429 or a 5xx answer (a Retry-After waited instead).
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

/* ---- HTTP ---- */

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

int ucm_on_seek(void *ud, curl_off_t offset, int origin)
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

/* The request's headers: JSON accepted, and for a body its type (no "Expect: 100-continue"). */
static struct curl_slist *request_headers(int with_body)
{
    static const char *const hl[] = {"Accept: application/json", "Content-Type: application/json",
                                     "Expect:"};
    struct curl_slist *hdr = NULL, *t;
    for (size_t i = 0; i < (with_body ? 3u : 1u); i++) {
        t = curl_slist_append(hdr, hl[i]);
        if (t == NULL) {
            curl_slist_free_all(hdr);
            return NULL;
        }
        hdr = t;
    }
    return hdr;
}

/* Every option of one request on h: the first failure, or CURLE_OK. */
static CURLcode set_options(const cli_ucm *u, CURL *h, const char *url, const char *post,
                            upload_body *up, answer *a, struct curl_slist *hdr, char *cerr)
{
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
        SET(CURLOPT_SEEKFUNCTION, ucm_on_seek);
        SET(CURLOPT_SEEKDATA, up);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload_length(up));
    } else if (post) {
        SET(CURLOPT_POSTFIELDS, post);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return cc;
}

/*
 * The request's outcome from what libcurl, the upload body and the answer
 * said: UR_OK, UR_RETRY (network errors, 429, 5xx), UR_DENIED (401, 403)
 * or UR_FAILED; msg (CLI_ERRSIZE bytes) says why when it is not UR_OK.
 */
static int outcome_of(const upload_body *up, const answer *a, CURLcode cc, const char *cerr,
                      char *msg)
{
    const size_t msgsize = CLI_ERRSIZE;
    int outcome;
    if (up && up->failed) {
        snprintf(msg, msgsize, "%s", up->err);
        outcome = UR_FAILED;
    } else if (a->failed) {
        snprintf(msg, msgsize, "the service's answer was refused: %s", a->err);
        outcome = UR_FAILED;
    } else if (cc != CURLE_OK) {
        snprintf(msg, msgsize, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        size_t ml = strlen(msg);
        while (ml > 0 && msg[ml - 1] == '\n')
            msg[--ml] = '\0';
        outcome = transient(cc) ? UR_RETRY : UR_FAILED;
    } else if (a->status >= 200 && a->status < 300) {
        if (a->jp && json_finish(a->jp) != 0) {
            snprintf(msg, msgsize, "the service's answer was refused: %s", a->jp->err);
            outcome = UR_FAILED;
        } else {
            outcome = UR_OK;
            msg[0] = '\0';
        }
    } else {
        char text[512];
        ucm_excerpt(a->body, a->bodylen, text, sizeof text);
        snprintf(msg, msgsize, "HTTP %ld%s%s", a->status, text[0] ? ": " : "", text);
        if (a->status == 401 || a->status == 403)
            outcome = UR_DENIED;
        else if (a->status == 429 || (a->status >= 500 && a->status < 600))
            outcome = UR_RETRY; /* too many requests, or a server error */
        else
            outcome = UR_FAILED;
    }
    return outcome;
}

int ucm_request(cli_ucm *u, const char *what, const char *url, const char *post, upload_body *up,
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
    struct curl_slist *hdr = request_headers(post || up);
    if (hdr == NULL) {
        cli_err(err, "out of memory");
        return UR_FAILED;
    }
    a->curl = h;
    CURLcode cc = set_options(u, h, url, post, up, a, hdr, cerr);
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
    char msg[CLI_ERRSIZE];
    int outcome = outcome_of(up, a, cc, cerr, msg);
    if (outcome != UR_OK) {
        if (outcome == UR_DENIED)
            cli_err(err, "%s: not authorized by the content server (%s)", what, msg);
        else
            cli_err(err, "%s: %s", what, msg);
        ucm_scrub(u, err, CLI_ERRSIZE);
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

double ucm_retry_wait(const cli_ucm *u, unsigned attempt, char *how, size_t size)
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

#endif /* ONHANDPUB_HAVE_CURL */
