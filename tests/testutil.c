/* Shared helpers for the Check test suites. */
#define _DEFAULT_SOURCE 1
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unzip.h>

int tu_source_open(void *ud, const ohp_source_query *q)
{
    tu_source *s = ud;
    s->opened++;
    s->query = *q;
    s->next = 0;
    return s->fail_open ? -1 : 0;
}

int tu_source_next(void *ud, ohp_record *rec)
{
    tu_source *s = ud;
    if (s->fail_at && (long)s->next + 1 == s->fail_at &&
        (s->fail_pass == 0 || s->fail_pass == s->opened))
        return -1;
    if (s->next >= s->count)
        return 0;
    unsigned int v = rec->version;
    *rec = s->records[s->next++];
    rec->version = v;
    return 1;
}

void tu_source_close(void *ud)
{
    ((tu_source *)ud)->closed++;
}

void tu_use_source(ohp_job *job, tu_source *src)
{
    ohp_job_set_source(job, tu_source_open, tu_source_next, tu_source_close, src);
}

ohp_record tu_record(const char *org, const char *item, const char *qty)
{
    ohp_record r;
    memset(&r, 0, sizeof r);
    r.organization_code = org;
    r.item_number = item;
    r.subinventory_code = "FGI";
    r.primary_quantity = qty;
    r.primary_uom_code = "Ea";
    r.last_update_date = "2026/11/01 08:00:00";
    return r;
}

int tu_sink_open(void *ud, const char *name)
{
    tu_sink *s = ud;
    s->opened++;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->len = 0;
    s->writes = 0;
    s->committed = 0;
    return s->fail_open ? -1 : 0;
}

int tu_sink_write(void *ud, const void *buf, size_t len)
{
    tu_sink *s = ud;
    s->writes++;
    if (s->fail_write && s->writes == s->fail_write)
        return -1;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + len)
            cap *= 2;
        unsigned char *p = realloc(s->data, cap);
        if (p == NULL)
            return -1;
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    return 0;
}

int tu_sink_close(void *ud, int commit)
{
    tu_sink *s = ud;
    s->closes++;
    if (!commit) {
        s->aborted++;
        s->len = 0;
        return 0;
    }
    if (s->fail_commit) {
        s->len = 0;
        return -1;
    }
    s->committed = 1;
    return 0;
}

void tu_use_sink(ohp_job *job, tu_sink *sink)
{
    ohp_job_set_sink(job, tu_sink_open, tu_sink_write, tu_sink_close, sink);
}

void tu_sink_free(tu_sink *sink)
{
    free(sink->data);
    sink->data = NULL;
    sink->len = sink->cap = 0;
}

/* Each block carries its size in a header so the allocator can count bytes. */
#define HDR 16

static void *ta_malloc(void *opaque, size_t size)
{
    tu_alloc *a = opaque;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at)
        return NULL;
    unsigned char *p = malloc(size + HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    a->live += size;
    a->blocks++;
    if (a->live > a->peak)
        a->peak = a->live;
    return p + HDR;
}

static void ta_free(void *opaque, void *ptr)
{
    tu_alloc *a = opaque;
    if (ptr == NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    a->live -= size;
    a->blocks--;
    free(p);
}

static void *ta_realloc(void *opaque, void *ptr, size_t size)
{
    tu_alloc *a = opaque;
    if (ptr == NULL)
        return ta_malloc(opaque, size);
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at)
        return NULL;
    unsigned char *old = (unsigned char *)ptr - HDR;
    size_t old_size;
    memcpy(&old_size, old, sizeof old_size);
    unsigned char *p = realloc(old, size + HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    a->live = a->live - old_size + size;
    if (a->live > a->peak)
        a->peak = a->live;
    return p + HDR;
}

void tu_alloc_init(tu_alloc *a)
{
    memset(a, 0, sizeof *a);
    a->pub.version = OHP_ALLOCATOR_VERSION;
    a->pub.malloc_fn = ta_malloc;
    a->pub.realloc_fn = ta_realloc;
    a->pub.free_fn = ta_free;
    a->pub.opaque = a;
}

int tu_unzip_single(const void *buf, size_t len, char **out, size_t *out_len, char *name,
                    size_t name_size)
{
    char *path = tu_write_temp(buf, len, ".zip");
    if (path == NULL)
        return -1;
    int rc = -1;
    char *data = NULL;
    unzFile uf = unzOpen64(path);
    if (uf == NULL)
        goto done;
    unz_global_info64 gi;
    if (unzGetGlobalInfo64(uf, &gi) != UNZ_OK || gi.number_entry != 1)
        goto done_close;
    if (unzGoToFirstFile(uf) != UNZ_OK)
        goto done_close;
    unz_file_info64 fi;
    char nbuf[1024];
    if (unzGetCurrentFileInfo64(uf, &fi, nbuf, sizeof nbuf, NULL, 0, NULL, 0) != UNZ_OK)
        goto done_close;
    if (name)
        snprintf(name, name_size, "%s", nbuf);
    if (unzOpenCurrentFile(uf) != UNZ_OK)
        goto done_close;
    size_t cap = (size_t)fi.uncompressed_size + 1, n = 0;
    data = malloc(cap);
    if (data == NULL)
        goto done_file;
    for (;;) {
        if (n == cap - 1) {
            cap *= 2;
            char *p = realloc(data, cap);
            if (p == NULL)
                goto done_file;
            data = p;
        }
        int got = unzReadCurrentFile(uf, data + n, (unsigned)(cap - 1 - n));
        if (got < 0)
            goto done_file;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    /* unzCloseCurrentFile reports UNZ_CRCERROR for a bad CRC. */
    if (unzCloseCurrentFile(uf) != UNZ_OK)
        goto done_close;
    data[n] = '\0';
    *out = data;
    *out_len = n;
    data = NULL;
    rc = 0;
    goto done_close;
done_file:
    unzCloseCurrentFile(uf);
done_close:
    unzClose(uf);
done:
    free(data);
    unlink(path);
    free(path);
    return rc;
}

char *tu_write_temp(const void *buf, size_t len, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    size_t n = strlen(dir) + strlen(suffix) + 32;
    char *path = malloc(n);
    if (path == NULL)
        return NULL;
    snprintf(path, n, "%s/ohptestXXXXXX%s", dir, suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        free(path);
        return NULL;
    }
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            close(fd);
            unlink(path);
            free(path);
            return NULL;
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return path;
}

void tu_state_init(tu_state *st)
{
    memset(st, 0, sizeof *st);
    st->watermark = OHP_TIME_NONE;
}

int tu_state_get(void *ud, const char *sys, const char *org, int64_t *w)
{
    tu_state *st = ud;
    if (st->fail_get)
        return -1;
    *w = st->watermark;
    (void)sys;
    (void)org;
    return 0;
}

int tu_state_next(void *ud, uint64_t *id)
{
    tu_state *st = ud;
    if (st->fail_next)
        return -1;
    *id = st->last_run_id + 1;
    return 0;
}

int tu_state_commit(void *ud, const char *sys, const char *org, int64_t snap, uint64_t id)
{
    tu_state *st = ud;
    if (st->fail_commit)
        return -1;
    st->watermark = snap;
    if (id > st->last_run_id)
        st->last_run_id = id;
    st->commits++;
    snprintf(st->system, sizeof st->system, "%s", sys);
    snprintf(st->org, sizeof st->org, "%s", org);
    return 0;
}

void tu_use_state(ohp_job *job, tu_state *st)
{
    ohp_job_set_state_store(job, tu_state_get, tu_state_next, tu_state_commit, st);
}

int64_t tu_date(const char *text)
{
    int64_t t = 0;
    if (ohp_date_parse(text, &t) != OHP_OK) {
        fprintf(stderr, "bad test date %s\n", text);
        abort();
    }
    return t;
}
