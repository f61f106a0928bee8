/* Reading a published snapshot back: the ZIP (or the bare PSV), checked line by line. */
#include "manifest.h"
#include "ohp_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "zipread.h"

/* The columns: layout.h's, by enum ohp_col. */
#define NCOLS OHP_V1_NCOLS
#define col_names ohp_v1_names

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
    /* the archive's manifest, and what the entry holds so far to check against it */
    bool has_manifest;
    ohp_mf mf;
    char *mf_text;
    ohp_acc *mf_acc; /* per unit of the manifest's totals */
    uint64_t lines, serial_lines;
    size_t last_unit;
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
    ohp_manifest_clear(&r->mf, &a);
    ohp_free(&a, r->mf_text);
    ohp_free(&a, r->mf_acc);
    ohp_psv_reader_free(r->psv);
    ohp_free(&a, r->org);
    ohp_free(&a, r);
}

OHP_EXPORT const char *ohp_snapshot_reader_errmsg(const ohp_snapshot_reader *r)
{
    return r ? r->errmsg : "";
}

/* ---- the manifest (manifest.h): parsed at open, checked as the entry is read ---- */

/* The archive comment, when it is a manifest: parsed, with a sum per unit to check it by. */
static int read_manifest(ohp_snapshot_reader *r)
{
    if (r->z.comment == NULL || !ohp_manifest_marked(r->z.comment, r->z.comment_len))
        return OHP_OK;
    char msg[OHP_ERRMSG_SIZE];
    int rc = ohp_manifest_parse(r->z.comment, r->z.comment_len, &r->mf, &r->alloc, msg);
    if (rc == OHP_ENOMEM)
        return fail(r, OHP_ENOMEM, "out of memory");
    if (rc != OHP_OK)
        return fail(r, rc, "the archive's manifest: %s", msg);
    r->has_manifest = true;
    r->mf_text = ohp_strdup(&r->alloc, r->z.comment);
    size_t n = r->mf.nunits ? r->mf.nunits : 1;
    r->mf_acc = ohp_calloc(&r->alloc, n, sizeof *r->mf_acc);
    if (r->mf_text == NULL || r->mf_acc == NULL)
        return fail(r, OHP_ENOMEM, "out of memory");
    return OHP_OK;
}

/* The first line's identity against the manifest's. */
static int manifest_identity(ohp_snapshot_reader *r)
{
    const ohp_mf *m = &r->mf;
    if (strcmp(m->system, r->system) != 0)
        return fail(r, OHP_EPARSE,
                    "line %llu: EXTERNAL_SYSTEM_CODE is '%.40s', the manifest says '%.40s'",
                    (unsigned long long)r->rec.line, r->system, m->system);
    if (strcmp(m->organization, r->org) != 0)
        return fail(r, OHP_EPARSE,
                    "line %llu: ORGANIZATION_CODE is '%.40s', the manifest says '%.40s'",
                    (unsigned long long)r->rec.line, r->org, m->organization);
    if (m->run_id != r->run_id)
        return fail(r, OHP_EPARSE, "line %llu: PUBLISH_RUN_ID is %llu, the manifest says %llu",
                    (unsigned long long)r->rec.line, (unsigned long long)r->run_id,
                    (unsigned long long)m->run_id);
    if (m->mode != r->mode)
        return fail(r, OHP_EPARSE, "line %llu: PUBLISH_MODE is %s, the manifest says %s",
                    (unsigned long long)r->rec.line, r->mode ? "INCREMENTAL" : "FULL",
                    m->mode ? "INCREMENTAL" : "FULL");
    if (m->snapshot_date != r->snapshot) {
        char a[OHP_DATE_BUFSIZE], b[OHP_DATE_BUFSIZE];
        ohp_date_format(r->snapshot, 0, a);
        ohp_date_format(m->snapshot_date, 0, b);
        return fail(r, OHP_EPARSE, "line %llu: SNAPSHOT_DATE is %s, the manifest says %s",
                    (unsigned long long)r->rec.line, a, b);
    }
    return OHP_OK;
}

/* One data line into the counts and totals the manifest is checked against. */
static int manifest_line(ohp_snapshot_reader *r)
{
    const ohp_snapshot_record *rec = &r->rec;
    if (r->lines++ == 0) {
        int rc = manifest_identity(r);
        if (rc)
            return rc;
    }
    if (rec->serial_number[0] != '\0')
        r->serial_lines++;
    size_t u = r->last_unit;
    if (u >= r->mf.nunits || strcmp(r->mf.units[u].code, rec->primary_uom_code) != 0) {
        for (u = 0; u < r->mf.nunits; u++)
            if (strcmp(r->mf.units[u].code, rec->primary_uom_code) == 0)
                break;
        if (u == r->mf.nunits)
            return fail(r, OHP_EPARSE,
                        "line %llu: unit of measure '%.40s' has no total in the manifest",
                        (unsigned long long)rec->line, rec->primary_uom_code);
        r->last_unit = u;
    }
    ohp_decimal d;
    if (ohp_decimal_parse(rec->primary_quantity, &d) == OHP_OK)
        ohp_acc_add(&r->mf_acc[u], &d);
    return OHP_OK;
}

static int count_mismatch(ohp_snapshot_reader *r, const char *what, uint64_t says, uint64_t has)
{
    return fail(r, OHP_EPARSE, "the manifest says %llu %s, the entry has %llu",
                (unsigned long long)says, what, (unsigned long long)has);
}

/* At the end of the entry (its own CRC-32 and size checked): the manifest's counts and sums. */
static int manifest_end(ohp_snapshot_reader *r)
{
    const ohp_mf *m = &r->mf;
    if (m->data_lines != r->lines)
        return count_mismatch(r, "data lines", m->data_lines, r->lines);
    if (m->serial_lines != r->serial_lines)
        return count_mismatch(r, "serial lines", m->serial_lines, r->serial_lines);
    for (size_t u = 0; u < m->nunits; u++) {
        char sum[OHP_ACC_BUFSIZE];
        ohp_acc_format(&r->mf_acc[u], sum);
        if (strcmp(sum, m->units[u].total) != 0)
            return fail(r, OHP_EPARSE,
                        "the manifest's total of unit '%.40s' is %s, the entry's lines sum to %s",
                        m->units[u].code, m->units[u].total, sum);
    }
    if (m->psv_bytes != r->z.size)
        return count_mismatch(r, "PSV bytes", m->psv_bytes, r->z.size);
    if (m->crc32 != r->z.crc)
        return fail(r, OHP_EPARSE, "CRC-32 mismatch (manifest %08lx, entry %08lx)",
                    (unsigned long)m->crc32, (unsigned long)r->z.crc);
    return OHP_OK;
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
    int mrc = read_manifest(r);
    if (mrc != OHP_OK)
        return mrc;
    ohp_allocator pub;
    int rc = ohp_psv_reader_new(&r->psv, entry_read, r, 0, ohp_alloc_public(&r->alloc, &pub));
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

static bool is_run_id(const char *s, uint64_t *out)
{
    if (!ohp_is_id(s, NULL) || (s[0] == '0' && s[1] != '\0'))
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
static const int ident_cols[] = {OHP_COL_EXTERNAL_SYSTEM_CODE, OHP_COL_PUBLISH_RUN_ID,
                                 OHP_COL_PUBLISH_MODE, OHP_COL_SNAPSHOT_DATE,
                                 OHP_COL_ORGANIZATION_CODE};
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

/* The run's identity of the line: equal on every line of a snapshot. */
static int check_identity(ohp_snapshot_reader *r, const char *const *f)
{
    /* text identical to the first line's needs no second look */
    if (r->have_first && ident_same(r, f))
        return OHP_OK;
    uint64_t run_id;
    int mode;
    int64_t snap;
    if (!(strcmp(f[OHP_COL_EXTERNAL_SYSTEM_CODE], "0") == 0 ||
          is_run_id(f[OHP_COL_EXTERNAL_SYSTEM_CODE], &run_id)))
        return field_error(r, OHP_COL_EXTERNAL_SYSTEM_CODE, "expected 0 or a positive integer",
                           f[OHP_COL_EXTERNAL_SYSTEM_CODE]);
    if (!is_run_id(f[OHP_COL_PUBLISH_RUN_ID], &run_id))
        return field_error(r, OHP_COL_PUBLISH_RUN_ID, "expected a decimal run id",
                           f[OHP_COL_PUBLISH_RUN_ID]);
    if (strcmp(f[OHP_COL_PUBLISH_MODE], "FULL") == 0)
        mode = OHP_MODE_FULL;
    else if (strcmp(f[OHP_COL_PUBLISH_MODE], "INCREMENTAL") == 0)
        mode = OHP_MODE_INCREMENTAL;
    else
        return field_error(r, OHP_COL_PUBLISH_MODE, "expected FULL or INCREMENTAL",
                           f[OHP_COL_PUBLISH_MODE]);
    if (!is_datetime(f[OHP_COL_SNAPSHOT_DATE], &snap))
        return field_error(r, OHP_COL_SNAPSHOT_DATE, "expected a date-time YYYY/MM/DD HH:MM:SS",
                           f[OHP_COL_SNAPSHOT_DATE]);
    if (f[OHP_COL_ORGANIZATION_CODE][0] == '\0')
        return field_error(r, OHP_COL_ORGANIZATION_CODE, "required", "");
    if (!r->have_first) {
        snprintf(r->system, sizeof r->system, "%s", f[OHP_COL_EXTERNAL_SYSTEM_CODE]);
        r->run_id = run_id;
        r->mode = mode;
        r->snapshot = snap;
        r->org = ohp_strdup(&r->alloc, f[OHP_COL_ORGANIZATION_CODE]);
        if (r->org == NULL)
            return fail(r, OHP_ENOMEM, "out of memory");
        r->have_first = true;
        ident_keep(r, f);
        return OHP_OK;
    }
    int c = -1;
    if (strcmp(r->system, f[OHP_COL_EXTERNAL_SYSTEM_CODE]) != 0)
        c = OHP_COL_EXTERNAL_SYSTEM_CODE;
    else if (run_id != r->run_id)
        c = OHP_COL_PUBLISH_RUN_ID;
    else if (mode != r->mode)
        c = OHP_COL_PUBLISH_MODE;
    else if (snap != r->snapshot)
        c = OHP_COL_SNAPSHOT_DATE;
    else if (strcmp(r->org, f[OHP_COL_ORGANIZATION_CODE]) != 0)
        c = OHP_COL_ORGANIZATION_CODE;
    return c < 0 ? OHP_OK : field_error(r, c, "differs from the first line", f[c]);
}

/* Y or N into *out. */
static int check_flag(ohp_snapshot_reader *r, const char *const *f, int c, int *out)
{
    if (strcmp(f[c], "Y") == 0)
        *out = 1;
    else if (strcmp(f[c], "N") == 0)
        *out = 0;
    else
        return field_error(r, c, "expected Y or N", f[c]);
    return OHP_OK;
}

/* The ids, the required texts and the dates of the line. */
static int check_texts(ohp_snapshot_reader *r, const char *const *f, int64_t *lot_exp,
                       int64_t *last_update)
{
    for (int c = 0; c < NCOLS; c++)
        if (ohp_v1_kinds[c] == OHP_CK_ID && f[c][0] != '\0' && !ohp_is_id(f[c], NULL))
            return field_error(r, c, "expected a decimal id of at most 18 digits", f[c]);
    static const int required[] = {OHP_COL_ITEM_NUMBER, OHP_COL_SUBINVENTORY_CODE,
                                   OHP_COL_PRIMARY_UOM_CODE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (f[required[i]][0] == '\0')
            return field_error(r, required[i], "required", "");
    *lot_exp = OHP_TIME_NONE;
    const char *exp = f[OHP_COL_LOT_EXPIRATION_DATE], *lud = f[OHP_COL_LAST_UPDATE_DATE];
    if (exp[0] != '\0' && !is_date(exp, lot_exp))
        return field_error(r, OHP_COL_LOT_EXPIRATION_DATE, "expected a date YYYY/MM/DD", exp);
    if (r->lud_text[0] != '\0' && ohp_short_eq(r->lud_text, lud)) {
        *last_update = r->lud_value; /* lines often share their timestamp */
        return OHP_OK;
    }
    if (!is_datetime(lud, last_update))
        return field_error(r, OHP_COL_LAST_UPDATE_DATE, "expected a date-time YYYY/MM/DD HH:MM:SS",
                           lud);
    memcpy(r->lud_text, lud, 20); /* the pattern made it 19 bytes */
    r->lud_value = *last_update;
    return OHP_OK;
}

/* The quantities and the serial number, by the line's SERIAL_CONTROLLED. */
static int check_quantities(ohp_snapshot_reader *r, const char *const *f, int serial)
{
    const char *pq = f[OHP_COL_PRIMARY_QUANTITY], *sq = f[OHP_COL_SECONDARY_QUANTITY];
    const char *sn = f[OHP_COL_SERIAL_NUMBER];
    if (!is_canonical(pq))
        return field_error(r, OHP_COL_PRIMARY_QUANTITY, "expected a canonical exact decimal", pq);
    if (sq[0] != '\0') {
        if (!is_canonical(sq))
            return field_error(r, OHP_COL_SECONDARY_QUANTITY, "expected a canonical exact decimal",
                               sq);
        if (f[OHP_COL_SECONDARY_UOM_CODE][0] == '\0')
            return field_error(r, OHP_COL_SECONDARY_UOM_CODE, "required with a secondary quantity",
                               "");
    }
    if (!serial) {
        if (sn[0] != '\0')
            return field_error(r, OHP_COL_SERIAL_NUMBER,
                               "a serial number on a line with SERIAL_CONTROLLED N", sn);
    } else if (sn[0] != '\0') {
        if (strcmp(pq, "1") != 0)
            return field_error(r, OHP_COL_PRIMARY_QUANTITY, "a serial line has quantity 1", pq);
        if (sq[0] != '\0')
            return field_error(r, OHP_COL_SECONDARY_QUANTITY,
                               "a serial line has no secondary quantity", sq);
    } else if (strcmp(pq, "0") != 0) {
        return field_error(r, OHP_COL_SERIAL_NUMBER,
                           "a serial-controlled line without a serial number has quantity 0", sn);
    }
    return OHP_OK;
}

/* Point the record at the checked line's fields. */
static void fill_record(ohp_snapshot_record *rec, const ohp_snapshot_reader *r,
                        const char *const *f)
{
    rec->version = OHP_SNAPSHOT_RECORD_VERSION;
    rec->external_system_code = f[OHP_COL_EXTERNAL_SYSTEM_CODE];
    rec->publish_run_id = r->run_id;
    rec->mode = r->mode;
    rec->snapshot_date = r->snapshot;
    rec->organization_id = f[OHP_COL_ORGANIZATION_ID];
    rec->organization_code = f[OHP_COL_ORGANIZATION_CODE];
    rec->inventory_item_id = f[OHP_COL_INVENTORY_ITEM_ID];
    rec->item_number = f[OHP_COL_ITEM_NUMBER];
    rec->revision = f[OHP_COL_REVISION];
    rec->subinventory_code = f[OHP_COL_SUBINVENTORY_CODE];
    rec->locator_id = f[OHP_COL_LOCATOR_ID];
    rec->locator_name = f[OHP_COL_LOCATOR_NAME];
    rec->lot_number = f[OHP_COL_LOT_NUMBER];
    rec->serial_number = f[OHP_COL_SERIAL_NUMBER];
    rec->primary_quantity = f[OHP_COL_PRIMARY_QUANTITY];
    rec->primary_uom_code = f[OHP_COL_PRIMARY_UOM_CODE];
    rec->secondary_quantity = f[OHP_COL_SECONDARY_QUANTITY];
    rec->secondary_uom_code = f[OHP_COL_SECONDARY_UOM_CODE];
    rec->owning_party_id = f[OHP_COL_OWNING_PARTY_ID];
    rec->project_id = f[OHP_COL_PROJECT_ID];
    rec->task_id = f[OHP_COL_TASK_ID];
    rec->material_status_code = f[OHP_COL_MATERIAL_STATUS_CODE];
}

/* Check one line against layout v1's rules; on success r->rec describes it. */
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
    int rc, serial, consigned;
    int64_t lot_exp, last_update;
    if ((rc = check_identity(r, f)) != OHP_OK || (rc = check_texts(r, f, &lot_exp, &last_update)) ||
        (rc = check_flag(r, f, OHP_COL_SERIAL_CONTROLLED, &serial)) ||
        (rc = check_flag(r, f, OHP_COL_CONSIGNED_FLAG, &consigned)) ||
        (rc = check_quantities(r, f, serial)))
        return rc;
    fill_record(rec, r, f);
    rec->lot_expiration_date = lot_exp;
    rec->serial_controlled = serial;
    rec->consigned = consigned;
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
        int rc = r->has_manifest ? manifest_end(r) : OHP_OK;
        if (rc)
            return rc;
        r->state = ST_DONE;
        return 0;
    }
    memset(&r->rec, 0, sizeof r->rec);
    r->rec.line = ohp_psv_reader_line(r->psv);
    int rc = check_line(r, f, nf);
    if (rc == OHP_OK && r->has_manifest)
        rc = manifest_line(r);
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

/*
 * The guard of the queries about a snapshot: the caller's struct version
 * (0 is taken as 1) into *v, the reader's failure again, and the archive
 * and header read if nothing was yet.
 */
static int begin_query(ohp_snapshot_reader *r, unsigned version, unsigned known, unsigned *v)
{
    *v = version ? version : 1;
    if (*v > known)
        return OHP_EVERSION;
    if (r->state == ST_FAILED)
        return r->err;
    return r->state == ST_NEW ? start(r) : OHP_OK;
}

OHP_EXPORT int ohp_snapshot_reader_info(ohp_snapshot_reader *r, ohp_snapshot_info *out)
{
    if (r == NULL || out == NULL)
        return OHP_EINVAL;
    unsigned v;
    int rc = begin_query(r, out->version, OHP_SNAPSHOT_INFO_VERSION, &v);
    if (rc)
        return rc;
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

OHP_EXPORT int ohp_snapshot_reader_manifest(ohp_snapshot_reader *r, ohp_manifest *out)
{
    if (r == NULL || out == NULL)
        return OHP_EINVAL;
    unsigned v;
    int rc = begin_query(r, out->version, OHP_MANIFEST_STRUCT_VERSION, &v);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->version = v;
    out->window_start = out->snapshot_date = OHP_TIME_NONE;
    out->mode = -1;
    if (!r->has_manifest)
        return OHP_OK;
    const ohp_mf *m = &r->mf;
    out->present = 1;
    out->format_major = m->major;
    out->format_minor = m->minor;
    out->layout = m->layout;
    out->external_system_code = m->system;
    out->organization_code = m->organization;
    out->run_id = m->run_id;
    out->mode = m->mode;
    out->items = m->items;
    out->window_start = m->window_start;
    out->snapshot_date = m->snapshot_date;
    out->data_lines = m->data_lines;
    out->serial_lines = m->serial_lines;
    out->psv_bytes = m->psv_bytes;
    out->crc32 = m->crc32;
    out->uom_total_count = m->nunits;
    out->library_version = m->library;
    out->text = r->mf_text;
    return OHP_OK;
}

OHP_EXPORT int ohp_snapshot_reader_manifest_total(const ohp_snapshot_reader *r, size_t i,
                                                  const char **uom_code, const char **total)
{
    if (r == NULL || !r->has_manifest || i >= r->mf.nunits)
        return OHP_EINVAL;
    if (uom_code)
        *uom_code = r->mf.units[i].code;
    if (total)
        *total = r->mf.units[i].total;
    return OHP_OK;
}
