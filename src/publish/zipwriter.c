/*
 * The ZIP writer: one entry, written front to back to an append-only output.
 *
 * Layout (PKWARE APPNOTE 6.3):
 *   local header     sizes and CRC unknown yet (general purpose bit 3), a
 *                    ZIP64 extra field with zero sizes, so that the entry may
 *                    grow past 4 GiB without a seek
 *   entry data       stored, or the deflater's blocks as they come
 *   data descriptor  signature, CRC-32, ZIP64 (8-byte) sizes
 *   central directory the one entry, with a ZIP64 extra field only when a
 *                    size needs it
 *   ZIP64 end record and locator, when the central directory starts at or
 *                    beyond 4 GiB
 *   end record       and the archive comment (the manifest)
 *
 * The output never seeks, and the entry's bytes reach it without being
 * copied or checksummed a second time: stored data is CRC'd once on the way
 * through, deflated data is CRC'd by the deflater.  Small pieces are
 * gathered into OUT_CAP bytes before they go out; larger ones go straight
 * through.  Every output error is latched.
 */
#include "publish.h"

#include <string.h>

#define OUT_CAP 65536
#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_DESCRIPTOR 0x08074b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR 0x07064b50u
#define U32_MAX_ 0xffffffffu
#define MADE_BY ((3u << 8) | 45u) /* UNIX, ZIP 4.5 (ZIP64) */
#define FLAG_DESCRIPTOR 0x0008u
#define ATTR_FILE 0100644u /* regular file, rw-r--r-- */

struct ohp_zipwriter {
    ohp_alloc alloc;
    ohp_zw_output_fn output;
    void *ctx;
    char *errmsg;
    ohp_deflater *df;
    char *name;
    size_t name_len;
    unsigned method, flags, dos_time, dos_date;
    uint32_t crc;
    uint64_t usize, csize;
    unsigned char *obuf;
    size_t olen;
    uint64_t total; /* bytes given to the output */
    int err;
    bool output_failed;
};

static int emit_flush(ohp_zipwriter *zw)
{
    if (zw->olen == 0 || zw->err)
        return zw->err;
    if (zw->output(zw->ctx, zw->obuf, zw->olen) != 0) {
        zw->err = OHP_ESINK;
        zw->output_failed = true;
        return zw->err;
    }
    zw->total += zw->olen;
    zw->olen = 0;
    return OHP_OK;
}

static int emit(ohp_zipwriter *zw, const void *buf, size_t len)
{
    if (zw->err || len == 0) /* buf may be NULL when len is 0 (no comment) */
        return zw->err;
    if (zw->olen + len > OUT_CAP) {
        if (emit_flush(zw))
            return zw->err;
        if (len >= OUT_CAP) {
            if (zw->output(zw->ctx, buf, len) != 0) {
                zw->err = OHP_ESINK;
                zw->output_failed = true;
                return zw->err;
            }
            zw->total += len;
            return OHP_OK;
        }
    }
    memcpy(zw->obuf + zw->olen, buf, len);
    zw->olen += len;
    return OHP_OK;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    return p + n;
}

static int fail(ohp_zipwriter *zw, int code, const char *what)
{
    if (zw->output_failed)
        code = OHP_ESINK;
    if (code == OHP_ESINK)
        ohp_errmsg_set(zw->errmsg, "sink write failed");
    else
        ohp_errmsg_set(zw->errmsg, "archive writer failed: %s", what);
    if (!zw->err)
        zw->err = code;
    return code;
}

static int deflater_output(void *ctx, const void *buf, size_t len)
{
    ohp_zipwriter *zw = ctx;
    zw->csize += len;
    return emit(zw, buf, len);
}

/*
 * mtime as the entry's DOS time and date, clamped to the years DOS dates
 * hold (1980 to 2107).
 */
static void dos_time(int64_t mtime, unsigned *time, unsigned *date)
{
    int y, mo, d, h, mi, s;
    ohp_civil_from_time(mtime, &y, &mo, &d, &h, &mi, &s);
    if (y < 1980) {
        y = 1980;
        mo = 1;
        d = 1;
        h = mi = s = 0;
    } else if (y > 2107) {
        y = 2107;
        mo = 12;
        d = 31;
        h = 23;
        mi = 59;
        s = 58;
    }
    *time = (unsigned)(s / 2 + 32 * mi + 2048 * h);
    *date = (unsigned)(d + 32 * mo + 512 * (y - 1980));
}

/* Bits 1-2 of the general purpose flag: how hard deflate tried (APPNOTE 4.4.4). */
static unsigned level_flags(int level)
{
    if (level == 1)
        return 6; /* super fast */
    if (level == 2)
        return 4; /* fast */
    if (level >= 8)
        return 2; /* maximum */
    return 0;
}

static int write_local_header(ohp_zipwriter *zw)
{
    unsigned char h[30 + 20], *p = h;
    p = put_le(p, SIG_LOCAL, 4);
    p = put_le(p, 45, 2); /* version needed: ZIP64 */
    p = put_le(p, zw->flags, 2);
    p = put_le(p, zw->method, 2);
    p = put_le(p, zw->dos_time, 2);
    p = put_le(p, zw->dos_date, 2);
    p = put_le(p, 0, 4);        /* CRC-32: in the data descriptor */
    p = put_le(p, U32_MAX_, 4); /* sizes: in the ZIP64 field, then the descriptor */
    p = put_le(p, U32_MAX_, 4);
    p = put_le(p, zw->name_len, 2);
    p = put_le(p, 20, 2); /* extra field length */
    if (emit(zw, h, 30))
        return zw->err;
    if (emit(zw, zw->name, zw->name_len))
        return zw->err;
    p = h;
    p = put_le(p, 0x0001, 2); /* ZIP64 extended information */
    p = put_le(p, 16, 2);
    p = put_le(p, 0, 8);
    p = put_le(p, 0, 8);
    return emit(zw, h, (size_t)(p - h));
}

int ohp_zipwriter_new(ohp_zipwriter **out, const ohp_alloc *a, ohp_zw_output_fn output, void *ctx,
                      const char *entry_name, int64_t mtime, int engine, int level,
                      unsigned threads, char *errmsg)
{
    *out = NULL;
    size_t name_len = strlen(entry_name);
    if (name_len > 0xffff) {
        ohp_errmsg_set(errmsg, "archive writer failed: entry name too long");
        return OHP_EZIP;
    }
    ohp_zipwriter *zw = ohp_calloc(a, 1, sizeof *zw);
    if (zw == NULL)
        return OHP_ENOMEM;
    zw->alloc = *a;
    zw->output = output;
    zw->ctx = ctx;
    zw->errmsg = errmsg;
    zw->name_len = name_len;
    zw->method = level > 0 ? 8 : 0;
    zw->flags = FLAG_DESCRIPTOR | (level > 0 ? level_flags(level) : 0);
    dos_time(mtime, &zw->dos_time, &zw->dos_date);
    zw->obuf = ohp_malloc(a, OUT_CAP);
    zw->name = ohp_malloc(a, name_len + 1);
    if (zw->obuf == NULL || zw->name == NULL) {
        ohp_zipwriter_free(zw);
        return OHP_ENOMEM;
    }
    memcpy(zw->name, entry_name, name_len + 1);
    if (level > 0) {
        int rc = ohp_deflater_new(&zw->df, a, engine, level, threads, deflater_output, zw);
        if (rc) {
            ohp_zipwriter_free(zw);
            return rc;
        }
    }
    if (write_local_header(zw)) {
        int code = fail(zw, zw->err, "cannot open the entry");
        ohp_zipwriter_free(zw);
        return code;
    }
    *out = zw;
    return OHP_OK;
}

int ohp_zipwriter_write(ohp_zipwriter *zw, const void *buf, size_t len)
{
    if (zw->err)
        return zw->err;
    if (zw->df) {
        int rc = ohp_deflater_write(zw->df, buf, len);
        if (rc)
            return fail(zw, rc, "deflate failed");
        return OHP_OK;
    }
    zw->crc = ohp_crc32(zw->crc, buf, len);
    zw->usize += len;
    zw->csize += len;
    if (emit(zw, buf, len))
        return fail(zw, zw->err, "write failed");
    return OHP_OK;
}

int ohp_zipwriter_finish_entry(ohp_zipwriter *zw)
{
    if (zw->err)
        return zw->err;
    if (zw->df) {
        int rc = ohp_deflater_finish(zw->df);
        if (rc)
            return fail(zw, rc, "deflate failed");
        zw->crc = ohp_deflater_crc(zw->df);
        zw->usize = ohp_deflater_in(zw->df);
    }
    unsigned char d[24], *p = d;
    p = put_le(p, SIG_DESCRIPTOR, 4);
    p = put_le(p, zw->crc, 4);
    p = put_le(p, zw->csize, 8);
    p = put_le(p, zw->usize, 8);
    if (emit(zw, d, sizeof d))
        return fail(zw, zw->err, "cannot close the entry");
    return OHP_OK;
}

/* The central directory's one header; its length. */
static size_t central_header(const ohp_zipwriter *zw, unsigned char *h)
{
    bool big_u = zw->usize >= U32_MAX_, big_c = zw->csize >= U32_MAX_;
    unsigned extra = (big_u ? 8u : 0u) + (big_c ? 8u : 0u);
    unsigned char *p = h;
    p = put_le(p, SIG_CENTRAL, 4);
    p = put_le(p, MADE_BY, 2);
    p = put_le(p, extra ? 45 : 20, 2); /* version needed: ZIP64 only if used */
    p = put_le(p, zw->flags, 2);
    p = put_le(p, zw->method, 2);
    p = put_le(p, zw->dos_time, 2);
    p = put_le(p, zw->dos_date, 2);
    p = put_le(p, zw->crc, 4);
    p = put_le(p, big_c ? U32_MAX_ : zw->csize, 4);
    p = put_le(p, big_u ? U32_MAX_ : zw->usize, 4);
    p = put_le(p, zw->name_len, 2);
    p = put_le(p, extra ? extra + 4 : 0, 2);
    p = put_le(p, 0, 2); /* comment length */
    p = put_le(p, 0, 2); /* disk number */
    p = put_le(p, 0, 2); /* internal attributes */
    p = put_le(p, (uint64_t)ATTR_FILE << 16, 4);
    p = put_le(p, 0, 4); /* the local header's offset: the archive starts with it */
    memcpy(p, zw->name, zw->name_len);
    p += zw->name_len;
    if (extra) {
        p = put_le(p, 0x0001, 2);
        p = put_le(p, extra, 2);
        if (big_u)
            p = put_le(p, zw->usize, 8);
        if (big_c)
            p = put_le(p, zw->csize, 8);
    }
    return (size_t)(p - h);
}

int ohp_zipwriter_close(ohp_zipwriter *zw, const char *comment)
{
    if (zw->err)
        return zw->err;
    size_t comment_len = comment ? strlen(comment) : 0;
    if (comment_len > 0xffff)
        return fail(zw, OHP_EZIP, "the archive comment is longer than 65535 bytes");
    uint64_t cd_off = zw->total + zw->olen;
    unsigned char *h = ohp_malloc(&zw->alloc, 46 + zw->name_len + 20);
    if (h == NULL)
        return fail(zw, OHP_ENOMEM, "out of memory");
    size_t cd_len = central_header(zw, h);
    int rc = emit(zw, h, cd_len);
    ohp_free(&zw->alloc, h);
    if (rc)
        return fail(zw, rc, "cannot write the central directory");
    unsigned char e[56 + 20 + 22], *p = e;
    if (cd_off >= U32_MAX_) {
        uint64_t end64_off = cd_off + cd_len;
        p = put_le(p, SIG_END64, 4);
        p = put_le(p, 44, 8); /* the record's size after this field */
        p = put_le(p, 45, 2); /* version made by */
        p = put_le(p, 45, 2); /* version needed */
        p = put_le(p, 0, 4);  /* this disk */
        p = put_le(p, 0, 4);  /* the central directory's disk */
        p = put_le(p, 1, 8);  /* entries on this disk */
        p = put_le(p, 1, 8);  /* entries */
        p = put_le(p, cd_len, 8);
        p = put_le(p, cd_off, 8);
        p = put_le(p, SIG_LOCATOR, 4);
        p = put_le(p, 0, 4);
        p = put_le(p, end64_off, 8);
        p = put_le(p, 1, 4); /* disks */
    }
    p = put_le(p, SIG_END, 4);
    p = put_le(p, 0, 2);
    p = put_le(p, 0, 2);
    p = put_le(p, 1, 2);
    p = put_le(p, 1, 2);
    p = put_le(p, cd_len, 4);
    p = put_le(p, cd_off >= U32_MAX_ ? U32_MAX_ : cd_off, 4);
    p = put_le(p, comment_len, 2);
    if (emit(zw, e, (size_t)(p - e)) || emit(zw, comment, comment_len) || emit_flush(zw))
        return fail(zw, zw->err, "cannot write the central directory");
    return OHP_OK;
}

void ohp_zipwriter_free(ohp_zipwriter *zw)
{
    if (zw == NULL)
        return;
    ohp_deflater_free(zw->df);
    ohp_alloc a = zw->alloc;
    ohp_free(&a, zw->obuf);
    ohp_free(&a, zw->name);
    ohp_free(&a, zw);
}

uint64_t ohp_zipwriter_uncompressed(const ohp_zipwriter *zw)
{
    return zw->df ? ohp_deflater_in(zw->df) : zw->usize;
}

uint64_t ohp_zipwriter_compressed(const ohp_zipwriter *zw)
{
    return zw->csize;
}

uint64_t ohp_zipwriter_total(const ohp_zipwriter *zw)
{
    return zw->total;
}

uint32_t ohp_zipwriter_crc(const ohp_zipwriter *zw)
{
    return zw->df ? ohp_deflater_crc(zw->df) : zw->crc;
}

int ohp_zipwriter_output_failed(const ohp_zipwriter *zw)
{
    return zw->output_failed;
}
