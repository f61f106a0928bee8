/*
 * The state store: the last published snapshot per item class, the window of
 * an incremental run, the run id, and the state recorded after the sink committed.
 */
#include "job_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Does the run cover item class cls? */
static bool covers(int items, int cls)
{
    return items == OHP_ITEMS_BOTH || (items == OHP_ITEMS_SERIAL) == (cls == OHP_CLASS_SERIAL);
}

static const char *class_name(int cls)
{
    return cls == OHP_CLASS_SERIAL ? "serial-controlled" : "non-serial";
}

int job_read_state(ohp_job *job, run_ctx *c, int64_t *w)
{
    char det[OHP_ERRMSG_SIZE], a[OHP_DATE_BUFSIZE], b[OHP_DATE_BUFSIZE];
    ohp_summary *s = &job->sum;
    *w = OHP_TIME_NONE;
    for (int k = 0; k < 2; k++)
        c->prior[k].watermark = c->prior[k].last_snapshot = OHP_TIME_NONE;
    job->cbmsg[0] = '\0';
    if (job->has_st2) {
        if (job->st2.get(job->st2_ud, c->system, c->org, c->prior) != 0)
            return job_err(job, OHP_ESTORE, "the state store could not read the watermarks%s",
                           job_cb_detail(job, det, sizeof det));
    } else if (job->st_get) {
        int64_t one = OHP_TIME_NONE;
        if (job->st_get(job->st_ud, c->system, c->org, &one) != 0)
            return job_err(job, OHP_ESTORE, "the state store could not read the watermark%s",
                           job_cb_detail(job, det, sizeof det));
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
            struct timespec pause = {0, 100L * 1000 * 1000};
            nanosleep(&pause, NULL);
            s->snapshot_date = (int64_t)time(NULL);
        }
        if (st->last_snapshot != OHP_TIME_NONE && s->snapshot_date <= st->last_snapshot) {
            ohp_date_format(s->snapshot_date, 0, a);
            ohp_date_format(st->last_snapshot, 0, b);
            return job_err(job, OHP_EINVAL,
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

int job_choose_window(ohp_job *job, const run_ctx *c, int64_t w)
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
    return job_add_warning(job, text) ? job_err(job, OHP_ENOMEM, "out of memory") : OHP_OK;
}

int job_take_run_id(ohp_job *job, const run_ctx *c)
{
    char det[OHP_ERRMSG_SIZE];
    uint64_t id = c->pp->run_id;
    job->cbmsg[0] = '\0';
    if (job->has_st2 && job->st2.reserve_run_id) {
        if (job->st2.reserve_run_id(job->st2_ud, c->pp->run_id, &id) != 0)
            return job_err(job, OHP_ESTORE, "the state store could not reserve a run id%s",
                           job_cb_detail(job, det, sizeof det));
        if (c->pp->run_id != 0 && id != c->pp->run_id)
            return job_err(job, OHP_ESTORE,
                           "the state store reserved run id %llu instead of the %llu given",
                           (unsigned long long)id, (unsigned long long)c->pp->run_id);
    } else if (id == 0 && !job->has_st2 && job->st_next) {
        if (job->st_next(job->st_ud, &id) != 0)
            return job_err(job, OHP_ESTORE, "the state store could not allocate a run id%s",
                           job_cb_detail(job, det, sizeof det));
    } else if (id == 0) {
        id = 1;
    }
    if (id == 0)
        return job_err(job, OHP_ESTORE, "the state store allocated run id 0");
    if (id > OHP_MAX_RUN_ID)
        return job_err(job, OHP_ESTORE,
                       "the state store's run id %llu has more than 18 digits, the most a "
                       "snapshot can carry: the run ids of this store are used up",
                       (unsigned long long)id);
    job->sum.run_id = id;
    return OHP_OK;
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
            if (job_add_warning(job, text))
                return job_err(job, OHP_ENOMEM, "out of memory");
        }
    }
    return OHP_OK;
}

int job_commit_state(ohp_job *job, const run_ctx *c)
{
    ohp_class_state next[2];
    int rc = next_state(job, c, next);
    if (rc)
        return rc;
    job->cbmsg[0] = '\0';
    if (job->has_st2)
        rc = job->st2.commit(job->st2_ud, c->system, c->org, c->items, next, job->sum.run_id);
    else if (job->st_commit)
        rc = job->st_commit(job->st_ud, c->system, c->org, job->sum.snapshot_date, job->sum.run_id);
    if (rc != 0) {
        char det[OHP_ERRMSG_SIZE];
        return job_err(job, OHP_ESTORE,
                       "%s was published but the state store could not record the run%s; the "
                       "next incremental run will publish these changes again",
                       job->file_name, job_cb_detail(job, det, sizeof det));
    }
    return OHP_OK;
}
