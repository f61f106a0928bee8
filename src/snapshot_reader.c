/* Reading a published snapshot back: the ZIP (or the bare PSV), checked line by line. */
#include "ohp_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unzip.h>
#include <zlib.h>

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
    uint64_t size, pos;
    const unsigned char *mem;
    bool io_failed;
    /* ZIP entry */
    unzFile uf;
    bool entry_open;
    bool has_descriptor;
    uint32_t want_crc, crc;
    uint64_t want_size, got_size, comp_size, data_pos;
    bool zip_failed; /* the entry's data failed a check: message in errmsg */
    char entry_name[256];
    /*
     * The entry's data is read here, past minizip (which would copy it byte
     * by byte and compute a CRC of its own): stored (method 0) or inflated
     * by zs from inbuf, or straight from the caller's memory.
     */
    int method;
    uint64_t comp_left; /* compressed bytes not yet read */
    z_stream zs;
    bool zs_init, zs_end;
    unsigned char *inbuf;
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

/* ---- I/O over the host's callbacks (or memory) for minizip ---- */

static int mem_read(void *ud, void *buf, size_t cap, size_t *got)
{
    ohp_snapshot_reader *r = ud;
    uint64_t left = r->size - r->pos;
    size_t n = left < cap ? (size_t)left : cap;
    memcpy(buf, r->mem + r->pos, n);
    *got = n;
    return 0;
}

static int mem_seek(void *ud, uint64_t off)
{
    (void)ud;
    (void)off;
    return 0;
}

static int raw_read(ohp_snapshot_reader *r, void *buf, size_t size, size_t *got)
{
    size_t n = 0;
    while (n < size) {
        size_t g = 0;
        if (r->read(r->ud, (char *)buf + n, size - n, &g) != 0) {
            r->io_failed = true;
            return -1;
        }
        if (g == 0)
            break;
        if (g > size - n)
            g = size - n;
        n += g;
        r->pos += g;
    }
    *got = n;
    return 0;
}

static int raw_seek(ohp_snapshot_reader *r, uint64_t off)
{
    if (off > r->size)
        return -1;
    if (r->seek(r->ud, off) != 0) {
        r->io_failed = true;
        return -1;
    }
    r->pos = off;
    return 0;
}

static voidpf ZCALLBACK z_open(voidpf opaque, const void *filename, int mode)
{
    (void)filename;
    (void)mode;
    return opaque;
}

static uLong ZCALLBACK z_read(voidpf opaque, voidpf stream, void *buf, uLong size)
{
    (void)stream;
    size_t got = 0;
    if (raw_read(opaque, buf, (size_t)size, &got) != 0)
        return 0;
    return (uLong)got;
}

static uLong ZCALLBACK z_write(voidpf opaque, voidpf stream, const void *buf, uLong size)
{
    (void)opaque;
    (void)stream;
    (void)buf;
    (void)size;
    return 0;
}

static ZPOS64_T ZCALLBACK z_tell(voidpf opaque, voidpf stream)
{
    (void)stream;
    return ((ohp_snapshot_reader *)opaque)->pos;
}

static long ZCALLBACK z_seek(voidpf opaque, voidpf stream, ZPOS64_T off, int origin)
{
    (void)stream;
    ohp_snapshot_reader *r = opaque;
    uint64_t base = origin == ZLIB_FILEFUNC_SEEK_SET   ? 0
                    : origin == ZLIB_FILEFUNC_SEEK_CUR ? r->pos
                                                       : r->size;
    if (off > UINT64_MAX - base)
        return -1;
    return raw_seek(r, base + off) == 0 ? 0 : -1;
}

static int ZCALLBACK z_close(voidpf opaque, voidpf stream)
{
    (void)opaque;
    (void)stream;
    return 0;
}

static int ZCALLBACK z_error(voidpf opaque, voidpf stream)
{
    (void)stream;
    return ((ohp_snapshot_reader *)opaque)->io_failed ? 1 : 0;
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

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* At the end of the entry: sizes, CRC-32 of the central directory and of the data descriptor. */
static int check_entry_end(ohp_snapshot_reader *r)
{
    const char *what = "damaged archive";
    if (r->got_size != r->want_size) {
        ohp_errmsg_set(r->errmsg, "%s: the entry inflates to %llu bytes, its size is %llu", what,
                       (unsigned long long)r->got_size, (unsigned long long)r->want_size);
        return -1;
    }
    if (r->crc != r->want_crc) {
        ohp_errmsg_set(r->errmsg, "%s: CRC-32 mismatch (entry data %08lx, central directory %08lx)",
                       what, (unsigned long)r->crc, (unsigned long)r->want_crc);
        return -1;
    }
    int rc = unzCloseCurrentFile(r->uf);
    r->entry_open = false;
    if (rc != UNZ_OK) {
        ohp_errmsg_set(r->errmsg, "%s: the entry does not close cleanly (minizip error %d)", what,
                       rc);
        return -1;
    }
    if (r->has_descriptor) {
        unsigned char d[24];
        size_t got = 0;
        if (raw_seek(r, r->data_pos + r->comp_size) != 0 || raw_read(r, d, sizeof d, &got) != 0) {
            ohp_errmsg_set(r->errmsg, "cannot read the data descriptor");
            return -1;
        }
        const unsigned char *p = d;
        size_t avail = got;
        if (avail >= 4 && le(p, 4) == 0x08074b50u) {
            p += 4;
            avail -= 4;
        }
        if (avail < 12) {
            ohp_errmsg_set(r->errmsg, "%s: truncated data descriptor", what);
            return -1;
        }
        uint32_t dcrc = (uint32_t)le(p, 4);
        bool sizes_ok =
            (avail >= 20 && le(p + 4, 8) == r->comp_size && le(p + 12, 8) == r->want_size) ||
            (le(p + 4, 4) == r->comp_size && le(p + 8, 4) == r->want_size);
        if (dcrc != r->want_crc) {
            ohp_errmsg_set(r->errmsg,
                           "%s: CRC-32 mismatch (data descriptor %08lx, central directory %08lx)",
                           what, (unsigned long)dcrc, (unsigned long)r->want_crc);
            return -1;
        }
        if (!sizes_ok) {
            ohp_errmsg_set(r->errmsg,
                           "%s: the data descriptor's sizes differ from the central "
                           "directory's",
                           what);
            return -1;
        }
    }
    return 0;
}

#define INBUF ((size_t)64 * 1024)

/* Up to cap bytes of the entry's compressed (or stored) data at *p; 0 at its end. */
static int comp_next(ohp_snapshot_reader *r, unsigned char *buf, size_t cap,
                     const unsigned char **p, size_t *n)
{
    *p = buf;
    *n = 0;
    size_t want = r->comp_left < cap ? (size_t)r->comp_left : cap;
    if (want == 0)
        return 0;
    if (r->mem != NULL) { /* in memory: no copy */
        uint64_t left = r->size - r->pos;
        *n = left < want ? (size_t)left : want;
        *p = r->mem + r->pos;
        r->pos += *n;
    } else if (raw_read(r, buf, want, n) != 0) {
        return -1;
    } else {
        *p = buf;
    }
    r->comp_left -= *n;
    if (*n == 0) { /* the archive ends inside the entry */
        ohp_errmsg_set(r->errmsg, "damaged archive: the entry's data ends early");
        return -1;
    }
    return 0;
}

/* The entry's next bytes into buf: *n of them, 0 at its end. */
static int entry_data(ohp_snapshot_reader *r, unsigned char *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (cap > (1u << 30))
        cap = 1u << 30;
    if (r->method == 0) {
        const unsigned char *p;
        if (comp_next(r, buf, cap, &p, n) != 0)
            return -1;
        if (*n && p != buf)
            memcpy(buf, p, *n);
        return 0;
    }
    while (*n == 0 && !r->zs_end) {
        if (r->zs.avail_in == 0) {
            const unsigned char *p;
            size_t k;
            if (comp_next(r, r->inbuf, INBUF, &p, &k) != 0)
                return -1;
            r->zs.next_in = (unsigned char *)(uintptr_t)p;
            r->zs.avail_in = (uInt)k;
        }
        r->zs.next_out = buf;
        r->zs.avail_out = (uInt)cap;
        int zrc = inflate(&r->zs, Z_NO_FLUSH);
        *n = cap - r->zs.avail_out;
        if (zrc == Z_STREAM_END) {
            r->zs_end = true;
        } else if (zrc == Z_BUF_ERROR && r->zs.avail_in == 0 && r->comp_left == 0) {
            ohp_errmsg_set(r->errmsg, "damaged archive: the compressed data ends early");
            return -1;
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            ohp_errmsg_set(r->errmsg, "damaged archive: invalid compressed data (zlib error %d)",
                           zrc);
            return -1;
        }
    }
    return 0;
}

/* Read callback of the PSV reader in ZIP mode: the entry's inflated bytes. */
static int entry_read(void *ud, void *buf, size_t cap, size_t *got)
{
    ohp_snapshot_reader *r = ud;
    *got = 0;
    if (!r->entry_open)
        return 0;
    size_t k;
    if (entry_data(r, buf, cap, &k) != 0) {
        r->zip_failed = true;
        if (r->io_failed)
            ohp_errmsg_set(r->errmsg, "read error");
        return -1;
    }
    if (k == 0) {
        if (check_entry_end(r) != 0) {
            r->zip_failed = true;
            return -1;
        }
        return 0;
    }
    r->crc = ohp_crc32(r->crc, buf, k);
    r->got_size += (uint64_t)k;
    if (r->got_size > r->want_size) {
        r->zip_failed = true;
        ohp_errmsg_set(r->errmsg, "damaged archive: the entry inflates past its size of %llu bytes",
                       (unsigned long long)r->want_size);
        return -1;
    }
    *got = k;
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
    int rc = ohp_snapshot_reader_open_zip(out, mem_read, mem_seek, NULL, len, alloc);
    if (rc)
        return rc;
    (*out)->ud = *out;
    (*out)->mem = buf;
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
    if (r->uf != NULL) {
        if (r->entry_open)
            unzCloseCurrentFile(r->uf);
        unzClose(r->uf);
    }
    if (r->zs_init)
        inflateEnd(&r->zs);
    ohp_free(&a, r->inbuf);
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
    zlib_filefunc64_def ff;
    memset(&ff, 0, sizeof ff);
    ff.zopen64_file = z_open;
    ff.zread_file = z_read;
    ff.zwrite_file = z_write;
    ff.ztell64_file = z_tell;
    ff.zseek64_file = z_seek;
    ff.zclose_file = z_close;
    ff.zerror_file = z_error;
    ff.opaque = r;
    r->uf = unzOpen2_64("snapshot", &ff);
    if (r->uf == NULL) {
        if (r->io_failed)
            return fail(r, OHP_EIO, "read error while opening the archive");
        return fail(r, OHP_EPARSE, "not a ZIP archive (no readable central directory)");
    }
    unz_global_info64 gi;
    if (unzGetGlobalInfo64(r->uf, &gi) != UNZ_OK)
        return fail(r, OHP_EPARSE, "damaged archive: unreadable central directory");
    if (gi.number_entry != 1)
        return fail(r, OHP_EPARSE,
                    "a snapshot archive holds exactly one entry, this one holds %llu",
                    (unsigned long long)gi.number_entry);
    unz_file_info64 fi;
    if (unzGoToFirstFile(r->uf) != UNZ_OK ||
        unzGetCurrentFileInfo64(r->uf, &fi, r->entry_name, sizeof r->entry_name, NULL, 0, NULL,
                                0) != UNZ_OK)
        return fail(r, OHP_EPARSE, "damaged archive: unreadable entry header");
    size_t nl = strlen(r->entry_name);
    if (nl < 5 || strcmp(r->entry_name + nl - 4, ".psv") != 0)
        return fail(r, OHP_EPARSE, "the archive's entry '%.200s' is not a .psv file",
                    r->entry_name);
    if (fi.compression_method != 0 && fi.compression_method != Z_DEFLATED)
        return fail(r, OHP_EPARSE, "unsupported compression method %lu",
                    (unsigned long)fi.compression_method);
    if (unzOpenCurrentFile2(r->uf, NULL, NULL, 1 /* raw: the data is read below */) != UNZ_OK) {
        if (r->io_failed)
            return fail(r, OHP_EIO, "read error while opening the entry");
        return fail(r, OHP_EPARSE, "damaged archive: the entry's local header is invalid");
    }
    r->entry_open = true;
    r->want_crc = (uint32_t)fi.crc;
    r->want_size = fi.uncompressed_size;
    r->comp_size = fi.compressed_size;
    r->has_descriptor = (fi.flag & 8u) != 0;
    r->data_pos = unzGetCurrentFileZStreamPos64(r->uf);
    r->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    r->method = (int)fi.compression_method;
    r->comp_left = fi.compressed_size;
    if (raw_seek(r, r->data_pos) != 0)
        return fail(r, r->io_failed ? OHP_EIO : OHP_EPARSE,
                    "damaged archive: the entry's data lies outside the archive");
    if (r->method == Z_DEFLATED) {
        r->zs.zalloc = ohp_zalloc;
        r->zs.zfree = ohp_zfree;
        r->zs.opaque = &r->alloc;
        int zrc = inflateInit2(&r->zs, -MAX_WBITS);
        if (zrc != Z_OK)
            return fail(r, zrc == Z_MEM_ERROR ? OHP_ENOMEM : OHP_EPARSE, "cannot inflate: %s",
                        zrc == Z_MEM_ERROR ? "out of memory" : "zlib error");
        r->zs_init = true;
        if (r->mem == NULL && (r->inbuf = ohp_malloc(&r->alloc, INBUF)) == NULL)
            return fail(r, OHP_ENOMEM, "out of memory");
    }
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
    if (r->zip_failed) {
        char msg[OHP_ERRMSG_SIZE];
        memcpy(msg, r->errmsg, sizeof msg);
        return fail(r, r->io_failed ? OHP_EIO : OHP_EPARSE, "%s", msg);
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
    const char *n = r->entry_name;
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
    out->entry_name = r->entry_name;
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
    return r != NULL && r->kind == KIND_ZIP ? r->want_size : 0;
}
