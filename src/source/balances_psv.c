/*
 * The balances-PSV source: a ready-made record source over the streaming PSV
 * reader, for balances exported as a pipe-separated file (docs/job.md).
 *
 * It sits above the job: it installs itself with ohp_job_set_source() and
 * hears about record errors through the job's record-error hook, so the job
 * never calls into it.  It owns the column header's mapping (any order, any
 * case, unknown columns named), the conversion of one row into an ohp_record,
 * the rewind of a second pass, and ohp_balance_reader_locate().
 */
#include "publish.h"

#include <stdio.h>
#include <string.h>

/* Input column c of layout.h: C_(ITEM_NUMBER) is the position of ITEM_NUMBER. */
#define C_(name) (OHP_COL_##name - OHP_IN_FIRST)
#define C_SERIAL_NUMBERS C_(SERIAL_NUMBER) /* the list, in SERIAL_NUMBER's place */
#define C_COUNT OHP_IN_NCOLS
#define col_names ohp_input_names

struct ohp_balance_reader {
    ohp_alloc alloc;
    ohp_psv_reader *psv;
    void *read_ud; /* the read callback's user data, for rewind */
    ohp_rewind_fn rewind;
    ohp_job *job;
    long idx[C_COUNT]; /* column index or -1 */
    size_t ncols;
    bool opened;
    const char *const *row; /* the fields of the row returned last, until the next read */
    size_t row_count;
    bool reread;     /* the second pass of the run has started */
    ohp_buf names;   /* the header's column names, each NUL-terminated */
    size_t *name_at; /* offset in names of column i */
    /* the latest record returned, for ohp_balance_reader_locate() */
    uint64_t records;  /* records returned so far: the latest one's ordinal */
    uint64_t rec_line; /* line where its row starts */
    size_t src_column; /* its source error's column (1-based), or 0 */
    size_t err_column; /* the column its record error concerns (1-based), or 0 */
    char errbuf[OHP_ERRMSG_SIZE];
};

OHP_EXPORT int ohp_balance_reader_new(ohp_balance_reader **out, ohp_read_fn read, void *user_data,
                                      const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (read == NULL)
        return OHP_EINVAL;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_balance_reader *br = ohp_calloc(&a, 1, sizeof *br);
    if (br == NULL)
        return OHP_ENOMEM;
    br->alloc = a;
    br->read_ud = user_data;
    rc = ohp_psv_reader_new(&br->psv, read, user_data, 0, alloc);
    if (rc) {
        ohp_free(&a, br);
        return rc;
    }
    ohp_psv_reader_keep_nul(br->psv); /* a record error, not a failed run */
    *out = br;
    return OHP_OK;
}

OHP_EXPORT void ohp_balance_reader_free(ohp_balance_reader *br)
{
    if (br == NULL)
        return;
    ohp_alloc a = br->alloc;
    ohp_psv_reader_free(br->psv);
    ohp_buf_free(&br->names, &a);
    ohp_free(&a, br->name_at);
    ohp_free(&a, br);
}

static int br_fail(ohp_balance_reader *br, const char *fmt, ...) OHP_PRINTF(2, 3);
static int br_fail(ohp_balance_reader *br, const char *fmt, ...)
{
    /* A read callback that explained its own failure keeps its words. */
    if (ohp_job_has_callback_error(br->job))
        return -1;
    char msg[OHP_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(msg, fmt, ap);
    va_end(ap);
    ohp_job_set_callback_error(br->job, msg);
    return -1;
}

OHP_EXPORT int ohp_balance_reader_set_rewind(ohp_balance_reader *br, ohp_rewind_fn rewind)
{
    if (br == NULL || rewind == NULL)
        return OHP_EINVAL;
    br->rewind = rewind;
    return OHP_OK;
}

static int br_open(void *ud, const ohp_source_query *q)
{
    ohp_balance_reader *br = ud;
    bool second = q->version >= 2 && q->pass == OHP_PASS_KEYS;
    if (br->opened && !(second && !br->reread))
        return br_fail(br, "balances input: a balance reader serves one run only");
    if (second) {
        /* The second pass of an incremental run reads the input again. */
        if (br->rewind == NULL)
            return br_fail(br, "balances input: an incremental run reads the input twice and "
                               "this input cannot be rewound");
        br->reread = true;
        if (br->rewind(br->read_ud) != 0)
            return br_fail(br, "balances input: the input could not be rewound for the second "
                               "pass");
        ohp_psv_reader_restart(br->psv);
    }
    br->opened = true;
    const char *const *f;
    size_t nf;
    int got = ohp_psv_reader_next(br->psv, &f, &nf);
    if (got < 0)
        return br_fail(br, "balances input: %s", ohp_psv_reader_errmsg(br->psv));
    if (got == 0)
        return br_fail(br, "balances input: empty input, a header line is required");
    size_t nul = ohp_psv_reader_nul_field(br->psv);
    if (nul != SIZE_MAX)
        return br_fail(br, "balances input: line %llu, column %zu: the header holds a NUL byte",
                       (unsigned long long)ohp_psv_reader_line(br->psv), nul + 1);
    for (int c = 0; c < C_COUNT; c++)
        br->idx[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        bool known = false;
        for (int c = 0; c < C_COUNT; c++) {
            if (strcmp(f[i], col_names[c]) == 0) {
                if (br->idx[c] >= 0)
                    return br_fail(br, "balances input: line 1: column %s appears twice",
                                   col_names[c]);
                br->idx[c] = (long)i;
                known = true;
            }
        }
        const char *near = known ? NULL : ohp_column_near_miss(f[i], col_names, C_COUNT);
        if (near != NULL)
            return br_fail(br,
                           "balances input: line 1, column %zu: '%.60s' is not a column name; "
                           "did you mean %s? (names are upper case, without blanks)",
                           i + 1, f[i], near);
    }
    /* The names, for the positions of record errors (a header read again replaces them). */
    ohp_free(&br->alloc, br->name_at);
    br->names.len = 0;
    br->records = 0;
    br->name_at = ohp_malloc(&br->alloc, (nf ? nf : 1) * sizeof *br->name_at);
    if (br->name_at == NULL)
        return br_fail(br, "balances input: out of memory");
    for (size_t i = 0; i < nf; i++) {
        br->name_at[i] = br->names.len;
        if (ohp_buf_append(&br->names, &br->alloc, f[i], strlen(f[i]) + 1) != 0)
            return br_fail(br, "balances input: out of memory");
    }
    char missing[OHP_ERRMSG_SIZE] = "";
    size_t mlen = 0;
    for (int c = 0; c < C_COUNT; c++) {
        if (ohp_input_required(c) && br->idx[c] < 0) {
            int w = snprintf(missing + mlen, sizeof missing - mlen, "%s%s", mlen ? ", " : "",
                             col_names[c]);
            if (w > 0 && (size_t)w < sizeof missing - mlen)
                mlen += (size_t)w;
        }
    }
    if (mlen)
        return br_fail(br, "balances input: line 1: missing required column(s): %s", missing);
    br->ncols = nf;
    return 0;
}

static const char *col(const ohp_balance_reader *br, const char *const *f, int c)
{
    return br->idx[c] >= 0 ? f[br->idx[c]] : NULL;
}

/* The next row that is not blank: 1, 0 at the end, or a failure. */
static int next_row(ohp_balance_reader *br, const char *const **f, size_t *nf)
{
    for (;;) {
        int got = ohp_psv_reader_next(br->psv, f, nf);
        if (got < 0)
            return br_fail(br, "balances input: %s", ohp_psv_reader_errmsg(br->psv));
        if (got == 0 || !(*nf == 1 && (*f)[0][0] == '\0'))
            return got;
    }
}

/* A source error for the record, in column `column` (1-based, 0: none). */
static int row_error(ohp_balance_reader *br, ohp_record *rec, size_t column, const char *fmt, ...)
    OHP_PRINTF(4, 5);
static int row_error(ohp_balance_reader *br, ohp_record *rec, size_t column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(br->errbuf, fmt, ap);
    va_end(ap);
    br->src_column = column;
    rec->source_error = br->errbuf;
    return 1;
}

/*
 * A row holding a NUL byte: never a value cut short at the NUL.  The fields
 * holding one are left out of the record (an organization code among them
 * cannot skip it as another organization's), the others are kept for the
 * rejection.
 */
static void drop_nul_fields(ohp_balance_reader *br, ohp_record *rec, const char *const *f,
                            size_t nf, size_t nul)
{
    row_error(br, rec, nul + 1, "line %llu, column %zu (%.60s): the field holds a NUL byte",
              (unsigned long long)br->rec_line, nul + 1, br->names.data + br->name_at[nul]);
    const char **fv = (const char **)f;
    for (size_t i = nul; i < nf; i++)
        if (strlen(fv[i]) != ohp_psv_reader_field_size(br->psv, i))
            fv[i] = NULL;
}

/* A Y/N flag column into *out (absent or empty: `absent`, or an error when it is -1). */
static int read_flag(ohp_balance_reader *br, ohp_record *rec, const char *const *f, int c,
                     int absent, int *out)
{
    const char *v = col(br, f, c);
    if (absent >= 0 && (v == NULL || v[0] == '\0'))
        *out = absent;
    else if (strcmp(v, "Y") == 0)
        *out = 1;
    else if (strcmp(v, "N") == 0)
        *out = 0;
    else
        return row_error(br, rec, (size_t)br->idx[c] + 1,
                         "line %llu, column %ld: %s must be Y or N, found '%.40s'",
                         (unsigned long long)br->rec_line, br->idx[c] + 1, col_names[c], v);
    return 0;
}

static int br_next(void *ud, ohp_record *rec)
{
    ohp_balance_reader *br = ud;
    const char *const *f;
    size_t nf;
    br->row = NULL;
    br->row_count = 0;
    int got = next_row(br, &f, &nf);
    if (got <= 0)
        return got;
    br->row = f;
    br->row_count = nf;
    br->records++;
    br->rec_line = ohp_psv_reader_line(br->psv);
    br->src_column = 0;
    br->err_column = 0;
    if (nf != br->ncols)
        return row_error(br, rec, 0, "line %llu: expected %zu fields, found %zu",
                         (unsigned long long)br->rec_line, br->ncols, nf);
    size_t nul = ohp_psv_reader_nul_field(br->psv);
    if (nul != SIZE_MAX)
        drop_nul_fields(br, rec, f, nf, nul);
    for (int c = 0; c < C_COUNT; c++)
        if (ohp_input_member[c] != OHP_NO_MEMBER)
            *(const char **)((char *)rec + ohp_input_member[c]) = col(br, f, c);
    if (rec->source_error != NULL) {
        /* a row holding a NUL byte: its class still decides whether --items keeps it */
        const char *sc = col(br, f, C_(SERIAL_CONTROLLED));
        rec->serial_controlled = sc != NULL && strcmp(sc, "Y") == 0;
        return 1;
    }
    /* a bad flag is the record's source error: the job rejects or fails it */
    if (read_flag(br, rec, f, C_(SERIAL_CONTROLLED), -1, &rec->serial_controlled) == 0)
        read_flag(br, rec, f, C_(CONSIGNED_FLAG), 0, &rec->consigned);
    return 1;
}

static void br_close(void *ud)
{
    ohp_balance_reader *br = ud;
    br->row = NULL;
    br->row_count = 0;
}

OHP_EXPORT const char *ohp_balance_reader_field(const ohp_balance_reader *br, const char *column)
{
    if (br == NULL || column == NULL || br->row == NULL)
        return NULL;
    for (int c = 0; c < C_COUNT; c++) {
        if (strcmp(column, col_names[c]) == 0) {
            long i = br->idx[c];
            return i >= 0 && (size_t)i < br->row_count ? br->row[i] : NULL;
        }
    }
    return NULL;
}

/* The job found a record error in record `ordinal` (for ohp_balance_reader_locate). */
static void note_error(void *ud, uint64_t ordinal, int rule, const char *message)
{
    ohp_balance_reader *br = ud;
    if (ordinal != br->records || br->records == 0)
        return;
    if (rule == OHP_RULE_SOURCE) {
        br->err_column = br->src_column;
        return;
    }
    br->err_column = 0;
    const char *name = ohp_record_error_column(rule, message);
    for (int c = 0; name != NULL && c < C_COUNT; c++)
        if (strcmp(name, col_names[c]) == 0 && br->idx[c] >= 0)
            br->err_column = (size_t)br->idx[c] + 1;
}

OHP_EXPORT int ohp_job_set_balance_reader(ohp_job *job, ohp_balance_reader *br)
{
    if (job == NULL || br == NULL)
        return OHP_EINVAL;
    br->job = job;
    int rc = ohp_job_set_source(job, br_open, br_next, br_close, br);
    if (rc == OHP_OK)
        ohp_job_set_record_error_hook(job, note_error);
    return rc;
}

OHP_EXPORT int ohp_balance_reader_locate(const ohp_balance_reader *br, uint64_t ordinal,
                                         uint64_t *line, size_t *column, const char **column_name)
{
    if (column != NULL)
        *column = 0;
    if (column_name != NULL)
        *column_name = NULL;
    if (br == NULL || line == NULL)
        return OHP_EINVAL;
    *line = 0;
    if (ordinal == 0 || ordinal != br->records)
        return OHP_ENOTFOUND;
    *line = br->rec_line;
    if (br->err_column > 0) {
        if (column != NULL)
            *column = br->err_column;
        if (column_name != NULL)
            *column_name = br->names.data + br->name_at[br->err_column - 1];
    }
    return OHP_OK;
}
