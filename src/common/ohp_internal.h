/* Private declarations shared by the library's source files. */
#ifndef OHP_INTERNAL_H
#define OHP_INTERNAL_H

#include "onhandpub.h"
#include "escape.h"
#include "layout.h"
#include "psv_field.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one export macro: everything else has hidden visibility. */
#define OHP_EXPORT __attribute__((visibility("default")))

#define OHP_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- allocator ---- */

typedef struct ohp_alloc {
    void *(*malloc_fn)(void *opaque, size_t size);
    void *(*realloc_fn)(void *opaque, void *ptr, size_t size);
    void (*free_fn)(void *opaque, void *ptr);
    void *opaque;
    /* Set while compression threads run: serialises calls of the host's
     * allocator, which need not be thread-safe. */
    pthread_mutex_t *lock;
} ohp_alloc;

/* Fill a from the public allocator (NULL: the C library's). */
int ohp_alloc_init(ohp_alloc *a, const ohp_allocator *pub);
/* The allocator a came from, as the public type (into *pub, which is returned), for handing
 * to another handle of the library. */
const ohp_allocator *ohp_alloc_public(const ohp_alloc *a, ohp_allocator *pub);
void *ohp_malloc(const ohp_alloc *a, size_t size);
void *ohp_calloc(const ohp_alloc *a, size_t n, size_t size);
void *ohp_realloc(const ohp_alloc *a, void *ptr, size_t size);
void ohp_free(const ohp_alloc *a, void *ptr);
char *ohp_strdup(const ohp_alloc *a, const char *s);
/*
 * zlib's allocation callbacks over an ohp_alloc (the z_stream's opaque):
 * set zalloc = ohp_zalloc, zfree = ohp_zfree, opaque = the ohp_alloc.
 */
void *ohp_zalloc(void *opaque, unsigned items, unsigned size);
void ohp_zfree(void *opaque, void *ptr);
/*
 * True when the row ohp_psv_reader_next() returned last is known to be
 * 7-bit ASCII (it then needs no UTF-8 check); false when unknown.
 */
bool ohp_psv_reader_row_ascii(const ohp_psv_reader *r);
/* Forget what was buffered and start again at line 1 (the input was rewound). */
void ohp_psv_reader_restart(ohp_psv_reader *r);
/*
 * For the balance reader: a NUL byte inside a field no longer fails
 * ohp_psv_reader_next(); ohp_psv_reader_nul_field() tells which field of the
 * row holds one.
 */
void ohp_psv_reader_keep_nul(ohp_psv_reader *r);
/* The first field (0-based) of the last row holding a NUL byte, or SIZE_MAX. */
size_t ohp_psv_reader_nul_field(const ohp_psv_reader *r);
/* The size in bytes of field i of the last row (NUL bytes inside it included). */
size_t ohp_psv_reader_field_size(const ohp_psv_reader *r, size_t i);
/*
 * A header name that matches none of names[0..n) exactly but equals one of
 * them once blanks (spaces, tabs) around it are trimmed and case is ignored:
 * that name (a column the user meant but would silently lose); else NULL.
 */
const char *ohp_column_near_miss(const char *header_name, const char *const *names, size_t n);
/* CRC-32 of the ZIP format, as zlib's crc32() (faster on x86-64 with PCLMULQDQ). */
uint32_t ohp_crc32(uint32_t crc, const void *buf, size_t len);
/*
 * A block of at least OHP_PREFAULT_MIN bytes that is about to be written
 * throughout: have the kernel map its pages now, in one call, instead of
 * one page fault per page as it is first written (Linux 5.14+; elsewhere
 * nothing).  The contents are unchanged.  Page faults are most of the cost
 * of filling a table of a hundred megabytes, and far more so in virtual
 * machines.
 */
#define OHP_PREFAULT_MIN ((size_t)256 * 1024)
void ohp_prefault(void *p, size_t n);

/*
 * strcmp(s, t) == 0 inline, for the short codes compared once per record or
 * line (organizations, units of measure), where calling strcmp costs more
 * than the comparison.
 */
static inline bool ohp_short_eq(const char *s, const char *t)
{
    while (*s != '\0' && *s == *t) {
        s++;
        t++;
    }
    return *s == *t;
}

/* ---- growable byte buffer ---- */

typedef struct ohp_buf {
    char *data;
    size_t len;
    size_t cap;
} ohp_buf;

int ohp_buf_reserve(ohp_buf *b, const ohp_alloc *a, size_t extra);
int ohp_buf_append(ohp_buf *b, const ohp_alloc *a, const void *p, size_t n);
int ohp_buf_putc(ohp_buf *b, const ohp_alloc *a, char c);
/* Ensure data is NUL-terminated (not counted in len). */
int ohp_buf_terminate(ohp_buf *b, const ohp_alloc *a);
void ohp_buf_free(ohp_buf *b, const ohp_alloc *a);

/* ---- error messages: fixed-size, never allocate ---- */

#define OHP_ERRMSG_SIZE 512
void ohp_errmsg_set(char *msg, const char *fmt, ...) OHP_PRINTF(2, 3);
void ohp_errmsg_vset(char *msg, const char *fmt, va_list ap) OHP_PRINTF(2, 0);
/* ohp_escape_text() and ohp_utf8_char(): escape.h (shared with the onhandpub command). */
/* Bytes of s to print with "%.*s" for at most max bytes without splitting a UTF-8 character. */
int ohp_utf8_cut(const char *s, int max);

/* ---- text helpers ---- */

bool ohp_utf8_valid(const char *s, size_t len);
static inline bool ohp_present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* The longest id of layout v1 (OHP_CK_ID columns): 18 decimal digits. */
#define OHP_ID_MAX_DIGITS 18
/*
 * Whether s is an id: 1 to 18 decimal digits.  *len (if not NULL) gets the
 * number of leading digits counted, at most OHP_ID_MAX_DIGITS + 1.  An empty
 * field is no id; the columns that may be empty say so at their callers.
 */
static inline bool ohp_is_id(const char *s, size_t *len)
{
    size_t n = 0;
    while (n <= OHP_ID_MAX_DIGITS && s[n] >= '0' && s[n] <= '9')
        n++;
    if (len != NULL)
        *len = n;
    return n > 0 && s[n] == '\0' && n <= OHP_ID_MAX_DIGITS;
}

/* ---- dates ---- */

int64_t ohp_days_from_civil(int64_t y, unsigned m, unsigned d);
void ohp_civil_from_time(int64_t t, int *y, int *mo, int *d, int *h, int *mi, int *s);
/* Start of the UTC day containing t. */
int64_t ohp_day_start(int64_t t);
/*
 * The date part of the last "YYYY/MM/DD" or "YYYY-MM-DD" parsed through it:
 * records of one export share their days, so most dates only need their
 * time of day read.
 */
typedef struct ohp_day_cache {
    char text[10];
    bool valid;
    int64_t days; /* since 1970-01-01 */
} ohp_day_cache;
/*
 * Parse text when it is exactly "YYYY/MM/DD", "YYYY-MM-DD" or either
 * followed by " HH:MM:SS" (the forms without a zone): OHP_OK with *out as
 * ohp_date_parse() gives it, or OHP_EPARSE when such a text is not a valid
 * date.  Any other text: OHP_EINVAL (not decided; ohp_date_parse() decides).
 */
int ohp_date_parse_plain(ohp_day_cache *dc, const char *text, int64_t *out);

/* ---- decimals ---- */

#define OHP_QTY_MAX_INT_DIGITS 40
#define OHP_QTY_MAX_FRAC_DIGITS 30
/* Longest canonical quantity text, NUL included. */
#define OHP_QTY_BUFSIZE (OHP_QTY_MAX_INT_DIGITS + OHP_QTY_MAX_FRAC_DIGITS + 3)

/* Parsed canonical decimal: sign, digits without point, scale. */
typedef struct ohp_decimal {
    char text[OHP_QTY_BUFSIZE]; /* canonical text */
    bool negative;
    bool zero;
    size_t int_digits;  /* digits before the point in text (after sign) */
    size_t frac_digits; /* digits after the point */
} ohp_decimal;

int ohp_decimal_parse(const char *s, ohp_decimal *out);
/* Whole number >= 0 that fits uint64; returns false otherwise. */
bool ohp_decimal_to_count(const ohp_decimal *d, uint64_t *out);

/* Exact accumulator of decimals (sums of positive and negative parts). */
#define OHP_ACC_FRAC_LIMBS 4 /* 36 fraction digits */
#define OHP_ACC_INT_LIMBS 7  /* 63 integer digits */
typedef struct ohp_acc {
    uint32_t pos[OHP_ACC_FRAC_LIMBS + OHP_ACC_INT_LIMBS];
    uint32_t neg[OHP_ACC_FRAC_LIMBS + OHP_ACC_INT_LIMBS];
} ohp_acc;

void ohp_acc_add(ohp_acc *acc, const ohp_decimal *d);
/*
 * Add (or, with negate, subtract) a decimal text "-?digits[.digits]" of at
 * most 63 integer and 36 fraction digits, such as ohp_acc_format() gives;
 * OHP_EPARSE or OHP_ELIMIT (acc unchanged) otherwise.
 */
int ohp_acc_add_text(ohp_acc *acc, const char *text, bool negate);
/* acc += v (acc -= v with negate). */
void ohp_acc_merge(ohp_acc *acc, const ohp_acc *v, bool negate);
/* Add the whole number n. */
void ohp_acc_add_count(ohp_acc *acc, uint64_t n);
/* Format the exact total (canonical) into out (OHP_ACC_BUFSIZE bytes). */
#define OHP_ACC_BUFSIZE 112
void ohp_acc_format(const ohp_acc *acc, char *out);

/* Decimals of at most 18 digits as mantissa and scale (m * 10^-scale). */
/* The parsed decimal as mantissa and scale; false past 18 digits. */
bool ohp_dec_small(const ohp_decimal *d, int64_t *m, uint8_t *scale);
/* Text -> mantissa and scale (no trailing fraction zeros) for the decimals
 * of at most 18 digits ohp_decimal_parse() accepts; false for anything else. */
bool ohp_dec_small_parse(const char *s, int64_t *m, uint8_t *scale);
/* Canonical text of m * 10^-scale into out (at least 48 bytes). */
void ohp_dec_small_text(int64_t m, unsigned scale, char *out);
/* x - y exactly, both canonical texts as ohp_acc_format() gives them. */
void ohp_dec_sub_text(const char *x, const char *y, char out[OHP_ACC_BUFSIZE]);
/* Compare non-negative canonical decimal texts: -1, 0 or 1. */
int ohp_dec_cmp_nonneg(const char *a, const char *b);
/* Product of non-negative canonical decimals, canonical, into out (size n). */
void ohp_dec_mul_nonneg(const char *a, const char *b, char *out, size_t n);

/* ---- registry internals used by the job ---- */

int ohp_registry_check_msg(const ohp_registry *reg, const char *code, int64_t date, char *msg);

/* ---- PSV field encoding ---- */

/* ohp_psv_needs_quote() and ohp_psv_put_field(): psv_field.h (shared with
 * the onhandpub command). */
/* Append the field, quoted if needed. */
int ohp_psv_append_field(ohp_buf *b, const ohp_alloc *a, const char *s, size_t len);

#endif
