/*
 * The snapshot manifest (docs/psv-format.md, "The manifest"): one line of
 * JSON in the ZIP's archive comment that says what the run covered and what
 * the entry holds.  The publisher writes it; the snapshot reader parses it
 * and checks the entry against it.  One format, written and read here.
 */
#ifndef OHP_MANIFEST_H
#define OHP_MANIFEST_H

#include "ohp_internal.h"

/* The first bytes of every manifest: its marker key (which carries the format version). */
#define OHP_MANIFEST_PREFIX "{\"onhandpub_manifest\":\""
#define OHP_MANIFEST_MAJOR 1
#define OHP_MANIFEST_MINOR 0
/* A ZIP comment holds at most this many bytes. */
#define OHP_MANIFEST_MAX 65535

/* One unit of measure's exact total of PRIMARY_QUANTITY. */
typedef struct ohp_manifest_unit {
    const char *code;
    const char *total; /* canonical decimal */
} ohp_manifest_unit;

/* A manifest's fields (strings borrowed when writing, owned by the parse when read). */
typedef struct ohp_mf {
    unsigned major, minor;
    int layout;
    const char *system;
    const char *organization;
    uint64_t run_id;
    int mode;  /* ohp_mode */
    int items; /* ohp_items */
    int64_t window_start;
    int64_t snapshot_date;
    uint64_t data_lines;
    uint64_t serial_lines;
    uint64_t psv_bytes;
    uint32_t crc32;
    const ohp_manifest_unit *units;
    size_t nunits;
    const char *library;
    /* when parsed: the storage the strings and units live in */
    char *store;
    ohp_manifest_unit *unit_store;
} ohp_mf;

/*
 * The manifest of m as one line of JSON (no line end) into b, replacing
 * what it held: OHP_ENOMEM, or OHP_ELIMIT when it would not fit a ZIP
 * comment.  The same fields give the same bytes.
 */
int ohp_manifest_format(const ohp_mf *m, ohp_buf *b, const ohp_alloc *a);

/* Does the text (len bytes) begin like a manifest? A comment that does not is someone else's. */
bool ohp_manifest_marked(const char *text, size_t len);

/*
 * Parse a manifest (text of len bytes, marked) into *m; free it with
 * ohp_manifest_clear.  OHP_EPARSE when it is malformed or a field is
 * missing, OHP_EVERSION for another major version (a later minor version's
 * unknown fields are skipped), OHP_ENOMEM; msg (OHP_ERRMSG_SIZE) says why.
 */
int ohp_manifest_parse(const char *text, size_t len, ohp_mf *m, const ohp_alloc *a, char *msg);
void ohp_manifest_clear(ohp_mf *m, const ohp_alloc *a);

#endif
