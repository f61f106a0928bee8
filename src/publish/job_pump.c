/*
 * The pump: records from the source, in or out of scope and window, checked,
 * rejected or published; the changed keys of an incremental run; the outcome.
 */
#include "job_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
        return job_err(job, OHP_ECANCELED,
                       "run cancelled by the progress callback after %llu records%s",
                       (unsigned long long)total, job_cb_detail(job, det, size));
    return OHP_OK;
}

int job_find_changed_keys(ohp_job *job, run_ctx *c)
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
            return job_err(job, OHP_ESOURCE,
                           "data source failed after %llu records of the first pass%s",
                           (unsigned long long)read, job_cb_detail(job, det, sizeof det));
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
                return job_err(job, OHP_ENOMEM, "out of memory");
            if (added && job->changed.count > c->max_changed_keys) {
                ohp_date_format(job->sum.window_start, 0, from);
                return job_err(job, OHP_ELIMIT,
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
        return job_err(job, OHP_ENOMEM, "out of memory");
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

/*
 * *skip: the record is out of scope (counted by why) or, in an incremental
 * run, of a key none of whose records changed (whole keys: left out whole).
 */
static int skip_record(ohp_job *job, const run_ctx *c, const ohp_record *rec, bool *skip)
{
    uint64_t *skipped = out_of_scope(job, c, rec);
    if (skipped != NULL) {
        (*skipped)++;
        *skip = true;
        if (skipped == &job->sum.skipped_organization)
            return remember_org(job, rec->organization_code);
    } else if (job->sum.mode == OHP_MODE_INCREMENTAL &&
               !ohp_keyset_has(&job->changed, record_digest(rec))) {
        job->sum.skipped_window++;
        *skip = true;
    }
    return OHP_OK;
}

/* A bad record: the run fails, or (on_error skip) it is rejected, counted and reported. */
static int reject_record(ohp_job *job, const run_ctx *c, const ohp_record *rec, ohp_checked *chk,
                         uint64_t ordinal, int rule, const char *msg)
{
    char who[OHP_ERRMSG_SIZE];
    if (job->src_err_hook != NULL)
        job->src_err_hook(job->src_ud, ordinal, rule, msg);
    describe_record(rec, ordinal, who, sizeof who);
    if (c->on_error == OHP_ON_ERROR_FAIL) {
        job->sum.error_ordinal = ordinal;
        job->sum.error_rule = rule;
        return job_err(job, OHP_ERECORD, "%s: %s", who, msg);
    }
    job->sum.records_rejected++;
    note_rejected(job, rec, chk);
    if (c->max_rejects && job->sum.records_rejected > c->max_rejects)
        return job_err(job, OHP_ELIMIT,
                       "more than %llu records rejected (max_rejects), at %s: the run is "
                       "not published",
                       (unsigned long long)c->max_rejects, who);
    if (job->reject) {
        char full[OHP_ERRMSG_SIZE * 2];
        snprintf(full, sizeof full, "%s: %s", who, msg);
        ohp_rejection rj = {OHP_REJECTION_VERSION, ordinal, rule, full, rec};
        job->cbmsg[0] = '\0';
        if (job->reject(job->reject_ud, &rj) != 0) {
            char det[OHP_ERRMSG_SIZE];
            return job_err(job, OHP_EREJECT, "the rejection callback failed at %s%s", who,
                           job_cb_detail(job, det, sizeof det));
        }
    }
    return OHP_OK;
}

/* The record's rules (into chk); *skip when it was rejected. */
static int check_record(ohp_job *job, const run_ctx *c, const ohp_record *rec, ohp_checked *chk,
                        uint64_t ordinal, bool *skip)
{
    char msg[OHP_ERRMSG_SIZE];
    int rule = OHP_RULE_NONE;
    int crc = ohp_record_check(rec, &c->lim, chk, &job->plan, &job->alloc, &rule, msg);
    if (crc == OHP_ENOMEM)
        return job_err(job, OHP_ENOMEM, "out of memory");
    if (crc != OHP_ERECORD)
        return OHP_OK;
    *skip = true;
    return reject_record(job, c, rec, chk, ordinal, rule, msg);
}

int job_pump(ohp_job *job, run_ctx *c)
{
    ohp_record rec;
    ohp_checked chk;
    ohp_checked_init(&chk);
    char det[OHP_ERRMSG_SIZE];
    int rc;
    for (;;) {
        rec = zero_record; /* compilers copy it with vector moves, cheaper than memset here */
        rec.version = OHP_RECORD_VERSION;
        job->cbmsg[0] = '\0';
        int got = job->src_next(job->src_ud, &rec);
        if (got < 0)
            return job_err(job, OHP_ESOURCE, "data source failed after %llu records%s",
                           (unsigned long long)job->sum.records_read,
                           job_cb_detail(job, det, sizeof det));
        if (got == 0)
            break;
        uint64_t ordinal = ++job->sum.records_read;
        bool skip = false;
        if ((rc = skip_record(job, c, &rec, &skip)) != 0)
            return rc;
        if (!skip && (rc = check_record(job, c, &rec, &chk, ordinal, &skip)) != 0)
            return rc;
        if (!skip && job->sum.mode == OHP_MODE_FULL && chk.primary.zero) {
            job->sum.skipped_zero++;
            skip = true;
        }
        if (!skip) {
            if ((rc = job_publish_record(job, &rec, &chk)) != 0)
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

int job_open_source(ohp_job *job, run_ctx *c, const ohp_source_query *q)
{
    job->cbmsg[0] = '\0';
    if (job->src_open && job->src_open(job->src_ud, q) != 0) {
        char det[OHP_ERRMSG_SIZE];
        return job_err(job, OHP_ESOURCE, "the data source could not be opened%s%s",
                       q->pass == OHP_PASS_KEYS ? " for its second pass" : "",
                       job_cb_detail(job, det, sizeof det));
    }
    c->source_open = true;
    return OHP_OK;
}

void job_close_source(ohp_job *job, run_ctx *c)
{
    if (c->source_open && job->src_close)
        job->src_close(job->src_ud);
    c->source_open = false;
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

int job_check_outcome(ohp_job *job, const run_ctx *c)
{
    const ohp_summary *s = &job->sum;
    uint64_t checked =
        s->records_read - s->skipped_organization - s->skipped_item_type - s->skipped_window;
    if (s->records_rejected > 0 &&
        s->records_rejected * 100 > (uint64_t)c->max_reject_percent * checked)
        return job_err(job, OHP_ELIMIT,
                       "%llu of the %llu records checked were rejected, more than %u%% "
                       "(max_reject_percent): the run is not published",
                       (unsigned long long)s->records_rejected, (unsigned long long)checked,
                       c->max_reject_percent);
    if (s->mode != OHP_MODE_FULL || s->lines_written > 0 || s->records_read == 0 ||
        c->pp->allow_empty)
        return OHP_OK;
    const char *near = closest_org(job, c->org);
    if (s->skipped_organization == s->records_read && near != NULL)
        return job_err(job, OHP_EEMPTY,
                       "no record of organization '%.100s' among the %llu records read (the "
                       "closest organization code seen is '%.100s'): a FULL snapshot with no "
                       "line would tell the receiver that the organization holds no stock; "
                       "nothing was published (allow an empty organization to publish it)",
                       c->org, (unsigned long long)s->records_read, near);
    return job_err(job, OHP_EEMPTY,
                   "none of the %llu records read gives a line to publish (other organization "
                   "%llu, item type %llu, zero quantity %llu, rejected %llu): a FULL snapshot "
                   "with no line would tell the receiver that the organization holds no "
                   "stock; nothing was published (allow an empty organization to publish it)",
                   (unsigned long long)s->records_read, (unsigned long long)s->skipped_organization,
                   (unsigned long long)s->skipped_item_type, (unsigned long long)s->skipped_zero,
                   (unsigned long long)s->records_rejected);
}
