/*
 * Reading ZIP archives back (src/read/zipread.c through the snapshot reader):
 * archives laid out as other writers lay them out, ZIP64 included, must
 * read back exactly; archives whose parts disagree must be refused with a
 * message that names the disagreement; a declared size never sizes memory.
 *
 * The archives are built here field by field, so that each layout and each
 * inconsistency is exactly the one under test.
 */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"

#define ENTRY "ONHAND_0_M1_7_20261101060000.psv"

/* ---- building archives ---- */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(buf *b, uint64_t v, int n)
{
    unsigned char x[8];
    for (int i = 0; i < n; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, (size_t)n);
}

enum {
    Z_DESCRIPTOR = 1,    /* flag bit 3: zero CRC and sizes locally, a data descriptor follows */
    Z64_LOCAL = 2,       /* local sizes 0xFFFFFFFF and a ZIP64 extra field with both sizes */
    Z64_CENTRAL = 4,     /* central sizes and offset 0xFFFFFFFF and a ZIP64 extra field */
    Z64_END = 8,         /* a ZIP64 end record and locator; the 32-bit end record's fields
                            0xFFFF / 0xFFFFFFFF */
    Z_ENCRYPTED = 16,    /* flag bit 0 */
    Z_NO_LOCATOR = 32,   /* with Z64_END: the locator left out */
    Z_CD_NO_EXTRA = 64,  /* with Z64_CENTRAL: the extra field left out */
    Z_OTHER_EXTRA = 128, /* an unrelated extra field before the ZIP64 one (as Info-ZIP writes) */
};

typedef struct zspec {
    const char *name;       /* in the central directory */
    size_t name_len;        /* 0: strlen(name) */
    const char *local_name; /* NULL: the same */
    int method;             /* 0 stored, 8 deflated */
    int flags;              /* Z_* */
    uint64_t declared;      /* 0: the real size; else the central directory's size */
    uint16_t entries;       /* 0: 1 */
} zspec;

static size_t deflate_raw(const unsigned char *in, size_t n, unsigned char **out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 16;
    *out = malloc(cap);
    zs.next_in = (unsigned char *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t got = cap - zs.avail_out;
    deflateEnd(&zs);
    return got;
}

static void put_extra(buf *b, int other, const uint64_t *v, int nv)
{
    if (other) { /* extended timestamp, as Info-ZIP writes first */
        put_le(b, 0x5455, 2);
        put_le(b, 5, 2);
        put_le(b, 3, 1);
        put_le(b, 0x6a000000u, 4);
    }
    if (nv) {
        put_le(b, 1, 2);
        put_le(b, (uint64_t)nv * 8, 2);
        for (int i = 0; i < nv; i++)
            put_le(b, v[i], 8);
    }
}

/* Bytes appended to (g_trailing) or cut off (g_cut) the deflate stream, sizes kept consistent. */
static size_t g_trailing, g_cut;

static unsigned char *build(const zspec *s, const char *content, size_t *out_len)
{
    size_t n = strlen(content);
    uint32_t crc = (uint32_t)crc32(0, (const unsigned char *)content, (uInt)n);
    unsigned char *comp = NULL;
    size_t clen;
    if (s->method == 8) {
        clen = deflate_raw((const unsigned char *)content, n, &comp);
        comp = realloc(comp, clen + g_trailing + 1);
        ck_assert_ptr_nonnull(comp);
        for (size_t i = 0; i < g_trailing; i++)
            comp[clen + i] = (unsigned char)(0xA5 ^ i);
        clen += g_trailing;
        ck_assert_uint_lt(g_cut, clen);
        clen -= g_cut;
    } else {
        comp = malloc(n + 1);
        memcpy(comp, content, n);
        clen = n;
    }
    uint64_t usize = s->declared ? s->declared : n;
    size_t nlen = s->name_len ? s->name_len : strlen(s->name);
    const char *lname = s->local_name ? s->local_name : s->name;
    size_t lnlen = s->local_name ? strlen(s->local_name) : nlen;
    int desc = s->flags & Z_DESCRIPTOR, l64 = s->flags & Z64_LOCAL, c64 = s->flags & Z64_CENTRAL;
    unsigned gp = (desc ? 8u : 0u) | (s->flags & Z_ENCRYPTED ? 1u : 0u);
    buf b = {NULL, 0, 0};

    /* local header */
    buf lx = {NULL, 0, 0};
    uint64_t lv[2] = {desc ? 0 : usize, desc ? 0 : clen};
    put_extra(&lx, s->flags & Z_OTHER_EXTRA, lv, l64 ? 2 : 0);
    put_le(&b, 0x04034b50u, 4);
    put_le(&b, l64 ? 45 : 20, 2);
    put_le(&b, gp, 2);
    put_le(&b, (uint64_t)s->method, 2);
    put_le(&b, 0x3000, 2); /* 06:00 */
    put_le(&b, (46u << 9) | (11u << 5) | 1u, 2);
    put_le(&b, desc ? 0 : crc, 4);
    put_le(&b, l64 ? 0xffffffffu : desc ? 0 : clen, 4);
    put_le(&b, l64 ? 0xffffffffu : desc ? 0 : usize, 4);
    put_le(&b, lnlen, 2);
    put_le(&b, lx.len, 2);
    put(&b, lname, lnlen);
    put(&b, lx.p, lx.len);
    put(&b, comp, clen);
    if (desc) {
        put_le(&b, 0x08074b50u, 4);
        put_le(&b, crc, 4);
        put_le(&b, clen, l64 ? 8 : 4);
        put_le(&b, usize, l64 ? 8 : 4);
    }

    /* central directory */
    uint64_t cd_off = b.len;
    buf cx = {NULL, 0, 0};
    uint64_t cv[3] = {usize, clen, 0};
    put_extra(&cx, s->flags & Z_OTHER_EXTRA, cv, c64 && !(s->flags & Z_CD_NO_EXTRA) ? 3 : 0);
    put_le(&b, 0x02014b50u, 4);
    put_le(&b, 0x031e, 2);
    put_le(&b, c64 ? 45 : 20, 2);
    put_le(&b, gp, 2);
    put_le(&b, (uint64_t)s->method, 2);
    put_le(&b, 0x3000, 2);
    put_le(&b, (46u << 9) | (11u << 5) | 1u, 2);
    put_le(&b, crc, 4);
    put_le(&b, c64 ? 0xffffffffu : clen, 4);
    put_le(&b, c64 ? 0xffffffffu : usize, 4);
    put_le(&b, nlen, 2);
    put_le(&b, cx.len, 2);
    put_le(&b, 0, 2); /* comment */
    put_le(&b, 0, 2); /* disk */
    put_le(&b, 0, 2);
    put_le(&b, 0, 4);
    put_le(&b, c64 ? 0xffffffffu : 0, 4);
    put(&b, s->name, nlen);
    put(&b, cx.p, cx.len);
    uint64_t cd_size = b.len - cd_off;
    uint16_t entries = s->entries ? s->entries : 1;

    /* end records */
    int e64 = s->flags & Z64_END;
    if (e64) {
        uint64_t at = b.len;
        put_le(&b, 0x06064b50u, 4);
        put_le(&b, 44, 8);
        put_le(&b, 45, 2);
        put_le(&b, 45, 2);
        put_le(&b, 0, 4);
        put_le(&b, 0, 4);
        put_le(&b, entries, 8);
        put_le(&b, entries, 8);
        put_le(&b, cd_size, 8);
        put_le(&b, cd_off, 8);
        if (!(s->flags & Z_NO_LOCATOR)) {
            put_le(&b, 0x07064b50u, 4);
            put_le(&b, 0, 4);
            put_le(&b, at, 8);
            put_le(&b, 1, 4);
        }
    }
    put_le(&b, 0x06054b50u, 4);
    put_le(&b, 0, 2);
    put_le(&b, 0, 2);
    put_le(&b, e64 ? 0xffff : entries, 2);
    put_le(&b, e64 ? 0xffff : entries, 2);
    put_le(&b, e64 ? 0xffffffffu : cd_size, 4);
    put_le(&b, e64 ? 0xffffffffu : cd_off, 4);
    put_le(&b, 0, 2);
    free(comp);
    free(lx.p);
    free(cx.p);
    *out_len = b.len;
    return b.p;
}

/* ---- reading back ---- */

#define LINE(item, qty)                                                                            \
    "0|7|FULL|2026/11/01 06:00:00|204|M1|1|" item "||FGI|||||N||" qty                              \
    "|Ea|||N||||Active|2026/11/20 14:03:11\n"

static const char *const CONTENT = TU_HEADER_V1 LINE("A-1", "10") LINE("B-2", "2.5")
    LINE("C-3", "-4") LINE("D-4", "0") LINE("E-5", "1000000");
/* The same lines out of key order: the reconciler then hashes its keys. */
static const char *const SCRAMBLED = TU_HEADER_V1 LINE("E-5", "1000000") LINE("B-2", "2.5")
    LINE("D-4", "0") LINE("A-1", "10") LINE("C-3", "-4");
static const char *const ITEMS[] = {"A-1", "B-2", "C-3", "D-4", "E-5"};
static const char *const QTYS[] = {"10", "2.5", "-4", "0", "1000000"};

typedef struct file_in {
    const unsigned char *p;
    size_t len, pos, chunk;
} file_in;

static int f_read(void *ud, void *b, size_t cap, size_t *got)
{
    file_in *f = ud;
    size_t n = f->len - f->pos;
    if (n > cap)
        n = cap;
    if (n > f->chunk)
        n = f->chunk;
    memcpy(b, f->p + f->pos, n);
    f->pos += n;
    *got = n;
    return 0;
}

static int f_seek(void *ud, uint64_t off)
{
    file_in *f = ud;
    if (off > f->len)
        return -1;
    f->pos = (size_t)off;
    return 0;
}

/*
 * Read the archive through memory and through callbacks; both must end the
 * same way.  Returns the result (0 read to the end); msg gets the message,
 * *lines the records, and each record is compared with CONTENT's.
 */
static int read_back(const unsigned char *zip, size_t len, char *msg, size_t msize, int *lines)
{
    int rc[2] = {0, 0}, count[2] = {0, 0};
    for (int way = 0; way < 2; way++) {
        ohp_snapshot_reader *r;
        file_in f = {zip, len, 0, 7};
        if (way == 0)
            ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
        else
            ck_assert_int_eq(ohp_snapshot_reader_open_zip(&r, f_read, f_seek, &f, len, NULL),
                             OHP_OK);
        const ohp_snapshot_record *rec;
        int got;
        while ((got = ohp_snapshot_reader_next(r, &rec)) == 1) {
            ck_assert_int_lt(count[way], 5);
            ck_assert_str_eq(rec->item_number, ITEMS[count[way]]);
            ck_assert_str_eq(rec->primary_quantity, QTYS[count[way]]);
            count[way]++;
        }
        rc[way] = got;
        if (way == 0)
            snprintf(msg, msize, "%s", ohp_snapshot_reader_errmsg(r));
        else
            ck_assert_str_eq(ohp_snapshot_reader_errmsg(r), msg);
        ohp_snapshot_reader_free(r);
    }
    ck_assert_int_eq(rc[0], rc[1]);
    if (lines)
        *lines = count[0];
    return rc[0];
}

/* ---- layouts other writers use: all read back ---- */

static const struct {
    const char *what;
    int method, flags;
} layouts[] = {
    {"plain, stored", 0, 0},
    {"plain, deflated", 8, 0},
    /* Python's zipfile with force_zip64=True: ZIP64 sizes in the local header only */
    {"ZIP64 local header", 8, Z64_LOCAL},
    /* Info-ZIP zip -fz: ZIP64 local header and central directory, after a timestamp field */
    {"ZIP64 local and central (Info-ZIP)", 8, Z64_LOCAL | Z64_CENTRAL | Z_OTHER_EXTRA},
    {"ZIP64 local and central, stored", 0, Z64_LOCAL | Z64_CENTRAL},
    /* streamed: data descriptor, with ZIP64 sizes (libonhandpub, bsdtar) or 32-bit ones */
    {"data descriptor", 8, Z_DESCRIPTOR},
    {"ZIP64 data descriptor", 8, Z_DESCRIPTOR | Z64_LOCAL},
    {"ZIP64 everything", 8, Z_DESCRIPTOR | Z64_LOCAL | Z64_CENTRAL | Z64_END},
    {"ZIP64 end record only", 0, Z64_END},
};

START_TEST(t_layouts)
{
    zspec s = {ENTRY, 0, NULL, layouts[_i].method, layouts[_i].flags, 0, 0};
    size_t len;
    unsigned char *zip = build(&s, CONTENT, &len);
    char msg[512];
    int lines = -1;
    int rc = read_back(zip, len, msg, sizeof msg, &lines);
    ck_assert_msg(rc == 0, "%s: %d %s", layouts[_i].what, rc, msg);
    ck_assert_int_eq(lines, 5);
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    ohp_snapshot_info info;
    memset(&info, 0, sizeof info);
    info.version = OHP_SNAPSHOT_INFO_VERSION;
    ck_assert_int_eq(ohp_snapshot_reader_info(r, &info), OHP_OK);
    ck_assert_str_eq(info.entry_name, ENTRY);
    ck_assert_uint_eq(info.publish_run_id, 7);
    ohp_snapshot_reader_free(r);
    free(zip);
}
END_TEST

/* ---- archives whose parts disagree: refused, the disagreement named ---- */

static void expect_refused(const unsigned char *zip, size_t len, const char *want)
{
    char msg[512];
    int rc = read_back(zip, len, msg, sizeof msg, NULL);
    ck_assert_msg(rc == OHP_EPARSE, "rc %d (%s), expected a refusal naming '%s'", rc, msg, want);
    ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg, want);
}

START_TEST(t_local_name_differs)
{
    for (int flags = 0; flags < 2; flags++) {
        zspec s = {ENTRY, 0, "ONHAND_0_M1_7_20261101060000.txt", 8, flags ? Z_DESCRIPTOR : 0, 0, 0};
        size_t len;
        unsigned char *zip = build(&s, CONTENT, &len);
        expect_refused(zip, len,
                       "the local header names the entry 'ONHAND_0_M1_7_20261101060000.txt', the "
                       "central directory '" ENTRY "'");
        free(zip);
        /* a name of another length, and one that differs in its last byte */
        s.local_name = "x.psv";
        zip = build(&s, CONTENT, &len);
        expect_refused(zip, len, "the local header names the entry 'x.psv'");
        free(zip);
        s.local_name = "ONHAND_0_M1_7_20261101060000.psw";
        zip = build(&s, CONTENT, &len);
        expect_refused(zip, len, "the local header names the entry");
        free(zip);
    }
}
END_TEST

START_TEST(t_end_record_whole)
{
    zspec s = {ENTRY, 0, NULL, 8, 0, 0, 0};
    size_t len;
    unsigned char *zip = build(&s, CONTENT, &len);
    char msg[512];
    ck_assert_int_eq(read_back(zip, len, msg, sizeof msg, NULL), 0);
    /* the last byte (of the comment length) missing */
    expect_refused(zip, len - 1,
                   "end of central directory record is cut short (21 of its 22 bytes)");
    expect_refused(zip, len - 5, "cut short (17 of its 22 bytes)");
    /* a comment length that promises more than the archive holds */
    zip[len - 2] = 3;
    expect_refused(zip, len, "cut short (its comment of 3 bytes has 0)");
    zip[len - 2] = 0;
    /* bytes after the end record: zero padding is allowed, anything else is not */
    unsigned char *more = calloc(1, len + 512);
    memcpy(more, zip, len);
    ck_assert_int_eq(read_back(more, len + 512, msg, sizeof msg, NULL), 0);
    more[len + 100] = 'x';
    expect_refused(more, len + 512,
                   "512 bytes that are not padding follow the end of central "
                   "directory record");
    free(more);
    free(zip);
}
END_TEST

START_TEST(t_nul_in_name)
{
    static const char name[] = "ONHAND\0evil.psv";
    zspec s = {name, sizeof name - 1, NULL, 8, 0, 0, 0};
    s.local_name = NULL;
    size_t len;
    unsigned char *zip = build(&s, CONTENT, &len);
    expect_refused(zip, len, "the entry's name 'ONHAND?evil.psv' holds a NUL byte");
    free(zip);
}
END_TEST

START_TEST(t_inconsistent_structure)
{
    size_t len;
    unsigned char *zip;
    /* ZIP64 placeholders in the end record without a locator */
    zspec s = {ENTRY, 0, NULL, 8, Z64_END | Z_NO_LOCATOR, 0, 0};
    zip = build(&s, CONTENT, &len);
    expect_refused(zip, len, "no ZIP64 locator");
    free(zip);
    /* ZIP64 placeholders in the central directory without the extra field */
    s.flags = Z64_CENTRAL | Z_CD_NO_EXTRA;
    zip = build(&s, CONTENT, &len);
    expect_refused(zip, len, "ZIP64 extra field it does not have");
    free(zip);
    /* two entries announced */
    s.flags = 0;
    s.entries = 2;
    zip = build(&s, CONTENT, &len);
    expect_refused(zip, len, "the archive holds 2 entries");
    free(zip);
    s.entries = 0;
    /* encrypted */
    s.flags = Z_ENCRYPTED;
    zip = build(&s, CONTENT, &len);
    expect_refused(zip, len, "encrypted");
    free(zip);
    /* local sizes that differ from the central directory's */
    s.flags = 0;
    zip = build(&s, CONTENT, &len);
    zip[22] ^= 1; /* the local uncompressed size */
    expect_refused(zip, len, "the local header's sizes");
    zip[22] ^= 1;
    zip[8] = 0; /* the local method: stored */
    expect_refused(zip, len, "the local header's compression method (0) differs");
    free(zip);
    /* the central directory's offset one byte off */
    zip = build(&s, CONTENT, &len);
    zip[len - 6] ^= 1;
    expect_refused(zip, len, "does not end where the end record begins");
    free(zip);
    /* every byte cut off the end, one at a time: never accepted */
    zip = build(&s, CONTENT, &len);
    for (size_t cut = 1; cut < len; cut++) {
        char msg[512];
        int rc = read_back(zip, len - cut, msg, sizeof msg, NULL);
        ck_assert_msg(rc == OHP_EPARSE, "cut %zu: rc %d", cut, rc);
    }
    free(zip);
}
END_TEST

START_TEST(t_deflate_stream_bounds)
{
    /* Bytes after the end of the deflate stream but inside the compressed size, and a
       stream cut short: refused whichever inflate the library uses. */
    zspec s = {ENTRY, 0, NULL, 8, 0, 0, 0};
    size_t len;
    for (g_trailing = 1; g_trailing <= 17; g_trailing++) {
        unsigned char *zip = build(&s, CONTENT, &len);
        expect_refused(zip, len, "before the entry's compressed size");
        free(zip);
    }
    g_trailing = 0;
    for (g_cut = 1; g_cut <= 8; g_cut++) {
        unsigned char *zip = build(&s, CONTENT, &len);
        char msg[512];
        int rc = read_back(zip, len, msg, sizeof msg, NULL);
        ck_assert_msg(rc == OHP_EPARSE, "cut %zu: rc %d", g_cut, rc);
        ck_assert_msg(strstr(msg, "ends early") || strstr(msg, "invalid compressed data") ||
                          strstr(msg, "CRC-32") || strstr(msg, "inflates to"),
                      "cut %zu: %s", g_cut, msg);
        free(zip);
    }
    g_cut = 0;
}
END_TEST

/* ---- a declared size sizes nothing ---- */

static const uint64_t declared_sizes[] = {4000000000u, 0xfffffffeu, (uint64_t)1 << 40};

START_TEST(t_declared_size_is_no_allocation)
{
    uint64_t declared = declared_sizes[_i];
    zspec s = {ENTRY,    0, NULL, 8, declared > 0xfffffffeu ? Z64_LOCAL | Z64_CENTRAL : 0,
               declared, 0};
    size_t len;
    unsigned char *zip = build(&s, SCRAMBLED, &len);
    ck_assert_uint_lt(len, 1024);
    /* the reconciler with that archive as its external side: peak heap stays small */
    for (int side = 0; side < 2; side++) {
        tu_alloc a;
        tu_alloc_init(&a);
        ohp_reconcile *rc;
        ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, &a.pub), OHP_OK);
        ohp_snapshot_reader *erp, *ext;
        static const char *const small = TU_HEADER_V1 LINE("B-2", "10") LINE("A-1", "10");
        ck_assert_int_eq(ohp_snapshot_reader_open_memory(&erp, zip, len, &a.pub), OHP_OK);
        ck_assert_int_eq(ohp_snapshot_reader_open_memory(&ext, zip, len, &a.pub), OHP_OK);
        int r;
        if (side == 0) {
            /* a valid ERP side out of key order, then the archive as the external side */
            unsigned char *ok_zip;
            size_t ok_len;
            zspec ok = {ENTRY, 0, NULL, 8, 0, 0, 0};
            ok_zip = build(&ok, small, &ok_len);
            ohp_snapshot_reader *good;
            ck_assert_int_eq(ohp_snapshot_reader_open_memory(&good, ok_zip, ok_len, &a.pub),
                             OHP_OK);
            ck_assert_int_eq(ohp_reconcile_load_erp(rc, &good, 1), OHP_OK);
            r = ohp_reconcile_load_external(rc, &ext, 1);
            ohp_snapshot_reader_free(good);
            free(ok_zip);
        } else {
            r = ohp_reconcile_load_erp(rc, &erp, 1);
        }
        ck_assert_int_eq(r, OHP_EPARSE);
        ck_assert_msg(strstr(ohp_reconcile_errmsg(rc), "inflates to") != NULL, "%s",
                      ohp_reconcile_errmsg(rc));
        ohp_snapshot_reader_free(erp);
        ohp_snapshot_reader_free(ext);
        ohp_reconcile_free(rc);
        printf("archive of %zu bytes declaring %llu bytes, %s side: peak heap %zu bytes\n", len,
               (unsigned long long)declared, side ? "ERP" : "external", a.peak);
        ck_assert_msg(a.peak < 4u << 20, "peak heap %zu bytes for a %zu-byte archive", a.peak, len);
        ck_assert_uint_eq(a.live, 0);
    }
    free(zip);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("zipread");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, t_layouts, 0, (int)(sizeof layouts / sizeof layouts[0]));
    tcase_add_test(tc, t_local_name_differs);
    tcase_add_test(tc, t_end_record_whole);
    tcase_add_test(tc, t_nul_in_name);
    tcase_add_test(tc, t_inconsistent_structure);
    tcase_add_test(tc, t_deflate_stream_bounds);
    tcase_add_loop_test(tc, t_declared_size_is_no_allocation, 0,
                        (int)(sizeof declared_sizes / sizeof declared_sizes[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
