/*
 * Fuzz target: the streaming PSV reader.
 *
 * Input: one byte choosing the read chunk size and the line limit, then
 * the PSV text.  Every row read through the callback reader, quoted again
 * the way layout v1 quotes, must read back identically from a memory
 * reader; the callback and memory readers must agree on the input itself
 * when the limit is the default one.
 */
#include "fuzz.h"

#include <onhandpub.h>

typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->data, cap);
        if (p == NULL)
            abort();
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static void put_field(outbuf *o, const char *s)
{
    size_t n = strlen(s);
    if (strpbrk(s, "|\"\r\n") == NULL) {
        put(o, s, n);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        put(o, &s[i], 1);
        if (s[i] == '"')
            put(o, "\"", 1);
    }
    put(o, "\"", 1);
}

static const size_t chunks[] = {1, 2, 3, 7, 64, 4096, 65536, (size_t)-1};
static const size_t limits[] = {0, 1, 8, 64, 256, 4096, 0, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    chunked c = {data + 1, size - 1, chunks[data[0] & 7]};
    size_t max_line = limits[(data[0] >> 3) & 7];
    ohp_psv_reader *r = NULL;
    FUZZ_CHECK(ohp_psv_reader_new(&r, chunk_read, &c, max_line, NULL) == OHP_OK);
    /* The same input from memory (default limit), row by row. */
    ohp_psv_reader *m = NULL;
    FUZZ_CHECK(ohp_psv_reader_new_memory(&m, data + 1, size - 1, NULL) == OHP_OK);

    outbuf o = {NULL, 0, 0};
    size_t rows = 0;
    const char *const *f;
    size_t n;
    int got;
    while ((got = ohp_psv_reader_next(r, &f, &n)) == 1) {
        FUZZ_CHECK(n >= 1);
        FUZZ_CHECK(ohp_psv_reader_line(r) >= 1);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(f[i] != NULL);
            if (i)
                put(&o, "|", 1);
            put_field(&o, f[i]);
        }
        put(&o, "\n", 1);
        if (max_line == 0) {
            const char *const *g;
            size_t k;
            FUZZ_CHECK(ohp_psv_reader_next(m, &g, &k) == 1);
            FUZZ_CHECK(k == n);
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(strcmp(f[i], g[i]) == 0);
        }
        rows++;
    }
    FUZZ_CHECK(got == 0 || got == OHP_EPARSE || got == OHP_ELIMIT);
    if (got != 0)
        FUZZ_CHECK(ohp_psv_reader_errmsg(r)[0] != '\0');
    if (max_line == 0 && got == 0) {
        const char *const *g;
        size_t k;
        FUZZ_CHECK(ohp_psv_reader_next(m, &g, &k) == 0);
    }
    ohp_psv_reader_free(r);
    ohp_psv_reader_free(m);

    /*
     * Read the re-quoted rows back.  Fields hold no NUL (the reader stops a
     * field there), so the text is exactly what was read.
     */
    if (rows > 0) {
        FUZZ_CHECK(ohp_psv_reader_new_memory(&m, o.data, o.len, NULL) == OHP_OK);
        FUZZ_CHECK(ohp_psv_reader_new(&r, chunk_read, &c, max_line, NULL) == OHP_OK);
        c.p = data + 1;
        c.left = size - 1;
        size_t again = 0;
        for (;;) {
            const char *const *g;
            size_t k;
            int a = ohp_psv_reader_next(r, &f, &n);
            if (a != 1)
                break;
            FUZZ_CHECK(ohp_psv_reader_next(m, &g, &k) == 1);
            FUZZ_CHECK(k == n);
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(strcmp(f[i], g[i]) == 0);
            again++;
        }
        FUZZ_CHECK(again == rows);
        ohp_psv_reader_free(r);
        ohp_psv_reader_free(m);
    }
    free(o.data);
    return 0;
}
