/*
 * Reading a ZIP archive of exactly one entry, checked: the end records
 * (ZIP64 included), the central directory, the local header against the
 * central directory, and the entry's data against its sizes, CRC-32 and
 * data descriptor.  Stored and deflated entries.
 *
 * Self-contained (zlib only, no other part of the library): the snapshot
 * reader reads archives with it, and the connector's `fetch` checks
 * downloaded archives with the same code.
 */
#ifndef OHP_ZIPREAD_H
#define OHP_ZIPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum { ZR_OK = 0, ZR_EIO = -1, ZR_EPARSE = -2, ZR_ENOMEM = -3 };

#define ZR_NAME_MAX 1024 /* entry names are shorter */
#define ZR_ERRMSG_SIZE 400

typedef struct zr_io {
    /* Read up to cap bytes at the current position (*got 0 at the end); 0 or -1 (I/O error). */
    int (*read)(void *ud, void *buf, size_t cap, size_t *got);
    /* Move to offset off from the start; 0 or -1. */
    int (*seek)(void *ud, uint64_t off);
    void *ud;
    uint64_t size; /* of the archive */
    /* The whole archive in memory (read and seek are then unused), or NULL. */
    const unsigned char *mem;
    /* The zlib state's, the input buffer's and passing buffers' memory; NULL: malloc/free. */
    void *(*alloc)(void *opaque, size_t n);
    void (*free)(void *opaque, void *ptr);
    void *opaque;
    /* CRC-32 of the data, zlib's crc32 convention; NULL: zlib's. */
    uint32_t (*crc32)(uint32_t crc, const void *buf, size_t len);
} zr_io;

typedef struct zipread {
    zr_io io;
    /* the entry, from the central directory (valid after zr_open succeeded) */
    char name[ZR_NAME_MAX]; /* NUL-terminated; never holds a NUL itself */
    size_t name_len;
    unsigned method;    /* 0 stored, 8 deflated */
    uint64_t size;      /* uncompressed size */
    uint64_t comp_size; /* compressed size */
    uint32_t crc;       /* CRC-32 of the uncompressed data */
    char *comment;      /* the archive comment (comment_len bytes, NUL after them), or NULL */
    size_t comment_len;
    char err[ZR_ERRMSG_SIZE];
    /* private */
    uint64_t pos, data_pos, cd_off, comp_left, got;
    uint32_t crc_now;
    bool io_failed, open, descriptor, zs_init, zs_end, done;
    z_stream zs;
    unsigned char *inbuf;
    /* Built with ISA-L (OHP_HAVE_ISAL): its inflate, in place of zlib's. */
    struct inflate_state *is;
} zipread;

/* Prepare z to read the archive io describes (nothing is read yet). */
void zr_init(zipread *z, const zr_io *io);
/*
 * Read the end records, the central directory and the local header, check
 * them and position at the entry's data.  ZR_OK, or ZR_EPARSE (z->err says
 * what is wrong), ZR_EIO (a read or seek failed) or ZR_ENOMEM.
 */
int zr_open(zipread *z);
/*
 * The entry's next bytes, at most cap of them: *got 0 at its end, once its
 * size, CRC-32 and data descriptor are checked.  ZR_OK or an error as above.
 */
int zr_read(zipread *z, void *buf, size_t cap, size_t *got);
/* Release what zr_open allocated (z can be opened again after zr_init). */
void zr_close(zipread *z);

#endif
