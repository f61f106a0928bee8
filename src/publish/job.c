/*
 * The publish job: parameters, window, privilege, and the pipeline
 * source -> filter -> check -> expand -> encode -> zip -> sink.
 */
#include "balance_key.h"
#include "publish.h"
#include "serial_list.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JOB_MAGIC 0x4f48504aU /* "OHPJ" */
#define FLUSH_AT 65536
#define DEFAULT_LEVEL 6
#define DEFAULT_PROGRESS 10000
#define DEFAULT_MAX_FIELD 4000
#define MAX_UOMS 4096
#define MAX_THREADS 64
#define DEFAULT_MAX_CHANGED_KEYS ((uint64_t)1 << 22)
#define DEFAULT_MAX_REJECT_PERCENT 50
/* PUBLISH_RUN_ID holds at most 18 digits (layout v1). */
#define OHP_MAX_RUN_ID 999999999999999999ull
/* Oracle's organization codes are at most 18 characters. */
#define MAX_ORG_CHARS 18
/* Organization codes remembered to name the closest one in an error. */
#define MAX_ORGS_SEEN 32
/* ohp_params as version 1 had it: everything before max_changed_keys. */
#define PARAMS_V1_SIZE offsetof(ohp_params, max_changed_keys)

typedef struct uom_total {
    char *code;
    ohp_acc acc;
    char text[OHP_ACC_BUFSIZE];
} uom_total;

struct ohp_job {
    uint32_t magic;
    ohp_alloc alloc;
    /* Serialises the host allocator while compression threads run. */
    pthread_mutex_t alloc_lock;
    const ohp_registry *reg;
    ohp_registry *builtin_reg;

    ohp_source_open_fn src_open;
    ohp_source_next_fn src_next;
    ohp_source_close_fn src_close;
    void *src_ud;
    ohp_record_error_hook_fn src_err_hook; /* told of each record error, or NULL */
    ohp_sink_open_fn sink_open;
    ohp_sink_write_fn sink_write;
    ohp_sink_close_fn sink_close;
    void *sink_ud;
    ohp_state_get_fn st_get;
    ohp_state_next_run_id_fn st_next;
    ohp_state_commit_fn st_commit;
    void *st_ud;
    ohp_state_store st2; /* 1.1's store, when has_st2 */
    void *st2_ud;
    bool has_st2;
    ohp_authorize_fn authz;
    void *authz_ud;
    ohp_reject_fn reject;
    void *reject_ud;
    ohp_progress_fn progress;
    void *progress_ud;

    bool running;
    char errmsg[OHP_ERRMSG_SIZE];
    char cbmsg[OHP_ERRMSG_SIZE];

    /* results of the last run */
    ohp_summary sum;
    char *sum_system;
    char *sum_org;
    char *file_name;
    char *entry_name;
    char **warnings;
    size_t nwarnings;
    uom_total *uoms;
    size_t nuoms, uoms_cap;
    size_t last_uom;

    /* run scratch, kept between runs to avoid reallocation */
    ohp_serial_plan plan;
    ohp_buf out;    /* PSV bytes waiting for the zip writer */
    ohp_buf prefix; /* run prefix: system|run id|mode|snapshot| */
    ohp_buf line;   /* current record: prefix part and suffix parts */
    ohp_zipwriter *zw;
    ohp_keyset changed; /* incremental runs: digests of the changed keys */
    /* rejected records, per item class: the oldest change date, or undated */
    int64_t oldest_reject[2];
    bool reject_undated[2];
    /* organization codes of skipped records (the first MAX_ORGS_SEEN) */
    char *orgs_seen[MAX_ORGS_SEEN];
    size_t norgs_seen;
};

/* ---- small helpers ---- */

static int job_ok(const ohp_job *job)
{
    return job != NULL && job->magic == JOB_MAGIC;
}

static int set_err(ohp_job *job, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);
static int set_err(ohp_job *job, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(job->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* " (detail)" from a callback, or "". */
static const char *cb_detail(ohp_job *job, char *buf, size_t size)
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
                                      0};
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

static int add_warning(ohp_job *job, const char *text)
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

/* ---- control totals ---- */

/* Add qty, or when it is NULL the count of serial lines, to the UOM's total. */
static int uom_add(ohp_job *job, const char *uom, const ohp_decimal *qty, uint64_t count)
{
    uom_total *u = NULL;
    if (job->nuoms && ohp_short_eq(job->uoms[job->last_uom].code, uom)) {
        u = &job->uoms[job->last_uom];
    } else {
        for (size_t i = 0; i < job->nuoms; i++) {
            if (strcmp(job->uoms[i].code, uom) == 0) {
                u = &job->uoms[i];
                job->last_uom = i;
                break;
            }
        }
    }
    if (u == NULL) {
        if (job->nuoms >= MAX_UOMS)
            return set_err(job, OHP_ELIMIT, "more than %d distinct units of measure", MAX_UOMS);
        if (job->nuoms == job->uoms_cap) {
            size_t cap = job->uoms_cap ? job->uoms_cap * 2 : 8;
            uom_total *n = ohp_realloc(&job->alloc, job->uoms, cap * sizeof *n);
            if (n == NULL)
                return set_err(job, OHP_ENOMEM, "out of memory");
            job->uoms = n;
            job->uoms_cap = cap;
        }
        u = &job->uoms[job->nuoms];
        memset(u, 0, sizeof *u);
        u->code = ohp_strdup(&job->alloc, uom);
        if (u->code == NULL)
            return set_err(job, OHP_ENOMEM, "out of memory");
        job->last_uom = job->nuoms++;
        job->sum.uom_total_count = job->nuoms;
    }
    if (qty)
        ohp_acc_add(&u->acc, qty);
    else
        ohp_acc_add_count(&u->acc, count);
    return OHP_OK;
}

/* ---- output ---- */

static int flush_out(ohp_job *job)
{
    if (job->out.len == 0)
        return OHP_OK;
    int rc = ohp_zipwriter_write(job->zw, job->out.data, job->out.len);
    job->out.len = 0;
    return rc;
}

static int out_append(ohp_job *job, const char *p, size_t n)
{
    int rc = ohp_buf_append(&job->out, &job->alloc, p, n);
    if (rc)
        return set_err(job, rc, "out of memory");
    return OHP_OK;
}

/*
 * Encode the record's common parts into job->line:
 *   [0, p)       fields 5..15 and the '|' before SERIAL_NUMBER
 *   [p, q)       '|' PRIMARY_QUANTITY ... LAST_UPDATE_DATE '\n' (record's quantities)
 *   [q, len)     the same with quantity 1 and no secondary quantity (serial lines)
 */
static int encode_record(ohp_job *job, const ohp_record *r, ohp_checked *c, size_t *p, size_t *q)
{
    /* Every field at most doubles when quoted; dates and flags are short. */
    size_t bound = 256 + 2 * c->text_total + 2 * (size_t)OHP_TF_COUNT;
    bound += 2 * bound; /* the suffix appears twice */
    ohp_buf *b = &job->line;
    b->len = 0;
    if (ohp_buf_reserve(b, &job->alloc, bound))
        return OHP_ENOMEM;
    char *o = b->data;
#define T(idx, s) (o = ohp_psv_put_field(o, (s), c->len[idx], c->quote[idx]))
    T(OHP_TF_ORGANIZATION_ID, r->organization_id);
    *o++ = '|';
    T(OHP_TF_ORGANIZATION_CODE, r->organization_code);
    *o++ = '|';
    T(OHP_TF_INVENTORY_ITEM_ID, r->inventory_item_id);
    *o++ = '|';
    T(OHP_TF_ITEM_NUMBER, r->item_number);
    *o++ = '|';
    T(OHP_TF_REVISION, r->revision);
    *o++ = '|';
    T(OHP_TF_SUBINVENTORY_CODE, r->subinventory_code);
    *o++ = '|';
    T(OHP_TF_LOCATOR_ID, r->locator_id);
    *o++ = '|';
    T(OHP_TF_LOCATOR_NAME, r->locator_name);
    *o++ = '|';
    T(OHP_TF_LOT_NUMBER, r->lot_number);
    *o++ = '|';
    if (c->lot_expiration != OHP_TIME_NONE) {
        /* a valid date in a '/' form carries no zone: its first 10 bytes are the date */
        if (r->lot_expiration_date[4] == '/')
            memcpy(o, r->lot_expiration_date, 10);
        else
            ohp_date_format(c->lot_expiration, 1, o);
        o += 10;
    }
    *o++ = '|';
    *o++ = r->serial_controlled ? 'Y' : 'N';
    *o++ = '|';
    *p = (size_t)(o - b->data);
    const char *date = ohp_checked_last_update_text(c);
    size_t plen = strlen(c->primary.text), slen = c->has_secondary ? strlen(c->secondary.text) : 0;
    for (int pass = 0; pass < (r->serial_controlled ? 2 : 1); pass++) {
        *o++ = '|';
        if (pass == 0) {
            memcpy(o, c->primary.text, plen);
            o += plen;
        } else {
            *o++ = '1';
        }
        *o++ = '|';
        T(OHP_TF_PRIMARY_UOM_CODE, r->primary_uom_code);
        *o++ = '|';
        if (pass == 0 && slen) {
            memcpy(o, c->secondary.text, slen);
            o += slen;
        }
        *o++ = '|';
        T(OHP_TF_SECONDARY_UOM_CODE, r->secondary_uom_code);
        *o++ = '|';
        *o++ = r->consigned ? 'Y' : 'N';
        *o++ = '|';
        T(OHP_TF_OWNING_PARTY_ID, r->owning_party_id);
        *o++ = '|';
        T(OHP_TF_PROJECT_ID, r->project_id);
        *o++ = '|';
        T(OHP_TF_TASK_ID, r->task_id);
        *o++ = '|';
        T(OHP_TF_MATERIAL_STATUS_CODE, r->material_status_code);
        *o++ = '|';
        memcpy(o, date, 19);
        o += 19;
        *o++ = '\n';
        if (pass == 0)
            *q = (size_t)(o - b->data);
    }
#undef T
    b->len = (size_t)(o - b->data);
    return OHP_OK;
}

static int emit_line(ohp_job *job, size_t prefix_len, const char *serial, size_t serial_len,
                     bool quote, const char *suffix, size_t suffix_len)
{
    ohp_buf *o = &job->out;
    size_t need = job->prefix.len + prefix_len + 2 * serial_len + 2 + suffix_len;
    if (o->len + need >= o->cap && ohp_buf_reserve(o, &job->alloc, need))
        return set_err(job, OHP_ENOMEM, "out of memory");
    char *w = o->data + o->len;
    memcpy(w, job->prefix.data, job->prefix.len);
    w += job->prefix.len;
    memcpy(w, job->line.data, prefix_len);
    w += prefix_len;
    if (serial_len)
        w = ohp_psv_put_field(w, serial, serial_len, quote);
    memcpy(w, suffix, suffix_len);
    w += suffix_len;
    o->len = (size_t)(w - o->data);
    job->sum.lines_written++;
    if (o->len >= FLUSH_AT)
        return flush_out(job);
    return OHP_OK;
}

static int publish_record(ohp_job *job, const ohp_record *r, ohp_checked *c)
{
    size_t p = 0, q = 0;
    int rc = encode_record(job, r, c, &p, &q);
    if (rc)
        return set_err(job, rc, "out of memory");
    const char *line = job->line.data;
    if (!r->serial_controlled || job->plan.total == 0) {
        /* One line: a non-serial balance, or a serial item at zero (a removal). */
        if ((rc = emit_line(job, p, NULL, 0, false, line + p, q - p)) != 0)
            return rc;
        if ((rc = uom_add(job, r->primary_uom_code, &c->primary, 0)) != 0)
            return rc;
        return OHP_OK;
    }
    const ohp_serial_plan *plan = &job->plan;
    char small[256];
    for (size_t i = 0; i < plan->count; i++) {
        const ohp_serial_item *it = &plan->items[i];
        if (!it->range) {
            rc = emit_line(job, p, it->from, it->from_len, it->quote, line + q, job->line.len - q);
            if (rc)
                return rc;
            job->sum.serial_lines++;
            continue;
        }
        char *buf = small;
        if (it->from_len + 1 > sizeof small) {
            buf = ohp_malloc(&job->alloc, it->from_len + 1);
            if (buf == NULL)
                return set_err(job, OHP_ENOMEM, "out of memory");
        }
        for (uint64_t v = it->lo;; v++) {
            ohp_serial_item_format(it, v, buf);
            rc = emit_line(job, p, buf, it->from_len, it->quote, line + q, job->line.len - q);
            if (rc == OHP_OK)
                job->sum.serial_lines++;
            if (rc || v == it->hi)
                break;
        }
        if (buf != small)
            ohp_free(&job->alloc, buf);
        if (rc)
            return rc;
    }
    /* one line of quantity 1 per serial number */
    return uom_add(job, r->primary_uom_code, NULL, plan->total);
}

/* ---- the run ---- */

typedef struct run_ctx {
    ohp_params p; /* the caller's parameters, fields of later versions at their defaults */
    const ohp_params *pp;
    const char *system;
    const char *org;
    int items;
    int level;
    int on_error;
    ohp_limits lim;
    uint64_t progress_every;
    unsigned threads;
    uint64_t max_changed_keys;
    uint64_t max_rejects;
    unsigned max_reject_percent;
    uint64_t progress_base;   /* records read by an earlier pass */
    ohp_class_state prior[2]; /* the state store's, per ohp_item_class */
    bool source_open;
    bool sink_open;
} run_ctx;

static int sink_output(void *ctx, const void *buf, size_t len)
{
    ohp_job *job = ctx;
    return job->sink_write(job->sink_ud, buf, len);
}

static void name_part(ohp_buf *b, const ohp_alloc *a, const char *s, int *rc)
{
    for (const unsigned char *p = (const unsigned char *)s; *p && !*rc; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* one '_' per character, not per byte */
        const char ch = (char)*p;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        *rc = ohp_buf_putc(b, a, ch);
        if (*rc == OHP_OK && !ok)
            b->data[b->len - 1] = '_';
    }
}

static int make_names(ohp_job *job, const run_ctx *rc_)
{
    ohp_buf b = {0};
    const ohp_alloc *a = &job->alloc;
    int rc = 0;
    int y, mo, d, h, mi, s;
    ohp_civil_from_time(job->sum.snapshot_date, &y, &mo, &d, &h, &mi, &s);
    char tail[64];
    snprintf(tail, sizeof tail, "_%llu_%04d%02d%02d%02d%02d%02d",
             (unsigned long long)job->sum.run_id, y, mo, d, h, mi, s);
    rc = ohp_buf_append(&b, a, "ONHAND_", 7);
    if (!rc)
        name_part(&b, a, rc_->system, &rc);
    if (!rc)
        rc = ohp_buf_putc(&b, a, '_');
    if (!rc)
        name_part(&b, a, rc_->org, &rc);
    if (!rc)
        rc = ohp_buf_append(&b, a, tail, strlen(tail));
    if (!rc)
        rc = ohp_buf_reserve(&b, a, 5);
    if (rc) {
        ohp_buf_free(&b, a);
        return OHP_ENOMEM;
    }
    size_t base = b.len;
    job->file_name = ohp_malloc(a, base + 5);
    job->entry_name = ohp_malloc(a, base + 5);
    if (job->file_name == NULL || job->entry_name == NULL) {
        ohp_buf_free(&b, a);
        return OHP_ENOMEM;
    }
    memcpy(job->file_name, b.data, base);
    memcpy(job->file_name + base, ".zip", 5);
    memcpy(job->entry_name, b.data, base);
    memcpy(job->entry_name + base, ".psv", 5);
    ohp_buf_free(&b, a);
    job->sum.file_name = job->file_name;
    job->sum.entry_name = job->entry_name;
    return OHP_OK;
}

static int check_params(ohp_job *job, const ohp_params *pp, run_ctx *c)
{
    if (pp == NULL)
        return set_err(job, OHP_EINVAL, "parameters are required");
    if (pp->version < 1 || pp->version > OHP_PARAMS_VERSION)
        return set_err(job, OHP_EVERSION,
                       "unsupported ohp_params version %u (this library knows 1 to %d)",
                       pp->version, OHP_PARAMS_VERSION);
    /* Read only the fields the caller's version has; later ones keep their defaults. */
    ohp_params_init(&c->p, OHP_PARAMS_VERSION);
    memcpy(&c->p, pp, pp->version == 1 ? PARAMS_V1_SIZE : sizeof c->p);
    c->p.version = OHP_PARAMS_VERSION;
    pp = &c->p;
    c->pp = pp;
    c->system = pp->system_code ? pp->system_code : OHP_SYSTEM_ORACLE_WMS;
    c->org = pp->organization_code;
    c->lim.max_field_length = pp->max_field_length ? pp->max_field_length : DEFAULT_MAX_FIELD;
    c->lim.max_serials_per_record =
        pp->max_serials_per_record ? pp->max_serials_per_record : OHP_SERIALS_MAX_DEFAULT;
    if (!ohp_present(c->org))
        return set_err(job, OHP_EINVAL, "the Organization parameter is required");
    size_t org_bytes = strlen(c->org), org_chars = 0;
    bool org_control = false;
    for (const unsigned char *o = (const unsigned char *)c->org; *o; o++) {
        org_chars += (*o & 0xC0) != 0x80;
        org_control |= *o < 0x20 || *o == 0x7F;
    }
    if (org_bytes > c->lim.max_field_length || !ohp_utf8_valid(c->org, org_bytes))
        return set_err(job, OHP_EINVAL,
                       "the Organization parameter must be valid UTF-8 of at most %zu bytes",
                       c->lim.max_field_length);
    if (org_chars > MAX_ORG_CHARS || org_control)
        return set_err(job, OHP_EINVAL,
                       "the Organization parameter must be an organization code: at most %d "
                       "characters (it has %zu), none of them a control character",
                       MAX_ORG_CHARS, org_chars);
    if (!ohp_present(c->system) || strlen(c->system) > 18)
        return set_err(job, OHP_EINVAL,
                       "the External System parameter '%.40s' is not a lookup code", c->system);
    if (pp->items < OHP_ITEMS_BOTH || pp->items > OHP_ITEMS_NONSERIAL)
        return set_err(job, OHP_EINVAL, "Items to Publish must be BOTH, SERIAL or NONSERIAL");
    c->items = pp->items;
    if (pp->compression_level < -1 || pp->compression_level > 9)
        return set_err(job, OHP_EINVAL, "compression level must be 0 to 9 (or -1 for the default)");
    c->level = pp->compression_level < 0 ? DEFAULT_LEVEL : pp->compression_level;
    if (pp->on_error != OHP_ON_ERROR_FAIL && pp->on_error != OHP_ON_ERROR_REJECT)
        return set_err(job, OHP_EINVAL, "the bad-record policy must be FAIL or REJECT");
    c->on_error = pp->on_error;
    if (!ohp_present(pp->user))
        return set_err(job, OHP_EINVAL, "the submitting user is required");
    if (pp->snapshot_date != OHP_TIME_NONE) {
        char tmp[OHP_DATE_BUFSIZE];
        if (ohp_date_format(pp->snapshot_date, 0, tmp) != OHP_OK)
            return set_err(job, OHP_EINVAL, "the snapshot date is outside years 1 to 9999");
    }
    if (pp->publish_from != OHP_TIME_NONE) {
        char tmp[OHP_DATE_BUFSIZE];
        if (ohp_date_format(pp->publish_from, 0, tmp) != OHP_OK)
            return set_err(job, OHP_EINVAL, "the Publish from Date is outside years 1 to 9999");
    }
    c->progress_every = pp->progress_interval ? pp->progress_interval : DEFAULT_PROGRESS;
    if (pp->threads > MAX_THREADS)
        return set_err(job, OHP_EINVAL, "threads must be 0 to %d", MAX_THREADS);
    c->threads = pp->threads;
    c->max_changed_keys = pp->max_changed_keys ? pp->max_changed_keys : DEFAULT_MAX_CHANGED_KEYS;
    c->max_rejects = pp->max_rejects;
    if (pp->max_reject_percent > 100)
        return set_err(job, OHP_EINVAL, "max_reject_percent must be 0 to 100, not %u",
                       pp->max_reject_percent);
    c->max_reject_percent =
        pp->max_reject_percent ? pp->max_reject_percent : DEFAULT_MAX_REJECT_PERCENT;
    if (pp->run_id > OHP_MAX_RUN_ID)
        return set_err(job, OHP_EINVAL,
                       "run id %llu has more than 18 digits, the most a snapshot can carry",
                       (unsigned long long)pp->run_id);
    return OHP_OK;
}

static int make_prefix(ohp_job *job, const run_ctx *c)
{
    ohp_buf *b = &job->prefix;
    const ohp_alloc *a = &job->alloc;
    char tmp[64], date[OHP_DATE_BUFSIZE];
    b->len = 0;
    ohp_date_format(job->sum.snapshot_date, 0, date);
    int rc = ohp_psv_append_field(b, a, c->system, strlen(c->system));
    snprintf(tmp, sizeof tmp, "|%llu|%s|%s|", (unsigned long long)job->sum.run_id,
             job->sum.mode == OHP_MODE_FULL ? "FULL" : "INCREMENTAL", date);
    if (!rc)
        rc = ohp_buf_append(b, a, tmp, strlen(tmp));
    return rc;
}

static void describe_record(const ohp_record *r, uint64_t ordinal, char *buf, size_t size)
{
#define K(s, max) ohp_utf8_cut(ohp_present(s) ? (s) : "-", max), (ohp_present(s) ? (s) : "-")
    char raw[OHP_ERRMSG_SIZE];
    snprintf(raw, sizeof raw,
             "record %llu (organization %.*s, item %.*s, subinventory %.*s, locator %.*s, "
             "lot %.*s)",
             (unsigned long long)ordinal, K(r->organization_code, 40), K(r->item_number, 60),
             K(r->subinventory_code, 30), K(r->locator_name ? r->locator_name : r->locator_id, 40),
             K(r->lot_number, 40));
#undef K
    ohp_escape_text(buf, size, raw, strlen(raw)); /* the fields as visible text */
}

/* A record with every field absent: the start of each record read. */
static const ohp_record zero_record;

/* The digest of the record's balance key, as a receiver folds its lines. */
static ohp_key_digest record_digest(const ohp_record *r)
{
    const char *kf[OHP_KEY_NFIELDS];
    ohp_key_fields(kf, r->organization_code, r->item_number, r->revision, r->subinventory_code,
                   r->locator_name, r->locator_id, r->lot_number, r->owning_party_id);
    return ohp_key_digest_of(kf);
}

/* The Organization and Items to Publish filters: 0 (in scope) or the count to add to. */
static uint64_t *out_of_scope(ohp_job *job, const run_ctx *c, const ohp_record *r)
{
    if (ohp_present(r->organization_code) && !ohp_short_eq(r->organization_code, c->org))
        return &job->sum.skipped_organization;
    if ((c->items == OHP_ITEMS_SERIAL && !r->serial_controlled) ||
        (c->items == OHP_ITEMS_NONSERIAL && r->serial_controlled))
        return &job->sum.skipped_item_type;
    return NULL;
}

static int report_progress(ohp_job *job, uint64_t total, char *det, size_t size)
{
    job->cbmsg[0] = '\0';
    if (job->progress(job->progress_ud, total) != 0)
        return set_err(job, OHP_ECANCELED,
                       "run cancelled by the progress callback after %llu records%s",
                       (unsigned long long)total, cb_detail(job, det, size));
    return OHP_OK;
}

/*
 * An incremental run's first pass: the digests of the keys any of whose
 * in-scope records changed at or after the window start.  A record whose
 * change date cannot be read, or that the source flagged, marks its key
 * too: the second pass then checks it and the bad-record policy applies.
 */
static int find_changed_keys(ohp_job *job, run_ctx *c)
{
    ohp_record rec;
    ohp_checked chk;
    ohp_checked_init(&chk);
    char det[OHP_ERRMSG_SIZE], from[OHP_DATE_BUFSIZE];
    uint64_t read = 0;
    int rc;
    for (;;) {
        rec = zero_record;
        rec.version = OHP_RECORD_VERSION;
        job->cbmsg[0] = '\0';
        int got = job->src_next(job->src_ud, &rec);
        if (got < 0)
            return set_err(job, OHP_ESOURCE,
                           "data source failed after %llu records of the first pass%s",
                           (unsigned long long)read, cb_detail(job, det, sizeof det));
        if (got == 0)
            break;
        read++;
        if (out_of_scope(job, c, &rec) == NULL) {
            int64_t t;
            bool changed = rec.source_error != NULL || !ohp_present(rec.last_update_date) ||
                           ohp_checked_date(&chk, rec.last_update_date, &t) != OHP_OK ||
                           t >= job->sum.window_start;
            int added = 0;
            if (changed &&
                ohp_keyset_add(&job->changed, &job->alloc, record_digest(&rec), &added) != OHP_OK)
                return set_err(job, OHP_ENOMEM, "out of memory");
            if (added && job->changed.count > c->max_changed_keys) {
                ohp_date_format(job->sum.window_start, 0, from);
                return set_err(job, OHP_ELIMIT,
                               "more than %llu balance keys changed since %s (max_changed_keys); "
                               "publish in full, or raise the limit",
                               (unsigned long long)c->max_changed_keys, from);
            }
        }
        if (job->progress && read % c->progress_every == 0 &&
            (rc = report_progress(job, read, det, sizeof det)) != 0)
            return rc;
    }
    if (job->progress && (rc = report_progress(job, read, det, sizeof det)) != 0)
        return rc;
    c->progress_base = read;
    job->sum.changed_keys = job->changed.count;
    return OHP_OK;
}

/* Remember an organization code seen on a skipped record (the first few). */
static int remember_org(ohp_job *job, const char *org)
{
    if (job->norgs_seen == MAX_ORGS_SEEN)
        return OHP_OK;
    for (size_t i = 0; i < job->norgs_seen; i++)
        if (ohp_short_eq(job->orgs_seen[i], org))
            return OHP_OK;
    char *copy = ohp_strdup(&job->alloc, org);
    if (copy == NULL)
        return set_err(job, OHP_ENOMEM, "out of memory");
    job->orgs_seen[job->norgs_seen++] = copy;
    return OHP_OK;
}

/* A rejected record holds back the watermark of its class (see next_state). */
static void note_rejected(ohp_job *job, const ohp_record *r, ohp_checked *chk)
{
    int cls = r->serial_controlled ? OHP_CLASS_SERIAL : OHP_CLASS_NONSERIAL;
    int64_t t;
    if (r->source_error != NULL || !ohp_present(r->last_update_date) ||
        ohp_checked_date(chk, r->last_update_date, &t) != OHP_OK)
        job->reject_undated[cls] = true;
    else if (job->oldest_reject[cls] == OHP_TIME_NONE || t < job->oldest_reject[cls])
        job->oldest_reject[cls] = t;
}

/* Stream the records; returns OHP_OK or a failure with errmsg set. */
static int pump(ohp_job *job, run_ctx *c)
{
    ohp_record rec;
    ohp_checked chk;
    ohp_checked_init(&chk);
    char msg[OHP_ERRMSG_SIZE], who[OHP_ERRMSG_SIZE], det[OHP_ERRMSG_SIZE];
    int rc;
    for (;;) {
        rec = zero_record; /* compilers copy it with vector moves, cheaper than memset here */
        rec.version = OHP_RECORD_VERSION;
        job->cbmsg[0] = '\0';
        int got = job->src_next(job->src_ud, &rec);
        if (got < 0)
            return set_err(job, OHP_ESOURCE, "data source failed after %llu records%s",
                           (unsigned long long)job->sum.records_read,
                           cb_detail(job, det, sizeof det));
        if (got == 0)
            break;
        uint64_t ordinal = ++job->sum.records_read;

        bool skip = false;
        uint64_t *skipped = out_of_scope(job, c, &rec);
        if (skipped != NULL) {
            (*skipped)++;
            skip = true;
            if (skipped == &job->sum.skipped_organization &&
                (rc = remember_org(job, rec.organization_code)) != 0)
                return rc;
        } else if (job->sum.mode == OHP_MODE_INCREMENTAL &&
                   !ohp_keyset_has(&job->changed, record_digest(&rec))) {
            /* whole keys: a key none of whose records changed is left out whole */
            job->sum.skipped_window++;
            skip = true;
        }
        int rule = OHP_RULE_NONE;
        int crc = OHP_OK;
        if (!skip) {
            crc = ohp_record_check(&rec, &c->lim, &chk, &job->plan, &job->alloc, &rule, msg);
            if (crc == OHP_ENOMEM)
                return set_err(job, OHP_ENOMEM, "out of memory");
        }
        if (!skip && crc == OHP_ERECORD) {
            if (job->src_err_hook != NULL)
                job->src_err_hook(job->src_ud, ordinal, rule, msg);
            describe_record(&rec, ordinal, who, sizeof who);
            if (c->on_error == OHP_ON_ERROR_FAIL) {
                job->sum.error_ordinal = ordinal;
                job->sum.error_rule = rule;
                return set_err(job, OHP_ERECORD, "%s: %s", who, msg);
            }
            job->sum.records_rejected++;
            note_rejected(job, &rec, &chk);
            if (c->max_rejects && job->sum.records_rejected > c->max_rejects)
                return set_err(job, OHP_ELIMIT,
                               "more than %llu records rejected (max_rejects), at %s: the run is "
                               "not published",
                               (unsigned long long)c->max_rejects, who);
            if (job->reject) {
                char full[OHP_ERRMSG_SIZE * 2];
                snprintf(full, sizeof full, "%s: %s", who, msg);
                ohp_rejection rj = {OHP_REJECTION_VERSION, ordinal, rule, full, &rec};
                job->cbmsg[0] = '\0';
                if (job->reject(job->reject_ud, &rj) != 0)
                    return set_err(job, OHP_EREJECT, "the rejection callback failed at %s%s", who,
                                   cb_detail(job, det, sizeof det));
            }
            skip = true;
        }
        if (!skip && job->sum.mode == OHP_MODE_FULL && chk.primary.zero) {
            job->sum.skipped_zero++;
            skip = true;
        }
        if (!skip) {
            if ((rc = publish_record(job, &rec, &chk)) != 0)
                return rc;
            job->sum.records_published++;
        }
        uint64_t total = c->progress_base + ordinal;
        if (job->progress && total % c->progress_every == 0 &&
            (rc = report_progress(job, total, det, sizeof det)) != 0)
            return rc;
    }
    if (job->progress &&
        (rc = report_progress(job, c->progress_base + job->sum.records_read, det, sizeof det)) != 0)
        return rc;
    return OHP_OK;
}

static bool is_refusal(int rc)
{
    return rc == OHP_EINVAL || rc == OHP_EVERSION || rc == OHP_ENOTFOUND || rc == OHP_EINACTIVE ||
           rc == OHP_EDENIED || rc == OHP_EEMPTY;
}

static int zip_failure(ohp_job *job, int rc)
{
    char det[OHP_ERRMSG_SIZE];
    if (rc == OHP_ESINK || (job->zw && ohp_zipwriter_output_failed(job->zw)))
        return set_err(job, OHP_ESINK, "sink write failed after %llu bytes%s",
                       (unsigned long long)(job->zw ? ohp_zipwriter_total(job->zw) : 0),
                       cb_detail(job, det, sizeof det));
    if (rc == OHP_ENOMEM)
        return set_err(job, OHP_ENOMEM, "out of memory");
    return set_err(job, rc, "archive writer failed");
}

static int open_source(ohp_job *job, run_ctx *c, const ohp_source_query *q)
{
    job->cbmsg[0] = '\0';
    if (job->src_open && job->src_open(job->src_ud, q) != 0) {
        char det[OHP_ERRMSG_SIZE];
        return set_err(job, OHP_ESOURCE, "the data source could not be opened%s%s",
                       q->pass == OHP_PASS_KEYS ? " for its second pass" : "",
                       cb_detail(job, det, sizeof det));
    }
    c->source_open = true;
    return OHP_OK;
}

static void close_source(ohp_job *job, run_ctx *c)
{
    if (c->source_open && job->src_close)
        job->src_close(job->src_ud);
    c->source_open = false;
}

/* The external system on the snapshot date, then the privilege. */
static int check_system_and_user(ohp_job *job, const run_ctx *c)
{
    const ohp_params *pp = c->pp;
    char det[OHP_ERRMSG_SIZE];
    const ohp_registry *reg = job->reg;
    if (reg == NULL) {
        /* On the job's allocator, like every other allocation of the job. */
        ohp_allocator pub;
        if (job->builtin_reg == NULL &&
            ohp_registry_new(&job->builtin_reg, ohp_alloc_public(&job->alloc, &pub)) != OHP_OK)
            return set_err(job, OHP_ENOMEM, "out of memory");
        reg = job->builtin_reg;
    }
    int rc = ohp_registry_check_msg(reg, c->system, job->sum.snapshot_date, job->errmsg);
    if (rc)
        return rc;
    if (pp->caller_authorized)
        return OHP_OK;
    if (job->authz == NULL)
        return set_err(job, OHP_EDENIED,
                       "user %.100s is not authorized: no authorizer is configured to check "
                       "privilege %s",
                       pp->user, OHP_PRIVILEGE);
    int granted = 0;
    job->cbmsg[0] = '\0';
    if (job->authz(job->authz_ud, pp->user, OHP_PRIVILEGE, &granted) != 0)
        return set_err(job, OHP_EAUTH, "the authorizer failed for user %.100s%s", pp->user,
                       cb_detail(job, det, sizeof det));
    if (!granted)
        return set_err(job, OHP_EDENIED, "user %.100s does not have privilege %s", pp->user,
                       OHP_PRIVILEGE);
    return OHP_OK;
}

/* Does the run cover item class cls? */
static bool covers(int items, int cls)
{
    return items == OHP_ITEMS_BOTH || (items == OHP_ITEMS_SERIAL) == (cls == OHP_CLASS_SERIAL);
}

static const char *class_name(int cls)
{
    return cls == OHP_CLASS_SERIAL ? "serial-controlled" : "non-serial";
}

/*
 * Read the state (every run), refuse a snapshot date that is not later than
 * the last one of a covered class, and set *w: the older watermark of the
 * covered classes, or OHP_TIME_NONE when one was never published.
 */
static int read_state(ohp_job *job, run_ctx *c, int64_t *w)
{
    char det[OHP_ERRMSG_SIZE], a[OHP_DATE_BUFSIZE], b[OHP_DATE_BUFSIZE];
    ohp_summary *s = &job->sum;
    *w = OHP_TIME_NONE;
    for (int k = 0; k < 2; k++)
        c->prior[k].watermark = c->prior[k].last_snapshot = OHP_TIME_NONE;
    job->cbmsg[0] = '\0';
    if (job->has_st2) {
        if (job->st2.get(job->st2_ud, c->system, c->org, c->prior) != 0)
            return set_err(job, OHP_ESTORE, "the state store could not read the watermarks%s",
                           cb_detail(job, det, sizeof det));
    } else if (job->st_get) {
        int64_t one = OHP_TIME_NONE;
        if (job->st_get(job->st_ud, c->system, c->org, &one) != 0)
            return set_err(job, OHP_ESTORE, "the state store could not read the watermark%s",
                           cb_detail(job, det, sizeof det));
        /* 1.0's store: one watermark, the last snapshot date, for both classes */
        for (int k = 0; k < 2; k++)
            c->prior[k].watermark = c->prior[k].last_snapshot = one;
    }
    bool never = false;
    for (int k = 0; k < 2; k++) {
        if (!covers(c->items, k))
            continue;
        const ohp_class_state *st = &c->prior[k];
        /* A clock-taken date in the second of the last snapshot: wait for the next one. */
        for (int waits = 0;
             c->pp->snapshot_date == OHP_TIME_NONE && waits < 30 &&
             st->last_snapshot != OHP_TIME_NONE && s->snapshot_date <= st->last_snapshot &&
             st->last_snapshot - s->snapshot_date < 2;
             waits++) {
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            s->snapshot_date = (int64_t)time(NULL);
        }
        if (st->last_snapshot != OHP_TIME_NONE && s->snapshot_date <= st->last_snapshot) {
            ohp_date_format(s->snapshot_date, 0, a);
            ohp_date_format(st->last_snapshot, 0, b);
            return set_err(job, OHP_EINVAL,
                           "the snapshot date %s is not later than %s, the last snapshot of %s "
                           "items of system %s, organization %.100s: receivers order snapshots "
                           "by date",
                           a, b, class_name(k), c->system, c->org);
        }
        if (st->watermark == OHP_TIME_NONE)
            never = true;
        else if (*w == OHP_TIME_NONE || st->watermark < *w)
            *w = st->watermark;
    }
    if (never)
        *w = OHP_TIME_NONE;
    return OHP_OK;
}

/* Mode and window start from the watermark w and the Publish from Date. */
static int choose_window(ohp_job *job, const run_ctx *c, int64_t w)
{
    ohp_summary *s = &job->sum;
    int64_t f = c->pp->publish_from;
    if (c->pp->full_publish || (w == OHP_TIME_NONE && f == OHP_TIME_NONE)) {
        s->mode = OHP_MODE_FULL;
        s->window_start = OHP_TIME_NONE;
        return OHP_OK;
    }
    s->mode = OHP_MODE_INCREMENTAL;
    if (w == OHP_TIME_NONE || f == OHP_TIME_NONE || f <= w) {
        s->window_start = f == OHP_TIME_NONE ? w : f;
        return OHP_OK;
    }
    char fs[OHP_DATE_BUFSIZE], ws[OHP_DATE_BUFSIZE], text[256];
    ohp_date_format(f, 0, fs);
    ohp_date_format(w, 0, ws);
    snprintf(text, sizeof text,
             "Publish from Date %s is later than the last successful publication %s; "
             "publishing from %s so that no change is missed",
             fs, ws, ws);
    s->window_start = w;
    return add_warning(job, text) ? set_err(job, OHP_ENOMEM, "out of memory") : OHP_OK;
}

/* The run id: given (and, with a 1.1 store, recorded), reserved or proposed. */
static int take_run_id(ohp_job *job, const run_ctx *c)
{
    char det[OHP_ERRMSG_SIZE];
    uint64_t id = c->pp->run_id;
    job->cbmsg[0] = '\0';
    if (job->has_st2 && job->st2.reserve_run_id) {
        if (job->st2.reserve_run_id(job->st2_ud, c->pp->run_id, &id) != 0)
            return set_err(job, OHP_ESTORE, "the state store could not reserve a run id%s",
                           cb_detail(job, det, sizeof det));
        if (c->pp->run_id != 0 && id != c->pp->run_id)
            return set_err(job, OHP_ESTORE,
                           "the state store reserved run id %llu instead of the %llu given",
                           (unsigned long long)id, (unsigned long long)c->pp->run_id);
    } else if (id == 0 && !job->has_st2 && job->st_next) {
        if (job->st_next(job->st_ud, &id) != 0)
            return set_err(job, OHP_ESTORE, "the state store could not allocate a run id%s",
                           cb_detail(job, det, sizeof det));
    } else if (id == 0) {
        id = 1;
    }
    if (id == 0)
        return set_err(job, OHP_ESTORE, "the state store allocated run id 0");
    if (id > OHP_MAX_RUN_ID)
        return set_err(job, OHP_ESTORE,
                       "the state store's run id %llu has more than 18 digits, the most a "
                       "snapshot can carry: the run ids of this store are used up",
                       (unsigned long long)id);
    job->sum.run_id = id;
    return OHP_OK;
}

/* Levenshtein distance of two short codes (at most 64 bytes each are compared). */
static size_t distance(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y);
    if (n > 64)
        n = 64;
    if (m > 64)
        m = 64;
    size_t row[65];
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (x[i - 1] != y[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* The organization code seen in the source that is closest to org, or NULL. */
static const char *closest_org(const ohp_job *job, const char *org)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < job->norgs_seen; i++) {
        const char *o = job->orgs_seen[i];
        size_t d = strcasecmp(o, org) == 0 ? 0 : 1 + distance(o, org);
        if (d < best_d) {
            best_d = d;
            best = o;
        }
    }
    return best;
}

/*
 * After the records: the reject thresholds, and a FULL run that would
 * publish no line (it would tell the receiver the organization is empty).
 */
static int check_outcome(ohp_job *job, const run_ctx *c)
{
    const ohp_summary *s = &job->sum;
    uint64_t checked =
        s->records_read - s->skipped_organization - s->skipped_item_type - s->skipped_window;
    if (s->records_rejected > 0 &&
        s->records_rejected * 100 > (uint64_t)c->max_reject_percent * checked)
        return set_err(job, OHP_ELIMIT,
                       "%llu of the %llu records checked were rejected, more than %u%% "
                       "(max_reject_percent): the run is not published",
                       (unsigned long long)s->records_rejected, (unsigned long long)checked,
                       c->max_reject_percent);
    if (s->mode != OHP_MODE_FULL || s->lines_written > 0 || s->records_read == 0 ||
        c->pp->allow_empty)
        return OHP_OK;
    const char *near = closest_org(job, c->org);
    if (s->skipped_organization == s->records_read && near != NULL)
        return set_err(job, OHP_EEMPTY,
                       "no record of organization '%.100s' among the %llu records read (the "
                       "closest organization code seen is '%.100s'): a FULL snapshot with no "
                       "line would tell the receiver that the organization holds no stock; "
                       "nothing was published (allow an empty organization to publish it)",
                       c->org, (unsigned long long)s->records_read, near);
    return set_err(job, OHP_EEMPTY,
                   "none of the %llu records read gives a line to publish (other organization "
                   "%llu, item type %llu, zero quantity %llu, rejected %llu): a FULL snapshot "
                   "with no line would tell the receiver that the organization holds no "
                   "stock; nothing was published (allow an empty organization to publish it)",
                   (unsigned long long)s->records_read, (unsigned long long)s->skipped_organization,
                   (unsigned long long)s->skipped_item_type, (unsigned long long)s->skipped_zero,
                   (unsigned long long)s->records_rejected);
}

/*
 * The state a success leaves for each covered class: its watermark moves to
 * the snapshot date, held back to the oldest change date of a record the run
 * rejected (kept where it was when such a record's date could not be read),
 * so that the next run retries it.
 */
static int next_state(ohp_job *job, const run_ctx *c, ohp_class_state next[2])
{
    const ohp_summary *s = &job->sum;
    for (int k = 0; k < 2; k++) {
        next[k] = c->prior[k];
        if (!covers(c->items, k))
            continue;
        next[k].last_snapshot = s->snapshot_date;
        next[k].watermark = s->snapshot_date;
        if (job->reject_undated[k])
            next[k].watermark = c->prior[k].watermark;
        else if (job->oldest_reject[k] != OHP_TIME_NONE && job->oldest_reject[k] < s->snapshot_date)
            next[k].watermark = job->oldest_reject[k];
        if (next[k].watermark != s->snapshot_date && job->has_st2) {
            char text[256], d[OHP_DATE_BUFSIZE];
            if (next[k].watermark == OHP_TIME_NONE)
                snprintf(d, sizeof d, "none");
            else
                ohp_date_format(next[k].watermark, 0, d);
            snprintf(text, sizeof text,
                     "records were rejected: the watermark of %s items moves only to %s, so that "
                     "the next incremental run publishes them again",
                     class_name(k), d);
            if (add_warning(job, text))
                return set_err(job, OHP_ENOMEM, "out of memory");
        }
    }
    return OHP_OK;
}

/* Record the run: after the sink committed. */
static int commit_state(ohp_job *job, const run_ctx *c)
{
    char det[OHP_ERRMSG_SIZE];
    ohp_class_state next[2];
    int rc = next_state(job, c, next);
    if (rc)
        return rc;
    job->cbmsg[0] = '\0';
    if (job->has_st2)
        rc = job->st2.commit(job->st2_ud, c->system, c->org, c->items, next, job->sum.run_id);
    else if (job->st_commit)
        rc = job->st_commit(job->st_ud, c->system, c->org, job->sum.snapshot_date, job->sum.run_id);
    if (rc != 0)
        return set_err(job, OHP_ESTORE,
                       "%s was published but the state store could not record the run%s; the "
                       "next incremental run will publish these changes again",
                       job->file_name, cb_detail(job, det, sizeof det));
    return OHP_OK;
}

/* Open the sink and the archive, stream the records, finish the archive. */
static int write_archive(ohp_job *job, run_ctx *c)
{
    char det[OHP_ERRMSG_SIZE];
    ohp_summary *s = &job->sum;
    int rc;
    if (job->sink_open) {
        job->cbmsg[0] = '\0';
        if (job->sink_open(job->sink_ud, job->file_name) != 0)
            return set_err(job, OHP_ESINK, "the sink could not be opened for %s%s", job->file_name,
                           cb_detail(job, det, sizeof det));
    }
    c->sink_open = true;
    job->cbmsg[0] = '\0';
    /* From here until the writer is freed, worker threads may allocate. */
    if (c->threads > 1 && c->level > 0)
        job->alloc.lock = &job->alloc_lock;
    rc = ohp_zipwriter_new(&job->zw, &job->alloc, sink_output, job, job->entry_name,
                           s->snapshot_date, c->level, c->threads, job->errmsg);
    if (rc)
        return zip_failure(job, rc);
    job->out.len = 0;
    if ((rc = out_append(job, ohp_psv_header_v1, strlen(ohp_psv_header_v1))) != 0)
        return rc;
    if ((rc = pump(job, c)) != 0)
        return rc == OHP_ESINK || rc == OHP_EZIP ? zip_failure(job, rc) : rc;
    if ((rc = check_outcome(job, c)) != 0)
        return rc;
    if ((rc = flush_out(job)) != 0 || (rc = ohp_zipwriter_finish(job->zw)) != 0)
        return zip_failure(job, rc);
    return OHP_OK;
}

static int run(ohp_job *job, const ohp_params *pp)
{
    run_ctx c;
    memset(&c, 0, sizeof c);
    char det[OHP_ERRMSG_SIZE];
    int rc = check_params(job, pp, &c);
    if (rc)
        return rc;
    ohp_summary *s = &job->sum;
    s->items = c.items;
    s->snapshot_date = c.p.snapshot_date != OHP_TIME_NONE ? c.p.snapshot_date : (int64_t)time(NULL);
    job->sum_system = ohp_strdup(&job->alloc, c.system);
    job->sum_org = ohp_strdup(&job->alloc, c.org);
    if (!job->sum_system || !job->sum_org)
        return set_err(job, OHP_ENOMEM, "out of memory");
    s->system_code = job->sum_system;
    s->organization_code = job->sum_org;

    /* Refusals: nothing is opened, no run id is taken. */
    int64_t w;
    if ((rc = check_system_and_user(job, &c)) != 0 || (rc = read_state(job, &c, &w)) != 0 ||
        (rc = choose_window(job, &c, w)) != 0)
        return rc;
    if (job->src_next == NULL)
        return set_err(job, OHP_EINVAL, "no data source is set");
    if (job->sink_write == NULL)
        return set_err(job, OHP_EINVAL, "no sink is set");
    if (s->mode == OHP_MODE_INCREMENTAL && job->src_open == NULL)
        return set_err(job, OHP_EINVAL,
                       "an incremental run reads the source twice (whole keys), and a source "
                       "without an open callback cannot be started again");

    /* The run id, reserved before anything is read or written. */
    if ((rc = take_run_id(job, &c)) != 0)
        return rc;
    if (make_names(job, &c) || make_prefix(job, &c))
        return set_err(job, OHP_ENOMEM, "out of memory");

    /* Source: an incremental run first finds the changed keys, then reads again. */
    ohp_source_query q = {
        OHP_SOURCE_QUERY_VERSION, c.system,         c.org,     c.items,      s->mode,
        s->window_start,          s->snapshot_date, s->run_id, OHP_PASS_ONLY};
    if (s->mode == OHP_MODE_INCREMENTAL) {
        q.pass = OHP_PASS_CHANGES;
        if ((rc = open_source(job, &c, &q)) != 0)
            goto out;
        rc = find_changed_keys(job, &c);
        close_source(job, &c);
        if (rc)
            goto out;
        q.pass = OHP_PASS_KEYS;
    }
    if ((rc = open_source(job, &c, &q)) != 0 || (rc = write_archive(job, &c)) != 0)
        goto out;
    s->psv_bytes = ohp_zipwriter_uncompressed(job->zw);
    s->compressed_bytes = ohp_zipwriter_compressed(job->zw);
    s->zip_bytes = ohp_zipwriter_total(job->zw);
    s->crc32 = ohp_zipwriter_crc(job->zw);

    /* Commit: the sink first, then the state. */
    close_source(job, &c);
    c.sink_open = false;
    job->cbmsg[0] = '\0';
    if (job->sink_close(job->sink_ud, 1) != 0) {
        rc = set_err(job, OHP_ESINK, "the sink could not commit %s%s", job->file_name,
                     cb_detail(job, det, sizeof det));
        goto out;
    }
    rc = commit_state(job, &c);
out:
    if (rc != OHP_OK && job->zw) {
        /* What reached the writer and the sink before the failure. */
        s->psv_bytes = ohp_zipwriter_uncompressed(job->zw);
        s->compressed_bytes = ohp_zipwriter_compressed(job->zw);
        s->zip_bytes = ohp_zipwriter_total(job->zw);
        s->crc32 = ohp_zipwriter_crc(job->zw);
    }
    close_source(job, &c);
    if (c.sink_open)
        (void)job->sink_close(job->sink_ud, 0);
    ohp_zipwriter_free(job->zw);
    job->zw = NULL;
    job->alloc.lock = NULL;
    ohp_keyset_clear(&job->changed, &job->alloc, 0);
    for (size_t i = 0; i < job->norgs_seen; i++)
        ohp_free(&job->alloc, job->orgs_seen[i]);
    job->norgs_seen = 0;
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
