/*
 * publish --ucm: the ZIP uploaded to the content server, its base64 produced
 * while it is sent, and the document id the service answers; a retried
 * upload first looks for the document an earlier attempt may have stored.
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
        ucm_list_collect(r->id, &r->idlen, &r->too_long, &r->too_long, data, len);
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
    (void)ucm_on_seek(b, 0, SEEK_SET);
    b->failed = 0;
    int rc = ucm_request(u, "UCM upload", url, NULL, b, a, err);
    int ok_status = a->status >= 200 && a->status < 300;
    free(jp);
    free(a);
    if (rc != UR_OK) {
        *unsure = rc == UR_FAILED && ok_status && !b->failed;
        return rc;
    }
    if (!r.have || r.too_long || r.twice || !ucm_valid_id(r.id)) {
        cli_err(err, "UCM upload: the service answered %s",
                r.twice ? "with more than one DocumentId" : "without a usable document id");
        *unsure = 1;
        return UR_FAILED;
    }
    *id = ucm_xstrdup(r.id);
    if (*id == NULL) {
        cli_err(err, "out of memory");
        return UR_FAILED;
    }
    return UR_OK;
}

int cli_ucm_sink_publish(void *ud, const char *path, int fd, char *message, size_t message_size)
{
    char err[CLI_ERRSIZE];
    const char *slash = strrchr(path, '/');
    if (cli_ucm_upload(ud, fd, slash ? slash + 1 : path, err) == 0)
        return 0;
    snprintf(message, message_size, "%s", err);
    return -1;
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
    int lr = ucm_list_prefix(u, name, &l, err);
    if (lr != UR_OK)
        return lr;
    for (size_t i = 0; i < l.count && *id == NULL; i++)
        if (strcmp(l.docs[i].name, name) == 0 && ucm_valid_id(l.docs[i].id)) {
            *id = ucm_xstrdup(l.docs[i].id);
            if (*id == NULL) {
                cli_err(err, "out of memory");
                lr = UR_FAILED;
                break;
            }
        }
    ucm_listing_free(&l);
    return lr;
}

static int finish_failure(cli_ucm *u, int outcome)
{
    u->exit_status = outcome == UR_DENIED ? EXIT_DENIED_ : EXIT_FAILED_;
    return -1;
}

/* Not an outcome of a request: the attempt goes on to upload. */
#define UPLOAD_NOW (-1)

/*
 * Before a retry: wait, then look for the document an earlier attempt may
 * have stored (never upload twice).  UR_OK when it is there (taken),
 * UPLOAD_NOW when it is not, UR_RETRY when the listing failed for now
 * (last says why), another outcome when it failed for good.
 */
static int before_retry(cli_ucm *u, const char *name, unsigned attempt, char *last, char *err)
{
    char how[128];
    double wait = ucm_retry_wait(u, attempt, how, sizeof how);
    fprintf(stderr, "onhandpub: %s; checking the content server and retrying in %.1f s%s\n", last,
            wait, how);
    ucm_sleep(wait);
    char *found = NULL;
    int lr = find_document(u, name, &found, err);
    if (lr == UR_RETRY) {
        snprintf(last, CLI_ERRSIZE, "%s", err);
        return UR_RETRY; /* not known: no upload on this attempt */
    }
    if (lr != UR_OK)
        return lr;
    if (found == NULL)
        return UPLOAD_NOW;
    u->document_id = found;
    u->found_existing = 1;
    return UR_OK;
}

/* The upload was accepted but its answer is unusable: stored or not?  Never upload twice. */
static int settle_unsure(cli_ucm *u, const char *name, char *err)
{
    char lerr[CLI_ERRSIZE], msg[CLI_ERRSIZE];
    char *found = NULL;
    int lr = find_document(u, name, &found, lerr);
    if (lr == UR_OK && found) {
        u->document_id = found;
        u->found_existing = 1;
        return UR_OK;
    }
    if (lr == UR_OK)
        snprintf(msg, sizeof msg, "%s; the account holds no document of that name", err);
    else
        snprintf(msg, sizeof msg,
                 "%s; whether the document was stored is unknown: the listing failed "
                 "(%s)",
                 err, lerr);
    snprintf(err, CLI_ERRSIZE, "%s", msg);
    return UR_FAILED;
}

/* The upload of body b to url, retried after transient failures: the outcome. */
static int upload_with_retries(cli_ucm *u, upload_body *b, const char *url, const char *name,
                               char *err)
{
    char last[CLI_ERRSIZE] = "";
    for (unsigned attempt = 0;; attempt++) {
        if (attempt > 0) {
            if (attempt > u->retries) {
                cli_err(err, "%s (gave up after %u attempt%s)", last, attempt,
                        attempt == 1 ? "" : "s");
                return UR_FAILED;
            }
            int before = before_retry(u, name, attempt, last, err);
            if (before == UR_RETRY)
                continue;
            if (before != UPLOAD_NOW)
                return before;
        }
        char *id = NULL;
        int unsure;
        int outcome = upload_once(u, b, url, &id, &unsure, err);
        if (outcome == UR_OK) {
            u->document_id = id;
            return UR_OK;
        }
        if (outcome == UR_FAILED && unsure)
            return settle_unsure(u, name, err);
        if (outcome != UR_RETRY)
            return outcome;
        snprintf(last, sizeof last, "%s", err);
    }
}

int cli_ucm_upload(cli_ucm *u, int fd, const char *name, char *err)
{
    u->exit_status = 0;
    u->found_existing = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cli_err(err, "UCM upload: cannot read '%s': %s", name, strerror(errno));
        return finish_failure(u, UR_FAILED);
    }
    char *qacc = json_quote(u->account), *qname = json_quote(name);
    static const char prefix[] = "{\"OperationName\":\"uploadFileToUCM\",\"DocumentContent\":\"";
    size_t sl = (qacc ? strlen(qacc) : 0) + (qname ? strlen(qname) : 0) + 128;
    char *suffix = ucm_xmalloc(sl);
    size_t ul = strlen(u->url) + sizeof RESOURCE;
    char *url = ucm_xmalloc(ul);
    upload_body *b = calloc(1, sizeof *b);
    int outcome = UR_FAILED;
    if (qacc == NULL || qname == NULL || suffix == NULL || url == NULL || b == NULL) {
        cli_err(err, "out of memory");
    } else {
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
        outcome = upload_with_retries(u, b, url, name, err);
    }
    free(qacc);
    free(qname);
    free(suffix);
    free(url);
    free(b);
    if (outcome != UR_OK)
        return finish_failure(u, outcome);
    return 0;
}

#endif /* ONHANDPUB_HAVE_CURL */
