/*
 * The streaming PSV reader (ohp_psv_reader_*): pipe-separated rows with
 * RFC 4180-style quoting, read through a callback or from memory, one row at a
 * time in a buffer that grows only with the longest line.  It owns the
 * tokenizing rules shared by every PSV the library reads: the balances source,
 * lookups (the registry), snapshots and external files.  It knows nothing of
 * columns; the callers map them.
 */
#include "ohp_internal.h"

#include <stdio.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define IN_CHUNK 65536
#define DEFAULT_MAX_LINE (1u << 20)

struct ohp_psv_reader {
    ohp_alloc alloc;
    ohp_read_fn read;
    void *ud;
    /* memory mode */
    const char *mem;
    size_t mem_len;
    /* input buffer */
    char *in;
    size_t in_pos, in_len;
    bool eof;
    bool started;     /* the first read was done (a byte-order mark skipped) */
    bool row_ascii;   /* the current row is known to be 7-bit ASCII */
    bool keep_nul;    /* a NUL byte in a field is reported, not an error */
    size_t nul_field; /* first field of the current row holding a NUL, or SIZE_MAX */
    size_t max_line;
    /* current row */
    ohp_buf row;
    size_t *offs;
    size_t offs_cap;
    const char **fields;
    size_t fields_cap;
    size_t nfields;     /* fields of the current row */
    uint64_t line;      /* line where the current row started */
    uint64_t next_line; /* line where the next row starts */
    char errmsg[OHP_ERRMSG_SIZE];
};

static int mem_read(void *ud, void *buf, size_t cap, size_t *got)
{
    ohp_psv_reader *r = ud;
    size_t n = r->mem_len < cap ? r->mem_len : cap;
    memcpy(buf, r->mem, n);
    r->mem += n;
    r->mem_len -= n;
    *got = n;
    return 0;
}

OHP_EXPORT int ohp_psv_reader_new(ohp_psv_reader **out, ohp_read_fn read, void *user_data,
                                  size_t max_line, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (read == NULL)
        return OHP_EINVAL;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_psv_reader *r = ohp_calloc(&a, 1, sizeof *r);
    if (r == NULL)
        return OHP_ENOMEM;
    r->alloc = a;
    r->read = read;
    r->ud = user_data;
    r->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
    r->next_line = 1;
    r->in = ohp_malloc(&a, IN_CHUNK);
    if (r->in == NULL) {
        ohp_free(&a, r);
        return OHP_ENOMEM;
    }
    *out = r;
    return OHP_OK;
}

/* Forget what was buffered and start again at line 1 (the input was rewound). */
void ohp_psv_reader_restart(ohp_psv_reader *r)
{
    r->in_pos = r->in_len = 0;
    r->eof = false;
    r->started = false; /* a byte-order mark is skipped again */
    r->row_ascii = false;
    r->line = 0;
    r->next_line = 1;
    r->errmsg[0] = '\0';
}

OHP_EXPORT int ohp_psv_reader_new_memory(ohp_psv_reader **out, const void *buf, size_t len,
                                         const ohp_allocator *alloc)
{
    if (out == NULL || (buf == NULL && len > 0))
        return OHP_EINVAL;
    int rc = ohp_psv_reader_new(out, mem_read, NULL, len + 1, alloc);
    if (rc)
        return rc;
    (*out)->ud = *out;
    (*out)->mem = buf;
    (*out)->mem_len = len;
    return OHP_OK;
}

OHP_EXPORT void ohp_psv_reader_free(ohp_psv_reader *r)
{
    if (r == NULL)
        return;
    ohp_alloc a = r->alloc;
    ohp_free(&a, r->in);
    ohp_buf_free(&r->row, &a);
    ohp_free(&a, r->offs);
    ohp_free(&a, r->fields);
    ohp_free(&a, r);
}

OHP_EXPORT uint64_t ohp_psv_reader_line(const ohp_psv_reader *r)
{
    return r ? r->line : 0;
}

OHP_EXPORT const char *ohp_psv_reader_errmsg(const ohp_psv_reader *r)
{
    return r ? r->errmsg : "";
}

static int read_error(ohp_psv_reader *r)
{
    ohp_errmsg_set(r->errmsg, "line %llu: read error", (unsigned long long)r->next_line);
    return OHP_EIO;
}

/*
 * The first bytes of the input: a UTF-8 byte-order mark (EF BB BF), which
 * editors and spreadsheets put in front of "UTF-8" text, is skipped.  Reads
 * until the bytes are known not to start one, however the read callback
 * splits them.
 */
static int start(ohp_psv_reader *r)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    r->started = true;
    while (!r->eof && r->in_len < 3 && memcmp(r->in, bom, r->in_len) == 0) {
        size_t got = 0;
        if (r->read(r->ud, r->in + r->in_len, IN_CHUNK - r->in_len, &got) != 0)
            return read_error(r);
        if (got > IN_CHUNK - r->in_len)
            got = IN_CHUNK - r->in_len;
        if (got == 0)
            r->eof = true;
        r->in_len += got;
    }
    if (r->in_len >= 3 && memcmp(r->in, bom, 3) == 0)
        r->in_pos = 3;
    return OHP_OK;
}

/* Make at least one byte available; returns 1, 0 at end, or an error. */
static int fill(ohp_psv_reader *r)
{
    if (!r->started) {
        int rc = start(r);
        if (rc)
            return rc;
    }
    if (r->in_pos < r->in_len)
        return 1;
    if (r->eof)
        return 0;
    size_t got = 0;
    if (r->read(r->ud, r->in, IN_CHUNK, &got) != 0)
        return read_error(r);
    if (got > IN_CHUNK)
        got = IN_CHUNK;
    r->in_pos = 0;
    r->in_len = got;
    if (got == 0) {
        r->eof = true;
        return 0;
    }
    return 1;
}

static inline int push_field(ohp_psv_reader *r, size_t nfields)
{
    if (nfields + 1 > r->offs_cap) {
        size_t cap = r->offs_cap ? r->offs_cap * 2 : 32;
        size_t *p = ohp_realloc(&r->alloc, r->offs, cap * sizeof *p);
        if (p == NULL)
            return OHP_ENOMEM;
        r->offs = p;
        r->offs_cap = cap;
    }
    r->offs[nfields] = r->row.len;
    return OHP_OK;
}

static int too_long(ohp_psv_reader *r)
{
    ohp_errmsg_set(r->errmsg, "line %llu: line longer than %zu bytes", (unsigned long long)r->line,
                   r->max_line);
    return OHP_ELIMIT;
}

/*
 * The common case in one step: the whole line is in the input buffer and
 * holds no quote.  It is copied once, split at each '|' in place, and gives
 * the same fields as the character-by-character path below.  Returns 1 when
 * it took the line (*nfields: the separators seen), 0 to leave it to that
 * path, or an error.
 */
static int whole_line(ohp_psv_reader *r, size_t *nfields)
{
    const char *p = r->in + r->in_pos;
    size_t avail = r->in_len - r->in_pos;
    const char *nl = memchr(p, '\n', avail);
    if (nl == NULL)
        return 0;
    size_t n = (size_t)(nl - p);
    if (n > r->max_line || memchr(p, '"', n) != NULL)
        return 0;
    size_t len = n > 0 && p[n - 1] == '\r' ? n - 1 : n; /* CRLF */
    if (ohp_buf_reserve(&r->row, &r->alloc, len) != 0)
        return OHP_ENOMEM;
    char *row = r->row.data;
    size_t k = 0, i = 0;
    unsigned high = 0, nul = 0;
    int rc;
#ifdef __SSE2__
    /* copy 16 bytes at a time, ending a field at each '|' they hold */
    const __m128i bar = _mm_set1_epi8('|');
    const __m128i zero = _mm_setzero_si128();
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        _mm_storeu_si128((__m128i *)(row + i), v);
        high |= (unsigned)_mm_movemask_epi8(v);
        nul |= (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bar));
        for (; m != 0; m &= m - 1) {
            size_t at = i + (size_t)__builtin_ctz(m);
            row[at] = '\0';
            r->row.len = at + 1;
            if ((rc = push_field(r, ++k)) != 0)
                return rc;
        }
    }
#endif
    for (; i < len; i++) {
        row[i] = p[i];
        high |= (unsigned char)p[i] & 0x80u;
        nul |= p[i] == '\0';
        if (p[i] == '|') {
            row[i] = '\0';
            r->row.len = i + 1;
            if ((rc = push_field(r, ++k)) != 0)
                return rc;
        }
    }
    if (nul) {
        /* no quotes on this line: the field is the number of '|' before the NUL */
        const char *z = memchr(p, '\0', len);
        size_t field = 0;
        for (const char *c = p; c < z; c++)
            field += *c == '|';
        r->nul_field = field;
    }
    r->row.len = len;
    r->row_ascii = high == 0;
    r->in_pos += n + 1;
    r->line = r->next_line++;
    *nfields = k;
    return 1;
}

bool ohp_psv_reader_row_ascii(const ohp_psv_reader *r)
{
    return r->row_ascii;
}

void ohp_psv_reader_keep_nul(ohp_psv_reader *r)
{
    r->keep_nul = true;
}

size_t ohp_psv_reader_nul_field(const ohp_psv_reader *r)
{
    return r->nul_field;
}

size_t ohp_psv_reader_field_size(const ohp_psv_reader *r, size_t i)
{
    size_t end = i + 1 < r->nfields ? r->offs[i + 1] - 1 : r->row.len - 1;
    return end - r->offs[i];
}

/*
 * The character-by-character path: quoted fields, lines split across reads.
 * Each step takes what it can from the input buffer and says whether the row
 * goes on (STEP_MORE), ended at its LF (STEP_ROW) or at the end of input
 * (STEP_EOF), or failed (< 0).
 */
enum { STEP_MORE = 0, STEP_ROW = 1, STEP_EOF = 2 };
enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };
typedef struct {
    int st;
    size_t raw;     /* bytes of input consumed by this row */
    size_t nfields; /* fields ended so far */
} scan;

/* A '|': the current field ends, the next one starts. */
static int end_field(ohp_psv_reader *r, scan *sc)
{
    int rc;
    if ((rc = ohp_buf_putc(&r->row, &r->alloc, '\0')) != 0)
        return rc;
    sc->nfields++;
    if ((rc = push_field(r, sc->nfields)) != 0)
        return rc;
    sc->st = FIELD_START;
    return STEP_MORE;
}

/* An unquoted field up to its '|' or LF, or to the end of the buffer. */
static int step_unquoted(ohp_psv_reader *r, scan *sc, const char *p, const char *end)
{
    int rc;
    if (sc->st == FIELD_START && *p == '"') {
        sc->st = QUOTED;
        r->in_pos++;
        sc->raw++;
        return STEP_MORE;
    }
    sc->st = UNQUOTED;
    const char *q = p; /* fast scan to the next delimiter */
    while (q < end && *q != '|' && *q != '\n')
        q++;
    size_t n = (size_t)(q - p);
    if (sc->raw + n > r->max_line)
        return too_long(r);
    if (r->nul_field == SIZE_MAX && memchr(p, '\0', n) != NULL)
        r->nul_field = sc->nfields;
    if ((rc = ohp_buf_append(&r->row, &r->alloc, p, n)) != 0)
        return rc;
    sc->raw += n;
    r->in_pos += n;
    if (q == end)
        return STEP_MORE;
    r->in_pos++;
    sc->raw++;
    if (*q == '|')
        return end_field(r, sc);
    /* LF: strip a CR before it. */
    r->next_line++;
    if (r->row.len > r->offs[sc->nfields] && r->row.data[r->row.len - 1] == '\r')
        r->row.len--;
    return STEP_ROW;
}

/* Inside quotes, up to the next quote or the end of the buffer. */
static int step_quoted(ohp_psv_reader *r, scan *sc, const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != '"')
        q++;
    size_t n = (size_t)(q - p);
    if (sc->raw + n > r->max_line)
        return too_long(r);
    for (const char *c = p; c < q; c++) {
        if (*c == '\n')
            r->next_line++;
        else if (*c == '\0' && r->nul_field == SIZE_MAX)
            r->nul_field = sc->nfields;
    }
    int rc = ohp_buf_append(&r->row, &r->alloc, p, n);
    if (rc != 0)
        return rc;
    sc->raw += n;
    r->in_pos += n;
    if (q < end) {
        r->in_pos++;
        sc->raw++;
        sc->st = QUOTE_IN_QUOTED;
    }
    return STEP_MORE;
}

static int after_quote_error(ohp_psv_reader *r, const scan *sc)
{
    ohp_errmsg_set(r->errmsg, "line %llu: field %zu: unexpected character after closing quote",
                   (unsigned long long)r->line, sc->nfields + 1);
    return OHP_EPARSE;
}

/* The byte after a quote inside a quoted field: a doubled quote, or the field's end. */
static int step_after_quote(ohp_psv_reader *r, scan *sc, char c)
{
    int rc;
    if (c == '"') {
        if ((rc = ohp_buf_putc(&r->row, &r->alloc, '"')) != 0)
            return rc;
        r->in_pos++;
        sc->raw++;
        sc->st = QUOTED;
        return STEP_MORE;
    }
    if (c == '|') {
        r->in_pos++;
        sc->raw++;
        return end_field(r, sc);
    }
    if (c == '\n') {
        r->in_pos++;
        r->next_line++;
        return STEP_ROW;
    }
    if (c != '\r')
        return after_quote_error(r, sc);
    /* Only CRLF may follow a closing quote. */
    r->in_pos++;
    sc->raw++;
    if ((rc = fill(r)) <= 0)
        return rc < 0 ? rc : STEP_EOF;
    if (r->in[r->in_pos] != '\n')
        return after_quote_error(r, sc);
    r->in_pos++;
    r->next_line++;
    return STEP_ROW;
}

/* The row the fast path left, step by step; *nfields: the separators seen. */
static int slow_row(ohp_psv_reader *r, size_t *nfields)
{
    scan sc = {FIELD_START, 0, *nfields};
    r->line = r->next_line;
    for (;;) {
        int rc = fill(r);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (sc.st == QUOTED) {
                ohp_errmsg_set(r->errmsg, "line %llu: unterminated quoted field",
                               (unsigned long long)r->line);
                return OHP_EPARSE;
            }
            break;
        }
        const char *p = r->in + r->in_pos;
        bool quoted = sc.st == QUOTED || sc.st == QUOTE_IN_QUOTED;
        if (!quoted)
            rc = step_unquoted(r, &sc, p, r->in + r->in_len);
        else if (sc.st == QUOTED)
            rc = step_quoted(r, &sc, p, r->in + r->in_len);
        else
            rc = step_after_quote(r, &sc, *p);
        if (rc < 0)
            return rc;
        *nfields = sc.nfields;
        if (rc == STEP_ROW)
            return OHP_OK;
        if (rc == STEP_EOF)
            break;
        /* an unquoted field counts its length against the limit as it goes */
        if (quoted && sc.raw > r->max_line)
            return too_long(r);
    }
    *nfields = sc.nfields;
    /* End of input without a final LF: strip a trailing CR of an unquoted field. */
    if (sc.st == UNQUOTED && r->row.len > r->offs[sc.nfields] &&
        r->row.data[r->row.len - 1] == '\r')
        r->row.len--;
    return OHP_OK;
}

/* The row is read: terminate its last field and point the caller's array at its fields. */
static int finish_row(ohp_psv_reader *r, size_t nfields, const char *const **fields, size_t *count)
{
    int rc;
    if (r->nul_field != SIZE_MAX && !r->keep_nul) {
        /* The row is consumed: the next call goes on with the next one. */
        ohp_errmsg_set(r->errmsg, "line %llu, column %zu: the field holds a NUL byte",
                       (unsigned long long)r->line, r->nul_field + 1);
        return OHP_EPARSE;
    }
    if ((rc = ohp_buf_putc(&r->row, &r->alloc, '\0')) != 0)
        return rc;
    nfields++;
    if (nfields > r->fields_cap) {
        size_t cap = r->fields_cap ? r->fields_cap : 32;
        while (cap < nfields)
            cap *= 2;
        const char **p = ohp_realloc(&r->alloc, (void *)r->fields, cap * sizeof *p);
        if (p == NULL)
            return OHP_ENOMEM;
        r->fields = p;
        r->fields_cap = cap;
    }
    for (size_t i = 0; i < nfields; i++)
        r->fields[i] = r->row.data + r->offs[i];
    r->nfields = nfields;
    *fields = r->fields;
    *count = nfields;
    return 1;
}

OHP_EXPORT int ohp_psv_reader_next(ohp_psv_reader *r, const char *const **fields, size_t *count)
{
    if (r == NULL || fields == NULL || count == NULL)
        return OHP_EINVAL;
    int rc = fill(r);
    if (rc <= 0)
        return rc;
    r->row.len = 0;
    r->row_ascii = false;
    r->nul_field = SIZE_MAX;
    size_t nfields = 0;
    if ((rc = push_field(r, nfields)) != 0)
        return rc;
    if ((rc = whole_line(r, &nfields)) < 0)
        return rc;
    if (rc == 0 && (rc = slow_row(r, &nfields)) != OHP_OK)
        return rc;
    return finish_row(r, nfields, fields, count);
}
