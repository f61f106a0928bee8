/*
 * A streaming JSON parser: bytes in any chunks, events out (strings in
 * chunks, scalars, objects and arrays with their depth and key); and the
 * quoting of a JSON string.
 */
#include "ucm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *json_quote(const char *s)
{
    size_t n = 2;
    for (const char *p = s; *p; p++)
        n += ((unsigned char)*p < 0x20) ? 6 : (*p == '"' || *p == '\\') ? 2 : 1;
    char *out = malloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '"';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            if (c == '"' || c == '\\')
                *o++ = '\\';
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

void json_init(json_parser *j, json_event_fn fn, void *ud)
{
    memset(j, 0, sizeof *j);
    j->state = JS_VALUE;
    j->fn = fn;
    j->ud = ud;
}

static const char *json_key(const json_parser *j)
{
    return j->depth > 0 && j->stack[j->depth - 1] == 'o' ? j->key : NULL;
}

static int json_fail(json_parser *j, const char *msg)
{
    if (j->err[0] == '\0')
        snprintf(j->err, sizeof j->err, "%s", msg);
    return -1;
}

static int json_emit(json_parser *j, int ev, const char *data, size_t len)
{
    if (j->fn(j->ud, ev, j->depth, json_key(j), data, len) != 0)
        return json_fail(j, "stopped");
    return 0;
}

/* After a value: the container's next separator, or the end. */
static void json_after_value(json_parser *j)
{
    j->state = j->depth == 0 ? JS_DONE : JS_COMMA_OR_CLOSE;
}

static int json_flush_chunk(json_parser *j)
{
    if (j->chunklen == 0 || j->in_key)
        return 0;
    size_t n = j->chunklen;
    j->chunklen = 0;
    return json_emit(j, JEV_STR, j->chunk, n);
}

static int json_put(json_parser *j, const char *s, size_t n)
{
    if (j->in_key) {
        for (size_t i = 0; i < n; i++)
            if (j->keylen + 1 < sizeof j->key)
                j->key[j->keylen++] = s[i];
        return 0;
    }
    while (n > 0) {
        if (j->chunklen == sizeof j->chunk && json_flush_chunk(j) != 0)
            return -1;
        size_t k = sizeof j->chunk - j->chunklen;
        if (k > n)
            k = n;
        memcpy(j->chunk + j->chunklen, s, k);
        j->chunklen += k;
        s += k;
        n -= k;
    }
    return 0;
}

/* Length of the plain run at p (no quote, backslash or control character). */
static size_t json_plain_run(const char *p, size_t n)
{
    size_t k = 0;
    while (k < n && p[k] != '"' && p[k] != '\\' && (unsigned char)p[k] >= 0x20)
        k++;
    return k;
}

static int json_put_code(json_parser *j, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return json_put(j, b, n);
}

static int json_end_scalar(json_parser *j)
{
    j->scalar[j->scalarlen] = '\0';
    const char *s = j->scalar;
    int ok;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || strcmp(s, "null") == 0) {
        ok = 1;
    } else {
        char *end;
        errno = 0;
        (void)strtod(s, &end);
        ok = *s != '\0' && *end == '\0' && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
    }
    if (!ok)
        return json_fail(j, "not JSON: bad literal");
    if (json_emit(j, JEV_SCALAR, j->scalar, j->scalarlen) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

static int json_string_char(json_parser *j, char c)
{
    unsigned char uc = (unsigned char)c;
    if (j->esc == 1) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *p = c ? strchr(from, c) : NULL;
        if (c == 'u') {
            j->esc = 2;
            j->u = 0;
            return 0;
        }
        if (p == NULL)
            return json_fail(j, "not JSON: bad escape");
        j->esc = 0;
        if (j->hi)
            return json_fail(j, "not JSON: lone surrogate");
        return json_put(j, &to[p - from], 1);
    }
    if (j->esc >= 2) {
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return json_fail(j, "not JSON: bad \\u escape");
        j->u = j->u * 16 + d;
        if (++j->esc < 6)
            return 0;
        j->esc = 0;
        unsigned cp = j->u;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (j->hi)
                return json_fail(j, "not JSON: lone surrogate");
            j->hi = cp;
            return 0;
        }
        if (cp >= 0xdc00 && cp < 0xe000) {
            if (!j->hi)
                return json_fail(j, "not JSON: lone surrogate");
            cp = 0x10000 + ((j->hi - 0xd800) << 10) + (cp - 0xdc00);
            j->hi = 0;
        } else if (j->hi) {
            return json_fail(j, "not JSON: lone surrogate");
        }
        return json_put_code(j, cp);
    }
    if (j->hi && c != '\\')
        return json_fail(j, "not JSON: lone surrogate");
    if (c == '\\') {
        j->esc = 1;
        return 0;
    }
    if (uc < 0x20)
        return json_fail(j, "not JSON: control character in a string");
    if (c != '"')
        return json_put(j, &c, 1);
    /* End of the string. */
    if (j->in_key) {
        j->key[j->keylen] = '\0';
        j->in_key = 0;
        j->state = JS_COLON;
        return 0;
    }
    if (json_flush_chunk(j) != 0 || json_emit(j, JEV_STR_END, NULL, 0) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

static int json_begin_value(json_parser *j, char c)
{
    switch (c) {
    case '"':
        j->state = JS_STRING;
        j->in_key = 0;
        j->chunklen = 0;
        return 0;
    case '{':
    case '[':
        if (j->depth == JSON_DEPTH)
            return json_fail(j, "JSON nested too deeply");
        if (json_emit(j, c == '{' ? JEV_OBJ_OPEN : JEV_ARR_OPEN, NULL, 0) != 0)
            return -1;
        j->stack[j->depth++] = c == '{' ? 'o' : 'a';
        j->state = c == '{' ? JS_KEY_OR_CLOSE_OBJ : JS_VALUE_OR_CLOSE_ARR;
        return 0;
    default:
        if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
            j->state = JS_SCALAR;
            j->scalarlen = 0;
            j->scalar[j->scalarlen++] = c;
            return 0;
        }
        return json_fail(j, "not JSON: unexpected character");
    }
}

static int json_close(json_parser *j, char c)
{
    char want = c == '}' ? 'o' : 'a';
    if (j->depth == 0 || j->stack[j->depth - 1] != want)
        return json_fail(j, "not JSON: unbalanced brackets");
    j->depth--;
    if (json_emit(j, c == '}' ? JEV_OBJ_CLOSE : JEV_ARR_CLOSE, NULL, 0) != 0)
        return -1;
    json_after_value(j);
    return 0;
}

int json_feed(json_parser *j, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (j->state == JS_STRING) {
            /* A long value (an echoed DocumentContent) is copied run by run. */
            size_t run = j->esc == 0 && !j->hi ? json_plain_run(p + i, n - i) : 0;
            if (run > 1) {
                if (json_put(j, p + i, run) != 0)
                    return -1;
                i += run - 1;
                continue;
            }
            if (json_string_char(j, c) != 0)
                return -1;
            continue;
        }
        if (j->state == JS_SCALAR) {
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-' ||
                c == '+' || c == 'E') {
                if (j->scalarlen + 1 >= sizeof j->scalar)
                    return json_fail(j, "not JSON: literal too long");
                j->scalar[j->scalarlen++] = c;
                continue;
            }
            if (json_end_scalar(j) != 0)
                return -1;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        switch (j->state) {
        case JS_VALUE:
            if (json_begin_value(j, c) != 0)
                return -1;
            break;
        case JS_VALUE_OR_CLOSE_ARR:
            if (c == ']') {
                if (json_close(j, c) != 0)
                    return -1;
            } else if (json_begin_value(j, c) != 0)
                return -1;
            break;
        case JS_KEY_OR_CLOSE_OBJ:
        case JS_KEY:
            if (c == '}' && j->state == JS_KEY_OR_CLOSE_OBJ) {
                if (json_close(j, c) != 0)
                    return -1;
            } else if (c == '"') {
                j->state = JS_STRING;
                j->in_key = 1;
                j->keylen = 0;
            } else
                return json_fail(j, "not JSON: expected a key");
            break;
        case JS_COLON:
            if (c != ':')
                return json_fail(j, "not JSON: expected ':'");
            j->state = JS_VALUE;
            break;
        case JS_COMMA_OR_CLOSE:
            if (c == ',')
                j->state = j->stack[j->depth - 1] == 'o' ? JS_KEY : JS_VALUE;
            else if (c == '}' || c == ']') {
                if (json_close(j, c) != 0)
                    return -1;
            } else
                return json_fail(j, "not JSON: expected ',' or a closing bracket");
            break;
        case JS_DONE:
            return json_fail(j, "not JSON: text after the value");
        default:
            return json_fail(j, "internal error: JSON parser state");
        }
    }
    return 0;
}

int json_finish(json_parser *j)
{
    if (j->state == JS_SCALAR && j->depth == 0 && json_end_scalar(j) != 0)
        return -1;
    if (j->state != JS_DONE)
        return json_fail(j, "not JSON: the answer ends early");
    return 0;
}
