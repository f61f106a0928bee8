/*
 * The job: the public ohp_job_* entry points and a run from its refusal checks
 * to its commit; the stages are in job_*.c (job_internal.h).
 */
#include "job_internal.h"
#include "manifest.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- small helpers ---- */

static int job_ok(const ohp_job *job)
{
    return job != NULL && job->magic == JOB_MAGIC;
}

int job_err(ohp_job *job, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);

int job_err(ohp_job *job, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(job->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

const char *job_cb_detail(ohp_job *job, char *buf, size_t size)
{
    if (job->cbmsg[0])
        snprintf(buf, size, ": %s", job->cbmsg);
    else
        buf[0] = '\0';
    return buf;
}

OHP_EXPORT int ohp_params_init(ohp_params *p, unsigned int version)
{
    if (p == NULL)
        return OHP_EINVAL;
    if (version < 1 || version > OHP_PARAMS_VERSION)
        return OHP_EVERSION;
    /* Version 1 is the whole struct of 1.0; later versions append fields
     * and this writes only the prefix the caller's version has. */
    static const size_t size_of_version[] = {0, PARAMS_V1_SIZE, sizeof(ohp_params)};
    ohp_params init = OHP_PARAMS_INIT;
    init.version = version;
    memcpy(p, &init, size_of_version[version]);
    return OHP_OK;
}

static void clear_results(ohp_job *job)
{
    const ohp_alloc *a = &job->alloc;
    ohp_free(a, job->sum_system);
    ohp_free(a, job->sum_org);
    ohp_free(a, job->file_name);
    ohp_free(a, job->entry_name);
    job->sum_system = job->sum_org = job->file_name = job->entry_name = NULL;
    for (size_t i = 0; i < job->nwarnings; i++)
        ohp_free(a, job->warnings[i]);
    ohp_free(a, job->warnings);
    job->warnings = NULL;
    job->nwarnings = 0;
    for (size_t i = 0; i < job->nuoms; i++)
        ohp_free(a, job->uoms[i].code);
    job->nuoms = 0;
    job->last_uom = 0;
    memset(&job->sum, 0, sizeof job->sum);
    job->sum.version = OHP_SUMMARY_VERSION;
    job->sum.system_code = "";
    job->sum.organization_code = "";
    job->sum.file_name = "";
    job->sum.entry_name = "";
    job->sum.window_start = OHP_TIME_NONE;
    job->sum.snapshot_date = OHP_TIME_NONE;
    for (int k = 0; k < 2; k++) {
        job->oldest_reject[k] = OHP_TIME_NONE;
        job->reject_undated[k] = false;
    }
}

OHP_EXPORT int ohp_job_new(ohp_job **out, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_job *job = ohp_calloc(&a, 1, sizeof *job);
    if (job == NULL)
        return OHP_ENOMEM;
    job->alloc = a;
    if (pthread_mutex_init(&job->alloc_lock, NULL) != 0) {
        ohp_free(&a, job);
        return OHP_ENOMEM;
    }
    job->magic = JOB_MAGIC;
    clear_results(job);
    *out = job;
    return OHP_OK;
}

OHP_EXPORT void ohp_job_free(ohp_job *job)
{
    if (!job_ok(job) || job->running)
        return;
    ohp_alloc a = job->alloc;
    clear_results(job);
    ohp_free(&a, job->uoms);
    ohp_registry_free(job->builtin_reg);
    ohp_serial_plan_free(&job->plan, &a);
    ohp_buf_free(&job->out, &a);
    ohp_buf_free(&job->prefix, &a);
    ohp_buf_free(&job->line, &a);
    ohp_keyset_clear(&job->changed, &a, 0);
    job->magic = 0;
    pthread_mutex_destroy(&job->alloc_lock);
    ohp_free(&a, job);
}

#define CONFIG_GUARD(job)                                                                          \
    do {                                                                                           \
        if (!job_ok(job))                                                                          \
            return OHP_EINVAL;                                                                     \
        if ((job)->running)                                                                        \
            return OHP_ESTATE;                                                                     \
    } while (0)

OHP_EXPORT int ohp_job_set_registry(ohp_job *job, const ohp_registry *reg)
{
    CONFIG_GUARD(job);
    job->reg = reg;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_source(ohp_job *job, ohp_source_open_fn open, ohp_source_next_fn next,
                                  ohp_source_close_fn close, void *user_data)
{
    CONFIG_GUARD(job);
    if (next == NULL)
        return OHP_EINVAL;
    job->src_open = open;
    job->src_next = next;
    job->src_close = close;
    job->src_ud = user_data;
    job->src_err_hook = NULL;
    return OHP_OK;
}

void ohp_job_set_record_error_hook(ohp_job *job, ohp_record_error_hook_fn hook)
{
    job->src_err_hook = hook;
}

OHP_EXPORT int ohp_job_set_sink(ohp_job *job, ohp_sink_open_fn open, ohp_sink_write_fn write,
                                ohp_sink_close_fn close, void *user_data)
{
    CONFIG_GUARD(job);
    if (write == NULL || close == NULL)
        return OHP_EINVAL;
    job->sink_open = open;
    job->sink_write = write;
    job->sink_close = close;
    job->sink_ud = user_data;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_state_store(ohp_job *job, ohp_state_get_fn get,
                                       ohp_state_next_run_id_fn next_run_id,
                                       ohp_state_commit_fn commit, void *user_data)
{
    CONFIG_GUARD(job);
    job->st_get = get;
    job->st_next = next_run_id;
    job->st_commit = commit;
    job->st_ud = user_data;
    job->has_st2 = false;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_state_store2(ohp_job *job, const ohp_state_store *store, void *user_data)
{
    CONFIG_GUARD(job);
    if (store == NULL) {
        job->has_st2 = false;
        job->st_get = NULL;
        job->st_next = NULL;
        job->st_commit = NULL;
        return OHP_OK;
    }
    if (store->version < 1 || store->version > OHP_STATE_STORE_VERSION)
        return OHP_EVERSION;
    if (store->get == NULL || store->commit == NULL)
        return OHP_EINVAL;
    job->st2 = *store;
    job->st2_ud = user_data;
    job->has_st2 = true;
    job->st_get = NULL;
    job->st_next = NULL;
    job->st_commit = NULL;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_authorizer(ohp_job *job, ohp_authorize_fn authorize, void *user_data)
{
    CONFIG_GUARD(job);
    job->authz = authorize;
    job->authz_ud = user_data;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_reject_callback(ohp_job *job, ohp_reject_fn reject, void *user_data)
{
    CONFIG_GUARD(job);
    job->reject = reject;
    job->reject_ud = user_data;
    return OHP_OK;
}

OHP_EXPORT int ohp_job_set_progress_callback(ohp_job *job, ohp_progress_fn progress,
                                             void *user_data)
{
    CONFIG_GUARD(job);
    job->progress = progress;
    job->progress_ud = user_data;
    return OHP_OK;
}

OHP_EXPORT const ohp_summary *ohp_job_summary(const ohp_job *job)
{
    static const ohp_summary empty = {OHP_SUMMARY_VERSION,
                                      OHP_STATUS_NOT_RUN,
                                      OHP_OK,
                                      0,
                                      0,
                                      OHP_TIME_NONE,
                                      OHP_TIME_NONE,
                                      0,
                                      "",
                                      "",
                                      "",
                                      "",
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      OHP_RULE_NONE,
                                      0,
                                      OHP_ENGINE_ZLIB};
    if (!job_ok(job))
        return &empty;
    return &job->sum;
}

OHP_EXPORT int ohp_job_uom_total(const ohp_job *job, size_t i, const char **uom_code,
                                 const char **total)
{
    if (!job_ok(job) || i >= job->nuoms)
        return OHP_EINVAL;
    if (uom_code)
        *uom_code = job->uoms[i].code;
    if (total)
        *total = job->uoms[i].text;
    return OHP_OK;
}

OHP_EXPORT const char *ohp_job_warning(const ohp_job *job, size_t i)
{
    if (!job_ok(job) || i >= job->nwarnings)
        return NULL;
    return job->warnings[i];
}

OHP_EXPORT const char *ohp_job_errmsg(const ohp_job *job)
{
    if (!job_ok(job))
        return "invalid job handle";
    return job->errmsg;
}

OHP_EXPORT int ohp_job_set_callback_error(ohp_job *job, const char *message)
{
    if (!job_ok(job) || message == NULL)
        return OHP_EINVAL;
    if (!job->running)
        return OHP_ESTATE;
    snprintf(job->cbmsg, sizeof job->cbmsg, "%s", message);
    return OHP_OK;
}

int ohp_job_has_callback_error(const ohp_job *job)
{
    return job_ok(job) && job->running && job->cbmsg[0] != '\0';
}

int job_add_warning(ohp_job *job, const char *text)
{
    char **w = ohp_realloc(&job->alloc, job->warnings, (job->nwarnings + 1) * sizeof *w);
    if (w == NULL)
        return OHP_ENOMEM;
    job->warnings = w;
    w[job->nwarnings] = ohp_strdup(&job->alloc, text);
    if (w[job->nwarnings] == NULL)
        return OHP_ENOMEM;
    job->nwarnings++;
    job->sum.warning_count = job->nwarnings;
    return OHP_OK;
}

static int sink_output(void *ctx, const void *buf, size_t len)
{
    ohp_job *job = ctx;
    return job->sink_write(job->sink_ud, buf, len);
}

static bool is_refusal(int rc)
{
    return rc == OHP_EINVAL || rc == OHP_EVERSION || rc == OHP_ENOTFOUND || rc == OHP_EINACTIVE ||
           rc == OHP_EDENIED || rc == OHP_EEMPTY || rc == OHP_EUNSUPPORTED;
}

static int zip_failure(ohp_job *job, int rc)
{
    if (rc == OHP_ESINK || (job->zw && ohp_zipwriter_output_failed(job->zw))) {
        char det[OHP_ERRMSG_SIZE];
        return job_err(job, OHP_ESINK, "sink write failed after %llu bytes%s",
                       (unsigned long long)(job->zw ? ohp_zipwriter_total(job->zw) : 0),
                       job_cb_detail(job, det, sizeof det));
    }
    if (rc == OHP_ENOMEM)
        return job_err(job, OHP_ENOMEM, "out of memory");
    return job_err(job, rc, "archive writer failed");
}

/* The archive's manifest (manifest.h) from the run and its entry, NUL-terminated into b. */
static int make_manifest(ohp_job *job, const run_ctx *c, ohp_buf *b)
{
    const ohp_summary *s = &job->sum;
    ohp_manifest_unit *units = NULL;
    if (job->nuoms > 0 && (units = ohp_malloc(&job->alloc, job->nuoms * sizeof *units)) == NULL)
        return job_err(job, OHP_ENOMEM, "out of memory");
    for (size_t i = 0; i < job->nuoms; i++) {
        ohp_acc_format(&job->uoms[i].acc, job->uoms[i].text);
        units[i] = (ohp_manifest_unit){job->uoms[i].code, job->uoms[i].text};
    }
    ohp_mf m = {.layout = 1,
                .system = c->system,
                .organization = c->org,
                .run_id = s->run_id,
                .mode = s->mode,
                .items = c->items,
                .window_start = s->window_start,
                .snapshot_date = s->snapshot_date,
                .data_lines = s->lines_written,
                .serial_lines = s->serial_lines,
                .psv_bytes = ohp_zipwriter_uncompressed(job->zw),
                .crc32 = ohp_zipwriter_crc(job->zw),
                .units = units,
                .nunits = job->nuoms,
                .library = OHP_VERSION_STRING};
    int rc = ohp_manifest_format(&m, b, &job->alloc);
    if (rc == OHP_OK)
        rc = ohp_buf_terminate(b, &job->alloc);
    ohp_free(&job->alloc, units);
    if (rc == OHP_ELIMIT)
        return job_err(job, OHP_ELIMIT,
                       "the manifest would not fit the ZIP comment's 65535 bytes (%zu units of "
                       "measure); publish without it (omit_manifest)",
                       job->nuoms);
    return rc ? job_err(job, OHP_ENOMEM, "out of memory") : OHP_OK;
}

/* Open the sink and the archive, stream the records, finish the archive. */
static int write_archive(ohp_job *job, run_ctx *c)
{
    ohp_summary *s = &job->sum;
    int rc;
    if (job->sink_open) {
        job->cbmsg[0] = '\0';
        if (job->sink_open(job->sink_ud, job->file_name) != 0) {
            char det[OHP_ERRMSG_SIZE];
            return job_err(job, OHP_ESINK, "the sink could not be opened for %s%s", job->file_name,
                           job_cb_detail(job, det, sizeof det));
        }
    }
    c->sink_open = true;
    job->cbmsg[0] = '\0';
    /* From here until the writer is freed, worker threads may allocate. */
    if (c->threads > 1 && c->level > 0)
        job->alloc.lock = &job->alloc_lock;
    rc = ohp_zipwriter_new(&job->zw, &job->alloc, sink_output, job, job->entry_name,
                           s->snapshot_date, c->engine, c->level, c->threads, job->errmsg);
    if (rc)
        return zip_failure(job, rc);
    job->out.len = 0;
    if ((rc = job_out_append(job, ohp_psv_header_v1, strlen(ohp_psv_header_v1))) != 0)
        return rc;
    if ((rc = job_pump(job, c)) != 0)
        return rc == OHP_ESINK || rc == OHP_EZIP ? zip_failure(job, rc) : rc;
    if ((rc = job_check_outcome(job, c)) != 0)
        return rc;
    if ((rc = job_flush_out(job)) != 0 || (rc = ohp_zipwriter_finish_entry(job->zw)) != 0)
        return zip_failure(job, rc);
    ohp_buf comment = {NULL, 0, 0};
    if (!c->p.omit_manifest && (rc = make_manifest(job, c, &comment)) != 0) {
        ohp_buf_free(&comment, &job->alloc);
        return rc;
    }
    rc = ohp_zipwriter_close(job->zw, comment.data);
    ohp_buf_free(&comment, &job->alloc);
    return rc ? zip_failure(job, rc) : OHP_OK;
}

/*
 * The parameters, the summary's identity and the refusal checks: nothing
 * is opened and no run id is taken before they pass.
 */
static int prepare(ohp_job *job, const ohp_params *pp, run_ctx *c)
{
    int rc = job_check_params(job, pp, c);
    if (rc)
        return rc;
    ohp_summary *s = &job->sum;
    s->items = c->items;
    s->snapshot_date =
        c->p.snapshot_date != OHP_TIME_NONE ? c->p.snapshot_date : (int64_t)time(NULL);
    job->sum_system = ohp_strdup(&job->alloc, c->system);
    job->sum_org = ohp_strdup(&job->alloc, c->org);
    if (!job->sum_system || !job->sum_org)
        return job_err(job, OHP_ENOMEM, "out of memory");
    s->system_code = job->sum_system;
    s->organization_code = job->sum_org;
    int64_t w;
    if ((rc = job_check_system_and_user(job, c)) != 0 || (rc = job_read_state(job, c, &w)) != 0 ||
        (rc = job_choose_window(job, c, w)) != 0)
        return rc;
    if (job->src_next == NULL)
        return job_err(job, OHP_EINVAL, "no data source is set");
    if (job->sink_write == NULL)
        return job_err(job, OHP_EINVAL, "no sink is set");
    if (s->mode == OHP_MODE_INCREMENTAL && job->src_open == NULL)
        return job_err(job, OHP_EINVAL,
                       "an incremental run reads the source twice (whole keys), and a source "
                       "without an open callback cannot be started again");
    return OHP_OK;
}

/* What reached the writer and the sink, into the summary. */
static void note_sizes(ohp_job *job)
{
    ohp_summary *s = &job->sum;
    s->psv_bytes = ohp_zipwriter_uncompressed(job->zw);
    s->compressed_bytes = ohp_zipwriter_compressed(job->zw);
    s->zip_bytes = ohp_zipwriter_total(job->zw);
    s->crc32 = ohp_zipwriter_crc(job->zw);
}

/* The source's passes into the archive: an incremental run first finds the changed keys. */
static int publish(ohp_job *job, run_ctx *c)
{
    ohp_summary *s = &job->sum;
    ohp_source_query q = {
        OHP_SOURCE_QUERY_VERSION, c->system,        c->org,    c->items,     s->mode,
        s->window_start,          s->snapshot_date, s->run_id, OHP_PASS_ONLY};
    int rc;
    if (s->mode == OHP_MODE_INCREMENTAL) {
        q.pass = OHP_PASS_CHANGES;
        if ((rc = job_open_source(job, c, &q)) != 0)
            return rc;
        rc = job_find_changed_keys(job, c);
        job_close_source(job, c);
        if (rc)
            return rc;
        q.pass = OHP_PASS_KEYS;
    }
    if ((rc = job_open_source(job, c, &q)) != 0 || (rc = write_archive(job, c)) != 0)
        return rc;
    note_sizes(job);
    return OHP_OK;
}

/* Commit: the sink first, then the state. */
static int commit(ohp_job *job, run_ctx *c)
{
    job_close_source(job, c);
    c->sink_open = false;
    job->cbmsg[0] = '\0';
    if (job->sink_close(job->sink_ud, 1) != 0) {
        char det[OHP_ERRMSG_SIZE];
        return job_err(job, OHP_ESINK, "the sink could not commit %s%s", job->file_name,
                       job_cb_detail(job, det, sizeof det));
    }
    return job_commit_state(job, c);
}

/* Whatever the outcome: the source closed, an open sink discarded, the run's scratch released. */
static void end_run(ohp_job *job, run_ctx *c, int rc)
{
    if (rc != OHP_OK && job->zw)
        note_sizes(job); /* what reached the writer and the sink before the failure */
    job_close_source(job, c);
    if (c->sink_open)
        (void)job->sink_close(job->sink_ud, 0);
    ohp_zipwriter_free(job->zw);
    job->zw = NULL;
    job->alloc.lock = NULL;
    ohp_keyset_clear(&job->changed, &job->alloc, 0);
    for (size_t i = 0; i < job->norgs_seen; i++)
        ohp_free(&job->alloc, job->orgs_seen[i]);
    job->norgs_seen = 0;
}

static int run(ohp_job *job, const ohp_params *pp)
{
    run_ctx c;
    memset(&c, 0, sizeof c);
    int rc = prepare(job, pp, &c);
    if (rc)
        return rc;
    /* The run id, reserved before anything is read or written. */
    if ((rc = job_take_run_id(job, &c)) != 0)
        return rc;
    if (job_make_names(job, &c) || job_make_prefix(job, &c))
        return job_err(job, OHP_ENOMEM, "out of memory");
    rc = publish(job, &c);
    if (rc == OHP_OK)
        rc = commit(job, &c);
    end_run(job, &c, rc);
    return rc;
}

OHP_EXPORT int ohp_job_run(ohp_job *job, const ohp_params *params)
{
    if (!job_ok(job))
        return OHP_EINVAL;
    if (job->running)
        return OHP_ESTATE;
    clear_results(job);
    job->errmsg[0] = '\0';
    job->cbmsg[0] = '\0';
    job->running = true;
    int rc = run(job, params);
    job->running = false;
    /* Control totals are readable after any outcome. */
    for (size_t i = 0; i < job->nuoms; i++)
        ohp_acc_format(&job->uoms[i].acc, job->uoms[i].text);
    job->sum.error = rc;
    if (rc == OHP_OK) {
        job->sum.status = job->sum.records_rejected > 0 || job->nwarnings > 0
                              ? OHP_STATUS_WARNINGS
                              : OHP_STATUS_SUCCEEDED;
        job->errmsg[0] = '\0';
    } else {
        job->sum.status = is_refusal(rc) ? OHP_STATUS_REFUSED : OHP_STATUS_FAILED;
        if (job->errmsg[0] == '\0')
            snprintf(job->errmsg, sizeof job->errmsg, "%s", ohp_strerror(rc));
    }
    return rc;
}
