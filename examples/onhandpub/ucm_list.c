/*
 * The listing of the content server's documents whose file names start with a
 * prefix (the DocumentIdsByFilePrefixRF finder), page by page.
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

/* ---- listing ---- */

void ucm_listing_free(listing *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->docs[i].id);
        free(l->docs[i].name);
    }
    free(l->docs);
    memset(l, 0, sizeof *l);
}

void ucm_list_collect(char *buf, size_t *len, int *too_long, int *nul, const char *data, size_t n)
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
        d->id = ucm_xstrdup(l->have_id && !l->id_long ? l->id : "");
        d->name = ucm_xstrdup(l->have_name && !l->name_long ? l->name : "");
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
            ucm_list_collect(l->id, &l->idlen, &l->id_long, &l->nul, data, len);
            l->have_id = 1;
        } else {
            ucm_list_collect(l->name, &l->namelen, &l->name_long, &l->nul, data, len);
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
    char *copy = ucm_xstrdup(e);
    curl_free(e);
    return copy;
}

int ucm_list_prefix(cli_ucm *u, const char *prefix, listing *l, char *err)
{
    memset(l, 0, sizeof *l);
    if (u->curl == NULL && (u->curl = curl_easy_init()) == NULL) {
        cli_err(err, "cannot create a libcurl handle");
        return UR_FAILED;
    }
    char *p = escape_value(u, prefix), *acc = escape_value(u, u->account);
    size_t n =
        strlen(u->url) + strlen(RESOURCE) + (p ? strlen(p) : 0) + (acc ? strlen(acc) : 0) + 160;
    char *url = ucm_xmalloc(n);
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
        rc = ucm_request(u, "UCM listing", url, NULL, NULL, a, err);
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
        ucm_listing_free(l);
    return rc;
}

#endif /* ONHANDPUB_HAVE_CURL */
