/* Shared declarations of the fuzz targets (tests/fuzz/fuzz_*.c). */
#ifndef OHP_FUZZ_H
#define OHP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every target defines this; libFuzzer or tests/fuzz/replay.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken invariant and abort, so that both libFuzzer and the replay test fail. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A NUL-terminated copy of the input (malloc'd; abort on failure). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Input handed to a reader at most `chunk` bytes per read call. */
typedef struct chunked {
    const uint8_t *p;
    size_t left, chunk;
} chunked;

static inline int chunk_read(void *ud, void *buf, size_t cap, size_t *got)
{
    chunked *c = ud;
    size_t n = c->left < cap ? c->left : cap;
    if (n > c->chunk)
        n = c->chunk;
    if (n)
        memcpy(buf, c->p, n);
    c->p += n;
    c->left -= n;
    *got = n;
    return 0;
}

#endif
