/* Version, error texts, allocator and small buffers. */
#include "ohp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

OHP_EXPORT const char *ohp_version(void)
{
    return OHP_VERSION_STRING;
}

OHP_EXPORT int ohp_version_number(void)
{
    return OHP_VERSION_NUMBER;
}

OHP_EXPORT int ohp_engine_available(int engine)
{
    switch (engine) {
    case OHP_ENGINE_ZLIB:
    case OHP_ENGINE_BEST:
        return 1;
    case OHP_ENGINE_ISAL:
#ifdef OHP_HAVE_ISAL
        return 1;
#else
        return 0;
#endif
    default:
        return 0;
    }
}

OHP_EXPORT const char *ohp_strerror(int code)
{
    switch (code) {
    case OHP_OK:
        return "success";
    case OHP_EINVAL:
        return "invalid argument";
    case OHP_ENOMEM:
        return "out of memory";
    case OHP_ESTATE:
        return "call not allowed in this state";
    case OHP_ERECORD:
        return "bad balance record";
    case OHP_ESOURCE:
        return "data source failed";
    case OHP_ESINK:
        return "sink failed";
    case OHP_EZIP:
        return "archive writer failed";
    case OHP_ENOTFOUND:
        return "not found";
    case OHP_EINACTIVE:
        return "external system is not active";
    case OHP_EEXISTS:
        return "already exists";
    case OHP_EPARSE:
        return "malformed text";
    case OHP_EDENIED:
        return "not authorized";
    case OHP_ESTORE:
        return "state store failed";
    case OHP_ECANCELED:
        return "cancelled";
    case OHP_EREJECT:
        return "rejection callback failed";
    case OHP_EVERSION:
        return "unsupported struct version";
    case OHP_ELIMIT:
        return "limit exceeded";
    case OHP_EAUTH:
        return "authorization check failed";
    case OHP_EIO:
        return "input/output error";
    case OHP_EEMPTY:
        return "a full snapshot would hold no line";
    case OHP_EUNSUPPORTED:
        return "not supported by this build";
    case OHP_EBUSY:
        return "locked by another run";
    case OHP_EFILE:
        return "file error";
    default:
        return "unknown error";
    }
}

static void *default_malloc(void *opaque, size_t size)
{
    (void)opaque;
    return malloc(size);
}

static void *default_realloc(void *opaque, void *ptr, size_t size)
{
    (void)opaque;
    return realloc(ptr, size);
}

static void default_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

int ohp_alloc_init(ohp_alloc *a, const ohp_allocator *pub)
{
    if (pub == NULL) {
        a->malloc_fn = default_malloc;
        a->realloc_fn = default_realloc;
        a->free_fn = default_free;
        a->opaque = NULL;
        a->lock = NULL;
        return OHP_OK;
    }
    if (pub->version < 1)
        return OHP_EVERSION;
    if (pub->malloc_fn == NULL || pub->realloc_fn == NULL || pub->free_fn == NULL)
        return OHP_EINVAL;
    a->malloc_fn = pub->malloc_fn;
    a->realloc_fn = pub->realloc_fn;
    a->free_fn = pub->free_fn;
    a->opaque = pub->opaque;
    a->lock = NULL;
    return OHP_OK;
}

const ohp_allocator *ohp_alloc_public(const ohp_alloc *a, ohp_allocator *pub)
{
    pub->version = OHP_ALLOCATOR_VERSION;
    pub->malloc_fn = a->malloc_fn;
    pub->realloc_fn = a->realloc_fn;
    pub->free_fn = a->free_fn;
    pub->opaque = a->opaque;
    return pub;
}

void *ohp_malloc(const ohp_alloc *a, size_t size)
{
    if (a->lock == NULL)
        return a->malloc_fn(a->opaque, size ? size : 1);
    pthread_mutex_lock(a->lock);
    void *p = a->malloc_fn(a->opaque, size ? size : 1);
    pthread_mutex_unlock(a->lock);
    return p;
}

void *ohp_calloc(const ohp_alloc *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = ohp_malloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *ohp_realloc(const ohp_alloc *a, void *ptr, size_t size)
{
    if (ptr == NULL)
        return ohp_malloc(a, size);
    if (a->lock == NULL)
        return a->realloc_fn(a->opaque, ptr, size ? size : 1);
    pthread_mutex_lock(a->lock);
    void *p = a->realloc_fn(a->opaque, ptr, size ? size : 1);
    pthread_mutex_unlock(a->lock);
    return p;
}

void ohp_free(const ohp_alloc *a, void *ptr)
{
    if (ptr == NULL)
        return;
    if (a->lock == NULL) {
        a->free_fn(a->opaque, ptr);
        return;
    }
    pthread_mutex_lock(a->lock);
    a->free_fn(a->opaque, ptr);
    pthread_mutex_unlock(a->lock);
}

void *ohp_zalloc(void *opaque, unsigned items, unsigned size)
{
    return ohp_calloc((const ohp_alloc *)opaque, items, size);
}

void ohp_zfree(void *opaque, void *ptr)
{
    ohp_free((const ohp_alloc *)opaque, ptr);
}

char *ohp_strdup(const ohp_alloc *a, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = ohp_malloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int ohp_buf_reserve(ohp_buf *b, const ohp_alloc *a, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return OHP_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return OHP_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = ohp_realloc(a, b->data, cap);
    if (p == NULL)
        return OHP_ENOMEM;
    b->data = p;
    b->cap = cap;
    return OHP_OK;
}

int ohp_buf_append(ohp_buf *b, const ohp_alloc *a, const void *p, size_t n)
{
    if (n == 0)
        return OHP_OK;
    int rc = ohp_buf_reserve(b, a, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return OHP_OK;
}

int ohp_buf_putc(ohp_buf *b, const ohp_alloc *a, char c)
{
    if (b->len + 1 >= b->cap) {
        int rc = ohp_buf_reserve(b, a, 1);
        if (rc)
            return rc;
    }
    b->data[b->len++] = c;
    return OHP_OK;
}

int ohp_buf_terminate(ohp_buf *b, const ohp_alloc *a)
{
    int rc = ohp_buf_reserve(b, a, 0);
    if (rc)
        return rc;
    b->data[b->len] = '\0';
    return OHP_OK;
}

void ohp_buf_free(ohp_buf *b, const ohp_alloc *a)
{
    ohp_free(a, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ohp_utf8_cut(const char *s, int max)
{
    size_t n = strnlen(s, (size_t)max + 1);
    if (n <= (size_t)max)
        return (int)n;
    n = (size_t)max;
    /* Back over the continuation bytes of a character split at max, then its lead byte. */
    size_t k = n;
    while (k > 0 && n - k < 3 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    if (k < n && ((unsigned char)s[k] & 0xC0) == 0xC0)
        n = k;
    return (int)n;
}

void ohp_errmsg_vset(char *msg, const char *fmt, va_list ap)
{
    /* Formatted first, then escaped as a whole: every value quoted in a message reaches the
     * caller with its control characters and invalid bytes visible, so a message stays one
     * line.  The message's own text has neither, and escaping an escaped text changes
     * nothing.  ap comes initialised from the variadic callers. */
    char raw[OHP_ERRMSG_SIZE];
    int n = vsnprintf(raw, sizeof raw, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    size_t len = n < 0 ? 0 : strlen(raw);
    if (n >= (int)sizeof raw) {
        /* Cut short: drop a UTF-8 sequence split at the end rather than show its bytes. */
        size_t k = len;
        while (k > 0 && ((unsigned char)raw[k - 1] & 0xC0) == 0x80 && len - k < 3)
            k--;
        if (k > 0 && (unsigned char)raw[k - 1] >= 0xC0) {
            unsigned cp;
            if (ohp_utf8_char((const unsigned char *)raw + k - 1, len - k + 1, &cp) == 0)
                len = k - 1;
        }
    }
    ohp_escape_text(msg, OHP_ERRMSG_SIZE, raw, len);
}

void ohp_errmsg_set(char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(msg, fmt, ap);
    va_end(ap);
}

bool ohp_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        unsigned cp;
        size_t n = ohp_utf8_char(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

const char *ohp_column_near_miss(const char *header_name, const char *const *names, size_t n)
{
    const char *s = header_name;
    size_t len = strlen(s);
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    for (size_t k = 0; k < n; k++) {
        const char *t = names[k];
        if (strcmp(header_name, t) == 0)
            return NULL; /* an exact match is no miss */
    }
    for (size_t k = 0; k < n; k++) {
        const char *t = names[k];
        if (strlen(t) != len)
            continue;
        size_t i = 0;
        while (i < len) {
            unsigned char a = (unsigned char)s[i], b = (unsigned char)t[i];
            if (a >= 'a' && a <= 'z')
                a = (unsigned char)(a - 'a' + 'A');
            if (b >= 'a' && b <= 'z')
                b = (unsigned char)(b - 'a' + 'A');
            if (a != b)
                break;
            i++;
        }
        if (i == len)
            return t;
    }
    return NULL;
}
