/*
 * Contributions: a line's quantity and serial number land at its key, by
 * merging while the sides arrive in key order and by hashing once they do not.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rc_uom_index(ohp_reconcile *rc, const char *code, uint16_t *out)
{
    if (rc->last_uom < rc->nuoms && ohp_short_eq(rc->uoms[rc->last_uom].code, code)) {
        *out = (uint16_t)(rc->last_uom + 1);
        return OHP_OK;
    }
    for (size_t i = 0; i < rc->nuoms; i++) {
        if (strcmp(rc->uoms[i].code, code) == 0) {
            rc->last_uom = i;
            *out = (uint16_t)(i + 1);
            return OHP_OK;
        }
    }
    if (rc->nuoms >= 65535)
        return rc_fail(rc, OHP_ELIMIT, "more than 65535 units of measure");
    if (rc->nuoms == rc->cap_uoms) {
        uom *u = rc_grown(&rc->alloc, rc->uoms, &rc->cap_uoms, sizeof *u, 8);
        if (u == NULL)
            return rc_fail(rc, OHP_ENOMEM, "out of memory");
        rc->uoms = u;
    }
    uom *u = &rc->uoms[rc->nuoms];
    memset(u, 0, sizeof *u);
    u->code = ohp_strdup(&rc->alloc, code);
    if (u->code == NULL)
        return rc_fail(rc, OHP_ENOMEM, "out of memory");
    rc->last_uom = rc->nuoms++;
    *out = (uint16_t)rc->nuoms;
    return OHP_OK;
}

void rc_stream_begin(ohp_reconcile *rc)
{
    rc->stream_last = NONE;
    rc->cursor = rc->cmp.n ? 0 : NONE;
    rc->cursor_left = rc->cmp.n;
}

/* Find or add the key while merging (see struct ohp_reconcile). */
static int merge_get(ohp_reconcile *rc, const char *key, uint32_t klen, uint32_t *ref, bool *added)
{
    tab *t = &rc->cmp;
    if (rc->stream_last != NONE) {
        const entry *last = tab_at(t, rc->stream_last);
        int c = key_cmp_raw(key, klen, last->key, last->klen);
        if (c == 0) {
            *ref = rc->stream_last;
            *added = false;
            return OHP_OK;
        }
        if (c < 0) { /* out of order: hash from now on */
            rc->merging = false;
            int r = rc_tab_index(t, &rc->alloc, rc->expect_keys);
            return r ? r : rc_tab_get(t, &rc->alloc, key, klen, rc_hash(key, klen), ref, added);
        }
    }
    int c = 1;
    while (rc->cursor_left > 0) {
        const entry *cur = tab_at(t, rc->cursor);
        if ((c = key_cmp_raw(cur->key, cur->klen, key, klen)) >= 0)
            break;
        rc->cursor = --rc->cursor_left ? rc_tab_after(t, rc->cursor) : NONE;
    }
    if (rc->cursor_left > 0 && c == 0) {
        *ref = rc->cursor;
        *added = false;
    } else {
        int r = rc_tab_append(t, &rc->alloc, key, klen, ref);
        if (r != OHP_OK)
            return r;
        *added = true;
    }
    rc->stream_last = *ref;
    return OHP_OK;
}

/* Apply one waiting contribution. */
static int apply(ohp_reconcile *rc, const pend *p)
{
    int r;
    uint32_t ref;
    bool added;
    const char *text = rc->text.data;
    int side = p->side;
    if (rc->merging) {
        r = merge_get(rc, text + p->key, p->klen, &ref, &added);
    } else {
        uint32_t h = p->hashed ? p->hash : rc_hash(text + p->key, p->klen);
        r = rc_tab_get(&rc->cmp, &rc->alloc, text + p->key, p->klen, h, &ref, &added);
    }
    if (r != OHP_OK)
        return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory") : rc_fail(rc, r, "too many keys");
    entry *e = tab_at(&rc->cmp, ref);
    if (added) {
        /* the previous key and the first are in the cache: ordering facts come cheap here */
        if (rc->cmp.n == 1) {
            rc->lcp = e->klen;
        } else {
            const entry *first = tab_at(&rc->cmp, 0);
            if (!rc->unordered && key_cmp(tab_at(&rc->cmp, rc->last_added), e) > 0)
                rc->unordered = true;
            size_t j = 0, n = e->klen < rc->lcp ? e->klen : rc->lcp;
            while (j < n && e->key[j] == first->key[j])
                j++;
            rc->lcp = j;
        }
        rc->last_added = ref;
        e->uom = p->uom; /* the unit is part of the key */
    }
    e->flags |= (uint8_t)(F_PRESENT << side);
    qty *dst = &e->q[side];
    if (p->qkind == Q_SMALL) {
        if (p->m != 0 && rc_qty_add_small(&rc->big, dst, p->m, p->scale, &rc->alloc) != OHP_OK)
            return rc_fail(rc, OHP_ENOMEM, "out of memory");
    } else if (p->qkind == Q_TEXT) {
        if ((r = rc_qty_add_text(&rc->big, dst, text + p->qtext, &rc->alloc)) != OHP_OK)
            return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory")
                                   : rc_fail(rc, r, "a quantity sum exceeds %d integer digits",
                                             OHP_ACC_INT_LIMBS * 9);
    }
    if (p->skey != SIZE_MAX) {
        uint32_t si;
        if ((r = rc_tab_get(&rc->ser, &rc->alloc, text + p->skey, p->sklen, p->shash, &si,
                            &added)) != OHP_OK)
            return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory")
                                   : rc_fail(rc, r, "too many serials");
        serial *s = tab_at(&rc->ser, si);
        if (added)
            s->entry[0] = s->entry[1] = NONE;
        if (s->count[side] == 0) {
            s->entry[side] = ref;
            rc->distinct[side]++;
        } else {
            /* more than once on this side: every occurrence is kept, the first one too */
            size_t need = s->count[side] == 1 ? 2 : 1;
            if (rc->nocc + need > rc->cap_occ) {
                occ *o = rc_grown(&rc->alloc, rc->occs, &rc->cap_occ, sizeof *o, 16);
                if (o == NULL)
                    return rc_fail(rc, OHP_ENOMEM, "out of memory");
                rc->occs = o;
            }
            if (need == 2)
                rc->occs[rc->nocc++] =
                    (occ){.serial = si, .entry = s->entry[side], .side = (uint8_t)side};
            rc->occs[rc->nocc++] = (occ){.serial = si, .entry = ref, .side = (uint8_t)side};
        }
        if (s->count[side] < UINT32_MAX)
            s->count[side]++;
    }
    return OHP_OK;
}

int rc_flush(ohp_reconcile *rc)
{
    int r = OHP_OK;
    for (size_t i = 0; i < rc->npending; i++) {
        const pend *p = &rc->pending[i];
        if (p->hashed)
            tab_prefetch_rec(&rc->cmp, p->hash);
        if (p->skey != SIZE_MAX)
            tab_prefetch_rec(&rc->ser, p->shash);
    }
    for (size_t i = 0; i < rc->npending && r == OHP_OK; i++)
        r = apply(rc, &rc->pending[i]);
    rc->npending = 0;
    rc->text.len = 0;
    return r;
}

int rc_cmp_key(ohp_reconcile *rc, const char *const kf[NKEY], uint16_t uom_ix)
{
    int r;
    if (rc->npending == BATCH && (r = rc_flush(rc)) != OHP_OK)
        return r;
    rc->cur_key = rc->text.len;
    if ((r = rc_key_append(&rc->text, &rc->alloc, kf, rc->ignore, rc->uoms[uom_ix - 1].code,
                           &rc->cur_klen, &rc->cur_prefix, &rc->used)) != OHP_OK)
        return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory") : rc_fail(rc, r, "key too long");
    rc->cur_hashed = !rc->merging; /* merging finds keys by a cursor, not by their hash */
    if (rc->cur_hashed) {
        rc->cur_hash = rc_hash(rc->text.data + rc->cur_key, rc->cur_klen);
        tab_prefetch(&rc->cmp, rc->cur_hash);
    }
    return OHP_OK;
}

int rc_push(ohp_reconcile *rc, int side, const qin *q, uint16_t uom_ix, const char *serial_no,
            size_t sl)
{
    if (rc->npending == BATCH) {
        int r;
        /* the current key survives the flush: it moves to the start of text */
        size_t off = rc->cur_key, len = (size_t)rc->cur_klen + 1;
        if ((r = rc_flush(rc)) != OHP_OK)
            return r;
        memmove(rc->text.data, rc->text.data + off, len);
        rc->text.len = len;
        rc->cur_key = 0;
    }
    pend *p = &rc->pending[rc->npending];
    p->key = rc->cur_key;
    p->klen = rc->cur_klen;
    /*
     * A flush above may have ended merging in the middle of the key's
     * contributions: the hash is only what rc_cmp_key() computed (apply()
     * computes a missing one).
     */
    p->hash = rc->cur_hash;
    p->hashed = rc->cur_hashed;
    p->side = (uint8_t)side;
    p->uom = uom_ix;
    p->qkind = Q_NONE;
    if (q != NULL && q->small) {
        p->qkind = Q_SMALL;
        p->m = q->m;
        p->scale = q->scale;
    } else if (q != NULL) {
        p->qkind = Q_TEXT;
        p->qtext = rc->text.len;
        const char *t = q->sum ? q->sum : q->d.text;
        if (ohp_buf_append(&rc->text, &rc->alloc, t, strlen(t) + 1))
            return rc_fail(rc, OHP_ENOMEM, "out of memory");
    }
    p->skey = SIZE_MAX;
    if (serial_no != NULL && sl > 0) {
        size_t prefix = rc->cur_prefix;
        if (prefix + sl > UINT32_MAX / 2)
            return rc_fail(rc, OHP_ELIMIT, "serial number too long");
        if (ohp_buf_reserve(&rc->text, &rc->alloc, prefix + sl + 1))
            return rc_fail(rc, OHP_ENOMEM, "out of memory");
        p->skey = rc->text.len;
        char *o = rc->text.data + p->skey;
        memcpy(o, rc->text.data + p->key, prefix);
        memcpy(o + prefix, serial_no, sl);
        o[prefix + sl] = '\0';
        rc->text.len += prefix + sl + 1;
        p->sklen = (uint32_t)(prefix + sl);
        p->shash = rc_hash(o, p->sklen);
        tab_prefetch(&rc->ser, p->shash);
    }
    rc->npending++;
    return OHP_OK;
}

void rc_record_key(const ohp_snapshot_record *rec, const char *kf[NKEY])
{
    ohp_key_fields(kf, rec->organization_code, rec->item_number, rec->revision,
                   rec->subinventory_code, rec->locator_name, rec->locator_id, rec->lot_number,
                   rec->owning_party_id);
}
