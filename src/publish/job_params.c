/*
 * A run's parameters: checked, defaulted, made into the file and entry names
 * and the lines' prefix; the external system and the user's privilege.
 */
#include "job_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

int job_make_names(ohp_job *job, const run_ctx *c)
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
        name_part(&b, a, c->system, &rc);
    if (!rc)
        rc = ohp_buf_putc(&b, a, '_');
    if (!rc)
        name_part(&b, a, c->org, &rc);
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

int job_check_params(ohp_job *job, const ohp_params *pp, run_ctx *c)
{
    if (pp == NULL)
        return job_err(job, OHP_EINVAL, "parameters are required");
    if (pp->version < 1 || pp->version > OHP_PARAMS_VERSION)
        return job_err(job, OHP_EVERSION,
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
        return job_err(job, OHP_EINVAL, "the Organization parameter is required");
    size_t org_bytes = strlen(c->org), org_chars = 0;
    bool org_control = false;
    for (const unsigned char *o = (const unsigned char *)c->org; *o; o++) {
        org_chars += (*o & 0xC0) != 0x80;
        org_control |= *o < 0x20 || *o == 0x7F;
    }
    if (org_bytes > c->lim.max_field_length || !ohp_utf8_valid(c->org, org_bytes))
        return job_err(job, OHP_EINVAL,
                       "the Organization parameter must be valid UTF-8 of at most %zu bytes",
                       c->lim.max_field_length);
    if (org_chars > MAX_ORG_CHARS || org_control)
        return job_err(job, OHP_EINVAL,
                       "the Organization parameter must be an organization code: at most %d "
                       "characters (it has %zu), none of them a control character",
                       MAX_ORG_CHARS, org_chars);
    if (!ohp_present(c->system) || strlen(c->system) > 18)
        return job_err(job, OHP_EINVAL,
                       "the External System parameter '%.40s' is not a lookup code", c->system);
    if (pp->items < OHP_ITEMS_BOTH || pp->items > OHP_ITEMS_NONSERIAL)
        return job_err(job, OHP_EINVAL, "Items to Publish must be BOTH, SERIAL or NONSERIAL");
    c->items = pp->items;
    if (pp->compression_level < -1 || pp->compression_level > 9)
        return job_err(job, OHP_EINVAL, "compression level must be 0 to 9 (or -1 for the default)");
    c->level = pp->compression_level < 0 ? DEFAULT_LEVEL : pp->compression_level;
    if (pp->engine < OHP_ENGINE_ZLIB || pp->engine > OHP_ENGINE_BEST)
        return job_err(job, OHP_EINVAL, "the engine must be ZLIB, ISAL or BEST, not %d",
                       pp->engine);
    if (!ohp_engine_available(pp->engine))
        return job_err(job, OHP_EUNSUPPORTED,
                       "the ISA-L deflate engine was asked for, and this build of the library "
                       "has no ISA-L (build it with libisal-dev, meson option isal), or ask for "
                       "engine ZLIB or BEST");
    c->engine = pp->engine;
    if (c->engine == OHP_ENGINE_BEST)
        c->engine = ohp_engine_available(OHP_ENGINE_ISAL) ? OHP_ENGINE_ISAL : OHP_ENGINE_ZLIB;
    job->sum.engine = c->engine;
    if (pp->on_error != OHP_ON_ERROR_FAIL && pp->on_error != OHP_ON_ERROR_REJECT)
        return job_err(job, OHP_EINVAL, "the bad-record policy must be FAIL or REJECT");
    c->on_error = pp->on_error;
    if (!ohp_present(pp->user))
        return job_err(job, OHP_EINVAL, "the submitting user is required");
    if (pp->snapshot_date != OHP_TIME_NONE) {
        char tmp[OHP_DATE_BUFSIZE];
        if (ohp_date_format(pp->snapshot_date, 0, tmp) != OHP_OK)
            return job_err(job, OHP_EINVAL, "the snapshot date is outside years 1 to 9999");
    }
    if (pp->publish_from != OHP_TIME_NONE) {
        char tmp[OHP_DATE_BUFSIZE];
        if (ohp_date_format(pp->publish_from, 0, tmp) != OHP_OK)
            return job_err(job, OHP_EINVAL, "the Publish from Date is outside years 1 to 9999");
    }
    c->progress_every = pp->progress_interval ? pp->progress_interval : DEFAULT_PROGRESS;
    if (pp->threads > MAX_THREADS)
        return job_err(job, OHP_EINVAL, "threads must be 0 to %d", MAX_THREADS);
    c->threads = pp->threads;
    c->max_changed_keys = pp->max_changed_keys ? pp->max_changed_keys : DEFAULT_MAX_CHANGED_KEYS;
    c->max_rejects = pp->max_rejects;
    if (pp->max_reject_percent > 100)
        return job_err(job, OHP_EINVAL, "max_reject_percent must be 0 to 100, not %u",
                       pp->max_reject_percent);
    c->max_reject_percent =
        pp->max_reject_percent ? pp->max_reject_percent : DEFAULT_MAX_REJECT_PERCENT;
    if (pp->run_id > OHP_MAX_RUN_ID)
        return job_err(job, OHP_EINVAL,
                       "run id %llu has more than 18 digits, the most a snapshot can carry",
                       (unsigned long long)pp->run_id);
    return OHP_OK;
}

int job_make_prefix(ohp_job *job, const run_ctx *c)
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

int job_check_system_and_user(ohp_job *job, const run_ctx *c)
{
    const ohp_params *pp = c->pp;
    const ohp_registry *reg = job->reg;
    if (reg == NULL) {
        /* On the job's allocator, like every other allocation of the job. */
        ohp_allocator pub;
        if (job->builtin_reg == NULL &&
            ohp_registry_new(&job->builtin_reg, ohp_alloc_public(&job->alloc, &pub)) != OHP_OK)
            return job_err(job, OHP_ENOMEM, "out of memory");
        reg = job->builtin_reg;
    }
    int rc = ohp_registry_check_msg(reg, c->system, job->sum.snapshot_date, job->errmsg);
    if (rc)
        return rc;
    if (pp->caller_authorized)
        return OHP_OK;
    if (job->authz == NULL)
        return job_err(job, OHP_EDENIED,
                       "user %.100s is not authorized: no authorizer is configured to check "
                       "privilege %s",
                       pp->user, OHP_PRIVILEGE);
    int granted = 0;
    job->cbmsg[0] = '\0';
    if (job->authz(job->authz_ud, pp->user, OHP_PRIVILEGE, &granted) != 0) {
        char det[OHP_ERRMSG_SIZE];
        return job_err(job, OHP_EAUTH, "the authorizer failed for user %.100s%s", pp->user,
                       job_cb_detail(job, det, sizeof det));
    }
    if (!granted)
        return job_err(job, OHP_EDENIED, "user %.100s does not have privilege %s", pp->user,
                       OHP_PRIVILEGE);
    return OHP_OK;
}
