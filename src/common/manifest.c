/* The snapshot manifest: one line of JSON, written and parsed (manifest.h). */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {"FULL", "INCREMENTAL"};
static const char *const items_names[] = {"both", "serial", "nonserial"};

/* ---- writing ---- */

static int put(ohp_buf *b, const ohp_alloc *a, const char *s)
{
    return ohp_buf_append(b, a, s, strlen(s));
}

/* A JSON string: '"' and '\' escaped, control characters as \u00XX, the rest as it is. */
static int put_str(ohp_buf *b, const ohp_alloc *a, const char *s)
{
    int rc = ohp_buf_putc(b, a, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == OHP_OK && *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            rc = ohp_buf_append(b, a, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
            rc = put(b, a, esc);
        } else {
            rc = ohp_buf_putc(b, a, (char)*p);
        }
    }
    return rc ? rc : ohp_buf_putc(b, a, '"');
}

static int put_key(ohp_buf *b, const ohp_alloc *a, const char *key)
{
    int rc = ohp_buf_putc(b, a, ',');
    if (rc == OHP_OK)
        rc = put_str(b, a, key);
    return rc ? rc : ohp_buf_putc(b, a, ':');
}

static int put_u64(ohp_buf *b, const ohp_alloc *a, const char *key, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    int rc = put_key(b, a, key);
    return rc ? rc : put(b, a, num);
}

static int put_text(ohp_buf *b, const ohp_alloc *a, const char *key, const char *v)
{
    int rc = put_key(b, a, key);
    return rc ? rc : put_str(b, a, v);
}

static int put_date(ohp_buf *b, const ohp_alloc *a, const char *key, int64_t t)
{
    char d[OHP_DATE_BUFSIZE];
    int rc = put_key(b, a, key);
    if (rc)
        return rc;
    if (t == OHP_TIME_NONE)
        return put(b, a, "null");
    ohp_date_format(t, 0, d);
    return put_str(b, a, d);
}

static int put_totals(ohp_buf *b, const ohp_alloc *a, const ohp_mf *m)
{
    int rc = put_key(b, a, "totals");
    if (rc == OHP_OK)
        rc = ohp_buf_putc(b, a, '{');
    for (size_t i = 0; rc == OHP_OK && i < m->nunits; i++) {
        if (i > 0)
            rc = ohp_buf_putc(b, a, ',');
        if (rc == OHP_OK)
            rc = put_str(b, a, m->units[i].code);
        if (rc == OHP_OK)
            rc = ohp_buf_putc(b, a, ':');
        if (rc == OHP_OK)
            rc = put_str(b, a, m->units[i].total);
    }
    return rc ? rc : ohp_buf_putc(b, a, '}');
}

int ohp_manifest_format(const ohp_mf *m, ohp_buf *b, const ohp_alloc *a)
{
    char version[16], crc[12];
    snprintf(version, sizeof version, "%d.%d", OHP_MANIFEST_MAJOR, OHP_MANIFEST_MINOR);
    snprintf(crc, sizeof crc, "%08lx", (unsigned long)m->crc32);
    b->len = 0;
    int rc = put(b, a, OHP_MANIFEST_PREFIX);
    if (rc == OHP_OK)
        rc = put(b, a, version);
    if (rc == OHP_OK)
        rc = ohp_buf_putc(b, a, '"');
    if (rc == OHP_OK)
        rc = put_u64(b, a, "layout", (uint64_t)m->layout);
    if (rc == OHP_OK)
        rc = put_text(b, a, "external_system", m->system);
    if (rc == OHP_OK)
        rc = put_text(b, a, "organization", m->organization);
    if (rc == OHP_OK)
        rc = put_u64(b, a, "run_id", m->run_id);
    if (rc == OHP_OK)
        rc = put_text(b, a, "mode", mode_names[m->mode == OHP_MODE_INCREMENTAL]);
    if (rc == OHP_OK)
        rc = put_text(b, a, "items", items_names[m->items >= 0 && m->items <= 2 ? m->items : 0]);
    if (rc == OHP_OK)
        rc = put_date(b, a, "window_start", m->window_start);
    if (rc == OHP_OK)
        rc = put_date(b, a, "snapshot_date", m->snapshot_date);
    if (rc == OHP_OK)
        rc = put_u64(b, a, "data_lines", m->data_lines);
    if (rc == OHP_OK)
        rc = put_u64(b, a, "serial_lines", m->serial_lines);
    if (rc == OHP_OK)
        rc = put_u64(b, a, "psv_bytes", m->psv_bytes);
    if (rc == OHP_OK)
        rc = put_text(b, a, "crc32", crc);
    if (rc == OHP_OK)
        rc = put_totals(b, a, m);
    if (rc == OHP_OK)
        rc = put_text(b, a, "library", m->library);
    if (rc == OHP_OK)
        rc = ohp_buf_putc(b, a, '}');
    if (rc != OHP_OK)
        return OHP_ENOMEM;
    return b->len > OHP_MANIFEST_MAX ? OHP_ELIMIT : OHP_OK;
}

/* ---- reading ---- */

bool ohp_manifest_marked(const char *text, size_t len)
{
    size_t n = sizeof OHP_MANIFEST_PREFIX - 1;
    return len >= n && memcmp(text, OHP_MANIFEST_PREFIX, n) == 0;
}

/* A cursor over the text; strings are decoded into out (room for the whole text). */
typedef struct js {
    const char *begin, *p, *end;
    char *out;
    char *msg;
} js;

static int bad(js *j, const char *what)
{
    ohp_errmsg_set(j->msg, "malformed manifest: %s at byte %zu", what, (size_t)(j->p - j->begin));
    return OHP_EPARSE;
}

static void skip_ws(js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static bool eat(js *j, char c)
{
    skip_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return 0x110000; /* not hex */
        v = v * 16 + d;
    }
    return v;
}

/* Append code point cp as UTF-8 at *o. */
static void put_utf8(char **o, unsigned cp)
{
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xC0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xE0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *u++ = (unsigned char)(0xF0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = (char *)u;
}

/* One \u escape (at p, after the backslash and 'u'), a surrogate pair whole: its code point. */
static unsigned unicode_escape(js *j)
{
    if (j->end - j->p < 4)
        return 0x110000;
    unsigned cp = hex4(j->p);
    j->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
            return 0x110000;
        unsigned lo = hex4(j->p + 2);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0x110000;
        j->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return 0x110000;
    }
    return cp;
}

/* A string value, decoded into j->out (*s points at it, NUL-terminated). */
static int parse_string(js *j, const char **s)
{
    if (!eat(j, '"'))
        return bad(j, "a string expected");
    char *o = j->out;
    *s = o;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20)
            return bad(j, "a control character in a string");
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (j->p >= j->end)
            break;
        char e = *j->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = strchr(from, e);
        if (e != '\0' && k != NULL) {
            *o++ = to[k - from];
        } else if (e == 'u') {
            unsigned cp = unicode_escape(j);
            if (cp > 0x10FFFF || cp == 0)
                return bad(j, "a bad \\u escape");
            put_utf8(&o, cp);
        } else {
            return bad(j, "a bad escape");
        }
    }
    if (j->p >= j->end)
        return bad(j, "an unterminated string");
    j->p++;
    *o++ = '\0';
    j->out = o;
    if (!ohp_utf8_valid(*s, strlen(*s)))
        return bad(j, "a string that is not UTF-8");
    return OHP_OK;
}

/* A whole number of at most 19 digits. */
static int parse_uint(js *j, uint64_t *v)
{
    skip_ws(j);
    const char *q = j->p;
    uint64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && j->p - q < 19)
        x = x * 10 + (uint64_t)(*j->p++ - '0');
    if (j->p == q || (j->p - q > 1 && *q == '0') ||
        (j->p < j->end &&
         (*j->p == '.' || *j->p == 'e' || *j->p == 'E' || (*j->p >= '0' && *j->p <= '9'))))
        return bad(j, "a whole number expected");
    *v = x;
    return OHP_OK;
}

static bool literal(js *j, const char *word)
{
    skip_ws(j);
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, word, n) == 0) {
        j->p += n;
        return true;
    }
    return false;
}

static size_t digits(js *j)
{
    const char *q = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return (size_t)(j->p - q);
}

/* A JSON number: -?digits(.digits)?([eE][+-]?digits)?. */
static int skip_number(js *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (digits(j) == 0)
        return bad(j, "a value expected");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (digits(j) == 0)
            return bad(j, "digits expected after '.'");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (digits(j) == 0)
            return bad(j, "digits expected in an exponent");
    }
    return OHP_OK;
}

/* Any value, skipped (a field of a later minor version). */
static int skip_value(js *j, int depth)
{
    skip_ws(j);
    if (depth > 16)
        return bad(j, "nested too deep");
    if (j->p >= j->end)
        return bad(j, "a value expected");
    const char *s;
    char c = *j->p;
    if (c == '"') {
        char *keep = j->out;
        int rc = parse_string(j, &s);
        j->out = keep;
        return rc;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (eat(j, close))
            return OHP_OK;
        do {
            int rc;
            if (c == '{') {
                char *keep = j->out;
                rc = parse_string(j, &s);
                j->out = keep;
                if (rc == OHP_OK && !eat(j, ':'))
                    rc = bad(j, "':' expected");
                if (rc)
                    return rc;
            }
            if ((rc = skip_value(j, depth + 1)) != OHP_OK)
                return rc;
        } while (eat(j, ','));
        return eat(j, close) ? OHP_OK : bad(j, "',' or the end of an object or array expected");
    }
    if (literal(j, "null") || literal(j, "true") || literal(j, "false"))
        return OHP_OK;
    return skip_number(j);
}

/* The keys a 1.x manifest has; each must be there. */
enum {
    K_LAYOUT,
    K_SYSTEM,
    K_ORG,
    K_RUN_ID,
    K_MODE,
    K_ITEMS,
    K_WINDOW,
    K_SNAPSHOT,
    K_DATA_LINES,
    K_SERIAL_LINES,
    K_PSV_BYTES,
    K_CRC,
    K_TOTALS,
    K_LIBRARY,
    K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "layout",    "external_system", "organization",  "run_id",     "mode",
    "items",     "window_start",    "snapshot_date", "data_lines", "serial_lines",
    "psv_bytes", "crc32",           "totals",        "library"};

static int pick(js *j, const char *text, const char *const *names, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (strcmp(text, names[i]) == 0)
            return i;
    ohp_errmsg_set(j->msg, "malformed manifest: %s '%.40s' is none of the known ones", what, text);
    return -1;
}

/* A date field: null (where allowed) or a date and time. */
static int parse_date_value(js *j, int64_t *t, bool null_ok)
{
    const char *s;
    if (literal(j, "null")) {
        if (!null_ok)
            return bad(j, "a date expected, not null");
        *t = OHP_TIME_NONE;
        return OHP_OK;
    }
    int rc = parse_string(j, &s);
    if (rc)
        return rc;
    if (ohp_date_parse(s, t) != OHP_OK)
        return bad(j, "a date that is not one");
    return OHP_OK;
}

static int parse_totals(js *j, ohp_mf *m, const ohp_alloc *a)
{
    if (!eat(j, '{'))
        return bad(j, "an object of totals expected");
    size_t cap = 0;
    if (eat(j, '}'))
        return OHP_OK;
    do {
        ohp_manifest_unit u;
        int rc = parse_string(j, &u.code);
        if (rc == OHP_OK && !eat(j, ':'))
            rc = bad(j, "':' expected");
        if (rc == OHP_OK)
            rc = parse_string(j, &u.total);
        if (rc)
            return rc;
        ohp_decimal d;
        if (u.code[0] == '\0' || ohp_decimal_parse(u.total, &d) != OHP_OK ||
            strcmp(d.text, u.total) != 0)
            return bad(j, "a total that is no canonical decimal");
        if (m->nunits == cap) {
            size_t nc = cap ? cap * 2 : 8;
            ohp_manifest_unit *v = ohp_realloc(a, m->unit_store, nc * sizeof *v);
            if (v == NULL)
                return OHP_ENOMEM;
            m->unit_store = v;
            m->units = v;
            cap = nc;
        }
        m->unit_store[m->nunits++] = u;
    } while (eat(j, ','));
    return eat(j, '}') ? OHP_OK : bad(j, "',' or '}' expected in the totals");
}

static int parse_field(js *j, int k, ohp_mf *m, const ohp_alloc *a)
{
    const char *s = NULL;
    uint64_t v;
    int rc, i;
    switch (k) {
    case K_LAYOUT:
        if ((rc = parse_uint(j, &v)) == OHP_OK)
            m->layout = v > 1000 ? 0 : (int)v;
        return rc;
    case K_SYSTEM:
        return parse_string(j, &m->system);
    case K_ORG:
        return parse_string(j, &m->organization);
    case K_LIBRARY:
        return parse_string(j, &m->library);
    case K_RUN_ID:
        return parse_uint(j, &m->run_id);
    case K_DATA_LINES:
        return parse_uint(j, &m->data_lines);
    case K_SERIAL_LINES:
        return parse_uint(j, &m->serial_lines);
    case K_PSV_BYTES:
        return parse_uint(j, &m->psv_bytes);
    case K_MODE:
    case K_ITEMS:
        if ((rc = parse_string(j, &s)) != OHP_OK)
            return rc;
        i = k == K_MODE ? pick(j, s, mode_names, 2, "mode") : pick(j, s, items_names, 3, "items");
        if (i < 0)
            return OHP_EPARSE;
        *(k == K_MODE ? &m->mode : &m->items) = i;
        return OHP_OK;
    case K_WINDOW:
        return parse_date_value(j, &m->window_start, true);
    case K_SNAPSHOT:
        return parse_date_value(j, &m->snapshot_date, false);
    case K_CRC:
        if ((rc = parse_string(j, &s)) != OHP_OK)
            return rc;
        if (strlen(s) != 8 || strspn(s, "0123456789abcdef") != 8)
            return bad(j, "a CRC-32 that is not 8 lower-case hex digits");
        m->crc32 = (uint32_t)strtoul(s, NULL, 16);
        return OHP_OK;
    default:
        return parse_totals(j, m, a);
    }
}

/* The marker's version "MAJOR.MINOR". */
static int parse_version(js *j, ohp_mf *m)
{
    const char *key, *s;
    if (!eat(j, '{'))
        return bad(j, "'{' expected");
    int rc = parse_string(j, &key);
    if (rc == OHP_OK && !eat(j, ':'))
        rc = bad(j, "':' expected");
    if (rc == OHP_OK)
        rc = parse_string(j, &s);
    if (rc)
        return rc;
    unsigned major = 0, minor = 0;
    char tail;
    if (sscanf(s, "%3u.%3u%c", &major, &minor, &tail) != 2 || strspn(s, "0123456789.") != strlen(s))
        return bad(j, "a version that is not MAJOR.MINOR");
    m->major = major;
    m->minor = minor;
    if (major != OHP_MANIFEST_MAJOR) {
        ohp_errmsg_set(j->msg, "manifest version %u.%u: this library reads version %d.x", major,
                       minor, OHP_MANIFEST_MAJOR);
        return OHP_EVERSION;
    }
    return OHP_OK;
}

static int parse_fields(js *j, ohp_mf *m, const ohp_alloc *a)
{
    unsigned seen = 0;
    while (eat(j, ',')) {
        const char *key;
        int rc = parse_string(j, &key);
        if (rc == OHP_OK && !eat(j, ':'))
            rc = bad(j, "':' expected");
        if (rc)
            return rc;
        int k = 0;
        while (k < K_COUNT && strcmp(key, key_names[k]) != 0)
            k++;
        if (k < K_COUNT && (seen & (1u << k)))
            return bad(j, "a field given twice");
        rc = k < K_COUNT ? parse_field(j, k, m, a) : skip_value(j, 0);
        if (rc)
            return rc;
        if (k < K_COUNT)
            seen |= 1u << k;
    }
    if (!eat(j, '}'))
        return bad(j, "',' or '}' expected");
    skip_ws(j);
    if (j->p != j->end)
        return bad(j, "text after the object");
    for (int k = 0; k < K_COUNT; k++)
        if (!(seen & (1u << k))) {
            ohp_errmsg_set(j->msg, "malformed manifest: field %s is missing", key_names[k]);
            return OHP_EPARSE;
        }
    return OHP_OK;
}

int ohp_manifest_parse(const char *text, size_t len, ohp_mf *m, const ohp_alloc *a, char *msg)
{
    memset(m, 0, sizeof *m);
    m->window_start = m->snapshot_date = OHP_TIME_NONE;
    m->store = ohp_malloc(a, len + 1);
    if (m->store == NULL)
        return OHP_ENOMEM;
    js j = {text, text, text + len, m->store, msg};
    int rc = parse_version(&j, m);
    if (rc == OHP_OK)
        rc = parse_fields(&j, m, a);
    if (rc == OHP_OK && m->layout != 1) {
        ohp_errmsg_set(msg, "manifest: layout %d, this library reads layout 1", m->layout);
        rc = OHP_EVERSION;
    }
    if (rc != OHP_OK)
        ohp_manifest_clear(m, a);
    return rc;
}

void ohp_manifest_clear(ohp_mf *m, const ohp_alloc *a)
{
    ohp_free(a, m->store);
    ohp_free(a, m->unit_store);
    memset(m, 0, sizeof *m);
}
