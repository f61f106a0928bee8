/* Reading a published snapshot back: the ZIP (or the bare PSV), checked line by line. */
#include "ohp_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "zipread.h"

#define NCOLS 26

enum {
    K_SYSTEM,
    K_RUN_ID,
    K_MODE,
    K_SNAPSHOT,
    K_ORG_ID,
    K_ORG_CODE,
    K_ITEM_ID,
    K_ITEM,
    K_REVISION,
    K_SUBINV,
    K_LOCATOR_ID,
    K_LOCATOR_NAME,
    K_LOT,
    K_LOT_EXP,
    K_SERIAL_CONTROLLED,
    K_SERIAL,
    K_PQTY,
    K_PUOM,
    K_SQTY,
    K_SUOM,
    K_CONSIGNED,
    K_OWNER,
    K_PROJECT,
    K_TASK,
    K_STATUS,
    K_LAST_UPDATE
};

static const char *const col_names[NCOLS] = {
    "EXTERNAL_SYSTEM_CODE", "PUBLISH_RUN_ID",      "PUBLISH_MODE",
    "SNAPSHOT_DATE",        "ORGANIZATION_ID",     "ORGANIZATION_CODE",
    "INVENTORY_ITEM_ID",    "ITEM_NUMBER",         "REVISION",
    "SUBINVENTORY_CODE",    "LOCATOR_ID",          "LOCATOR_NAME",
    "LOT_NUMBER",           "LOT_EXPIRATION_DATE", "SERIAL_CONTROLLED",
    "SERIAL_NUMBER",        "PRIMARY_QUANTITY",    "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY",   "SECONDARY_UOM_CODE",  "CONSIGNED_FLAG",
    "OWNING_PARTY_ID",      "PROJECT_ID",          "TASK_ID",
    "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE"};

enum { KIND_ZIP, KIND_PSV };
enum { ST_NEW, ST_READING, ST_DONE, ST_FAILED };

struct ohp_snapshot_reader {
    ohp_alloc alloc;
    int kind;
    int state;
    int err;
    /* input */
    ohp_read_fn read;
    ohp_seek_fn seek;
    void *ud;
    uint64_t size;
    const unsigned char *mem;
    /* the ZIP's one entry, read and checked by zipread.c */
    zipread z;
    bool zip_open;
    int zip_err; /* the entry's data failed a check (an OHP_E* code): message in errmsg */
    /* lines */
    ohp_psv_reader *psv;
    bool pending; /* rec holds a line read ahead by info */
    ohp_snapshot_record rec;
    /* values every line must repeat */
    bool have_first;
    char system[24];
    uint64_t run_id;
    int mode;
    int64_t snapshot;
    char *org;
    /* the first line's identity fields as text, NUL-separated (ident_len 0: too long to keep) */
    char ident[96];
    size_t ident_len;
    /* the last LAST_UPDATE_DATE checked, as text and value (lud_text[0] 0: none) */
    char lud_text[24];
    int64_t lud_value;
    char errmsg[OHP_ERRMSG_SIZE];
};

/* ---- the ZIP through zipread.c, over the host's callbacks or memory ---- */

static int zr_code(int zrc)
{
    return zrc == ZR_EIO ? OHP_EIO : zrc == ZR_ENOMEM ? OHP_ENOMEM : OHP_EPARSE;
}

static void *zr_malloc(void *opaque, size_t n)
{
    return ohp_malloc(opaque, n);
}

static void zr_release(void *opaque, void *ptr)
{
    ohp_free(opaque, ptr);
}

static int fail(ohp_snapshot_reader *r, int code, const char *fmt, ...) OHP_PRINTF(3, 4);
static int fail(ohp_snapshot_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(r->errmsg, fmt, ap);
    va_end(ap);
    r->state = ST_FAILED;
    r->err = code;
    return code;
}

/* Read callback of the PSV reader in ZIP mode: the entry's inflated bytes. */
static int entry_read(void *ud, void *buf, size_t cap, size_t *got)
{
    ohp_snapshot_reader *r = ud;
    int zrc = zr_read(&r->z, buf, cap, got);
    if (zrc != ZR_OK) {
        r->zip_err = zr_code(zrc);
        ohp_errmsg_set(r->errmsg, "%s", r->z.err);
        return -1;
    }
    return 0;
}

static int new_reader(ohp_snapshot_reader **out, const ohp_allocator *alloc, int kind)
{
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_snapshot_reader *r = ohp_calloc(&a, 1, sizeof *r);
    if (r == NULL)
        return OHP_ENOMEM;
    r->alloc = a;
    r->kind = kind;
    r->mode = -1;
    r->snapshot = OHP_TIME_NONE;
    *out = r;
    return OHP_OK;
}

OHP_EXPORT int ohp_snapshot_reader_open_zip(ohp_snapshot_reader **out, ohp_read_fn read,
                                            ohp_seek_fn seek, void *user_data, uint64_t size,
                                            const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (read == NULL || seek == NULL)
        return OHP_EINVAL;
    int rc = new_reader(out, alloc, KIND_ZIP);
    if (rc)
        return rc;
    (*out)->read = read;
    (*out)->seek = seek;
    (*out)->ud = user_data;
    (*out)->size = size;
    return OHP_OK;
}

OHP_EXPORT int ohp_snapshot_reader_open_memory(ohp_snapshot_reader **out, const void *buf,
                                               size_t len, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (buf == NULL && len > 0)
        return OHP_EINVAL;
    int rc = new_reader(out, alloc, KIND_ZIP);
    if (rc)
        return rc;
    (*out)->size = len;
    (*out)->mem = len ? buf : (const unsigned char *)"";
    return OHP_OK;
}

OHP_EXPORT int ohp_snapshot_reader_open_psv(ohp_snapshot_reader **out, ohp_read_fn read,
                                            void *user_data, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (read == NULL)
        return OHP_EINVAL;
    int rc = new_reader(out, alloc, KIND_PSV);
    if (rc)
        return rc;
    rc = ohp_psv_reader_new(&(*out)->psv, read, user_data, 0, alloc);
    if (rc) {
        ohp_snapshot_reader_free(*out);
        *out = NULL;
    }
    return rc;
}

OHP_EXPORT void ohp_snapshot_reader_free(ohp_snapshot_reader *r)
{
    if (r == NULL)
        return;
    ohp_alloc a = r->alloc;
    if (r->zip_open)
        zr_close(&r->z);
    ohp_psv_reader_free(r->psv);
    ohp_free(&a, r->org);
    ohp_free(&a, r);
}

OHP_EXPORT const char *ohp_snapshot_reader_errmsg(const ohp_snapshot_reader *r)
{
    return r ? r->errmsg : "";
}

static int open_zip(ohp_snapshot_reader *r)
{
    zr_io io = {0};
    io.read = r->read;
    io.seek = r->seek;
    io.ud = r->ud;
    io.size = r->size;
    io.mem = r->mem;
    io.alloc = zr_malloc;
    io.free = zr_release;
    io.opaque = &r->alloc;
    io.crc32 = ohp_crc32;
    zr_init(&r->z, &io);
    r->zip_open = true;
    int zrc = zr_open(&r->z);
    if (zrc != ZR_OK)
        return fail(r, zr_code(zrc), "%s", r->z.err);
    if (r->z.name_len < 5 || strcmp(r->z.name + r->z.name_len - 4, ".psv") != 0)
        return fail(r, OHP_EPARSE, "the archive's entry '%.200s' is not a .psv file", r->z.name);
    int rc = ohp_psv_reader_new(&r->psv, entry_read, r, 0,
                                &(ohp_allocator){OHP_ALLOCATOR_VERSION, r->alloc.malloc_fn,
                                                 r->alloc.realloc_fn, r->alloc.free_fn,
                                                 r->alloc.opaque});
    if (rc)
        return fail(r, rc, "out of memory");
    return OHP_OK;
}

/* Read the next PSV row; translate the entry's own failures. */
static int next_row(ohp_snapshot_reader *r, const char *const **f, size_t *nf)
{
    int got = ohp_psv_reader_next(r->psv, f, nf);
    if (got >= 0)
        return got;
    if (r->zip_err) {
        char msg[OHP_ERRMSG_SIZE];
        memcpy(msg, r->errmsg, sizeof msg);
        return fail(r, r->zip_err, "%s", msg);
    }
    return fail(r, got, "%s", ohp_psv_reader_errmsg(r->psv));
}

static int start(ohp_snapshot_reader *r)
{
    int rc;
    if (r->kind == KIND_ZIP && (rc = open_zip(r)) != OHP_OK)
        return rc;
    const char *const *f;
    size_t nf;
    int got = next_row(r, &f, &nf);
    if (got < 0)
        return got;
    if (got == 0)
        return fail(r, OHP_EPARSE, "line 1: empty input, the layout v1 header line is missing");
    for (size_t i = 0; i < NCOLS; i++) {
        if (i >= nf)
            return fail(r, OHP_EPARSE,
                        "line 1, column %zu: header ends early, expected %s (not layout v1)", i + 1,
                        col_names[i]);
        if (strcmp(f[i], col_names[i]) != 0)
            return fail(r, OHP_EPARSE,
                        "line 1, column %zu: header has '%.60s', expected %s (not layout v1)",
                        i + 1, f[i], col_names[i]);
    }
    if (nf != NCOLS)
        return fail(r, OHP_EPARSE, "line 1, column %d: header has %zu columns, layout v1 has %d",
                    NCOLS + 1, nf, NCOLS);
    r->state = ST_READING;
    return OHP_OK;
}

/* ---- field rules ---- */

static bool is_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n > 0 && n <= 18;
}

static bool is_run_id(const char *s, uint64_t *out)
{
    if (!is_id(s) || (s[0] == '0' && s[1] != '\0'))
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *out = v;
    return true;
}

static bool pattern(const char *s, const char *pat)
{
    for (; *pat; s++, pat++) {
        if (*pat == '9') {
            if (*s < '0' || *s > '9')
                return false;
        } else if (*s != *pat) {
            return false;
        }
    }
    return *s == '\0';
}

static bool is_datetime(const char *s, int64_t *out)
{
    return pattern(s, "9999/99/99 99:99:99") && ohp_date_parse(s, out) == OHP_OK;
}

static bool is_date(const char *s, int64_t *out)
{
    return pattern(s, "9999/99/99") && ohp_date_parse(s, out) == OHP_OK;
}

static bool is_canonical(const char *s)
{
    ohp_decimal d;
    return ohp_decimal_parse(s, &d) == OHP_OK && strcmp(d.text, s) == 0;
}

/* The identity fields of every line: equal on every line of a snapshot. */
static const int ident_cols[] = {K_SYSTEM, K_RUN_ID, K_MODE, K_SNAPSHOT, K_ORG_CODE};
#define NIDENT (sizeof ident_cols / sizeof ident_cols[0])

/* Keep the first line's identity text, when it fits. */
static void ident_keep(ohp_snapshot_reader *r, const char *const *f)
{
    size_t o = 0;
    r->ident_len = 0;
    for (size_t i = 0; i < NIDENT; i++) {
        size_t n = strlen(f[ident_cols[i]]);
        if (o + n + 1 > sizeof r->ident)
            return;
        memcpy(r->ident + o, f[ident_cols[i]], n + 1);
        o += n + 1;
    }
    r->ident_len = o;
}

/* Whether the line's identity fields are the first line's, byte for byte. */
static bool ident_same(const ohp_snapshot_reader *r, const char *const *f)
{
    if (r->ident_len == 0)
        return false;
    const char *t = r->ident;
    for (size_t i = 0; i < NIDENT; i++) {
        if (!ohp_short_eq(t, f[ident_cols[i]]))
            return false;
        t += strlen(t) + 1;
    }
    return true;
}

static int field_error(ohp_snapshot_reader *r, int col, const char *what, const char *value)
{
    return fail(r, OHP_EPARSE, "line %llu, column %d (%s): %s, found '%.60s'",
                (unsigned long long)r->rec.line, col + 1, col_names[col], what, value);
}

static int check_line(ohp_snapshot_reader *r, const char *const *f, size_t nf)
{
    ohp_snapshot_record *rec = &r->rec;
    if (nf != NCOLS)
        return fail(r, OHP_EPARSE, "line %llu, column %zu: expected %d fields, found %zu",
                    (unsigned long long)rec->line, nf < NCOLS ? nf + 1 : (size_t)NCOLS + 1, NCOLS,
                    nf);
    if (!ohp_psv_reader_row_ascii(r->psv)) /* ASCII rows need no UTF-8 check */
        for (int c = 0; c < NCOLS; c++)
            if (!ohp_utf8_valid(f[c], strlen(f[c])))
                return field_error(r, c, "not valid UTF-8", "");
    /* the run's identity, equal on every line: text identical to the first line's needs no
       second look */
    uint64_t run_id;
    int mode;
    int64_t snap;
    if (r->have_first && ident_same(r, f)) {
        run_id = r->run_id;
        mode = r->mode;
        snap = r->snapshot;
    } else {
        if (!(strcmp(f[K_SYSTEM], "0") == 0 || is_run_id(f[K_SYSTEM], &run_id)))
            return field_error(r, K_SYSTEM, "expected 0 or a positive integer", f[K_SYSTEM]);
        if (!is_run_id(f[K_RUN_ID], &run_id))
            return field_error(r, K_RUN_ID, "expected a decimal run id", f[K_RUN_ID]);
        if (strcmp(f[K_MODE], "FULL") == 0)
            mode = OHP_MODE_FULL;
        else if (strcmp(f[K_MODE], "INCREMENTAL") == 0)
            mode = OHP_MODE_INCREMENTAL;
        else
            return field_error(r, K_MODE, "expected FULL or INCREMENTAL", f[K_MODE]);
        if (!is_datetime(f[K_SNAPSHOT], &snap))
            return field_error(r, K_SNAPSHOT, "expected a date-time YYYY/MM/DD HH:MM:SS",
                               f[K_SNAPSHOT]);
        if (f[K_ORG_CODE][0] == '\0')
            return field_error(r, K_ORG_CODE, "required", "");
        if (!r->have_first) {
            snprintf(r->system, sizeof r->system, "%s", f[K_SYSTEM]);
            r->run_id = run_id;
            r->mode = mode;
            r->snapshot = snap;
            r->org = ohp_strdup(&r->alloc, f[K_ORG_CODE]);
            if (r->org == NULL)
                return fail(r, OHP_ENOMEM, "out of memory");
            r->have_first = true;
            ident_keep(r, f);
        } else {
            if (strcmp(r->system, f[K_SYSTEM]) != 0)
                return field_error(r, K_SYSTEM, "differs from the first line", f[K_SYSTEM]);
            if (run_id != r->run_id)
                return field_error(r, K_RUN_ID, "differs from the first line", f[K_RUN_ID]);
            if (mode != r->mode)
                return field_error(r, K_MODE, "differs from the first line", f[K_MODE]);
            if (snap != r->snapshot)
                return field_error(r, K_SNAPSHOT, "differs from the first line", f[K_SNAPSHOT]);
            if (strcmp(r->org, f[K_ORG_CODE]) != 0)
                return field_error(r, K_ORG_CODE, "differs from the first line", f[K_ORG_CODE]);
        }
    }
    static const int ids[] = {K_ORG_ID, K_ITEM_ID, K_LOCATOR_ID, K_OWNER, K_PROJECT, K_TASK};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (f[ids[i]][0] != '\0' && !is_id(f[ids[i]]))
            return field_error(r, ids[i], "expected a decimal id of at most 18 digits", f[ids[i]]);
    static const int required[] = {K_ITEM, K_SUBINV, K_PUOM};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (f[required[i]][0] == '\0')
            return field_error(r, required[i], "required", "");
    int64_t lot_exp = OHP_TIME_NONE, last_update;
    if (f[K_LOT_EXP][0] != '\0' && !is_date(f[K_LOT_EXP], &lot_exp))
        return field_error(r, K_LOT_EXP, "expected a date YYYY/MM/DD", f[K_LOT_EXP]);
    if (r->lud_text[0] != '\0' && ohp_short_eq(r->lud_text, f[K_LAST_UPDATE])) {
        last_update = r->lud_value; /* lines often share their timestamp */
    } else {
        if (!is_datetime(f[K_LAST_UPDATE], &last_update))
            return field_error(r, K_LAST_UPDATE, "expected a date-time YYYY/MM/DD HH:MM:SS",
                               f[K_LAST_UPDATE]);
        memcpy(r->lud_text, f[K_LAST_UPDATE], 20); /* the pattern made it 19 bytes */
        r->lud_value = last_update;
    }
    int serial, consigned;
    if (strcmp(f[K_SERIAL_CONTROLLED], "Y") == 0)
        serial = 1;
    else if (strcmp(f[K_SERIAL_CONTROLLED], "N") == 0)
        serial = 0;
    else
        return field_error(r, K_SERIAL_CONTROLLED, "expected Y or N", f[K_SERIAL_CONTROLLED]);
    if (strcmp(f[K_CONSIGNED], "Y") == 0)
        consigned = 1;
    else if (strcmp(f[K_CONSIGNED], "N") == 0)
        consigned = 0;
    else
        return field_error(r, K_CONSIGNED, "expected Y or N", f[K_CONSIGNED]);
    if (!is_canonical(f[K_PQTY]))
        return field_error(r, K_PQTY, "expected a canonical exact decimal", f[K_PQTY]);
    if (f[K_SQTY][0] != '\0') {
        if (!is_canonical(f[K_SQTY]))
            return field_error(r, K_SQTY, "expected a canonical exact decimal", f[K_SQTY]);
        if (f[K_SUOM][0] == '\0')
            return field_error(r, K_SUOM, "required with a secondary quantity", "");
    }
    if (!serial) {
        if (f[K_SERIAL][0] != '\0')
            return field_error(r, K_SERIAL, "a serial number on a line with SERIAL_CONTROLLED N",
                               f[K_SERIAL]);
    } else if (f[K_SERIAL][0] != '\0') {
        if (strcmp(f[K_PQTY], "1") != 0)
            return field_error(r, K_PQTY, "a serial line has quantity 1", f[K_PQTY]);
        if (f[K_SQTY][0] != '\0')
            return field_error(r, K_SQTY, "a serial line has no secondary quantity", f[K_SQTY]);
    } else if (strcmp(f[K_PQTY], "0") != 0) {
        return field_error(r, K_SERIAL,
                           "a serial-controlled line without a serial number has quantity 0",
                           f[K_SERIAL]);
    }
    rec->version = OHP_SNAPSHOT_RECORD_VERSION;
    rec->external_system_code = f[K_SYSTEM];
    rec->publish_run_id = run_id;
    rec->mode = mode;
    rec->snapshot_date = snap;
    rec->organization_id = f[K_ORG_ID];
    rec->organization_code = f[K_ORG_CODE];
    rec->inventory_item_id = f[K_ITEM_ID];
    rec->item_number = f[K_ITEM];
    rec->revision = f[K_REVISION];
    rec->subinventory_code = f[K_SUBINV];
    rec->locator_id = f[K_LOCATOR_ID];
    rec->locator_name = f[K_LOCATOR_NAME];
    rec->lot_number = f[K_LOT];
    rec->lot_expiration_date = lot_exp;
    rec->serial_controlled = serial;
    rec->serial_number = f[K_SERIAL];
    rec->primary_quantity = f[K_PQTY];
    rec->primary_uom_code = f[K_PUOM];
    rec->secondary_quantity = f[K_SQTY];
    rec->secondary_uom_code = f[K_SUOM];
    rec->consigned = consigned;
    rec->owning_party_id = f[K_OWNER];
    rec->project_id = f[K_PROJECT];
    rec->task_id = f[K_TASK];
    rec->material_status_code = f[K_STATUS];
    rec->last_update_date = last_update;
    return OHP_OK;
}

static int read_line(ohp_snapshot_reader *r)
{
    const char *const *f;
    size_t nf;
    int got = next_row(r, &f, &nf);
    if (got < 0)
        return got;
    if (got == 0) {
        r->state = ST_DONE;
        return 0;
    }
    memset(&r->rec, 0, sizeof r->rec);
    r->rec.line = ohp_psv_reader_line(r->psv);
    int rc = check_line(r, f, nf);
    return rc ? rc : 1;
}

OHP_EXPORT int ohp_snapshot_reader_next(ohp_snapshot_reader *r, const ohp_snapshot_record **rec)
{
    if (r == NULL || rec == NULL)
        return OHP_EINVAL;
    *rec = NULL;
    if (r->state == ST_FAILED)
        return r->err;
    if (r->state == ST_NEW) {
        int rc = start(r);
        if (rc)
            return rc;
    }
    if (r->pending) {
        r->pending = false;
        *rec = &r->rec;
        return 1;
    }
    if (r->state == ST_DONE)
        return 0;
    int got = read_line(r);
    if (got == 1)
        *rec = &r->rec;
    return got;
}

/* ONHAND_<system>_<org>_<run id>_<YYYYMMDDHHMMSS>.psv: system, run id and date. */
static void info_from_name(ohp_snapshot_reader *r, ohp_snapshot_info *out)
{
    const char *n = r->z.name;
    size_t len = strlen(n);
    if (len < 7 + 1 + 1 + 1 + 1 + 14 + 4 || strncmp(n, "ONHAND_", 7) != 0)
        return;
    const char *sys = n + 7;
    const char *us = strchr(sys, '_');
    if (us == NULL || (size_t)(us - sys) >= sizeof r->system)
        return;
    const char *ts = n + len - 4 - 14;
    if (ts[-1] != '_')
        return;
    const char *run_end = ts - 1;
    const char *run = run_end;
    while (run > us + 1 && run[-1] >= '0' && run[-1] <= '9')
        run--;
    if (run == run_end || run[-1] != '_')
        return;
    char buf[32];
    size_t rl = (size_t)(run_end - run);
    if (rl >= sizeof buf)
        return;
    memcpy(buf, run, rl);
    buf[rl] = '\0';
    uint64_t id;
    if (!is_run_id(buf, &id))
        return;
    char date[20];
    snprintf(date, sizeof date, "%.4s/%.2s/%.2s %.2s:%.2s:%.2s", ts, ts + 4, ts + 6, ts + 8,
             ts + 10, ts + 12);
    int64_t t;
    if (!is_datetime(date, &t))
        return;
    memcpy(r->system, sys, (size_t)(us - sys));
    r->system[us - sys] = '\0';
    out->external_system_code = r->system;
    out->publish_run_id = id;
    out->snapshot_date = t;
}

OHP_EXPORT int ohp_snapshot_reader_info(ohp_snapshot_reader *r, ohp_snapshot_info *out)
{
    if (r == NULL || out == NULL)
        return OHP_EINVAL;
    unsigned v = out->version ? out->version : 1;
    if (v > OHP_SNAPSHOT_INFO_VERSION)
        return OHP_EVERSION;
    if (r->state == ST_FAILED)
        return r->err;
    if (r->state == ST_NEW) {
        int rc = start(r);
        if (rc)
            return rc;
    }
    if (!r->have_first && r->state == ST_READING) {
        int got = read_line(r);
        if (got < 0)
            return got;
        if (got == 1)
            r->pending = true;
    }
    out->version = v;
    out->entry_name = r->kind == KIND_ZIP ? r->z.name : "";
    out->external_system_code = "";
    out->publish_run_id = 0;
    out->mode = -1;
    out->snapshot_date = OHP_TIME_NONE;
    out->organization_code = "";
    if (r->have_first) {
        out->external_system_code = r->system;
        out->publish_run_id = r->run_id;
        out->mode = r->mode;
        out->snapshot_date = r->snapshot;
        out->organization_code = r->org;
    } else {
        info_from_name(r, out);
    }
    return OHP_OK;
}

uint64_t ohp_snapshot_reader_size_hint(const ohp_snapshot_reader *r)
{
    return r != NULL && r->kind == KIND_ZIP && r->zip_open ? zr_size_hint(&r->z) : 0;
}
