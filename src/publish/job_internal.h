/*
 * The job's private interface: the handle, a run's context, and the stages
 * of a run, each a file:
 *
 *   job.c         the public ohp_job_* entry points, the run from refusal checks to commit
 *   job_params.c  the parameters and their defaults, the names, the system and the user
 *   job_state.c   the state store: the last snapshot, the window, the run id, the commit
 *   job_pump.c    the source's records: in scope, in the window, checked, rejected or on
 *   job_line.c    a checked record as PSV lines, their control totals, into the ZIP writer
 *
 * A record flows down that list; nothing here is seen outside src/publish/.
 */
#ifndef OHP_JOB_INTERNAL_H
#define OHP_JOB_INTERNAL_H

#include "balance_key.h"
#include "publish.h"
#include "serial_list.h"

#include <pthread.h>

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

/* ---- a run ---- */

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
    int engine; /* resolved: OHP_ENGINE_ZLIB or OHP_ENGINE_ISAL */
    uint64_t max_changed_keys;
    uint64_t max_rejects;
    unsigned max_reject_percent;
    uint64_t progress_base;   /* records read by an earlier pass */
    ohp_class_state prior[2]; /* the state store's, per ohp_item_class */
    bool source_open;
    bool sink_open;
} run_ctx;

/* ---- the handle and the run (job.c) ---- */

/* Set the job's message; returns rc. */
int job_err(ohp_job *job, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);
/* " (detail)" from a callback, or "". */
const char *job_cb_detail(ohp_job *job, char *buf, size_t size);
/* Keep a warning of the run (ohp_job_warning). */
int job_add_warning(ohp_job *job, const char *text);

/* ---- parameters, names, the system and the user (job_params.c) ---- */

/* The archive's and the entry's names. */
int job_make_names(ohp_job *job, const run_ctx *c);
/* The parameters checked, with defaults for what they leave out, into c. */
int job_check_params(ohp_job *job, const ohp_params *pp, run_ctx *c);
/* The run's part of every line: system|run id|mode|snapshot date|. */
int job_make_prefix(ohp_job *job, const run_ctx *c);
/* The external system on the snapshot date, then the privilege. */
int job_check_system_and_user(ohp_job *job, const run_ctx *c);

/* ---- the state store: window, run id, commit (job_state.c) ---- */

/*
 * Read the state (every run), refuse a snapshot date that is not later than
 * the last one of a covered class, and set *w: the older watermark of the
 * covered classes, or OHP_TIME_NONE when one was never published.
 */
int job_read_state(ohp_job *job, run_ctx *c, int64_t *w);
/* Mode and window start from the watermark w and the Publish from Date. */
int job_choose_window(ohp_job *job, const run_ctx *c, int64_t w);
/* The run id: given (and, with a 1.1 store, recorded), reserved or proposed. */
int job_take_run_id(ohp_job *job, const run_ctx *c);
/* Record the run: after the sink committed. */
int job_commit_state(ohp_job *job, const run_ctx *c);

/* ---- the pump: records from the source, checked, to the line writer (job_pump.c) ---- */

/*
 * An incremental run's first pass: the digests of the keys any of whose
 * in-scope records changed at or after the window start.  A record whose
 * change date cannot be read, or that the source flagged, marks its key
 * too: the second pass then checks it and the bad-record policy applies.
 */
int job_find_changed_keys(ohp_job *job, run_ctx *c);
/* Stream the records; returns OHP_OK or a failure with errmsg set. */
int job_pump(ohp_job *job, run_ctx *c);
/* Open the source for one pass (q->pass); close it (when open). */
int job_open_source(ohp_job *job, run_ctx *c, const ohp_source_query *q);
void job_close_source(ohp_job *job, run_ctx *c);
/*
 * After the records: the reject thresholds, and a FULL run that would
 * publish no line (it would tell the receiver the organization is empty).
 */
int job_check_outcome(ohp_job *job, const run_ctx *c);

/* ---- records into PSV lines into the ZIP writer (job_line.c) ---- */

/* Hand the PSV bytes waiting in job->out to the ZIP writer. */
int job_flush_out(ohp_job *job);
/* Append PSV bytes, handing them on past FLUSH_AT. */
int job_out_append(ohp_job *job, const char *p, size_t n);
/* A checked record as its line (one per serial number), its quantity in the control totals. */
int job_publish_record(ohp_job *job, const ohp_record *r, ohp_checked *c);

#endif
