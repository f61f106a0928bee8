/* The in-memory sink. */
#include "publish.h"

#include <string.h>

struct ohp_memsink {
    ohp_alloc alloc;
    ohp_buf pending; /* bytes of the run in progress */
    ohp_buf data;    /* bytes of the last committed run */
    char *pending_name;
    char *name;
    bool committed;
};

OHP_EXPORT int ohp_memsink_new(ohp_memsink **out, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_memsink *ms = ohp_calloc(&a, 1, sizeof *ms);
    if (ms == NULL)
        return OHP_ENOMEM;
    ms->alloc = a;
    *out = ms;
    return OHP_OK;
}

static void drop(ohp_memsink *ms)
{
    ohp_buf_free(&ms->data, &ms->alloc);
    ohp_free(&ms->alloc, ms->name);
    ms->name = NULL;
    ms->committed = false;
}

static void drop_pending(ohp_memsink *ms)
{
    ohp_buf_free(&ms->pending, &ms->alloc);
    ohp_free(&ms->alloc, ms->pending_name);
    ms->pending_name = NULL;
}

OHP_EXPORT void ohp_memsink_free(ohp_memsink *ms)
{
    if (ms == NULL)
        return;
    drop(ms);
    drop_pending(ms);
    ohp_alloc a = ms->alloc;
    ohp_free(&a, ms);
}

static int ms_open(void *ud, const char *file_name)
{
    ohp_memsink *ms = ud;
    drop(ms);
    drop_pending(ms);
    ms->pending_name = ohp_strdup(&ms->alloc, file_name ? file_name : "");
    return ms->pending_name ? 0 : -1;
}

static int ms_write(void *ud, const void *buf, size_t len)
{
    ohp_memsink *ms = ud;
    return ohp_buf_append(&ms->pending, &ms->alloc, buf, len) ? -1 : 0;
}

static int ms_close(void *ud, int commit)
{
    ohp_memsink *ms = ud;
    if (!commit) {
        drop_pending(ms);
        return 0;
    }
    drop(ms);
    ms->data = ms->pending;
    memset(&ms->pending, 0, sizeof ms->pending);
    ms->name = ms->pending_name;
    ms->pending_name = NULL;
    ms->committed = true;
    return 0;
}

OHP_EXPORT int ohp_job_set_memsink(ohp_job *job, ohp_memsink *ms)
{
    if (job == NULL || ms == NULL)
        return OHP_EINVAL;
    return ohp_job_set_sink(job, ms_open, ms_write, ms_close, ms);
}

OHP_EXPORT const void *ohp_memsink_data(const ohp_memsink *ms, size_t *len)
{
    if (ms == NULL || !ms->committed) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = ms->data.len;
    return ms->data.data ? (const void *)ms->data.data : (const void *)"";
}

OHP_EXPORT const char *ohp_memsink_file_name(const ohp_memsink *ms)
{
    return ms && ms->committed ? ms->name : NULL;
}

OHP_EXPORT int ohp_memsink_committed(const ohp_memsink *ms)
{
    return ms != NULL && ms->committed;
}
