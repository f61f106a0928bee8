/*
 * The publishing pipeline's private interface (docs/architecture.md): the
 * stages below the job — record checks and serial planning (record.c), block
 * deflate (deflater.c), ZIP framing (zipwriter.c) — and the job's hooks for
 * the ready-made sources above it (source/).  Built on the shared pieces of
 * ohp_internal.h; nothing in the reading half includes this header.
 */
#ifndef OHP_PUBLISH_H
#define OHP_PUBLISH_H

#include "ohp_internal.h"

/* ---- job internals used by the ready-made sources ---- */

/*
 * Told of each record error of the current source (record `ordinal`, its rule
 * and message), with the source's user data.  Set after ohp_job_set_source(),
 * which clears it; a ready-made source uses it to remember where the error is.
 */
typedef void (*ohp_record_error_hook_fn)(void *source_ud, uint64_t ordinal, int rule,
                                         const char *message);
void ohp_job_set_record_error_hook(ohp_job *job, ohp_record_error_hook_fn hook);

/* Non-zero if a callback already explained the current failure. */
int ohp_job_has_callback_error(const ohp_job *job);

/*
 * The balances column a record error of ohp_record_check() concerns, from
 * its rule and message (which name it), or NULL when it concerns no single
 * column (or the rule is OHP_RULE_SOURCE: the source knows).
 */
const char *ohp_record_error_column(int rule, const char *message);

/* ---- ZIP writer over an append-only sink ---- */

typedef struct ohp_zipwriter ohp_zipwriter;

/* Output function: 0 ok, non-zero fails (the writer latches the error). */
typedef int (*ohp_zw_output_fn)(void *ctx, const void *buf, size_t len);

int ohp_zipwriter_new(ohp_zipwriter **out, const ohp_alloc *a, ohp_zw_output_fn output, void *ctx,
                      const char *entry_name, int64_t mtime, int engine, int level,
                      unsigned threads, char *errmsg);
/* Append uncompressed entry bytes. */
int ohp_zipwriter_write(ohp_zipwriter *zw, const void *buf, size_t len);
/* Finish the entry: the last deflate block, the data descriptor.  The sizes and CRC are known. */
int ohp_zipwriter_finish_entry(ohp_zipwriter *zw);
/* The central directory and the end record, with comment (NULL: none; at most 65535 bytes). */
int ohp_zipwriter_close(ohp_zipwriter *zw, const char *comment);
void ohp_zipwriter_free(ohp_zipwriter *zw);
uint64_t ohp_zipwriter_uncompressed(const ohp_zipwriter *zw);
uint64_t ohp_zipwriter_compressed(const ohp_zipwriter *zw);
uint64_t ohp_zipwriter_total(const ohp_zipwriter *zw);
uint32_t ohp_zipwriter_crc(const ohp_zipwriter *zw);
/* Non-zero if the failure came from the output function (the sink). */
int ohp_zipwriter_output_failed(const ohp_zipwriter *zw);

/* ---- block deflate, inline or on worker threads ---- */

/*
 * The block layout (src/deflater.c): blocks of OHP_DF_BLOCK bytes, each
 * primed with the last OHP_DF_DICT bytes before it (with zlib,
 * OHP_DF_DICT_FAST at levels 1 to 3).  It fixes the output bytes, so it is
 * part of the format the library produces; the benchmark reads it for its
 * block-deflate limit.
 */
#define OHP_DF_BLOCK ((size_t)128 * 1024)
#define OHP_DF_DICT ((size_t)32 * 1024)
#define OHP_DF_DICT_FAST ((size_t)16 * 1024)
#define OHP_DF_DICT_SIZE(level) ((level) <= 3 ? OHP_DF_DICT_FAST : OHP_DF_DICT)
/* ISA-L hashes its dictionary in a few microseconds: always the full 32 KiB. */
#define OHP_DF_DICT_SIZE_ENGINE(engine, level)                                                     \
    ((engine) == OHP_ENGINE_ISAL ? OHP_DF_DICT : OHP_DF_DICT_SIZE(level))
/* compression_level 1, 2 and 3-9 run ISA-L levels 1, 2 and 3. */
#define OHP_DF_ISAL_LEVEL(level) ((level) >= 3 ? 3 : (level))

typedef struct ohp_deflater ohp_deflater;
typedef int (*ohp_df_output_fn)(void *ctx, const void *buf, size_t len);

/*
 * engine is OHP_ENGINE_ZLIB or OHP_ENGINE_ISAL (resolved: never BEST); ISA-L
 * only in a build with it (ohp_engine_available()).
 */
int ohp_deflater_new(ohp_deflater **out, const ohp_alloc *a, int engine, int level,
                     unsigned threads, ohp_df_output_fn output, void *ctx);
int ohp_deflater_write(ohp_deflater *d, const void *buf, size_t len);
int ohp_deflater_finish(ohp_deflater *d);
/* Stops and joins the workers, frees everything. */
void ohp_deflater_free(ohp_deflater *d);
uint32_t ohp_deflater_crc(const ohp_deflater *d);
uint64_t ohp_deflater_in(const ohp_deflater *d);
uint64_t ohp_deflater_out(const ohp_deflater *d);

/* ---- record checking and serial planning ---- */

typedef struct ohp_limits {
    size_t max_field_length;
    size_t max_serials_per_record;
} ohp_limits;

/* One serial item of a record after checking: a single or a numeric range. */
typedef struct ohp_serial_item {
    const char *from; /* points into the record or the list copy */
    size_t from_len;
    /* numeric range: prefix = from[0..prefix_len), width digits follow */
    size_t prefix_len;
    size_t width;
    uint64_t lo, hi; /* low 18 digits of the numeric suffix */
    bool numeric;    /* has a numeric suffix (singles) or is a range */
    bool range;
    bool quote;   /* needs quoting in layout v1 (a range's members: as from, digits never do) */
    size_t order; /* position in the record */
} ohp_serial_item;

typedef struct ohp_serial_plan {
    ohp_serial_item *items;
    size_t count;
    size_t cap;
    ohp_buf list_copy; /* serial_list split into NUL-separated pieces */
    ohp_serial_item *sorted;
    size_t sorted_cap;
    uint64_t total; /* number of serials */
} ohp_serial_plan;

void ohp_serial_plan_free(ohp_serial_plan *p, const ohp_alloc *a);

/* A checked record ready to encode. */
/* Text fields of a record, in the order ohp_record_check scans them. */
enum ohp_text_field {
    OHP_TF_ORGANIZATION_ID,
    OHP_TF_ORGANIZATION_CODE,
    OHP_TF_INVENTORY_ITEM_ID,
    OHP_TF_ITEM_NUMBER,
    OHP_TF_REVISION,
    OHP_TF_SUBINVENTORY_CODE,
    OHP_TF_LOCATOR_ID,
    OHP_TF_LOCATOR_NAME,
    OHP_TF_LOT_NUMBER,
    OHP_TF_LOT_EXPIRATION_DATE,
    OHP_TF_PRIMARY_QUANTITY,
    OHP_TF_PRIMARY_UOM_CODE,
    OHP_TF_SECONDARY_QUANTITY,
    OHP_TF_SECONDARY_UOM_CODE,
    OHP_TF_OWNING_PARTY_ID,
    OHP_TF_PROJECT_ID,
    OHP_TF_TASK_ID,
    OHP_TF_MATERIAL_STATUS_CODE,
    OHP_TF_LAST_UPDATE_DATE,
    OHP_TF_COUNT
};

typedef struct ohp_checked {
    size_t len[OHP_TF_COUNT]; /* byte length (0 when absent) */
    bool quote[OHP_TF_COUNT]; /* needs quoting in layout v1 */
    size_t text_total;        /* the sum of len[] */
    ohp_decimal primary;
    ohp_decimal secondary;
    bool has_secondary;
    int64_t last_update;
    int64_t lot_expiration;
    /* Records of one export share their days: the last day of each date read. */
    ohp_day_cache update_day, lot_day;
    /* LAST_UPDATE_DATE when it is already layout v1's text, else NULL */
    const char *update_text;
    /* the last LAST_UPDATE_DATE formatted, and its value */
    bool formatted_ok;
    int64_t formatted_value;
    char formatted[OHP_DATE_BUFSIZE];
} ohp_checked;

/* Initialise the per-run parts of a checked record (its date cache). */
void ohp_checked_init(ohp_checked *chk);
/* Parse a LAST_UPDATE_DATE through the cache. */
int ohp_checked_date(ohp_checked *chk, const char *text, int64_t *out);
/* The LAST_UPDATE_DATE checked last as layout v1 text (19 bytes). */
const char *ohp_checked_last_update_text(ohp_checked *chk);

/*
 * Check a record against every rule and plan its serials.  Returns OHP_OK,
 * OHP_ERECORD (rule set, msg explains without the record's name),
 * OHP_ENOMEM.
 */
int ohp_record_check(const ohp_record *rec, const ohp_limits *lim, ohp_checked *chk,
                     ohp_serial_plan *plan, const ohp_alloc *a, int *rule, char *msg);
/* Parse last_update_date only (for window filtering before full checks). */

/* Write serial number k-th of an item into buf (needs from_len+1). */
void ohp_serial_item_format(const ohp_serial_item *it, uint64_t value, char *buf);

#endif
