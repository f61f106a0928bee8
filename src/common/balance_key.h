/*
 * The balance key: the fields that identify one balance, by which a receiver
 * applies a snapshot (a key's state is replaced by what the snapshot says of
 * it) and the reconciler folds and compares.  One definition for both halves:
 * the job publishes whole keys in an incremental run by it, and the
 * reconciler keys its tables by it.
 *
 * The fields, in order: organization code, item number, revision,
 * subinventory, locator (its name, or its id when there is no name), lot
 * number, owning party.  Absent fields are "".
 */
#ifndef OHP_BALANCE_KEY_H
#define OHP_BALANCE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define OHP_KEY_NFIELDS 7
enum {
    OHP_KEY_ORG,
    OHP_KEY_ITEM,
    OHP_KEY_REV,
    OHP_KEY_SUB,
    OHP_KEY_LOC,
    OHP_KEY_LOT,
    OHP_KEY_OWNER
};

static inline const char *ohp_key_text(const char *s)
{
    return s ? s : "";
}

/* Fill kf[] with a balance's key fields (NULL fields become ""). */
static inline void ohp_key_fields(const char *kf[OHP_KEY_NFIELDS], const char *organization_code,
                                  const char *item_number, const char *revision,
                                  const char *subinventory_code, const char *locator_name,
                                  const char *locator_id, const char *lot_number,
                                  const char *owning_party_id)
{
    kf[OHP_KEY_ORG] = ohp_key_text(organization_code);
    kf[OHP_KEY_ITEM] = ohp_key_text(item_number);
    kf[OHP_KEY_REV] = ohp_key_text(revision);
    kf[OHP_KEY_SUB] = ohp_key_text(subinventory_code);
    kf[OHP_KEY_LOC] =
        locator_name != NULL && locator_name[0] != '\0' ? locator_name : ohp_key_text(locator_id);
    kf[OHP_KEY_LOT] = ohp_key_text(lot_number);
    kf[OHP_KEY_OWNER] = ohp_key_text(owning_party_id);
}

/* A 128-bit digest of a key: two independent 64-bit lanes. */
typedef struct ohp_key_digest {
    uint64_t a, b;
} ohp_key_digest;

/* The digest of the key fields kf[] (field boundaries are part of it). */
ohp_key_digest ohp_key_digest_of(const char *const kf[OHP_KEY_NFIELDS]);

/*
 * A set of key digests, in one open-addressed table of 16 bytes a slot, kept
 * at most half full: between 32 and 64 bytes per key, and while it doubles
 * the old table lives beside the new one.  Two keys sharing a digest (odds
 * about n^2 / 2^129) would be taken as one.
 */
typedef struct ohp_keyset {
    ohp_key_digest *slots; /* {0, 0}: empty */
    size_t cap;            /* a power of two, or 0 */
    size_t count;
} ohp_keyset;

struct ohp_alloc;
/* Add d; OHP_OK or OHP_ENOMEM.  *added tells whether it was new. */
int ohp_keyset_add(ohp_keyset *s, const struct ohp_alloc *a, ohp_key_digest d, int *added);
/* Non-zero when d is in the set. */
int ohp_keyset_has(const ohp_keyset *s, ohp_key_digest d);
/* Empty the set, keeping its memory when keep is non-zero. */
void ohp_keyset_clear(ohp_keyset *s, const struct ohp_alloc *a, int keep);

#endif
