/*
 * Fuzz target: the quantity canonicalizer.  An accepted quantity is
 * canonical (no leading zeros, no trailing fractional zeros, no "-0"),
 * no longer than its input, and canonicalizes to itself.  Too small an
 * output buffer is refused, never overrun.
 */
#include "fuzz.h"

#include <onhandpub.h>

static void check_canonical(const char *q)
{
    const char *p = q;
    if (*p == '-')
        p++;
    FUZZ_CHECK(*p >= '0' && *p <= '9');
    FUZZ_CHECK(!(p[0] == '0' && p[1] >= '0' && p[1] <= '9'));
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        FUZZ_CHECK(*p >= '0' && *p <= '9');
        while (*p >= '0' && *p <= '9')
            p++;
        FUZZ_CHECK(p[-1] != '0');
    }
    FUZZ_CHECK(*p == '\0');
    FUZZ_CHECK(strcmp(q, "-0") != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    size_t len = strlen(text);
    char *out = malloc(len + 1);
    if (out == NULL)
        abort();
    int rc = ohp_quantity_canonical(text, out, len + 1);
    FUZZ_CHECK(rc == OHP_OK || rc == OHP_EPARSE || rc == OHP_ELIMIT);
    if (rc == OHP_OK) {
        size_t ol = strlen(out);
        FUZZ_CHECK(ol <= len);
        check_canonical(out);
        char *again = malloc(ol + 1);
        if (again == NULL)
            abort();
        FUZZ_CHECK(ohp_quantity_canonical(out, again, ol + 1) == OHP_OK);
        FUZZ_CHECK(strcmp(out, again) == 0);
        free(again);
        /* One byte too few is refused, not overrun (exact-size buffers only). */
        if (ol > 0) {
            char *small = malloc(ol);
            if (small == NULL)
                abort();
            FUZZ_CHECK(ohp_quantity_canonical(text, small, ol) == OHP_EINVAL);
            free(small);
        }
    }
    free(out);
    free(text);
    return 0;
}
