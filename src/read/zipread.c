/* Reading a one-entry ZIP archive, checked (see zipread.h). */
#include "zipread.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef OHP_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR 0x07064b50u
#define SIG_DESCRIPTOR 0x08074b50u

#define END_SIZE 22u
#define LOCATOR_SIZE 20u
#define END64_SIZE 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u
#define COMMENT_MAX 65535u

#define U16_MAX_ 0xffffu
#define U32_MAX_ 0xffffffffu

#define INBUF ((size_t)64 * 1024)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
zfail(zipread *z, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->err, sizeof z->err, fmt, ap);
    va_end(ap);
    return code;
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void *zr_alloc(zipread *z, size_t n)
{
    return z->io.alloc ? z->io.alloc(z->io.opaque, n) : malloc(n);
}

static void zr_free(zipread *z, void *p)
{
    if (p == NULL)
        return;
    if (z->io.free)
        z->io.free(z->io.opaque, p);
    else
        free(p);
}

#ifndef OHP_HAVE_ISAL
static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    zipread *z = opaque;
    if (size != 0 && items > (size_t)-1 / size)
        return Z_NULL;
    return zr_alloc(z, (size_t)items * size);
}

static void zlib_free(voidpf opaque, voidpf ptr)
{
    zr_free(opaque, ptr);
}
#endif

void zr_init(zipread *z, const zr_io *io)
{
    memset(z, 0, sizeof *z);
    z->io = *io;
}

/* ---- I/O ---- */

static int io_seek(zipread *z, uint64_t off)
{
    if (off > z->io.size)
        return zfail(z, ZR_EPARSE, "damaged archive: an offset lies outside the archive");
    if (z->io.mem == NULL && z->io.seek(z->io.ud, off) != 0) {
        z->io_failed = true;
        return zfail(z, ZR_EIO, "read error (seek to offset %llu)", (unsigned long long)off);
    }
    z->pos = off;
    return ZR_OK;
}

/* Up to len bytes from the current position into buf: fewer only at the archive's end. */
static int io_read(zipread *z, void *buf, size_t len, size_t *got)
{
    *got = 0;
    if (z->io.mem != NULL) {
        uint64_t left = z->io.size - z->pos;
        size_t n = left < len ? (size_t)left : len;
        if (n)
            memcpy(buf, z->io.mem + z->pos, n);
        z->pos += n;
        *got = n;
        return ZR_OK;
    }
    while (*got < len) {
        size_t g = 0;
        if (z->io.read(z->io.ud, (char *)buf + *got, len - *got, &g) != 0) {
            z->io_failed = true;
            return zfail(z, ZR_EIO, "read error");
        }
        if (g == 0)
            break;
        if (g > len - *got)
            g = len - *got;
        *got += g;
        z->pos += g;
    }
    return ZR_OK;
}

/* Exactly len bytes at off (what names the structure being read, for the message). */
static int read_at(zipread *z, uint64_t off, void *buf, size_t len, const char *what)
{
    if (off > z->io.size || len > z->io.size - off)
        return zfail(z, ZR_EPARSE, "damaged archive: the %s lies outside the archive", what);
    int rc = io_seek(z, off);
    size_t got;
    if (rc == ZR_OK)
        rc = io_read(z, buf, len, &got);
    if (rc != ZR_OK)
        return rc;
    if (got != len)
        return zfail(z, ZR_EIO, "read error: the archive ends early in the %s", what);
    return ZR_OK;
}

/* ---- the end records ---- */

typedef struct end_info {
    uint64_t entries, cd_size, cd_off;
    uint64_t cd_end; /* where the central directory must end */
} end_info;

static bool zeros(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/*
 * Find the end of central directory record: whole, and the last thing in
 * the archive but for zero bytes (padding to a block size, as bsdtar writes
 * to a pipe).
 */
static int find_end(zipread *z, uint64_t *end_pos, unsigned char rec[END_SIZE])
{
    uint64_t size = z->io.size;
    size_t tail_len = size < END_SIZE + COMMENT_MAX ? (size_t)size : END_SIZE + COMMENT_MAX;
    uint64_t tail_off = size - tail_len;
    unsigned char *tail = NULL;
    const unsigned char *t;
    if (z->io.mem != NULL) {
        t = z->io.mem + tail_off;
    } else {
        tail = zr_alloc(z, tail_len ? tail_len : 1);
        if (tail == NULL)
            return zfail(z, ZR_ENOMEM, "out of memory");
        int rc = read_at(z, tail_off, tail, tail_len, "end of the archive");
        if (rc != ZR_OK) {
            zr_free(z, tail);
            return rc;
        }
        t = tail;
    }
    /* the last signature whose record, comment included, ends exactly at the archive's end */
    size_t first = (size_t)-1;
    size_t found = (size_t)-1;
    for (size_t i = tail_len >= 4 ? tail_len - 4 + 1 : 0; i-- > 0;) {
        if (le(t + i, 4) != SIG_END)
            continue;
        if (first == (size_t)-1)
            first = i;
        if (tail_len - i >= END_SIZE && END_SIZE + le(t + i + 20, 2) <= tail_len - i &&
            zeros(t + i + END_SIZE + le(t + i + 20, 2),
                  tail_len - i - END_SIZE - le(t + i + 20, 2))) {
            found = i;
            break;
        }
    }
    int rc = ZR_OK;
    if (found != (size_t)-1) {
        memcpy(rec, t + found, END_SIZE);
        *end_pos = tail_off + found;
        size_t clen = (size_t)le(t + found + 20, 2);
        if (clen > 0) {
            z->comment = zr_alloc(z, clen + 1);
            if (z->comment == NULL) {
                rc = zfail(z, ZR_ENOMEM, "out of memory");
            } else {
                memcpy(z->comment, t + found + END_SIZE, clen);
                z->comment[clen] = '\0';
                z->comment_len = clen;
            }
        }
    } else if (first == (size_t)-1) {
        rc = zfail(z, ZR_EPARSE, "not a ZIP archive (no end of central directory record)");
    } else if (tail_len - first < END_SIZE) {
        rc = zfail(z, ZR_EPARSE,
                   "damaged archive: the end of central directory record is cut short (%zu of "
                   "its %u bytes)",
                   tail_len - first, END_SIZE);
    } else {
        size_t have = tail_len - first - END_SIZE;
        unsigned clen = (unsigned)le(t + first + 20, 2);
        if (clen > have)
            rc = zfail(z, ZR_EPARSE,
                       "damaged archive: the end of central directory record is cut short (its "
                       "comment of %u bytes has %zu)",
                       clen, have);
        else
            rc = zfail(z, ZR_EPARSE,
                       "damaged archive: %zu bytes that are not padding follow the end of "
                       "central directory record",
                       have - clen);
    }
    zr_free(z, tail);
    return rc;
}

/* The end record's fields that the ZIP64 end record may carry in full. */
typedef struct end_fields {
    uint64_t disk, cd_disk, n_disk, n_total, cd_size, cd_off;
} end_fields;

/*
 * The ZIP64 end record its locator (loc, at end_pos - LOCATOR_SIZE) points
 * at: its values replace the end record's placeholders in f, *cd_end is
 * where it begins.
 */
static int read_end64(zipread *z, uint64_t end_pos, const unsigned char *loc, end_fields *f,
                      uint64_t *cd_end)
{
    uint64_t loc_pos = end_pos - LOCATOR_SIZE, off64 = le(loc + 8, 8);
    if (le(loc + 4, 4) != 0 || le(loc + 16, 4) > 1)
        return zfail(z, ZR_EPARSE, "multi-volume archives are not supported");
    if (off64 > loc_pos || loc_pos - off64 < END64_SIZE)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the ZIP64 locator points at offset %llu, where no "
                     "ZIP64 end record fits before it",
                     (unsigned long long)off64);
    unsigned char r64[END64_SIZE];
    int rc = read_at(z, off64, r64, sizeof r64, "ZIP64 end record");
    if (rc != ZR_OK)
        return rc;
    if (le(r64, 4) != SIG_END64)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: no ZIP64 end record where its locator says (offset "
                     "%llu)",
                     (unsigned long long)off64);
    uint64_t rsize = le(r64 + 4, 8);
    if (rsize < END64_SIZE - 12 || rsize != loc_pos - off64 - 12)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the ZIP64 end record's size (%llu bytes) does not "
                     "reach its locator",
                     (unsigned long long)rsize);
    end_fields f64 = {le(r64 + 16, 4), le(r64 + 20, 4), le(r64 + 24, 8),
                      le(r64 + 32, 8), le(r64 + 40, 8), le(r64 + 48, 8)};
    /* a field of the 32-bit record is its placeholder or the ZIP64 record's value */
    if ((f->disk != U16_MAX_ && f->disk != f64.disk) ||
        (f->cd_disk != U16_MAX_ && f->cd_disk != f64.cd_disk) ||
        (f->n_disk != U16_MAX_ && f->n_disk != f64.n_disk) ||
        (f->n_total != U16_MAX_ && f->n_total != f64.n_total) ||
        (f->cd_size != U32_MAX_ && f->cd_size != f64.cd_size) ||
        (f->cd_off != U32_MAX_ && f->cd_off != f64.cd_off))
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the end of central directory record and the ZIP64 "
                     "end record disagree");
    *f = f64;
    *cd_end = off64;
    return ZR_OK;
}

static int read_end(zipread *z, end_info *e)
{
    uint64_t end_pos = 0;
    unsigned char rec[END_SIZE];
    if (z->io.size < END_SIZE)
        return zfail(z, ZR_EPARSE, "not a ZIP archive (no end of central directory record)");
    int rc = find_end(z, &end_pos, rec);
    if (rc != ZR_OK)
        return rc;
    end_fields f = {le(rec + 4, 2),  le(rec + 6, 2),  le(rec + 8, 2),
                    le(rec + 10, 2), le(rec + 12, 4), le(rec + 16, 4)};
    bool need64 = f.disk == U16_MAX_ || f.cd_disk == U16_MAX_ || f.n_disk == U16_MAX_ ||
                  f.n_total == U16_MAX_ || f.cd_size == U32_MAX_ || f.cd_off == U32_MAX_;
    bool have64 = false;
    unsigned char loc[LOCATOR_SIZE];
    if (end_pos >= LOCATOR_SIZE) {
        if ((rc = read_at(z, end_pos - LOCATOR_SIZE, loc, sizeof loc, "ZIP64 locator")) != ZR_OK)
            return rc;
        have64 = le(loc, 4) == SIG_LOCATOR;
    }
    if (need64 && !have64)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the end of central directory record defers to a ZIP64 "
                     "end record, and no ZIP64 locator precedes it");
    e->cd_end = end_pos;
    if (have64 && (rc = read_end64(z, end_pos, loc, &f, &e->cd_end)) != ZR_OK)
        return rc;
    if (f.disk != 0 || f.cd_disk != 0)
        return zfail(z, ZR_EPARSE, "multi-volume archives are not supported");
    if (f.n_disk != f.n_total)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the end record counts %llu entries on this disk and %llu "
                     "in all",
                     (unsigned long long)f.n_disk, (unsigned long long)f.n_total);
    if (f.cd_off > e->cd_end || f.cd_size != e->cd_end - f.cd_off)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the central directory (%llu bytes at offset %llu) does "
                     "not end where the end record begins (offset %llu)",
                     (unsigned long long)f.cd_size, (unsigned long long)f.cd_off,
                     (unsigned long long)e->cd_end);
    e->entries = f.n_total;
    e->cd_size = f.cd_size;
    e->cd_off = f.cd_off;
    return ZR_OK;
}

/* ---- extra fields ---- */

/*
 * The ZIP64 extra field (id 1) of an extra area: *p and *n, or *p NULL.
 * strict: a block running past the area is an error (-1).
 */
static int find_zip64(const unsigned char *x, size_t xlen, bool strict, const unsigned char **p,
                      size_t *n)
{
    *p = NULL;
    *n = 0;
    size_t o = 0;
    while (xlen - o >= 4) {
        size_t id = (size_t)le(x + o, 2), len = (size_t)le(x + o + 2, 2);
        if (len > xlen - o - 4)
            return strict ? -1 : 0;
        if (id == 1 && *p == NULL) {
            *p = x + o + 4;
            *n = len;
        }
        o += 4 + len;
    }
    return 0;
}

/* ---- the central directory and the local header ---- */

static int read_extra(zipread *z, uint64_t off, size_t len, unsigned char **out, const char *what)
{
    *out = zr_alloc(z, len ? len : 1);
    if (*out == NULL)
        return zfail(z, ZR_ENOMEM, "out of memory");
    int rc = read_at(z, off, *out, len, what);
    if (rc != ZR_OK) {
        zr_free(z, *out);
        *out = NULL;
    }
    return rc;
}

/* The name for a message: at most 200 bytes, control characters as '?'. */
static void name_for_message(char *out, size_t cap, const unsigned char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap && i < 200; i++)
        out[k++] = (char)(s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
    out[k] = '\0';
}

/* The entry's name, nlen bytes at off, into z->name. */
static int read_central_name(zipread *z, uint64_t off, size_t nlen)
{
    if (nlen == 0)
        return zfail(z, ZR_EPARSE, "damaged archive: the entry has no name");
    if (nlen >= ZR_NAME_MAX)
        return zfail(z, ZR_EPARSE, "the entry's name is %zu bytes long, at most %d are read", nlen,
                     ZR_NAME_MAX - 1);
    int rc = read_at(z, off, z->name, nlen, "central directory");
    if (rc != ZR_OK)
        return rc;
    z->name[nlen] = '\0';
    z->name_len = nlen;
    if (memchr(z->name, '\0', nlen) != NULL) {
        char shown[256];
        name_for_message(shown, sizeof shown, (const unsigned char *)z->name, nlen);
        return zfail(z, ZR_EPARSE, "the entry's name '%s' holds a NUL byte", shown);
    }
    return ZR_OK;
}

/* The central directory's values that a ZIP64 extra field may hold in full. */
typedef struct central_sizes {
    uint64_t usize, csize, off, disk;
} central_sizes;

/* One value the ZIP64 field holds (width bytes at *o) for a placeholder; false when it lacks it. */
static bool zip64_value(const unsigned char *p, size_t n, size_t *o, size_t width, uint64_t *v)
{
    if (n - *o < width)
        return false;
    *v = le(p + *o, (int)width);
    *o += width;
    return true;
}

/*
 * The central directory's extra field (xlen bytes at off): its ZIP64 field
 * holds, in this order, the values of s whose 32-bit fields are placeholders.
 */
static int read_central_zip64(zipread *z, uint64_t off, size_t xlen, central_sizes *s)
{
    unsigned char *x = NULL;
    int rc = read_extra(z, off, xlen, &x, "central directory");
    if (rc != ZR_OK)
        return rc;
    const unsigned char *p;
    size_t n;
    if (find_zip64(x, xlen, true, &p, &n) != 0) {
        zr_free(z, x);
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the central directory's extra field is malformed");
    }
    const char *missing = NULL;
    size_t o = 0;
    if (s->usize == U32_MAX_ && !zip64_value(p, n, &o, 8, &s->usize))
        missing = "size";
    else if (s->csize == U32_MAX_ && !zip64_value(p, n, &o, 8, &s->csize))
        missing = "compressed size";
    else if (s->off == U32_MAX_ && !zip64_value(p, n, &o, 8, &s->off))
        missing = "local header offset";
    else if (s->disk == U16_MAX_ && !zip64_value(p, n, &o, 4, &s->disk))
        missing = "disk number";
    zr_free(z, x);
    if (missing != NULL)
        return zfail(z, ZR_EPARSE,
                     p ? "damaged archive: the central directory's ZIP64 extra field lacks the "
                         "entry's %s"
                       : "damaged archive: the central directory defers the entry's %s to a "
                         "ZIP64 extra field it does not have",
                     missing);
    return ZR_OK;
}

static int read_central(zipread *z, const end_info *e, uint64_t *lh_off, unsigned *flags)
{
    unsigned char c[CENTRAL_SIZE];
    int rc;
    if (e->cd_size < CENTRAL_SIZE)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the central directory is too short (%llu "
                     "bytes) for its entry",
                     (unsigned long long)e->cd_size);
    if ((rc = read_at(z, e->cd_off, c, sizeof c, "central directory")) != ZR_OK)
        return rc;
    if (le(c, 4) != SIG_CENTRAL)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: no central directory entry where the end record says "
                     "(offset %llu)",
                     (unsigned long long)e->cd_off);
    *flags = (unsigned)le(c + 8, 2);
    z->method = (unsigned)le(c + 10, 2);
    z->crc = (uint32_t)le(c + 16, 4);
    uint64_t csize = le(c + 20, 4), usize = le(c + 24, 4);
    size_t nlen = (size_t)le(c + 28, 2), xlen = (size_t)le(c + 30, 2), clen = (size_t)le(c + 32, 2);
    uint64_t disk = le(c + 34, 2), off = le(c + 42, 4);
    if ((uint64_t)CENTRAL_SIZE + nlen + xlen + clen != e->cd_size)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the central directory holds %llu bytes, its one entry "
                     "%zu",
                     (unsigned long long)e->cd_size, CENTRAL_SIZE + nlen + xlen + clen);
    if ((rc = read_central_name(z, e->cd_off + CENTRAL_SIZE, nlen)) != ZR_OK)
        return rc;
    central_sizes s = {usize, csize, off, disk};
    if ((rc = read_central_zip64(z, e->cd_off + CENTRAL_SIZE + nlen, xlen, &s)) != ZR_OK)
        return rc;
    usize = s.usize;
    csize = s.csize;
    off = s.off;
    disk = s.disk;
    if (disk != 0)
        return zfail(z, ZR_EPARSE, "multi-volume archives are not supported");
    if (*flags & (1u | 64u))
        return zfail(z, ZR_EPARSE, "the entry is encrypted");
    if (z->method != 0 && z->method != 8)
        return zfail(z, ZR_EPARSE, "unsupported compression method %u", z->method);
    if (z->method == 0 && csize != usize)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the entry is stored, yet its compressed size is %llu and "
                     "its size is %llu",
                     (unsigned long long)csize, (unsigned long long)usize);
    z->size = usize;
    z->comp_size = csize;
    *lh_off = off;
    return ZR_OK;
}

/* The local header's name (nlen bytes at off) is the central directory's, byte for byte. */
static int check_local_name(zipread *z, uint64_t off, size_t nlen)
{
    char lname[ZR_NAME_MAX];
    size_t cmp_len = nlen == z->name_len ? nlen : nlen < 200 ? nlen : 200;
    int rc = read_at(z, off, lname, cmp_len, "local header");
    if (rc != ZR_OK)
        return rc;
    if (nlen != z->name_len || memcmp(lname, z->name, nlen) != 0) {
        char a[256], b[256];
        name_for_message(a, sizeof a, (const unsigned char *)lname, cmp_len);
        name_for_message(b, sizeof b, (const unsigned char *)z->name, z->name_len);
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header names the entry '%s', the central "
                     "directory '%s'",
                     a, b);
    }
    return ZR_OK;
}

/* The local header's ZIP64 field (in its xlen-byte extra area at off) holds both sizes. */
static int read_local_zip64(zipread *z, uint64_t off, size_t xlen, uint64_t *usize, uint64_t *csize)
{
    unsigned char *x = NULL;
    int rc = read_extra(z, off, xlen, &x, "local header");
    if (rc != ZR_OK)
        return rc;
    const unsigned char *p;
    size_t n;
    (void)find_zip64(x, xlen, false, &p, &n);
    bool ok = p != NULL && n >= 16;
    if (ok) {
        *usize = le(p, 8);
        *csize = le(p + 8, 8);
    }
    zr_free(z, x);
    if (!ok)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header defers the entry's sizes to a "
                     "ZIP64 extra field it does not have");
    return ZR_OK;
}

static int read_local(zipread *z, const end_info *e, uint64_t lh_off, unsigned cflags)
{
    unsigned char h[LOCAL_SIZE];
    int rc;
    if (lh_off > e->cd_off || e->cd_off - lh_off < LOCAL_SIZE)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header's offset (%llu) is not before the "
                     "central directory",
                     (unsigned long long)lh_off);
    if ((rc = read_at(z, lh_off, h, sizeof h, "local header")) != ZR_OK)
        return rc;
    if (le(h, 4) != SIG_LOCAL)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: no local header where the central directory says (offset "
                     "%llu)",
                     (unsigned long long)lh_off);
    unsigned flags = (unsigned)le(h + 6, 2), method = (unsigned)le(h + 8, 2);
    uint32_t crc = (uint32_t)le(h + 14, 4);
    uint64_t csize = le(h + 18, 4), usize = le(h + 22, 4);
    size_t nlen = (size_t)le(h + 26, 2), xlen = (size_t)le(h + 28, 2);
    uint64_t data = lh_off + LOCAL_SIZE + nlen + xlen;
    if (data > e->cd_off)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header runs into the central directory");
    if ((rc = check_local_name(z, lh_off + LOCAL_SIZE, nlen)) != ZR_OK)
        return rc;
    if (method != z->method)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header's compression method (%u) differs from "
                     "the central directory's (%u)",
                     method, z->method);
    if ((flags & 1u) != (cflags & 1u))
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header and the central directory disagree on "
                     "encryption");
    if ((flags & 8u) != (cflags & 8u))
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the local header and the central directory disagree on "
                     "a data descriptor (flag bit 3)");
    z->descriptor = (flags & 8u) != 0;
    if (!z->descriptor) {
        /* the local header carries the real CRC and sizes: they are the central directory's */
        if ((usize == U32_MAX_ || csize == U32_MAX_) &&
            (rc = read_local_zip64(z, lh_off + LOCAL_SIZE + nlen, xlen, &usize, &csize)) != ZR_OK)
            return rc;
        if (crc != z->crc)
            return zfail(z, ZR_EPARSE,
                         "damaged archive: CRC-32 mismatch (local header %08lx, central "
                         "directory %08lx)",
                         (unsigned long)crc, (unsigned long)z->crc);
        if (usize != z->size || csize != z->comp_size)
            return zfail(z, ZR_EPARSE,
                         "damaged archive: the local header's sizes (%llu, compressed %llu) "
                         "differ from the central directory's (%llu, compressed %llu)",
                         (unsigned long long)usize, (unsigned long long)csize,
                         (unsigned long long)z->size, (unsigned long long)z->comp_size);
    }
    if (z->comp_size > e->cd_off - data)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the entry's data (%llu bytes from offset %llu) run into "
                     "the central directory",
                     (unsigned long long)z->comp_size, (unsigned long long)data);
    if (z->descriptor && e->cd_off - data - z->comp_size < 12)
        return zfail(z, ZR_EPARSE, "damaged archive: no room for the data descriptor");
    z->data_pos = data;
    return ZR_OK;
}

int zr_open(zipread *z)
{
    end_info e = {0, 0, 0, 0};
    uint64_t lh_off = 0;
    unsigned flags = 0;
    int rc = read_end(z, &e);
    if (rc != ZR_OK)
        return rc;
    if (e.entries != 1)
        return zfail(z, ZR_EPARSE, "the archive holds %llu entries, a snapshot archive holds one",
                     (unsigned long long)e.entries);
    if ((rc = read_central(z, &e, &lh_off, &flags)) != ZR_OK ||
        (rc = read_local(z, &e, lh_off, flags)) != ZR_OK)
        return rc;
    z->cd_off = e.cd_off;
    z->comp_left = z->comp_size;
    z->crc_now = (uint32_t)crc32(0L, Z_NULL, 0);
    if ((rc = io_seek(z, z->data_pos)) != ZR_OK)
        return rc;
#ifdef OHP_HAVE_ISAL
    if (z->method == 8) {
        /* ISA-L inflates any deflate stream several times faster than zlib. */
        if ((z->is = zr_alloc(z, sizeof *z->is)) == NULL)
            return zfail(z, ZR_ENOMEM, "out of memory");
        isal_inflate_init(z->is);
        z->is->crc_flag = ISAL_DEFLATE; /* raw deflate; the CRC-32 is checked here */
        if (z->io.mem == NULL && (z->inbuf = zr_alloc(z, INBUF)) == NULL)
            return zfail(z, ZR_ENOMEM, "out of memory");
    }
#else
    if (z->method == 8) {
        z->zs.zalloc = zlib_alloc;
        z->zs.zfree = zlib_free;
        z->zs.opaque = z;
        int zrc = inflateInit2(&z->zs, -MAX_WBITS);
        if (zrc != Z_OK)
            return zrc == Z_MEM_ERROR ? zfail(z, ZR_ENOMEM, "out of memory")
                                      : zfail(z, ZR_EPARSE, "cannot inflate (zlib error %d)", zrc);
        z->zs_init = true;
        if (z->io.mem == NULL && (z->inbuf = zr_alloc(z, INBUF)) == NULL)
            return zfail(z, ZR_ENOMEM, "out of memory");
    }
#endif
    z->open = true;
    return ZR_OK;
}

/* ---- the entry's data ---- */

/* Up to cap bytes of the compressed (or stored) data at *p; 0 at its end. */
static int comp_next(zipread *z, unsigned char *buf, size_t cap, const unsigned char **p, size_t *n)
{
    *p = buf;
    *n = 0;
    size_t want = z->comp_left < cap ? (size_t)z->comp_left : cap;
    if (want == 0)
        return ZR_OK;
    if (z->io.mem != NULL) { /* in memory: no copy */
        *p = z->io.mem + z->pos;
        *n = want; /* zr_open made sure the data lie inside the archive */
        z->pos += want;
    } else {
        int rc = io_read(z, buf, want, n);
        if (rc != ZR_OK)
            return rc;
    }
    z->comp_left -= *n;
    if (*n == 0)
        return zfail(z, ZR_EPARSE, "damaged archive: the entry's data ends early");
    return ZR_OK;
}

#ifdef OHP_HAVE_ISAL
static int isal_data(zipread *z, unsigned char *buf, size_t cap, size_t *n)
{
    struct inflate_state *s = z->is;
    while (*n == 0 && !z->zs_end) {
        if (s->avail_in == 0) {
            const unsigned char *p;
            size_t k;
            int rc = comp_next(z, z->inbuf, INBUF, &p, &k);
            if (rc != ZR_OK)
                return rc;
            s->next_in = (uint8_t *)(uintptr_t)p;
            s->avail_in = (uint32_t)k;
        }
        uint32_t in_before = s->avail_in;
        s->next_out = buf;
        s->avail_out = (uint32_t)cap;
        int rc = isal_inflate(s);
        *n = cap - s->avail_out;
        if (rc < 0)
            return zfail(z, ZR_EPARSE, "damaged archive: invalid compressed data (ISA-L error %d)",
                         rc);
        if (s->block_state == ISAL_BLOCK_FINISH)
            z->zs_end = true;
        else if (*n == 0 && s->avail_in == 0 && z->comp_left == 0 && in_before == 0)
            return zfail(z, ZR_EPARSE, "damaged archive: the compressed data ends early");
    }
    return ZR_OK;
}

/* Compressed bytes ISA-L has not used: in its input, and whole bytes in its bit buffer. */
static uint64_t isal_unused(const zipread *z)
{
    return z->is->avail_in + z->is->read_in_length / 8;
}
#endif

static int entry_data(zipread *z, unsigned char *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (cap > (1u << 30))
        cap = 1u << 30;
    if (z->method == 0) {
        const unsigned char *p;
        int rc = comp_next(z, buf, cap, &p, n);
        if (rc == ZR_OK && *n && p != buf)
            memcpy(buf, p, *n);
        return rc;
    }
#ifdef OHP_HAVE_ISAL
    return isal_data(z, buf, cap, n);
#else
    while (*n == 0 && !z->zs_end) {
        if (z->zs.avail_in == 0) {
            const unsigned char *p;
            size_t k;
            int rc = comp_next(z, z->inbuf, INBUF, &p, &k);
            if (rc != ZR_OK)
                return rc;
            z->zs.next_in = (unsigned char *)(uintptr_t)p;
            z->zs.avail_in = (uInt)k;
        }
        z->zs.next_out = buf;
        z->zs.avail_out = (uInt)cap;
        int zrc = inflate(&z->zs, Z_NO_FLUSH);
        *n = cap - z->zs.avail_out;
        if (zrc == Z_STREAM_END) {
            z->zs_end = true;
        } else if (zrc == Z_BUF_ERROR && z->zs.avail_in == 0 && z->comp_left == 0) {
            return zfail(z, ZR_EPARSE, "damaged archive: the compressed data ends early");
        } else if (zrc == Z_MEM_ERROR) {
            return zfail(z, ZR_ENOMEM, "out of memory");
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            return zfail(z, ZR_EPARSE, "damaged archive: invalid compressed data (zlib error %d)",
                         zrc);
        }
    }
    return ZR_OK;
#endif
}

/* At the entry's end: its size, CRC-32 and data descriptor. */
static int check_end(zipread *z)
{
    const char *what = "damaged archive";
#ifdef OHP_HAVE_ISAL
    uint64_t unused = z->method == 8 ? isal_unused(z) : 0;
#else
    uint64_t unused = z->zs.avail_in;
#endif
    if (z->method == 8 && (unused != 0 || z->comp_left != 0))
        return zfail(z, ZR_EPARSE, "%s: the compressed data end before the entry's compressed size",
                     what);
    if (z->got != z->size)
        return zfail(z, ZR_EPARSE, "%s: the entry inflates to %llu bytes, its size is %llu", what,
                     (unsigned long long)z->got, (unsigned long long)z->size);
    if (z->crc_now != z->crc)
        return zfail(z, ZR_EPARSE,
                     "%s: CRC-32 mismatch (entry data %08lx, central directory %08lx)", what,
                     (unsigned long)z->crc_now, (unsigned long)z->crc);
    if (!z->descriptor)
        return ZR_OK;
    unsigned char d[24];
    uint64_t at = z->data_pos + z->comp_size;
    size_t room = z->cd_off - at < sizeof d ? (size_t)(z->cd_off - at) : sizeof d;
    int rc = read_at(z, at, d, room, "data descriptor");
    if (rc != ZR_OK)
        return rc;
    const unsigned char *p = d;
    size_t avail = room;
    if (avail >= 4 && le(p, 4) == SIG_DESCRIPTOR) {
        p += 4;
        avail -= 4;
    }
    if (avail < 12)
        return zfail(z, ZR_EPARSE, "%s: truncated data descriptor", what);
    uint32_t dcrc = (uint32_t)le(p, 4);
    bool sizes_ok = (avail >= 20 && le(p + 4, 8) == z->comp_size && le(p + 12, 8) == z->size) ||
                    (le(p + 4, 4) == z->comp_size && le(p + 8, 4) == z->size);
    if (dcrc != z->crc)
        return zfail(z, ZR_EPARSE,
                     "%s: CRC-32 mismatch (data descriptor %08lx, central directory %08lx)", what,
                     (unsigned long)dcrc, (unsigned long)z->crc);
    if (!sizes_ok)
        return zfail(z, ZR_EPARSE,
                     "%s: the data descriptor's sizes differ from the central directory's", what);
    return ZR_OK;
}

int zr_read(zipread *z, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (!z->open || z->done || cap == 0)
        return ZR_OK;
    size_t k;
    int rc = entry_data(z, buf, cap, &k);
    if (rc != ZR_OK)
        return rc;
    if (k == 0) {
        if ((rc = check_end(z)) != ZR_OK)
            return rc;
        z->done = true;
        return ZR_OK;
    }
    z->crc_now =
        z->io.crc32 ? z->io.crc32(z->crc_now, buf, k) : (uint32_t)crc32(z->crc_now, buf, (uInt)k);
    z->got += k;
    if (z->got > z->size)
        return zfail(z, ZR_EPARSE,
                     "damaged archive: the entry inflates past its size of %llu bytes",
                     (unsigned long long)z->size);
    *got = k;
    return ZR_OK;
}

void zr_close(zipread *z)
{
    if (z->zs_init)
        inflateEnd(&z->zs);
    z->zs_init = false;
    zr_free(z, z->is);
    z->is = NULL;
    zr_free(z, z->inbuf);
    z->inbuf = NULL;
    zr_free(z, z->comment);
    z->comment = NULL;
    z->comment_len = 0;
    z->open = false;
}
