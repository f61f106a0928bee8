/*
 * Text made safe for a terminal: what must not reach one raw written as
 * visible escapes.  Self-contained, so that the onhandpub command compiles
 * it in and every message of the project is escaped by the same code.
 */
#include "escape.h"

#include <string.h>

size_t ohp_utf8_char(const unsigned char *p, size_t avail, unsigned *cp)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail <= n)
        return 0;
    unsigned v = c & (0x3F >> n);
    for (size_t k = 1; k <= n; k++) {
        unsigned cc = p[k];
        if ((cc & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (cc & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n + 1;
}

size_t ohp_escape_text(char *out, size_t size, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    if (size == 0)
        return 0;
    while (i < len) {
        char esc[8];
        size_t elen = 0;
        unsigned cp = 0;
        size_t n = ohp_utf8_char(p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7F) {
            unsigned b = p[i];
            esc[elen++] = '\\';
            if (b == '\n') {
                esc[elen++] = 'n';
            } else if (b == '\r') {
                esc[elen++] = 'r';
            } else if (b == '\t') {
                esc[elen++] = 't';
            } else {
                esc[elen++] = 'x';
                esc[elen++] = hex[b >> 4];
                esc[elen++] = hex[b & 15];
            }
            n = 1;
        } else if (cp >= 0x80 && cp <= 0x9F) { /* C1 controls: terminals obey some of them */
            memcpy(esc, "\\u00", 4);
            elen = 4;
            esc[elen++] = hex[cp >> 4];
            esc[elen++] = hex[cp & 15];
        } else {
            if (o + n >= size)
                break;
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        if (o + elen >= size)
            break;
        memcpy(out + o, esc, elen);
        o += elen;
        i += n;
    }
    out[o] = '\0';
    return o;
}
