/*
 * Base64: encoding, and decoding in a stream of chunks of any size.
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

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long b64_decode(b64_decoder *d, const char *in, size_t n, unsigned char *out)
{
    long o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            d->pad++;
            if (d->nacc + d->pad > 4 || d->nacc < 2) {
                d->bad = 1;
                return -1;
            }
            if (d->nacc + d->pad == 4) {
                if (d->nacc == 2) {
                    out[o++] = (unsigned char)(d->acc >> 4);
                } else {
                    out[o++] = (unsigned char)(d->acc >> 10);
                    out[o++] = (unsigned char)(d->acc >> 2);
                }
                d->nacc = 0;
                d->acc = 0;
                d->pad = 5; /* complete: nothing may follow */
            }
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || d->pad) {
            d->bad = 1;
            return -1;
        }
        d->acc = d->acc << 6 | (uint32_t)v;
        if (++d->nacc == 4) {
            out[o++] = (unsigned char)(d->acc >> 16);
            out[o++] = (unsigned char)(d->acc >> 8);
            out[o++] = (unsigned char)d->acc;
            d->nacc = 0;
            d->acc = 0;
        }
    }
    return o;
}

int b64_finish(const b64_decoder *d)
{
    return !d->bad && d->nacc == 0 && (d->pad == 0 || d->pad == 5) ? 0 : -1;
}
