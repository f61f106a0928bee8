/*
 * The ZIP writer: minizip over an append-only output.
 *
 * minizip writes the local header with a zero CRC and patches it (and the
 * sizes) by seeking back once the entry is complete.  The I/O layer below
 * never lets such a seek reach the output: it keeps a virtual position,
 * swallows the patch writes, and instead emits a ZIP64 data descriptor
 * (general purpose bit 3 is set on the entry) when minizip seeks forward
 * again.  Because the descriptor is emitted through the same layer, every
 * offset minizip records afterwards (central directory, ZIP64 end records)
 * already accounts for it.  The entry is always opened in ZIP64 mode, so an
 * entry of 4 GiB or more gets ZIP64 sizes in the central directory.
 * Every output error is latched: minizip ignores some of its write errors,
 * this layer does not.
 */
#include "publish.h"

#include <limits.h>
#include <string.h>

#include <minizip/zip.h>
#include <zlib.h>

#define OUT_CAP 65536
#define ZCHUNK 65536
#define DESC_LEN 24

struct ohp_zipwriter {
    ohp_alloc alloc;
    ohp_zw_output_fn output;
    void *ctx;
    char *errmsg;
    zipFile zf;
    ohp_deflater *df;
    int level;
    uint32_t crc;
    uint64_t usize, csize;
    /* append-only I/O layer */
    uint64_t pos, end;
    bool patching;
    bool desc_pending;
    unsigned char desc[DESC_LEN];
    unsigned char *obuf;
    size_t olen;
    uint64_t total;
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
    if (zw->err)
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

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

static int emit_descriptor(ohp_zipwriter *zw)
{
    zw->desc_pending = false;
    if (emit(zw, zw->desc, DESC_LEN))
        return zw->err;
    zw->end += DESC_LEN;
    zw->pos = zw->end;
    return OHP_OK;
}

static voidpf ZCALLBACK io_open(voidpf opaque, const void *filename, int mode)
{
    (void)filename;
    (void)mode;
    return opaque;
}

static uLong ZCALLBACK io_read(voidpf opaque, voidpf stream, void *buf, uLong size)
{
    (void)opaque;
    (void)stream;
    (void)buf;
    (void)size;
    return 0; /* never read: the archive is write-only */
}

static uLong ZCALLBACK io_write(voidpf opaque, voidpf stream, const void *buf, uLong size)
{
    (void)stream;
    ohp_zipwriter *zw = opaque;
    if (zw->err)
        return 0;
    if (zw->patching) {
        /* A header patch: the local header keeps its streaming values. */
        if (zw->pos + size > zw->end) {
            zw->err = OHP_EZIP;
            return 0;
        }
        zw->pos += size;
        return size;
    }
    if (emit(zw, buf, size))
        return 0;
    zw->pos += size;
    zw->end = zw->pos;
    return size;
}

static ZPOS64_T ZCALLBACK io_tell(voidpf opaque, voidpf stream)
{
    (void)stream;
    return ((ohp_zipwriter *)opaque)->pos;
}

static long ZCALLBACK io_seek(voidpf opaque, voidpf stream, ZPOS64_T offset, int origin)
{
    (void)stream;
    ohp_zipwriter *zw = opaque;
    uint64_t target;
    switch (origin) {
    case ZLIB_FILEFUNC_SEEK_SET:
        target = offset;
        break;
    case ZLIB_FILEFUNC_SEEK_CUR:
        target = zw->pos + offset;
        break;
    case ZLIB_FILEFUNC_SEEK_END:
        target = zw->end + offset;
        break;
    default:
        zw->err = OHP_EZIP;
        return -1;
    }
    if (zw->err)
        return -1;
    if (target > zw->end) {
        zw->err = OHP_EZIP;
        return -1;
    }
    if (target < zw->end) {
        zw->patching = true;
        zw->pos = target;
        return 0;
    }
    zw->patching = false;
    zw->pos = zw->end;
    if (zw->desc_pending && emit_descriptor(zw))
        return -1;
    return 0;
}

static int ZCALLBACK io_close(voidpf opaque, voidpf stream)
{
    (void)stream;
    ohp_zipwriter *zw = opaque;
    return emit_flush(zw) ? -1 : 0;
}

static int ZCALLBACK io_error(voidpf opaque, voidpf stream)
{
    (void)stream;
    return ((ohp_zipwriter *)opaque)->err ? -1 : 0;
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

static int pass_compressed(ohp_zipwriter *zw, const unsigned char *buf, size_t len);

static int deflater_output(void *ctx, const void *buf, size_t len)
{
    return pass_compressed(ctx, buf, len);
}

/* mtime as the entry's DOS date and time, clamped to the years DOS dates hold (1980 to 2107). */
static void dos_time(int64_t mtime, tm_zip *tz)
{
    int y, mo, d, h, mi, s;
    ohp_civil_from_time(mtime, &y, &mo, &d, &h, &mi, &s);
    if (y < 1980) { /* DOS dates start in 1980 */
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
    tz->tm_year = (uInt)y;
    tz->tm_mon = (uInt)(mo - 1);
    tz->tm_mday = (uInt)d;
    tz->tm_hour = (uInt)h;
    tz->tm_min = (uInt)mi;
    tz->tm_sec = (uInt)s;
}

int ohp_zipwriter_new(ohp_zipwriter **out, const ohp_alloc *a, ohp_zw_output_fn output, void *ctx,
                      const char *entry_name, int64_t mtime, int engine, int level,
                      unsigned threads, char *errmsg)
{
    *out = NULL;
    ohp_zipwriter *zw = ohp_calloc(a, 1, sizeof *zw);
    if (zw == NULL)
        return OHP_ENOMEM;
    zw->alloc = *a;
    zw->output = output;
    zw->ctx = ctx;
    zw->errmsg = errmsg;
    zw->level = level;
    zw->obuf = ohp_malloc(a, OUT_CAP);
    if (zw->obuf == NULL) {
        ohp_zipwriter_free(zw);
        return OHP_ENOMEM;
    }
    if (level > 0) {
        int rc = ohp_deflater_new(&zw->df, a, engine, level, threads, deflater_output, zw);
        if (rc) {
            ohp_zipwriter_free(zw);
            return rc;
        }
    }

    zlib_filefunc64_def io;
    memset(&io, 0, sizeof io);
    io.zopen64_file = io_open;
    io.zread_file = io_read;
    io.zwrite_file = io_write;
    io.ztell64_file = io_tell;
    io.zseek64_file = io_seek;
    io.zclose_file = io_close;
    io.zerror_file = io_error;
    io.opaque = zw;
    zw->zf = zipOpen2_64(entry_name, APPEND_STATUS_CREATE, NULL, &io);
    if (zw->zf == NULL) {
        ohp_zipwriter_free(zw);
        return OHP_ENOMEM;
    }

    zip_fileinfo fi;
    memset(&fi, 0, sizeof fi);
    dos_time(mtime, &fi.tmz_date);
    fi.external_fa = (uLong)0100644 << 16; /* regular file, rw-r--r-- */

    const uLong made_by = (3u << 8) | 45u; /* UNIX, ZIP 4.5 (ZIP64) */
    const uLong flag_data_descriptor = 1u << 3;
    int zrc = zipOpenNewFileInZip4_64(zw->zf, entry_name, &fi, NULL, 0, NULL, 0, NULL,
                                      level > 0 ? Z_DEFLATED : 0, level, 1 /* raw */, -MAX_WBITS, 8,
                                      Z_DEFAULT_STRATEGY, NULL, 0, made_by, flag_data_descriptor,
                                      1 /* zip64 */);
    if (zrc != ZIP_OK || zw->err) {
        int code = zw->output_failed ? OHP_ESINK : OHP_EZIP;
        fail(zw, code, "cannot open the entry");
        ohp_zipwriter_free(zw);
        return code;
    }
    *out = zw;
    return OHP_OK;
}

static int pass_compressed(ohp_zipwriter *zw, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        unsigned n = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        if (zipWriteInFileInZip(zw->zf, buf, n) != ZIP_OK || zw->err)
            return fail(zw, OHP_EZIP, "write failed");
        zw->csize += n;
        buf += n;
        len -= n;
    }
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
    const unsigned char *p = buf;
    while (len > 0) {
        unsigned n = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        zw->crc = ohp_crc32(zw->crc, p, n);
        zw->usize += n;
        if (pass_compressed(zw, p, n))
            return zw->err;
        p += n;
        len -= n;
    }
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
    /* The data descriptor, emitted when minizip returns from its header patch. */
    put_le(zw->desc, 0x08074b50u, 4);
    put_le(zw->desc + 4, zw->crc, 4);
    put_le(zw->desc + 8, zw->csize, 8);
    put_le(zw->desc + 16, zw->usize, 8);
    zw->desc_pending = true;
    int zrc = zipCloseFileInZipRaw64(zw->zf, zw->usize, zw->crc);
    if (zrc != ZIP_OK || zw->err)
        return fail(zw, OHP_EZIP, "cannot close the entry");
    if (zw->desc_pending && emit_descriptor(zw))
        return fail(zw, OHP_ESINK, "");
    return OHP_OK;
}

int ohp_zipwriter_close(ohp_zipwriter *zw, const char *comment)
{
    if (zw->err)
        return zw->err;
    zipFile zf = zw->zf;
    zw->zf = NULL;
    int zrc = zipClose(zf, comment);
    if (zrc != ZIP_OK || zw->err)
        return fail(zw, OHP_EZIP, "cannot write the central directory");
    return OHP_OK;
}

void ohp_zipwriter_free(ohp_zipwriter *zw)
{
    if (zw == NULL)
        return;
    if (zw->zf) {
        /* Abandon the archive: nothing more may reach the output. */
        zw->err = zw->err ? zw->err : OHP_EZIP;
        zipCloseFileInZipRaw64(zw->zf, 0, 0);
        zipClose(zw->zf, NULL);
        zw->zf = NULL;
    }
    ohp_deflater_free(zw->df);
    ohp_alloc a = zw->alloc;
    ohp_free(&a, zw->obuf);
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
