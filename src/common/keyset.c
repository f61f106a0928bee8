/*
 * Balance-key digests and a set of them: what an incremental run remembers
 * of each changed key between its two passes over the source.
 */
#include "balance_key.h"
#include "ohp_internal.h"

#include <string.h>

static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Mix one 64-bit word into both lanes, each with its own multiplier. */
static inline void mix(ohp_key_digest *d, uint64_t w)
{
    d->a = (d->a ^ w) * 0x9E3779B97F4A7C15ull;
    d->a ^= d->a >> 29;
    d->b = (d->b ^ (w + 0x632BE59BD9B4E019ull)) * 0xD6E8FEB86659FD93ull;
    d->b ^= d->b >> 31;
}

ohp_key_digest ohp_key_digest_of(const char *const kf[OHP_KEY_NFIELDS])
{
    ohp_key_digest d = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull};
    for (int i = 0; i < OHP_KEY_NFIELDS; i++) {
        const char *p = kf[i];
        size_t n = strlen(p);
        mix(&d, (uint64_t)n << 8 | (uint64_t)i); /* the field's boundary */
        while (n >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            mix(&d, w);
            p += 8;
            n -= 8;
        }
        if (n) {
            uint64_t w = 0;
            memcpy(&w, p, n);
            mix(&d, w);
        }
    }
    d.a = fmix64(d.a);
    d.b = fmix64(d.b ^ d.a);
    if (d.a == 0 && d.b == 0)
        d.b = 1; /* {0, 0} marks an empty slot */
    return d;
}

static size_t slot_of(const ohp_keyset *s, ohp_key_digest d)
{
    size_t i = (size_t)d.a & (s->cap - 1);
    while (s->slots[i].a != 0 || s->slots[i].b != 0) {
        if (s->slots[i].a == d.a && s->slots[i].b == d.b)
            return i;
        i = (i + 1) & (s->cap - 1);
    }
    return i;
}

static int grow(ohp_keyset *s, const ohp_alloc *a)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    if (cap > SIZE_MAX / sizeof *s->slots)
        return OHP_ENOMEM;
    ohp_key_digest *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = ohp_calloc(a, cap, sizeof *s->slots);
    if (s->slots == NULL) {
        s->slots = old;
        return OHP_ENOMEM;
    }
    s->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].a != 0 || old[i].b != 0)
            s->slots[slot_of(s, old[i])] = old[i];
    ohp_free(a, old);
    return OHP_OK;
}

int ohp_keyset_add(ohp_keyset *s, const ohp_alloc *a, ohp_key_digest d, int *added)
{
    *added = 0;
    if ((s->count + 1) * 2 > s->cap && grow(s, a) != OHP_OK)
        return OHP_ENOMEM;
    size_t i = slot_of(s, d);
    if (s->slots[i].a == 0 && s->slots[i].b == 0) {
        s->slots[i] = d;
        s->count++;
        *added = 1;
    }
    return OHP_OK;
}

int ohp_keyset_has(const ohp_keyset *s, ohp_key_digest d)
{
    if (s->count == 0)
        return 0;
    size_t i = slot_of(s, d);
    return s->slots[i].a != 0 || s->slots[i].b != 0;
}

void ohp_keyset_clear(ohp_keyset *s, const ohp_alloc *a, int keep)
{
    if (keep && s->slots != NULL) {
        memset(s->slots, 0, s->cap * sizeof *s->slots);
        s->count = 0;
        return;
    }
    ohp_free(a, s->slots);
    s->slots = NULL;
    s->cap = s->count = 0;
}
