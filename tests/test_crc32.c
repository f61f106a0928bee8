/*
 * The library's CRC-32 (src/crc32.c, compiled into this test) against
 * zlib's crc32() for every length from 0 to 3000 at every alignment within
 * 16 bytes, with random starting values, and over buffers of megabytes in
 * uneven pieces.
 */
#include "ohp_internal.h"

#include <check.h>
#include <stdlib.h>
#include <zlib.h>

static unsigned char *random_bytes(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

START_TEST(t_lengths_and_alignments)
{
    unsigned char *b = random_bytes(3000 + 16, 1);
    uint32_t init = 0;
    for (size_t len = 0; len <= 3000; len++) {
        for (size_t off = 0; off < 16; off++) {
            init = init * 1103515245u + 12345u;
            uint32_t want = (uint32_t)crc32(init, b + off, (uInt)len);
            ck_assert_msg(ohp_crc32(init, b + off, len) == want, "length %zu, offset %zu", len,
                          off);
        }
    }
    free(b);
}
END_TEST

START_TEST(t_pieces)
{
    size_t n = (size_t)8 << 20;
    unsigned char *b = random_bytes(n, 2);
    uint32_t want = (uint32_t)crc32(0, b, (uInt)n);
    ck_assert_uint_eq(ohp_crc32(0, b, n), want);
    uint32_t c = 0;
    size_t pos = 0, step = 1;
    while (pos < n) {
        size_t k = step < n - pos ? step : n - pos;
        c = ohp_crc32(c, b + pos, k);
        pos += k;
        step = step * 3 + 7; /* 1, 10, 37, ... uneven pieces */
        if (step > ((size_t)1 << 20))
            step = 5;
    }
    ck_assert_uint_eq(c, want);
    /* all zeros and all ones, where folding mistakes tend to cancel out */
    memset(b, 0, n);
    ck_assert_uint_eq(ohp_crc32(0, b, n), (uint32_t)crc32(0, b, (uInt)n));
    memset(b, 0xff, n);
    ck_assert_uint_eq(ohp_crc32(0x12345678u, b, n), (uint32_t)crc32(0x12345678u, b, (uInt)n));
    ck_assert_uint_eq(ohp_crc32(7, NULL, 0), 7);
    free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crc32");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_lengths_and_alignments);
    tcase_add_test(tc, t_pieces);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
