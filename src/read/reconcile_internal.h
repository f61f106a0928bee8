/*
 * The reconciler's private interface.  The handle and its tables are
 * declared here; each stage is a file:
 *
 *   reconcile.c           the public ohp_reconcile_* entry points and their state guard
 *   reconcile_table.c     pools, hash tables of records keyed inline, balance keys
 *   reconcile_qty.c       exact quantities held in 9 bytes, big sums in accumulators
 *   reconcile_add.c       a line's contributions land at their key (merge or hash)
 *   reconcile_fold.c      snapshots in: one FULL straight in, a chain folded
 *   reconcile_external.c  the external side as a PSV with named columns
 *   reconcile_compare.c   keys in order, discrepancies and their classes, totals
 *
 * Data flows down that list; nothing here is seen outside src/read/.
 */
#ifndef OHP_RECONCILE_INTERNAL_H
#define OHP_RECONCILE_INTERNAL_H

#include "balance_key.h"
#include "ohp_internal.h"

#include <string.h>

/* The balance key, as the job defines it for whole keys (balance_key.h). */
#define NKEY OHP_KEY_NFIELDS

enum {
    KF_ORG = OHP_KEY_ORG,
    KF_ITEM = OHP_KEY_ITEM,
    KF_REV = OHP_KEY_REV,
    KF_SUB = OHP_KEY_SUB,
    KF_LOC = OHP_KEY_LOC,
    KF_LOT = OHP_KEY_LOT,
    KF_OWNER = OHP_KEY_OWNER
};

#define NONE UINT32_MAX

/*
 * ---- pools: records addressed by 32-bit references ----
 *
 * A reference is a block number and an offset in 8-byte units.  Blocks are
 * never moved or freed before the pool, so a record's address is stable, and
 * the hash tables below hold references (4 bytes) instead of pointers.
 */
#define POOL_SHIFT 17                                         /* 8-byte units per block */
#define POOL_BLOCK ((size_t)8 << POOL_SHIFT)                  /* 1 MiB */
#define POOL_MAXBLOCKS (((size_t)1 << (32 - POOL_SHIFT)) - 1) /* NONE stays free */

typedef struct pblock {
    size_t used, cap;
    uint64_t data[]; /* 8-byte aligned records */
} pblock;

typedef struct pool {
    pblock **b;
    size_t n, cap;
} pool;

static inline void *pool_at(const pool *p, uint32_t ref)
{
    return (char *)p->b[ref >> POOL_SHIFT]->data + ((size_t)(ref & ((1u << POOL_SHIFT) - 1)) << 3);
}

/*
 * ---- exact quantities ----
 *
 * A quantity is a 64-bit mantissa and a scale, 9 bytes so that a key's entry
 * stays small.  A sum that leaves 18 digits moves to an accumulator: its
 * scale becomes QBIG and the mantissa is the accumulator's index in the
 * reconciler's table of big values.
 */
#define QBIG 0xff

typedef struct __attribute__((packed)) qty {
    int64_t m;
    uint8_t scale;
} qty;

typedef struct bigs {
    ohp_acc **v;
    size_t n, cap;
} bigs;

static inline ohp_acc *qty_big(const bigs *b, const qty *q)
{
    return q->scale == QBIG ? b->v[q->m] : NULL;
}

/*
 * ---- hash tables of records with their key inline ----
 *
 * A record is a fixed header (beginning with the key length) followed by
 * the key and a NUL, in a pool; the slots hold the key's hash and the
 * record's reference.  One record per key and nothing else: at a million
 * keys the table's memory, and the page faults of first touching it, are
 * most of a reconciliation's cost.
 */
typedef struct tab {
    pool recs;
    uint64_t *slots; /* hash << 32 | (reference + 1); 0: empty */
    size_t nslots, n;
    size_t hdr; /* header bytes before the key */
} tab;

static inline void *tab_at(const tab *t, uint32_t ref)
{
    return pool_at(&t->recs, ref);
}

static inline uint32_t rec_klen(const void *rec)
{
    uint32_t k;
    memcpy(&k, rec, sizeof k);
    return k;
}

static inline void tab_prefetch(const tab *t, uint32_t h)
{
    if (t->nslots)
        __builtin_prefetch(&t->slots[h & (t->nslots - 1)]);
}

/* Prefetch the record the key's first slot names, when its hash matches. */
static inline void tab_prefetch_rec(const tab *t, uint32_t h)
{
    if (t->nslots == 0)
        return;
    uint64_t v = t->slots[h & (t->nslots - 1)];
    if (v != 0 && (uint32_t)(v >> 32) == h)
        __builtin_prefetch(tab_at(t, (uint32_t)v - 1));
}

/* Records in the order they were added: start with *it = {0, 0}; ref may be NULL. */
typedef struct tab_iter {
    size_t b, off;
} tab_iter;

/* ---- balance entries (one per key) ---- */

enum {
    F_PRESENT = 1,    /* << side */
    F_SERIAL_KEY = 64 /* folding: the key's lines are of a serial-controlled item */
};

/*
 * One entry per key and unit of measure in the comparison (the unit is the
 * key's last field, after the NKEY parts), one per key when folding.
 */
typedef struct entry {
    uint32_t klen;
    union {
        uint32_t
            moved; /* comparison: serials counted here on one side, at another key on the other */
        uint32_t gen; /* folding: the snapshot that last replaced the key */
    };
    union {
        uint32_t rank;    /* comparison: the key's place in key order (units of a key share it);
                             re-keying: the entry's new reference */
        uint32_t serials; /* folding: the key's serial numbers and other units (node ref + 1) */
    };
    uint16_t uom; /* UOM index + 1, 0: none (folding: the key's first unit) */
    qty q[2];
    uint8_t flags;
    char key[]; /* NUL-separated key fields, NUL-terminated */
} entry;

/* Byte order of the keys. */
static inline int key_cmp_raw(const char *x, size_t xl, const char *y, size_t yl)
{
    int c = memcmp(x, y, xl < yl ? xl : yl);
    if (c)
        return c;
    return xl < yl ? -1 : xl > yl;
}

static inline int key_cmp(const entry *x, const entry *y)
{
    return key_cmp_raw(x->key, x->klen, y->key, y->klen);
}

/* ---- serial numbers (identity: organization, item, serial) ---- */

typedef struct serial {
    uint32_t klen;
    uint32_t entry[2]; /* the key where each side has it first */
    uint32_t count[2];
    char key[];
} serial;

/* Fold: a key's serial numbers and lines in another unit, newest first. */
typedef struct snode {
    uint32_t next;  /* reference + 1, 0: none */
    uint16_t uom;   /* the line's unit (index + 1) */
    uint8_t serial; /* s is a serial number; else a quantity */
    char s[];
} snode;

/* ---- the handle ---- */

typedef struct uom {
    char *code;
    qty total[2];
    bool counted; /* a compared key (of the ERP side's organization) has a line in it */
} uom;

/*
 * Where a serial number is, on a side that has it more than once: every
 * occurrence (the first one included), so that duplicates can be told
 * apart from the same duplicates on both sides.  Rare.
 */
typedef struct occ {
    const char *key; /* at run: the entry's key, for sorting */
    uint32_t klen;
    uint32_t serial; /* the serial's reference */
    uint32_t entry;  /* the entry's reference */
    uint8_t side;
} occ;

typedef struct serial_disc {
    const char *key; /* the serial's identity, for sorting */
    uint32_t rank;   /* the entry's reference, then its rank in key order */
    uint32_t serial; /* the serial's reference */
    uint32_t klen;
    uint8_t kind;
    uint8_t side;
} serial_disc;

/*
 * Contributions wait in a small batch: the hash slots of the next keys are
 * prefetched when a contribution is queued, and the records those slots
 * name before the batch is applied.  With a million keys the tables are far
 * larger than the caches.
 */
#define BATCH 32

enum { Q_NONE, Q_SMALL, Q_TEXT };

typedef struct pend {
    size_t key;   /* offset into text: the key */
    size_t skey;  /* offset: the serial's identity; SIZE_MAX: no serial */
    size_t qtext; /* offset: the quantity's canonical text (Q_TEXT) */
    uint32_t klen, sklen;
    uint32_t hash, shash;
    int64_t m; /* Q_SMALL */
    uint8_t scale;
    uint8_t qkind;
    uint8_t side;
    uint8_t hashed; /* hash is set: keys seen while merging are hashed only if needed */
    uint16_t uom;
} pend;

struct ohp_reconcile {
    ohp_alloc alloc;
    pend pending[BATCH];
    size_t npending;
    ohp_buf text;
    int ignore;
    char tol_abs[OHP_QTY_BUFSIZE];
    char tol_rel[OHP_QTY_BUFSIZE];
    char *erp_org;              /* the ERP side's organization, once known */
    size_t cur_key, cur_prefix; /* the current key: offset into text; organization and item */
    uint32_t cur_klen, cur_hash;
    bool cur_hashed; /* cur_hash is the current key's hash */
    tab cmp;         /* entries */
    /* for ordering: keys added out of key order; the prefix all keys share */
    bool unordered;
    /*
     * Merging instead of hashing.  While every side's lines arrive in key
     * order, a line's key is the current line's key, a key of an earlier
     * side found by a cursor moving forward through that side's entries
     * (which are in key order), or new; the entries then need no hash slots.
     * The first line out of order gives every entry its slot (rc_tab_index) and
     * the reconciler hashes from then on.
     */
    bool merging;
    uint32_t cursor;      /* the earlier sides' entry the cursor is on, NONE: past them */
    size_t cursor_left;   /* earlier sides' entries from the cursor on */
    uint32_t stream_last; /* this side's last key, NONE: none yet */
    size_t expect_keys;   /* estimate of the keys to come, for sizing the slots */
    uint32_t last_added;
    size_t lcp;
    tab ser;              /* serials */
    uint64_t distinct[2]; /* distinct serials per side */
    bigs big;
    uom *uoms;
    size_t nuoms, cap_uoms;
    occ *occs; /* occurrences of serials a side has more than once */
    size_t nocc, cap_occ;
    int used;   /* OHP_IGNORE_* of the key parts that held a value in an entry's key */
    bool rekey; /* entries were keyed before those parts were dropped */
    size_t last_uom;
    bool loaded[2];
    bool failed; /* a side failed to load: the comparison would be wrong */
    bool ran;
    ohp_buf scratch;
    ohp_reconcile_summary sum;
    char **uom_text; /* after run: per UOM, erp and external totals */
    char errmsg[OHP_ERRMSG_SIZE];
};

/*
 * A quantity as a contribution carries it: a mantissa and a scale, or (past
 * 18 digits) the canonical text in d.
 */
typedef struct qin {
    bool small;
    int64_t m;
    uint8_t scale;
    ohp_decimal d;
    const char *sum; /* instead of d: a folded sum past the parser's limits */
} qin;

/* ---- the handle (reconcile.c) ---- */

/* Set the handle's message; returns code. */
int rc_fail(ohp_reconcile *rc, int code, const char *fmt, ...) OHP_PRINTF(3, 4);
/* "ERP side" or "external side", for messages. */
const char *rc_side_name(int side);

/* ---- pools, hash tables and keys (reconcile_table.c) ---- */

/*
 * An array of elements of size bytes, doubled (or first made `first` long):
 * the new array, *cap updated; NULL (array and *cap unchanged) without memory.
 */
void *rc_grown(const ohp_alloc *a, void *arr, size_t *cap, size_t size, size_t first);
/* Room for size bytes; OHP_ENOMEM, or OHP_ELIMIT past 32 GiB of records. */
int rc_pool_alloc(pool *p, const ohp_alloc *a, size_t size, void **out, uint32_t *ref);
/* Free every block of the pool. */
void rc_pool_free(pool *p, const ohp_alloc *a);
/* The hash of a key of n bytes. */
uint32_t rc_hash(const char *p, size_t n);
/* Free the table's records and slots. */
void rc_tab_free(tab *t, const ohp_alloc *a);
/* Size the slots for about n keys in one step (a hint: failure is harmless). */
void rc_tab_reserve(tab *t, const ohp_alloc *a, size_t n);
/* Add a record for a key known to be new, without a slot (see rc_tab_index). */
int rc_tab_append(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t *ref);
/*
 * Find or add the key.  *ref is its record; *added tells whether it is new
 * (its header is then zero but for the key length).
 */
int rc_tab_get(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t h, uint32_t *ref,
               bool *added);
/* Records in the order they were added: start with *it = {0, 0}; ref may be NULL; NULL at the end.
 */
void *rc_tab_next(const tab *t, tab_iter *it, uint32_t *ref);
/* The record after ref in the order they were added, or NONE. */
uint32_t rc_tab_after(const tab *t, uint32_t ref);
/*
 * Give every record (added by rc_tab_append) its slot, in one pass over the
 * records; the slots are sized for at least expect keys.
 */
int rc_tab_index(tab *t, const ohp_alloc *a, size_t expect);
/*
 * Append the key to b: the fields joined with NUL bytes, NUL-terminated,
 * then (unless unit is NULL) the unit of measure as one more field.
 * *klen: its length without the last NUL; *prefix: the length of the
 * organization and the item with their NULs.
 */
int rc_key_append(ohp_buf *b, const ohp_alloc *a, const char *const f[NKEY], int ignore,
                  const char *unit, uint32_t *klen, size_t *prefix, int *used);
/* The fields of a key built by rc_key_append (pointers into key). */
void rc_split_key(const char *key, const char *f[NKEY]);
/* The length of a comparison entry's key without its unit (the last field). */
uint32_t rc_key_nounit_len(const entry *e);
/* Do two comparison entries have the same key, whatever their units? */
bool rc_same_key_nounit(const entry *x, const entry *y);

/* ---- exact quantities (reconcile_qty.c) ---- */

/* Free the accumulators of big values. */
void rc_bigs_free(bigs *b, const ohp_alloc *a);
/* The quantity as canonical text. */
void rc_qty_text(const bigs *b, const qty *q, char out[OHP_ACC_BUFSIZE]);
/* q += d (OHP_ENOMEM when an accumulator cannot be made). */
int rc_qty_add(bigs *b, qty *q, const ohp_decimal *d, const ohp_alloc *a);
/* Add m * 10^-scale to q. */
int rc_qty_add_small(bigs *b, qty *q, int64_t m, uint8_t s, const ohp_alloc *a);
/*
 * Add a canonical decimal text to q: one the parser takes, or a sum beyond
 * its limits (up to the accumulator's 63 integer digits).
 */
int rc_qty_add_text(bigs *b, qty *q, const char *text, const ohp_alloc *a);
/* Add a quantity to a UOM total (sums of any size). */
int rc_qty_add_to(bigs *b, qty *total, const qty *q, const ohp_alloc *a);
/* Is the quantity zero? */
bool rc_qty_zero(const bigs *b, const qty *q);
/* Back to zero; an accumulator it held is released. */
void rc_qty_clear(bigs *b, qty *q, const ohp_alloc *a);
/* Parse a quantity once; OHP_EPARSE or OHP_ELIMIT when it is no exact decimal. */
int rc_qin_parse(const char *text, qin *q);

/* ---- contributions: a line lands at its key (reconcile_add.c) ---- */

/* The unit of measure code as its index + 1 in *out, added at first sight (at most 65535). */
int rc_uom_index(ohp_reconcile *rc, const char *code, uint16_t *out);
/* A side's lines begin: the cursor goes back to the first entry. */
void rc_stream_begin(ohp_reconcile *rc);
/* Apply every waiting contribution. */
int rc_flush(ohp_reconcile *rc);
/*
 * The key and unit of the contributions that follow (one line's worth):
 * built once, into text, with its hash when keys are hashed.
 */
int rc_cmp_key(ohp_reconcile *rc, const char *const kf[NKEY], uint16_t uom_ix);
/*
 * One contribution at the current key: a parsed quantity (or NULL)
 * in UOM index uom_ix, and optionally one serial number of sl bytes.
 */
int rc_push(ohp_reconcile *rc, int side, const qin *q, uint16_t uom_ix, const char *serial_no,
            size_t sl);
/* A snapshot line's key fields. */
void rc_record_key(const ohp_snapshot_record *rec, const char *kf[NKEY]);

/* ---- loading snapshots (reconcile_fold.c) ---- */

/*
 * One side from n snapshot readers (the entry point checked the state):
 * their identities checked, ordered by snapshot date, then one FULL
 * snapshot straight into the comparison or the chain folded.
 */
int rc_load_snapshots(ohp_reconcile *rc, int side, ohp_snapshot_reader *const *readers, size_t n);

/* ---- the external side (reconcile_external.c) ---- */

/* Load the external side from a PSV read through read (the entry point checked the state). */
int rc_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data);

/* ---- comparing (reconcile_compare.c) ---- */

/* Compare the loaded sides, report each discrepancy, total the units (the entry point checked
 * the state). */
int rc_compare(ohp_reconcile *rc, ohp_discrepancy_fn report, void *user_data);

#endif
