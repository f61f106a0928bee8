/*
 * isal_determinism FILE: deflate FILE with ISA-L (levels 0 to 3) in the
 * library's block scheme (128 KiB blocks, each primed with the 32 KiB before
 * it, SYNC_FLUSH, the last one ending the stream) and print each level's
 * size and the CRC-32 of its bytes.  Run on machines (or under
 * `qemu-x86_64 -cpu MODEL`) with different instruction sets to see whether
 * ISA-L's output depends on the code path its dispatcher picks.
 *
 * Built only when libisal-dev is present; not part of the library.
 */
#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define BLOCK (128 * 1024)
#define DICT (32 * 1024)

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *p = realloc(buf, cap);
            if (p == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        if (got == 0)
            break;
        *n += got;
    }
    fclose(f);
    return buf;
}

/* One level over the whole input: its size, and the CRC-32 of its bytes into *crc. */
static int deflate_level(const unsigned char *in, size_t n, int level, unsigned char *lbuf,
                         unsigned lsize, unsigned char *out, unsigned long long *size,
                         unsigned long *crc)
{
    *crc = crc32(0, NULL, 0);
    *size = 0;
    for (size_t off = 0; off < n; off += BLOCK) {
        size_t len = n - off < BLOCK ? n - off : BLOCK;
        struct isal_zstream s;
        isal_deflate_init(&s);
        s.level = (uint32_t)level;
        s.level_buf = lbuf;
        s.level_buf_size = lsize;
        if (off > 0 && isal_deflate_set_dict(&s, (unsigned char *)in + off - DICT, DICT) != COMP_OK)
            return -1;
        s.next_in = (unsigned char *)in + off;
        s.avail_in = (uint32_t)len;
        s.flush = SYNC_FLUSH;
        s.end_of_stream = off + len == n;
        s.next_out = out;
        s.avail_out = 2 * BLOCK + 1024;
        if (isal_deflate(&s) != COMP_OK || s.avail_in != 0)
            return -1;
        size_t got = (size_t)(s.next_out - out);
        *crc = crc32(*crc, out, (uInt)got);
        *size += got;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: isal_determinism FILE\n");
        return 2;
    }
    size_t n;
    unsigned char *in = slurp(argv[1], &n);
    unsigned char *out = malloc(2 * BLOCK + 1024);
    if (in == NULL || out == NULL) {
        fprintf(stderr, "isal_determinism: cannot read %s\n", argv[1]);
        return 1;
    }
    static const unsigned sizes[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
                                     ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
    int rc = 0;
    for (int level = 0; level <= 3 && rc == 0; level++) {
        unsigned char *lbuf = malloc(sizes[level]);
        unsigned long long size;
        unsigned long crc;
        rc = lbuf == NULL || deflate_level(in, n, level, lbuf, sizes[level], out, &size, &crc);
        if (rc == 0)
            printf("level %d: %llu bytes, CRC-32 %08lx\n", level, size, crc);
        free(lbuf);
    }
    free(in);
    free(out);
    if (rc)
        fprintf(stderr, "isal_determinism: deflate failed\n");
    return rc ? 1 : 0;
}
