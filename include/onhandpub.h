/*
 * onhandpub.h - libonhandpub public API
 *
 * libonhandpub publishes an inventory organization's on-hand balances as a
 * pipe-separated snapshot file (layout v1, docs/psv-format.md) packed in a
 * ZIP archive, for an external execution system (a WMS or a 3PL) to
 * reconcile against.  The host supplies all I/O through callbacks:
 *
 *   source      yields balance records            (ohp_job_set_source)
 *   sink        receives the ZIP bytes, append-only, never seeks
 *                                                  (ohp_job_set_sink; ready-made:
 *                                                  ohp_job_set_memsink,
 *                                                  ohp_job_set_filesink)
 *   state store keeps the watermark and run ids   (ohp_job_set_state_store2;
 *                                                  ready-made: ohp_job_set_filestate)
 *   authorizer  checks the submitting user's privilege
 *                                                  (ohp_job_set_authorizer)
 *
 * Call sequence of a publish run:
 *   1. ohp_registry_new(), ohp_registry_load_psv() / ohp_registry_add()
 *   2. ohp_job_new()
 *   3. ohp_job_set_registry(), ohp_job_set_source(), ohp_job_set_sink(),
 *      and optionally the state store, authorizer, rejection and progress
 *      callbacks
 *   4. ohp_params_init(), fill the parameters, ohp_job_run()
 *   5. ohp_job_summary(), ohp_job_errmsg()
 *   6. ohp_job_free(), ohp_registry_free()
 *
 * Conventions
 *   - Every fallible call returns an int: OHP_OK (0) or a negative
 *     ohp_error code.  Codes are never renumbered or reused.
 *   - Handles are opaque.  Structs the caller allocates start with
 *     `unsigned int version`; initialise them with the *_INIT macro or the
 *     *_init() function.  New fields are only ever appended.
 *   - Structs the library allocates and hands out (records, summaries) are
 *     read-only to the caller unless stated otherwise; fields are only
 *     appended.
 *   - Strings are NUL-terminated UTF-8.  Unless stated otherwise, strings
 *     passed in are copied or used only during the call; strings returned
 *     are owned by the object they came from.
 *   - Times are int64_t seconds since 1970-01-01 00:00:00 UTC;
 *     OHP_TIME_NONE means "absent".
 *   - Thread safety: the library keeps no global state.  A handle may be
 *     used by one thread at a time; different handles may be used from
 *     different threads concurrently.  A registry that is no longer
 *     modified may be shared read-only by jobs running in several threads.
 *   - Callbacks must not call back into the job that invoked them, except
 *     ohp_job_set_callback_error().
 */
#ifndef ONHANDPUB_H
#define ONHANDPUB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Version                                                             */
/* ------------------------------------------------------------------ */

#define OHP_VERSION_MAJOR 1
#define OHP_VERSION_MINOR 1
#define OHP_VERSION_PATCH 0
#define OHP_VERSION_STRING "1.1.0"
/** Encoded as major * 10000 + minor * 100 + patch. */
#define OHP_VERSION_NUMBER (OHP_VERSION_MAJOR * 10000 + OHP_VERSION_MINOR * 100 + OHP_VERSION_PATCH)

/** The library's version string, e.g. "1.0.0".  Static storage. */
const char *ohp_version(void);
/** The library's version number (see OHP_VERSION_NUMBER). */
int ohp_version_number(void);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/** Error codes.  Values are part of the ABI: never renumbered or reused. */
typedef enum ohp_error {
    OHP_OK = 0,
    OHP_EINVAL = -1,        /**< invalid argument or parameter */
    OHP_ENOMEM = -2,        /**< an allocation failed */
    OHP_ESTATE = -3,        /**< call not allowed in the handle's state */
    OHP_ERECORD = -4,       /**< a balance record broke a rule */
    OHP_ESOURCE = -5,       /**< the data source callback failed */
    OHP_ESINK = -6,         /**< the sink callback failed */
    OHP_EZIP = -7,          /**< the archive writer failed */
    OHP_ENOTFOUND = -8,     /**< unknown external system (or other key) */
    OHP_EINACTIVE = -9,     /**< external system disabled or outside its dates */
    OHP_EEXISTS = -10,      /**< duplicate lookup code; a file that is never replaced exists */
    OHP_EPARSE = -11,       /**< malformed text (date, quantity, PSV) */
    OHP_EDENIED = -12,      /**< not authorized (privilege not granted, or no authorizer) */
    OHP_ESTORE = -13,       /**< the state store callback failed */
    OHP_ECANCELED = -14,    /**< the progress callback cancelled the run */
    OHP_EREJECT = -15,      /**< the rejection callback failed */
    OHP_EVERSION = -16,     /**< a struct version this library does not know */
    OHP_ELIMIT = -17,       /**< a documented limit was exceeded */
    OHP_EAUTH = -18,        /**< the authorizer callback itself failed */
    OHP_EIO = -19,          /**< an I/O callback of a reader failed */
    OHP_EEMPTY = -20,       /**< a full snapshot would hold no line (since 1.1) */
    OHP_EUNSUPPORTED = -21, /**< a feature this build of the library lacks (since 1.1) */
    OHP_EBUSY = -22,        /**< a file state store is locked by another run (since 1.1) */
    OHP_EFILE = -23         /**< a file of a ready-made file end failed (since 1.1) */
} ohp_error;

/** Static English text for an error code ("unknown error" for others). */
const char *ohp_strerror(int code);

/* ------------------------------------------------------------------ */
/* Allocator                                                           */
/* ------------------------------------------------------------------ */

/**
 * A pluggable allocator, used for every allocation a handle makes
 * (including zlib's, and ISA-L's buffers in a build with it).
 * The functions must behave like malloc/realloc/free; they may fail by
 * returning NULL.  Pass NULL wherever an allocator is asked for to use the
 * C library's.
 */
typedef struct ohp_allocator {
    unsigned int version; /**< OHP_ALLOCATOR_VERSION */
    void *(*malloc_fn)(void *opaque, size_t size);
    void *(*realloc_fn)(void *opaque, void *ptr, size_t size);
    void (*free_fn)(void *opaque, void *ptr);
    void *opaque;
} ohp_allocator;

#define OHP_ALLOCATOR_VERSION 1

/* ------------------------------------------------------------------ */
/* Dates, quantities                                                   */
/* ------------------------------------------------------------------ */

/** "No time": an absent date. */
#define OHP_TIME_NONE INT64_MIN

/**
 * Parse a date or date-time into seconds since the epoch, UTC.
 * Accepted: YYYY/MM/DD, YYYY/MM/DD HH:MM:SS, YYYY-MM-DD, YYYY-MM-DD
 * HH:MM:SS (all UTC), YYYY-MM-DDTHH:MM:SSZ and YYYY-MM-DDTHH:MM:SS+HH:MM /
 * -HH:MM (converted to UTC).  Years 0001-9999.  Impossible dates
 * (2026/02/30, hour 24, minute 60) are refused.
 * Returns OHP_OK, OHP_EINVAL (NULL argument) or OHP_EPARSE; the function
 * keeps no message: a caller reporting OHP_EPARSE names the accepted forms
 * with OHP_DATE_FORMATS, as the library's own date errors do.
 */
int ohp_date_parse(const char *text, int64_t *out);

/** The forms ohp_date_parse() accepts, for messages (a string literal). */
#define OHP_DATE_FORMATS                                                                           \
    "YYYY/MM/DD, YYYY/MM/DD HH:MM:SS, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (UTC), "                     \
    "YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS+HH:MM"

/** Size of the buffer ohp_date_format() needs, NUL included. */
#define OHP_DATE_BUFSIZE 20

/**
 * Format a time as "YYYY/MM/DD HH:MM:SS" (UTC), or "YYYY/MM/DD" when
 * date_only is non-zero, into buf (at least OHP_DATE_BUFSIZE bytes).
 * Returns OHP_OK or OHP_EINVAL (NULL buffer, time outside years 1-9999).
 */
int ohp_date_format(int64_t t, int date_only, char buf[OHP_DATE_BUFSIZE]);

/**
 * Canonicalise an exact decimal quantity `-?[0-9]+(\.[0-9]+)?`: no leading
 * zeros, no trailing fractional zeros, no "-0".  Writes a NUL-terminated
 * result of at most strlen(text) + 1 bytes into out (out_size bytes).
 * Returns OHP_OK, OHP_EPARSE (not a decimal), OHP_ELIMIT (more than 40
 * integer or 30 fraction digits) or OHP_EINVAL (NULL, out too small).
 */
int ohp_quantity_canonical(const char *text, char *out, size_t out_size);

/* ------------------------------------------------------------------ */
/* External-system registry (lookup ORA_INV_BALANCES_INV_EXTERNAL)     */
/* ------------------------------------------------------------------ */

/** The lookup type the registry models. */
#define OHP_LOOKUP_TYPE "ORA_INV_BALANCES_INV_EXTERNAL"
/** The seeded code, reserved for Oracle WMS. */
#define OHP_SYSTEM_ORACLE_WMS "0"

typedef struct ohp_registry ohp_registry;

/**
 * One lookup value.  Caller-allocated when adding; when the library fills
 * one in (ohp_registry_find, callbacks) the strings belong to the registry
 * and stay valid until it is modified or freed.  ohp_registry_find() fills
 * only the fields of the version the caller set in out->version (0 is taken
 * as 1).
 */
typedef struct ohp_lookup_value {
    unsigned int version;    /**< OHP_LOOKUP_VALUE_VERSION */
    const char *code;        /**< "0" or a positive integer, <= 18 digits */
    const char *meaning;     /**< display name, required, <= 80 characters */
    const char *description; /**< optional, <= 240 characters */
    int enabled;             /**< non-zero: enabled */
    int64_t start_date;      /**< first active day, or OHP_TIME_NONE */
    int64_t end_date;        /**< last active day, or OHP_TIME_NONE */
    int has_display_sequence;
    int64_t display_sequence;
    const char *tag; /**< optional, <= 150 characters */
} ohp_lookup_value;

#define OHP_LOOKUP_VALUE_VERSION 1
#define OHP_LOOKUP_VALUE_INIT                                                                      \
    {                                                                                              \
        OHP_LOOKUP_VALUE_VERSION, NULL, NULL, NULL, 1, OHP_TIME_NONE, OHP_TIME_NONE, 0, 0, NULL    \
    }
/** Initialise v for the given struct version.  OHP_OK or OHP_EVERSION. */
int ohp_lookup_value_init(ohp_lookup_value *v, unsigned int version);

/**
 * Create a registry holding only the seeded value: code "0", meaning
 * "Oracle WMS", enabled, no dates.  alloc may be NULL.
 * Returns OHP_OK, OHP_EINVAL or OHP_ENOMEM; *out is NULL on failure.
 */
int ohp_registry_new(ohp_registry **out, const ohp_allocator *alloc);

/** Free a registry (NULL is a no-op).  Jobs borrowing it must be done. */
void ohp_registry_free(ohp_registry *reg);

/**
 * Add a value.  Refused with OHP_EINVAL when a rule is broken (code not a
 * positive integer without sign, spaces or leading zeros, at most 18
 * digits; meaning missing or too long; description or tag too long; start
 * after end), OHP_EEXISTS when the code is present (code "0" always is).
 * The message (ohp_registry_errmsg) states the rule.  Strings are copied.
 */
int ohp_registry_add(ohp_registry *reg, const ohp_lookup_value *v);

/**
 * Replace the value with the same code.  For code "0" only meaning,
 * description, display sequence and tag may change: disabling it or giving
 * it a start or end date is refused (OHP_EINVAL).  OHP_ENOTFOUND when the
 * code is absent.
 */
int ohp_registry_update(ohp_registry *reg, const ohp_lookup_value *v);

/** Remove a value.  Code "0" cannot be removed (OHP_EINVAL). */
int ohp_registry_remove(ohp_registry *reg, const char *code);

/**
 * Load values from a PSV buffer with the header
 * LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|
 * END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG (quoting as in layout v1; ENABLED_FLAG
 * Y or N; dates in any ohp_date_parse format).  A row with code 0 updates
 * the seeded value under ohp_registry_update's rules; other rows are added.
 * All or nothing: on any error the registry is unchanged and the message
 * names the line.  Returns OHP_OK, OHP_EPARSE, OHP_EINVAL, OHP_EEXISTS,
 * OHP_ENOMEM.
 */
int ohp_registry_load_psv(ohp_registry *reg, const char *buf, size_t len);

/** Number of values (including code "0"). */
size_t ohp_registry_count(const ohp_registry *reg);

/**
 * Find a value by code; fills *out (borrowed strings).
 * OHP_OK or OHP_ENOTFOUND.
 */
int ohp_registry_find(const ohp_registry *reg, const char *code, ohp_lookup_value *out);

/**
 * Check that code names a system usable on `date`: present, enabled, and
 * date (its UTC day) inside [start_date, end_date].  Returns OHP_OK,
 * OHP_ENOTFOUND or OHP_EINACTIVE, with a message.
 */
int ohp_registry_check(ohp_registry *reg, const char *code, int64_t date);

/** Visitor for ohp_registry_foreach*; non-zero return stops and is returned. */
typedef int (*ohp_lookup_visit_fn)(void *user_data, const ohp_lookup_value *value);

/**
 * Visit every value ordered by display sequence (values without one last),
 * then code (numerically).  Returns OHP_OK or the visitor's non-zero value.
 */
int ohp_registry_foreach(const ohp_registry *reg, ohp_lookup_visit_fn visit, void *user_data);

/**
 * Visit the values usable on `date` (enabled, inside their window) in the
 * same order: the External System parameter's list of values.
 */
int ohp_registry_foreach_usable(const ohp_registry *reg, int64_t date, ohp_lookup_visit_fn visit,
                                void *user_data);

/** The last error message on the registry ("" if none).  Owned by reg. */
const char *ohp_registry_errmsg(const ohp_registry *reg);

/* ------------------------------------------------------------------ */
/* Balance records                                                     */
/* ------------------------------------------------------------------ */

/** One serial number (to == NULL) or an inclusive range from..to. */
typedef struct ohp_serial {
    const char *from;
    const char *to;
} ohp_serial;

/**
 * A balance record, as the source fills it in.  The library allocates it
 * and zeroes it before every call of the source's next callback; the source
 * sets the fields it has.  Pointers must stay valid until the next call of
 * next or close.  NULL or "" means absent.
 *
 * Required: organization_code, item_number, subinventory_code,
 * primary_quantity, primary_uom_code, last_update_date (serial_controlled
 * is always present).  Id fields are decimal integers of at most 18
 * digits.  Quantities are exact decimals `-?[0-9]+(\.[0-9]+)?`; dates take
 * any ohp_date_parse format.  Serials come either as an array
 * (serials/serial_count) or as text (serial_list: serials and FROM..TO
 * ranges separated by commas), not both.
 */
typedef struct ohp_record {
    unsigned int version; /**< set by the library: OHP_RECORD_VERSION */
    const char *organization_id;
    const char *organization_code;
    const char *inventory_item_id;
    const char *item_number;
    const char *revision;
    const char *subinventory_code;
    const char *locator_id;
    const char *locator_name;
    const char *lot_number;
    const char *lot_expiration_date;
    int serial_controlled; /**< non-zero: serial-controlled item */
    const ohp_serial *serials;
    size_t serial_count;
    const char *serial_list;
    const char *primary_quantity;
    const char *primary_uom_code;
    const char *secondary_quantity;
    const char *secondary_uom_code;
    int consigned; /**< non-zero: consigned (owned by owning_party_id) */
    const char *owning_party_id;
    const char *project_id;
    const char *task_id;
    const char *material_status_code;
    const char *last_update_date;
    /**
     * Set by a source that could not build the record (e.g. an unparsable
     * input line): the record is a record error with this text, handled by
     * the job's bad-record policy like any other.
     */
    const char *source_error;
} ohp_record;

#define OHP_RECORD_VERSION 1

/** Record rules.  Values are part of the ABI: never renumbered. */
typedef enum ohp_rule {
    OHP_RULE_NONE = 0,
    OHP_RULE_REQUIRED = 1,           /**< a required field is missing */
    OHP_RULE_QUANTITY = 2,           /**< quantity is not an exact decimal */
    OHP_RULE_DATE = 3,               /**< date is not valid */
    OHP_RULE_ID = 4,                 /**< id is not a decimal integer */
    OHP_RULE_UTF8 = 5,               /**< text is not valid UTF-8 */
    OHP_RULE_SERIAL_COUNT = 6,       /**< serial count differs from quantity */
    OHP_RULE_SERIAL_QUANTITY = 7,    /**< serial quantity not a whole number >= 0 */
    OHP_RULE_SERIAL_DUPLICATE = 8,   /**< serial repeated within the record */
    OHP_RULE_SERIAL_NOT_ALLOWED = 9, /**< serials on a non-serial record */
    OHP_RULE_SERIAL_RANGE = 10,      /**< invalid FROM..TO range */
    OHP_RULE_UOM = 11,               /**< secondary quantity without its UOM */
    OHP_RULE_LIMIT = 12,             /**< a field or serial limit exceeded */
    OHP_RULE_SOURCE = 13             /**< the source flagged the record */
} ohp_rule;

/* ------------------------------------------------------------------ */
/* Job parameters                                                      */
/* ------------------------------------------------------------------ */

/** Items to Publish. */
typedef enum ohp_items {
    OHP_ITEMS_BOTH = 0,     /**< all items */
    OHP_ITEMS_SERIAL = 1,   /**< serial-controlled items only */
    OHP_ITEMS_NONSERIAL = 2 /**< all but serial-controlled items */
} ohp_items;

/** Publish mode, as written in PUBLISH_MODE. */
typedef enum ohp_mode { OHP_MODE_FULL = 0, OHP_MODE_INCREMENTAL = 1 } ohp_mode;

/** What a record error does to the run. */
typedef enum ohp_on_error {
    OHP_ON_ERROR_FAIL = 0,  /**< the first record error fails the run */
    OHP_ON_ERROR_REJECT = 1 /**< bad records go to the rejection callback */
} ohp_on_error;

/**
 * The deflate engine of a run (ohp_params.engine, since 1.1).  Both cut the
 * entry into the same blocks, each primed with the previous 32 KiB (16 KiB
 * for zlib at levels 1 to 3) and ended with a sync flush, so either output
 * is one standard deflate stream that every ZIP reader inflates, and for
 * either the bytes are the same whatever ohp_params.threads is.
 *
 * - OHP_ENGINE_ZLIB: the bytes depend only on the input, the level and the
 *   zlib version: the same archive on every machine.
 * - OHP_ENGINE_ISAL: Intel ISA-L's igzip, several times faster.  Levels 1
 *   and 2 run ISA-L levels 1 and 2; levels 3 to 9 (and the default) run
 *   ISA-L level 3.  ISA-L picks its code for the processor at run time, and
 *   the bytes can differ between processors: at ISA-L level 3 between
 *   AVX-512, AVX2 and older processors, at levels 1 and 2 between processors
 *   with and without SSE4.2 (docs/performance.md).  The archive is the same
 *   for any thread count on one machine, and always inflates to the same
 *   entry; use zlib where archives must be byte-identical across machines.
 * - OHP_ENGINE_BEST: ISA-L when this build has it, zlib otherwise;
 *   ohp_summary.engine tells which ran.
 */
typedef enum ohp_engine {
    OHP_ENGINE_ZLIB = 0,
    OHP_ENGINE_ISAL = 1,
    OHP_ENGINE_BEST = 2
} ohp_engine;

/**
 * 1 if this build of the library can run engine (OHP_ENGINE_ZLIB and
 * OHP_ENGINE_BEST: always; OHP_ENGINE_ISAL: when built with ISA-L), 0 if it
 * cannot or engine is not an ohp_engine.  Thread-safe.  Since 1.1.
 */
int ohp_engine_available(int engine);

/**
 * Parameters of one run.  Caller-allocated; strings are used during
 * ohp_job_run() only.
 */
typedef struct ohp_params {
    unsigned int version;          /**< OHP_PARAMS_VERSION */
    const char *system_code;       /**< External System; NULL means "0" */
    const char *organization_code; /**< Organization, required */
    int items;                     /**< ohp_items */
    int full_publish;              /**< non-zero: Full Publish = Yes */
    int64_t publish_from;          /**< Publish from Date, or OHP_TIME_NONE */
    int64_t snapshot_date;         /**< OHP_TIME_NONE: the clock at start */
    uint64_t run_id;               /**< 0: allocate from the state store */
    int compression_level;         /**< 0 (store) - 9; -1: default (6) */
    int on_error;                  /**< ohp_on_error */
    const char *user;              /**< submitting user, required */
    /**
     * Non-zero: the caller has authorized the request; the library does
     * not consult the authorizer.  Zero (the default): the authorizer must
     * grant OHP_PRIVILEGE, and a job without one refuses every run.
     */
    int caller_authorized;
    uint64_t progress_interval;    /**< records between progress calls; 0: 10000 */
    size_t max_field_length;       /**< bytes; 0: 4000 */
    size_t max_serials_per_record; /**< 0: 1000000 */
    /**
     * Compression threads.  0 or 1: deflate in the calling thread.  N > 1:
     * N worker threads deflate blocks in parallel; the output is
     * byte-identical whatever the number (block boundaries do not depend
     * on it), and no thread outlives ohp_job_run().  At most 64.
     */
    unsigned int threads;
    /* ---- version 2 (1.1) ---- */
    /**
     * Incremental runs: the most balance keys that may have changed since
     * the window start (0: 4,194,304).  The job keeps a 16-byte digest of
     * each changed key between its two passes over the source (see
     * ohp_source_pass), in a table kept at most half full: 32 to 64 bytes
     * per changed key (at most 128 MiB, and 192 MiB while the table
     * doubles, at the default).  More changed keys fail the run with
     * OHP_ELIMIT before anything is written.  Full runs keep nothing.
     */
    uint64_t max_changed_keys;
    /**
     * Non-zero: a FULL run that publishes no line is intended (the
     * organization is empty).  Zero (the default): a FULL run whose source
     * gave records but that publishes no line fails with OHP_EEMPTY (status
     * refused, nothing published, state untouched), since an empty full
     * snapshot tells the receiver the organization holds no stock.
     */
    int allow_empty;
    /**
     * OHP_ON_ERROR_REJECT: the most records that may be rejected (0: no
     * count limit).  More fail the run with OHP_ELIMIT.
     */
    uint64_t max_rejects;
    /**
     * OHP_ON_ERROR_REJECT: the highest share of rejected records, in
     * percent of the records checked (read and within the Organization,
     * Items to Publish and window filters), 1 to 100; 0: 50.  A run whose
     * rejections exceed it fails with OHP_ELIMIT: with any value below 100
     * a run that rejects every record it checks never succeeds.
     */
    unsigned int max_reject_percent;
    /**
     * Non-zero: leave the manifest out of the archive.  By default the ZIP's
     * archive comment holds one line of JSON that says what the run covered
     * and what the entry holds (docs/psv-format.md, "The manifest"); readers
     * of this library check the entry against it, other ZIP readers ignore it.
     */
    int omit_manifest;
    /**
     * The deflate engine (ohp_engine): OHP_ENGINE_ZLIB (the default), ISA-L
     * or the best this build has.  Both write the same block layout and any
     * reader inflates either; see ohp_engine for what each one guarantees.
     * OHP_ENGINE_ISAL in a build without ISA-L fails the run with
     * OHP_EUNSUPPORTED (status refused): never a silent fallback.
     * Compression level 0 stores the entry whatever the engine.
     */
    int engine;
} ohp_params;

#define OHP_PARAMS_VERSION 2
#define OHP_PARAMS_INIT                                                                            \
    {                                                                                              \
        OHP_PARAMS_VERSION, NULL, NULL, OHP_ITEMS_BOTH, 0, OHP_TIME_NONE, OHP_TIME_NONE, 0, -1,    \
            OHP_ON_ERROR_FAIL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, OHP_ENGINE_ZLIB                 \
    }
/**
 * Initialise p with the defaults of the given struct version, writing only
 * the fields that version has (so a caller built against an older header
 * is safe).  OHP_OK, OHP_EINVAL or OHP_EVERSION.
 */
int ohp_params_init(ohp_params *p, unsigned int version);

/** The privilege a user needs to publish. */
#define OHP_PRIVILEGE "INV_PUBLISH_ONHAND_TO_EXT_SYSTEMS_PRIV"

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

/**
 * Which pass over the source a run is making (ohp_source_query.pass).
 *
 * A full run reads the source once (OHP_PASS_ONLY).  An incremental run
 * publishes whole balance keys: every record of a key any of whose records
 * changed at or after the window start, and nothing of the other keys
 * (docs/job.md, "Whole keys").  It reads the source twice:
 * OHP_PASS_CHANGES finds the changed keys (the job needs only the records
 * with LAST_UPDATE_DATE >= window_start: a SQL source may return just
 * those), then OHP_PASS_KEYS publishes them (the job needs every record of
 * every changed key: a SQL source may narrow to those keys with a
 * key-level EXISTS on the window, never to the changed rows).  Both passes
 * should read the same data: a database source runs them in one
 * read-only transaction.  A change that falls between the passes is
 * published by the next run, whose window starts at this snapshot date.
 */
typedef enum ohp_source_pass {
    OHP_PASS_ONLY = 0,    /**< the one pass of a full run */
    OHP_PASS_CHANGES = 1, /**< incremental, first pass: finding the changed keys */
    OHP_PASS_KEYS = 2     /**< incremental, second pass: publishing them whole */
} ohp_source_pass;

/** What the source's open callback is told, so it can narrow its query. */
typedef struct ohp_source_query {
    unsigned int version; /**< OHP_SOURCE_QUERY_VERSION */
    const char *system_code;
    const char *organization_code;
    int items;            /**< ohp_items */
    int mode;             /**< ohp_mode */
    int64_t window_start; /**< incremental: changes at or after; else NONE */
    int64_t snapshot_date;
    uint64_t run_id;
    /* ---- version 2 (1.1) ---- */
    int pass; /**< ohp_source_pass */
} ohp_source_query;

#define OHP_SOURCE_QUERY_VERSION 2

/**
 * Source callbacks.  open is called at the start of every pass over the
 * source (once in a full run, twice in an incremental run: see
 * ohp_source_pass) and must start the records from the beginning each
 * time; non-zero fails the run with OHP_ESOURCE and close is not called
 * for that pass.  An incremental run with no open callback is refused
 * (OHP_EINVAL) before anything is read: such a source cannot be read
 * again.  next fills *rec and returns 1 for a record, 0 at the end,
 * negative on failure (OHP_ESOURCE).  close (may be NULL) is called at the
 * end of every pass whose open succeeded.  The library applies every
 * filter itself whatever the source returns.
 */
typedef int (*ohp_source_open_fn)(void *user_data, const ohp_source_query *query);
typedef int (*ohp_source_next_fn)(void *user_data, ohp_record *rec);
typedef void (*ohp_source_close_fn)(void *user_data);

/**
 * Sink callbacks: the ZIP arrives as an append-only byte stream; the sink
 * is never asked to seek.  open receives the proposed file name
 * ("ONHAND_<system>_<org>_<run id>_<YYYYMMDDHHMMSS>.zip"); non-zero fails the run (OHP_ESINK) and
 * close is not called.  write receives len > 0 bytes (any chunk size); non-zero fails the run.
 * close is called exactly once after a successful open: commit = 1 when the archive is complete
 * (non-zero return fails the run, and the sink must then leave nothing behind), commit = 0 to abort
 * (the sink must discard everything; the return value is ignored).
 */
typedef int (*ohp_sink_open_fn)(void *user_data, const char *file_name);
typedef int (*ohp_sink_write_fn)(void *user_data, const void *buf, size_t len);
typedef int (*ohp_sink_close_fn)(void *user_data, int commit);

/**
 * State store callbacks of 1.0 (ohp_job_set_state_store()), keyed by
 * (system code, organization code); see also ohp_state_store, which 1.1
 * adds and new code should use.  With these callbacks a run keeps 1.0's
 * behaviour: one watermark for both item classes (a run of one class moves
 * it for the other too), and a run id taken only when commit records it.
 * get: set *watermark to the snapshot date of the last successful run, or
 *      OHP_TIME_NONE if there was none.
 * next_run_id: set *run_id to the next free run id (one more than the last
 *      one recorded, starting at 1) without consuming it: the id is taken
 *      only when commit records it.
 * commit: record a successful run; called after the sink committed.
 * Non-zero returns fail the run with OHP_ESTORE.  Any callback may be NULL:
 * without get there is no watermark, without next_run_id a run that is not
 * given a run id uses 1, without commit nothing is recorded.
 */
typedef int (*ohp_state_get_fn)(void *user_data, const char *system_code,
                                const char *organization_code, int64_t *watermark);
typedef int (*ohp_state_next_run_id_fn)(void *user_data, uint64_t *run_id);
typedef int (*ohp_state_commit_fn)(void *user_data, const char *system_code,
                                   const char *organization_code, int64_t snapshot_date,
                                   uint64_t run_id);

/** Item classes, each with its own watermark (since 1.1). */
typedef enum ohp_item_class {
    OHP_CLASS_SERIAL = 0,   /**< serial-controlled items */
    OHP_CLASS_NONSERIAL = 1 /**< every other item */
} ohp_item_class;

/** The state of one item class of one (system, organization) (since 1.1). */
typedef struct ohp_class_state {
    /**
     * Where the next incremental run of the class starts: the snapshot date
     * of the last successful run that covered it, held back to the oldest
     * LAST_UPDATE_DATE of a record that run rejected (so the next run
     * retries it).  OHP_TIME_NONE: the class was never published.
     */
    int64_t watermark;
    /** Snapshot date of the last successful run that covered the class, or OHP_TIME_NONE. */
    int64_t last_snapshot;
} ohp_class_state;

/**
 * A state store with a watermark per item class and run ids reserved before
 * the archive is written (since 1.1; ohp_job_set_state_store2()).  The
 * struct is caller-allocated and copied; the callbacks receive the
 * user_data given with it.  A non-zero return fails the run with
 * OHP_ESTORE (ohp_job_set_callback_error() may explain it).
 *
 * get: fill state[OHP_CLASS_SERIAL] and state[OHP_CLASS_NONSERIAL] for
 *      (system_code, organization_code); a class never published has
 *      OHP_TIME_NONE in both fields.  Called by every run, before anything
 *      is opened.
 * reserve_run_id: requested == 0: take the next free run id (one more than
 *      the highest taken, from 1) and set *run_id; requested > 0: the caller
 *      chose this id: record it as taken (the next free id becomes at least
 *      requested + 1) and set *run_id = requested.  The reservation must be
 *      durable before the callback returns: an id handed out is never
 *      handed out again, whatever happens to the run (receivers deduplicate
 *      snapshots by run id).  Called after the refusals, before the source
 *      is opened; the library refuses ids of more than 18 digits.
 * commit: record a successful run, after the sink committed: for each class
 *      the run covered (items: OHP_ITEMS_BOTH covers both), store
 *      state[class]; the states of classes it did not cover are passed as
 *      get gave them and must be kept.
 * get and commit are required; reserve_run_id may be NULL (a run that is
 * not given a run id then uses 1).
 */
typedef struct ohp_state_store {
    unsigned int version; /**< OHP_STATE_STORE_VERSION */
    int (*get)(void *user_data, const char *system_code, const char *organization_code,
               ohp_class_state state[2]);
    int (*reserve_run_id)(void *user_data, uint64_t requested, uint64_t *run_id);
    int (*commit)(void *user_data, const char *system_code, const char *organization_code,
                  int items, const ohp_class_state state[2], uint64_t run_id);
} ohp_state_store;

#define OHP_STATE_STORE_VERSION 1

/**
 * Authorizer: set *granted non-zero if `user` holds `privilege`.  A
 * non-zero return fails the run with OHP_EAUTH (the run is not attempted).
 */
typedef int (*ohp_authorize_fn)(void *user_data, const char *user, const char *privilege,
                                int *granted);

/** A rejected record, as given to the rejection callback. */
typedef struct ohp_rejection {
    unsigned int version;     /**< OHP_REJECTION_VERSION */
    uint64_t ordinal;         /**< 1-based position in the source */
    int rule;                 /**< ohp_rule */
    const char *message;      /**< names the record and the rule */
    const ohp_record *record; /**< the record as the source gave it */
} ohp_rejection;

#define OHP_REJECTION_VERSION 1

/**
 * Rejection callback (policy OHP_ON_ERROR_REJECT).  The rejection is valid
 * during the call only.  Non-zero fails the run with OHP_EREJECT.
 */
typedef int (*ohp_reject_fn)(void *user_data, const ohp_rejection *rejection);

/**
 * Progress callback: records read so far, every progress_interval records
 * and once at the end of each pass over the source (an incremental run
 * counts the records of both its passes).  Non-zero cancels the run
 * (OHP_ECANCELED; a failure, the state store untouched).
 */
typedef int (*ohp_progress_fn)(void *user_data, uint64_t records_read);

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

typedef struct ohp_job ohp_job;

/** Outcome of a run, for a scheduler. */
typedef enum ohp_status {
    OHP_STATUS_NOT_RUN = 0,
    OHP_STATUS_SUCCEEDED = 1,
    OHP_STATUS_WARNINGS = 2, /**< succeeded with warnings */
    OHP_STATUS_REFUSED = 3,  /**< bad parameters, inactive system, not authorized */
    OHP_STATUS_FAILED = 4    /**< source, sink, record, store or resource failure */
} ohp_status;

/**
 * What a run did.  Owned by the job; valid until the next ohp_job_run()
 * or ohp_job_free().  Readable after any outcome.
 */
typedef struct ohp_summary {
    unsigned int version; /**< OHP_SUMMARY_VERSION */
    int status;           /**< ohp_status */
    int error;            /**< ohp_error of the run (OHP_OK on success) */
    /* parameters as applied */
    int mode; /**< ohp_mode */
    int items;
    int64_t window_start; /**< incremental window start or OHP_TIME_NONE */
    int64_t snapshot_date;
    uint64_t run_id;
    const char *system_code;
    const char *organization_code;
    const char *file_name; /**< ZIP name ("" before it is known) */
    const char *entry_name;
    /* counts */
    uint64_t records_read; /**< of the publishing pass (an incremental run's second) */
    uint64_t records_published;
    uint64_t skipped_organization; /**< other organizations */
    uint64_t skipped_item_type;    /**< excluded by Items to Publish */
    uint64_t skipped_window;       /**< incremental: of keys with no change in the window */
    uint64_t skipped_zero;         /**< full mode: zero quantity */
    uint64_t records_rejected;
    uint64_t serial_lines;     /**< lines carrying a serial number */
    uint64_t lines_written;    /**< data lines (header excluded) */
    uint64_t psv_bytes;        /**< uncompressed entry size (so far, after a failure) */
    uint64_t compressed_bytes; /**< entry's compressed size */
    uint64_t zip_bytes;        /**< bytes given to the sink */
    uint32_t crc32;            /**< CRC-32 of the PSV entry */
    size_t warning_count;
    size_t uom_total_count; /**< see ohp_job_uom_total() */
    /* the record error that failed the run (policy OHP_ON_ERROR_FAIL) */
    uint64_t error_ordinal; /**< 1-based position in the source, or 0 */
    int error_rule;         /**< ohp_rule, or OHP_RULE_NONE */
    /* ---- version 2 (1.1) ---- */
    /**
     * Incremental runs: the balance keys found changed in the first pass,
     * which the second pass publishes whole (0 in a full run).  Records of
     * the other keys count in skipped_window.
     */
    uint64_t changed_keys;
    /**
     * The deflate engine that ran (ohp_engine: OHP_ENGINE_ZLIB or
     * OHP_ENGINE_ISAL, never OHP_ENGINE_BEST), once the parameters are
     * checked.
     */
    int engine;
} ohp_summary;

#define OHP_SUMMARY_VERSION 2

/**
 * Create a job.  alloc may be NULL.  The job starts with no registry
 * (runs then know only code "0"), no source, no sink, no store, no
 * authorizer.  Returns OHP_OK, OHP_EINVAL or OHP_ENOMEM.
 */
int ohp_job_new(ohp_job **out, const ohp_allocator *alloc);

/** Free a job (NULL is a no-op).  Not from inside one of its callbacks. */
void ohp_job_free(ohp_job *job);

/** Borrow a registry (NULL: a built-in one with only code "0"). */
int ohp_job_set_registry(ohp_job *job, const ohp_registry *reg);

/** Set the data source.  next is required; open and close may be NULL. */
int ohp_job_set_source(ohp_job *job, ohp_source_open_fn open, ohp_source_next_fn next,
                       ohp_source_close_fn close, void *user_data);

/** Set the sink.  write and close are required; open may be NULL. */
int ohp_job_set_sink(ohp_job *job, ohp_sink_open_fn open, ohp_sink_write_fn write,
                     ohp_sink_close_fn close, void *user_data);

/** Set (or clear, all NULL) a state store of 1.0's callbacks (see ohp_state_get_fn). */
int ohp_job_set_state_store(ohp_job *job, ohp_state_get_fn get,
                            ohp_state_next_run_id_fn next_run_id, ohp_state_commit_fn commit,
                            void *user_data);

/**
 * Set (or clear, store NULL) a state store with a watermark per item class
 * and reserved run ids (see ohp_state_store); it replaces any store set
 * before, of either kind.  The struct is copied.  Since 1.1.  OHP_OK,
 * OHP_EINVAL (get or commit NULL), OHP_EVERSION, OHP_ESTATE.
 *
 * With it a run:
 * - covers the classes of its Items to Publish, and an incremental run
 *   starts at the older watermark of the classes it covers (a class never
 *   published makes it a full run);
 * - is refused (OHP_EINVAL, before anything is opened) when its snapshot
 *   date is not later than the last snapshot of a class it covers:
 *   receivers order a chain by snapshot date;
 * - reserves its run id before opening the source;
 * - advances, on success, only the classes it covers.
 */
int ohp_job_set_state_store2(ohp_job *job, const ohp_state_store *store, void *user_data);

/** Set (or clear, NULL) the authorizer. */
int ohp_job_set_authorizer(ohp_job *job, ohp_authorize_fn authorize, void *user_data);

/** Set (or clear) the rejection callback used by OHP_ON_ERROR_REJECT. */
int ohp_job_set_reject_callback(ohp_job *job, ohp_reject_fn reject, void *user_data);

/** Set (or clear) the progress callback. */
int ohp_job_set_progress_callback(ohp_job *job, ohp_progress_fn progress, void *user_data);

/**
 * Run the job: validate the parameters, check the external system against
 * the registry on the snapshot date, check the privilege, read the
 * watermark, open the source and the sink, stream the records through
 * filter, validation, serial expansion and PSV encoding into the ZIP, then
 * close the sink with commit and record the run in the state store.
 *
 * Refusals (OHP_EINVAL, OHP_EVERSION, OHP_ENOTFOUND, OHP_EINACTIVE,
 * OHP_EDENIED) and an authorizer failure (OHP_EAUTH) happen before the
 * source is opened or a byte is written.  On
 * any failure after the sink was opened it is closed with commit = 0, and
 * the state store is not written.  The watermark advances only after the
 * sink's close(commit) succeeded.
 *
 * Returns OHP_OK (status succeeded or succeeded with warnings) or a
 * negative code; ohp_job_errmsg() says what happened; ohp_job_summary()
 * has the details.  OHP_ESTATE if called from inside one of its callbacks.
 */
int ohp_job_run(ohp_job *job, const ohp_params *params);

/** The summary of the last run (never NULL). */
const ohp_summary *ohp_job_summary(const ohp_job *job);

/**
 * Control total i (0 <= i < summary->uom_total_count): the exact decimal
 * sum of PRIMARY_QUANTITY over the published lines of one UOM, in first-seen
 * order.  Strings are owned by the job (valid as the summary).
 */
int ohp_job_uom_total(const ohp_job *job, size_t i, const char **uom_code, const char **total);

/** Warning i of the last run (0 <= i < summary->warning_count), or NULL. */
const char *ohp_job_warning(const ohp_job *job, size_t i);

/**
 * The last error message on the job ("" if none).  Owned by the job.  Like
 * every message of the library it is one line: quoted values show control
 * characters and bytes that are not UTF-8 as escapes (\n, \x1b, \xff;
 * docs/job.md, "Messages are one line of visible text").
 */
const char *ohp_job_errmsg(const ohp_job *job);

/**
 * For callbacks: attach an explanation to the failure the callback is
 * about to return.  The text is copied and included in the run's error
 * message.  OHP_OK, OHP_EINVAL, OHP_ESTATE (no run in progress).
 */
int ohp_job_set_callback_error(ohp_job *job, const char *message);

/* ------------------------------------------------------------------ */
/* Memory sink                                                         */
/* ------------------------------------------------------------------ */

/**
 * A ready-made sink that collects the ZIP in memory.  On commit the bytes
 * and the file name stay readable until the next run or free; on abort
 * they are discarded.
 */
typedef struct ohp_memsink ohp_memsink;

/** Create an empty memory sink.  OHP_OK, OHP_EINVAL, OHP_ENOMEM. */
int ohp_memsink_new(ohp_memsink **out, const ohp_allocator *alloc);
/** Free a memory sink (NULL is a no-op); no job may still use it. */
void ohp_memsink_free(ohp_memsink *ms);
/** Make ms the job's sink (the job borrows it). */
int ohp_job_set_memsink(ohp_job *job, ohp_memsink *ms);
/** The committed bytes (NULL and *len = 0 if none). */
const void *ohp_memsink_data(const ohp_memsink *ms, size_t *len);
/** The committed file name, or NULL. */
const char *ohp_memsink_file_name(const ohp_memsink *ms);
/** Non-zero if the last run committed, zero if it aborted or none ran. */
int ohp_memsink_committed(const ohp_memsink *ms);

/* ------------------------------------------------------------------ */
/* File sink (since 1.1)                                               */
/* ------------------------------------------------------------------ */

/**
 * A ready-made sink that writes the ZIP to a file, never half-written
 * (docs/files.md).  The bytes go to a temporary file in the target folder:
 * unnamed (O_TMPFILE) where the file system has it, else
 * ".<name>.tmp.<pid>.<16 hex digits>" held under flock.  Only the commit
 * gives the complete, fsync'ed file its name; an abort, a failure or a
 * killed process leaves nothing under a real name, and a named temporary
 * left by a killed process is removed by a later open in that folder once
 * its process is gone.  The sink is never asked to seek.
 *
 * Targets (ohp_filesink_new()):
 * - a folder (flags 0): the file takes the name the job proposes (or the
 *   name given to ohp_filesink_open()), and an existing file of that name
 *   is never replaced: the open fails with OHP_EEXISTS, and so does a
 *   commit that finds the name taken meanwhile (linkat or
 *   renameat2(RENAME_NOREPLACE));
 * - a file (OHP_FILESINK_FILE): the path itself, replaced atomically if it
 *   is a regular file; a symbolic link there is replaced, never followed;
 *   a character device, FIFO or socket there, and the names /dev/stdout,
 *   /dev/stderr, /dev/fd/N and /proc/self/fd/N, are written straight into
 *   (no temporary, nothing to put in place); a folder is refused.
 *
 * A file sink is used by one job (ohp_job_set_filesink()) or directly
 * through ohp_filesink_open(), ohp_filesink_write() and
 * ohp_filesink_close(), one file at a time.  It is not thread-safe; the
 * descriptors it opens are close-on-exec.  POSIX systems with Linux's
 * *at() calls only.
 */
typedef struct ohp_filesink ohp_filesink;

/** ohp_filesink_new() flag: the path names the file itself, not a folder. */
#define OHP_FILESINK_FILE 0x1u

/**
 * Create a file sink for path (copied).  The target is checked now, so a
 * bad path costs no work: a folder must exist (OHP_EFILE otherwise; it is
 * kept open, so renaming it later does not move the output); a file's
 * folder must exist, and the file must not be a folder (OHP_EINVAL).
 * alloc may be NULL.  On failure *out is NULL; ohp_filesink_errmsg(NULL)
 * cannot say why, so pass msg (OHP_FILESINK_MSGSIZE bytes, may be NULL) to
 * receive the message.  OHP_OK, OHP_EINVAL (flags unknown, path NULL or
 * empty), OHP_ENOMEM, OHP_EFILE.
 */
int ohp_filesink_new(ohp_filesink **out, const char *path, unsigned int flags,
                     const ohp_allocator *alloc, char *msg);

/** Room for a message of ohp_filesink_new() and ohp_filestate_open(), NUL included. */
#define OHP_FILESINK_MSGSIZE 512

/**
 * Free a file sink (NULL is a no-op).  A file still open is discarded, as
 * by ohp_filesink_close(fs, 0).  No job may still use it.
 */
void ohp_filesink_free(ohp_filesink *fs);

/**
 * Make fs the job's sink (the job borrows it; one job per sink).  Its
 * failures reach the run's message (OHP_ESINK).  OHP_OK, OHP_EINVAL,
 * OHP_ESTATE (inside a callback).
 */
int ohp_job_set_filesink(ohp_job *job, ohp_filesink *fs);

/**
 * Called by a commit once the file is in place under its name, before the
 * commit returns: for example to upload it.  path is the file's path (the
 * target folder joined with the name); fd a read-only descriptor of the
 * file placed, at offset 0, or -1 when the target is written straight into
 * (a device, a FIFO); both valid during the call only.  A non-zero return
 * fails the commit (a run then fails with OHP_ESINK and records no state):
 * the file is removed again if it is still the one written (with
 * OHP_FILESINK_FILE the file it replaced is gone), and the text the
 * callback wrote to message (message_size bytes, NUL-terminated) explains
 * the failure.
 */
typedef int (*ohp_filesink_placed_fn)(void *user_data, const char *path, int fd, char *message,
                                      size_t message_size);

/** Set (or clear, NULL) the callback of each commit.  OHP_OK, OHP_EINVAL, OHP_ESTATE (a file open).
 */
int ohp_filesink_set_placed_callback(ohp_filesink *fs, ohp_filesink_placed_fn placed,
                                     void *user_data);

/**
 * Begin a file.  name is the file's name in the folder: a plain name (not
 * empty, no '/', not starting with '.', at most 200 bytes); it is ignored
 * with OHP_FILESINK_FILE.  Forgets the path of the last commit.  OHP_OK,
 * OHP_EINVAL (a bad name, or a target that is not a regular file to
 * replace), OHP_EEXISTS (folder: the name exists), OHP_ESTATE (a file is
 * already open), OHP_ENOMEM, OHP_EFILE; ohp_filesink_errmsg() says why.
 */
int ohp_filesink_open(ohp_filesink *fs, const char *name);

/** Append len bytes (buffered).  OHP_OK, OHP_ESTATE (no file open), OHP_EFILE. */
int ohp_filesink_write(ohp_filesink *fs, const void *buf, size_t len);

/**
 * Finish the file.  commit non-zero: flush, fsync, put it in place, fsync
 * the folder, then call the placed callback; on any failure nothing new is
 * left under the name and the error is returned (OHP_EEXISTS: the name was
 * taken meanwhile; OHP_ESINK: the placed callback refused; OHP_EFILE).
 * commit zero: discard the file (always OHP_OK).  OHP_ESTATE if no file
 * is open.  The sink can then open the next file.
 */
int ohp_filesink_close(ohp_filesink *fs, int commit);

/**
 * A new read-only descriptor of the file being written, with every byte
 * written so far, before it is committed: to check what was written (a
 * ZIP read back through ohp_snapshot_reader_open_zip()).  The caller
 * closes it.  OHP_OK, OHP_ESTATE (no file open, or a target written
 * straight into), OHP_EFILE.
 */
int ohp_filesink_pending_fd(ohp_filesink *fs, int *fd);

/** The path of the file the last ohp_filesink_close() committed, or NULL.  Owned by fs. */
const char *ohp_filesink_path(const ohp_filesink *fs);

/** The last error message ("" if none; NULL fs: ""): one line, owned by fs. */
const char *ohp_filesink_errmsg(const ohp_filesink *fs);

/**
 * The code of the last failure of ohp_filesink_open(), _write(), _close()
 * or _pending_fd() since the last open (OHP_OK: none): after a job's run
 * failed with OHP_ESINK, it tells a name taken (OHP_EEXISTS) from a file
 * error (OHP_EFILE) or a refusal of the placed callback (OHP_ESINK).
 */
int ohp_filesink_error(const ohp_filesink *fs);

/* ------------------------------------------------------------------ */
/* File state store (since 1.1)                                        */
/* ------------------------------------------------------------------ */

/**
 * A ready-made state store (ohp_state_store) kept in a PSV file, replaced
 * atomically (as by the file sink) whenever it changes (docs/files.md,
 * "The state file"):
 *
 *     ONHANDPUB_STATE|2
 *     LAST_RUN_ID|<the highest run id reserved>
 *     SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|LAST_RUN_ID
 *     <one row per system, organization and item class published>
 *
 * A file of version 1 (columns SYSTEM_CODE|ORGANIZATION_CODE|
 * LAST_SNAPSHOT_DATE|LAST_RUN_ID) is read as that date for both classes
 * and written back as version 2.  While open, the store holds an exclusive
 * flock on "<path>.lock", a sibling that is never replaced, so runs of
 * several processes on one state file take turns.  Not thread-safe; one
 * job at a time.
 */
typedef struct ohp_filestate ohp_filestate;

/** ohp_filestate_open() flag: fail with OHP_EBUSY instead of waiting for the lock. */
#define OHP_FILESTATE_NOWAIT 0x1u
/**
 * ohp_filestate_open() flag: start from an empty state whatever the file
 * holds (it is still locked); the file is replaced by the next save.  For
 * converting a state kept in another form.
 */
#define OHP_FILESTATE_TRUNCATE 0x2u

/**
 * Lock "<path>.lock" (waiting for another holder unless
 * OHP_FILESTATE_NOWAIT) and read path: a missing file is an empty state;
 * anything else that cannot be read or parsed is an error, never an empty
 * state.  The file and the lock must be regular files (a FIFO, a device, a
 * folder or a symbolic link is refused before any waiting).  alloc may be
 * NULL; msg as for ohp_filesink_new().  OHP_OK, OHP_EINVAL, OHP_ENOMEM,
 * OHP_EBUSY, OHP_EPARSE (the file is corrupt; the message names the
 * line), OHP_EFILE.
 */
int ohp_filestate_open(ohp_filestate **out, const char *path, unsigned int flags,
                       const ohp_allocator *alloc, char *msg);

/** Release the lock and free (NULL is a no-op).  No job may still use it. */
void ohp_filestate_close(ohp_filestate *fs);

/**
 * Make fs the job's state store (as ohp_job_set_state_store2(); the job
 * borrows it, one job per store).  Run ids are reserved and successful
 * runs recorded by replacing the file; a failure to do so fails the run
 * with OHP_ESTORE and the store's message.  OHP_OK, OHP_EINVAL, OHP_ESTATE.
 */
int ohp_job_set_filestate(ohp_job *job, ohp_filestate *fs);

/**
 * The state of (system_code, organization_code): both classes (index
 * ohp_item_class; OHP_TIME_NONE in both fields of a class never
 * published) and, if run_id is not NULL, the run id of its last successful
 * run (0: none).  OHP_OK or OHP_EINVAL.
 */
int ohp_filestate_get(const ohp_filestate *fs, const char *system_code,
                      const char *organization_code, ohp_class_state state[2], uint64_t *run_id);

/** The highest run id reserved so far (0: none). */
uint64_t ohp_filestate_last_run_id(const ohp_filestate *fs);

/**
 * Reserve a run id as ohp_state_store's reserve_run_id does, the file
 * replaced before this returns.  OHP_OK, OHP_EINVAL, OHP_ELIMIT (no run id
 * of 18 digits is left), OHP_ENOMEM, OHP_EFILE.
 */
int ohp_filestate_reserve_run_id(ohp_filestate *fs, uint64_t requested, uint64_t *run_id);

/**
 * Set the state of (system_code, organization_code) in memory: each class
 * whose last_snapshot is not OHP_TIME_NONE (its watermark no later than
 * it), and the run id of its last run (the counter of reserved ids rises
 * to it).  ohp_filestate_save() writes it.  For moving a state from
 * another store.  OHP_OK, OHP_EINVAL, OHP_ENOMEM.
 */
int ohp_filestate_put(ohp_filestate *fs, const char *system_code, const char *organization_code,
                      const ohp_class_state state[2], uint64_t run_id);

/** Replace the file with the state in memory.  OHP_OK, OHP_ENOMEM, OHP_EFILE. */
int ohp_filestate_save(ohp_filestate *fs);

/** The last error message ("" if none): one line, owned by fs. */
const char *ohp_filestate_errmsg(const ohp_filestate *fs);

/* ------------------------------------------------------------------ */
/* PSV reading                                                         */
/* ------------------------------------------------------------------ */

/**
 * Read callback for the readers below: copy up to cap bytes into buf and
 * set *got (0 at the end of input).  Non-zero return: I/O error (OHP_EIO).
 */
typedef int (*ohp_read_fn)(void *user_data, void *buf, size_t cap, size_t *got);

/**
 * A streaming reader of pipe-separated values with layout v1's quoting:
 * fields containing | " CR or LF are enclosed in double quotes with inner
 * quotes doubled.  Lines end with LF or CRLF.  A UTF-8 byte-order mark
 * (EF BB BF) at the very start of the input is skipped.  Memory is bounded
 * by the longest line.
 */
typedef struct ohp_psv_reader ohp_psv_reader;

/**
 * Create a reader pulling from read/user_data.  max_line is the longest
 * accepted line in bytes (0: 1 MiB).  OHP_OK, OHP_EINVAL, OHP_ENOMEM.
 */
int ohp_psv_reader_new(ohp_psv_reader **out, ohp_read_fn read, void *user_data, size_t max_line,
                       const ohp_allocator *alloc);
/** A reader over a memory buffer (borrowed until the reader is freed). */
int ohp_psv_reader_new_memory(ohp_psv_reader **out, const void *buf, size_t len,
                              const ohp_allocator *alloc);
/** Free a reader (NULL is a no-op). */
void ohp_psv_reader_free(ohp_psv_reader *r);

/**
 * Read the next row.  Returns 1 with *fields (an array of *count
 * NUL-terminated strings, owned by the reader, valid until the next call),
 * 0 at the end, or a negative code: OHP_EPARSE (bad quoting, or a NUL byte
 * inside a field: never a value cut short at the NUL; the message names the
 * line and column, and the next call goes on with the next row), OHP_ELIMIT
 * (line too long), OHP_EIO, OHP_ENOMEM; the message names the line.  An
 * empty line yields a row with one empty field.
 */
int ohp_psv_reader_next(ohp_psv_reader *r, const char *const **fields, size_t *count);
/** Line number (1-based) where the last row started. */
uint64_t ohp_psv_reader_line(const ohp_psv_reader *r);
/** The last error message ("" if none).  Owned by the reader. */
const char *ohp_psv_reader_errmsg(const ohp_psv_reader *r);

/**
 * A source of balance records read from a balances PSV: a header row
 * naming the columns (any order; unknown columns ignored, but a name equal
 * to a column's once blanks are trimmed and case ignored fails the run
 * naming it) followed by one row per balance.  Columns: ORGANIZATION_ID ORGANIZATION_CODE
 * INVENTORY_ITEM_ID ITEM_NUMBER REVISION SUBINVENTORY_CODE LOCATOR_ID
 * LOCATOR_NAME LOT_NUMBER LOT_EXPIRATION_DATE SERIAL_CONTROLLED
 * SERIAL_NUMBERS PRIMARY_QUANTITY PRIMARY_UOM_CODE SECONDARY_QUANTITY
 * SECONDARY_UOM_CODE CONSIGNED_FLAG OWNING_PARTY_ID PROJECT_ID TASK_ID
 * MATERIAL_STATUS_CODE LAST_UPDATE_DATE.  Flags are Y or N (CONSIGNED_FLAG
 * may be empty: N).  A row that cannot be made into a record (wrong number
 * of fields, bad flag, a NUL byte in a field) becomes a record with
 * source_error set (naming the line and column), so the job's bad-record
 * policy applies; the fields holding a NUL byte are left out of it (NULL).
 * A quoting error or an over-long line fails the run.
 */
typedef struct ohp_balance_reader ohp_balance_reader;

/**
 * Create a balance reader over read/user_data.  The header is read when
 * the job opens the source; a missing required column fails the run with a
 * message naming the columns.
 */
int ohp_balance_reader_new(ohp_balance_reader **out, ohp_read_fn read, void *user_data,
                           const ohp_allocator *alloc);
/** Free a balance reader (NULL is a no-op); no job may still use it. */
void ohp_balance_reader_free(ohp_balance_reader *br);
/**
 * Make br the job's source (the job borrows it; one run per reader).  A
 * full run reads the input once; an incremental run reads it twice (see
 * ohp_source_pass), which needs ohp_balance_reader_set_rewind(): without
 * it the second pass fails with OHP_ESOURCE, a message saying so, and
 * nothing published.
 */
int ohp_job_set_balance_reader(ohp_job *job, ohp_balance_reader *br);
/**
 * The field of the balances column `column` (one of the column names
 * above, e.g. "CONSIGNED_FLAG") in the row the reader gave the job last,
 * exactly as read: quotes removed, nothing trimmed, defaulted or
 * interpreted.  NULL when the header has no such column, the row has fewer
 * fields, or no row is current.  Valid until the job reads the next row:
 * call it from the rejection callback to echo a rejected row as the input
 * gave it (a record's flags are interpreted values; a row that could not be
 * made into a record has no fields at all).  Since 1.1 (OHP_1.1).
 */
const char *ohp_balance_reader_field(const ohp_balance_reader *br, const char *column);

/**
 * Rewind callback: put the input back where the reader's first read
 * started (for a file, seek to its starting offset), so that the next
 * read returns the same bytes again.  Non-zero return: I/O error.
 */
typedef int (*ohp_rewind_fn)(void *user_data);

/**
 * Let br serve the second pass of an incremental run: at the start of that
 * pass the reader calls rewind(user_data) (the read callback's user_data),
 * forgets what it had buffered and reads the header line again.  A
 * non-seekable input (a pipe) can be copied to a temporary file as it is
 * first read and replayed from there (the onhandpub command and the Python
 * binding do).  Since 1.1.  OHP_OK or OHP_EINVAL (br or rewind NULL).
 */
int ohp_balance_reader_set_rewind(ohp_balance_reader *br, ohp_rewind_fn rewind);

/**
 * Where record `ordinal` (1-based, as in ohp_rejection.ordinal and
 * ohp_summary.error_ordinal) came from, for messages that point into the
 * input: *line is the line of the input where its row starts (the header
 * is line 1; a byte-order mark does not count).  When that record had a
 * record error concerning one column, *column is the column's 1-based
 * position in the header and *column_name its name (owned by the reader);
 * otherwise 0 and NULL.  column and column_name may be NULL.
 *
 * Known for the latest record the reader returned, which is the one a
 * rejection callback is called for and the one whose error failed a run
 * (the job stops at it): call it from the rejection callback, or after
 * ohp_job_run() with summary->error_ordinal.  Returns OHP_OK, OHP_EINVAL
 * (NULL br or line) or OHP_ENOTFOUND (another record; *line is then 0).
 * Since 1.1 (version node OHP_1.1).
 */
int ohp_balance_reader_locate(const ohp_balance_reader *br, uint64_t ordinal, uint64_t *line,
                              size_t *column, const char **column_name);

/* ------------------------------------------------------------------ */
/* Reading published snapshots                                         */
/* ------------------------------------------------------------------ */

/**
 * Seek callback of the ZIP snapshot reader: move the input to the absolute
 * byte offset `offset` (0 <= offset <= the size given at open).  Non-zero
 * return: I/O error (OHP_EIO).
 */
typedef int (*ohp_seek_fn)(void *user_data, uint64_t offset);

/**
 * A reader of one published snapshot: a ZIP as ohp_job_run() writes it, or
 * the bare PSV entry.  It checks the layout v1 header line and every field
 * of every line against the rules of docs/psv-format.md (26 fields; the
 * header columns 1-4 and ORGANIZATION_CODE equal on every line; required
 * fields present; ids, dates and flags well-formed; quantities canonical;
 * serial lines with quantity 1 and no secondary quantity; valid UTF-8),
 * and, for a ZIP, that the archive holds exactly one .psv entry whose
 * bytes match its size and CRC-32 (central directory and data descriptor).
 * A damaged archive is an error, never silently different data; since the
 * CRC-32 is known only at the end of the entry, the records yielded before
 * a failure must be discarded by the caller (the reconciler does).
 *
 * Errors name the line and the column ("line 7, column 17
 * (PRIMARY_QUANTITY): ...").  Memory is bounded by the longest line.
 * One thread at a time per reader.
 */
typedef struct ohp_snapshot_reader ohp_snapshot_reader;

/**
 * One data line of a snapshot, in flat memory owned by the reader and valid
 * until the next call of ohp_snapshot_reader_next() or free.  Absent text
 * fields are "" (never NULL); absent dates are OHP_TIME_NONE.
 */
typedef struct ohp_snapshot_record {
    unsigned int version;             /**< OHP_SNAPSHOT_RECORD_VERSION */
    uint64_t line;                    /**< 1-based line number in the PSV */
    const char *external_system_code; /**< column 1 */
    uint64_t publish_run_id;          /**< column 2 */
    int mode;                         /**< column 3: ohp_mode */
    int64_t snapshot_date;            /**< column 4 */
    const char *organization_id;
    const char *organization_code;
    const char *inventory_item_id;
    const char *item_number;
    const char *revision;
    const char *subinventory_code;
    const char *locator_id;
    const char *locator_name;
    const char *lot_number;
    int64_t lot_expiration_date; /**< start of the UTC day, or OHP_TIME_NONE */
    int serial_controlled;       /**< 1: Y, 0: N */
    const char *serial_number;   /**< "" on non-serial lines */
    const char *primary_quantity;
    const char *primary_uom_code;
    const char *secondary_quantity;
    const char *secondary_uom_code;
    int consigned; /**< 1: Y, 0: N */
    const char *owning_party_id;
    const char *project_id;
    const char *task_id;
    const char *material_status_code;
    int64_t last_update_date;
} ohp_snapshot_record;

#define OHP_SNAPSHOT_RECORD_VERSION 1

/**
 * What identifies a snapshot.  Filled by ohp_snapshot_reader_info(); the
 * strings belong to the reader.  A snapshot without data lines carries no
 * mode (mode -1); from a ZIP its system code, run id and date then come
 * from the entry name, and the organization code is "".
 */
typedef struct ohp_snapshot_info {
    unsigned int version;             /**< OHP_SNAPSHOT_INFO_VERSION */
    const char *entry_name;           /**< the ZIP entry's name, "" for a bare PSV */
    const char *external_system_code; /**< "" if unknown */
    uint64_t publish_run_id;          /**< 0 if unknown */
    int mode;                         /**< ohp_mode, or -1 when unknown */
    int64_t snapshot_date;            /**< or OHP_TIME_NONE */
    const char *organization_code;    /**< "" if unknown */
} ohp_snapshot_info;

#define OHP_SNAPSHOT_INFO_VERSION 1

/**
 * Create a reader of a ZIP snapshot reached through read/seek callbacks
 * over an input of `size` bytes (reading starts with a seek).  user_data is
 * borrowed until the reader is freed.  The archive and the header line are
 * checked by the first ohp_snapshot_reader_next() or
 * ohp_snapshot_reader_info().  Returns OHP_OK, OHP_EINVAL or OHP_ENOMEM;
 * *out is NULL on failure.
 */
int ohp_snapshot_reader_open_zip(ohp_snapshot_reader **out, ohp_read_fn read, ohp_seek_fn seek,
                                 void *user_data, uint64_t size, const ohp_allocator *alloc);
/** The same over a ZIP in memory (buf borrowed until the reader is freed). */
int ohp_snapshot_reader_open_memory(ohp_snapshot_reader **out, const void *buf, size_t len,
                                    const ohp_allocator *alloc);
/** A reader of a bare layout v1 PSV stream (the entry itself), read front to back. */
int ohp_snapshot_reader_open_psv(ohp_snapshot_reader **out, ohp_read_fn read, void *user_data,
                                 const ohp_allocator *alloc);
/** Free a reader (NULL is a no-op). */
void ohp_snapshot_reader_free(ohp_snapshot_reader *r);

/**
 * Read the next data line.  Returns 1 with *rec set, 0 at the end (after
 * the CRC-32 and size checks passed), or a negative code: OHP_EPARSE (not
 * a one-entry ZIP, a bad header, a line or field breaking a rule, or a
 * damaged archive: bad deflate data, size or CRC-32 mismatch), OHP_ELIMIT
 * (line longer than 1 MiB), OHP_EIO, OHP_ENOMEM.  After an error every
 * further call returns it again; ohp_snapshot_reader_errmsg() names the
 * line and column.
 */
int ohp_snapshot_reader_next(ohp_snapshot_reader *r, const ohp_snapshot_record **rec);
/**
 * Fill *out (fields of out->version; 0 is taken as 1).  Reads ahead the
 * first data line if none was read yet (it is still returned by the next
 * ohp_snapshot_reader_next()), so it may fail like that call.
 */
int ohp_snapshot_reader_info(ohp_snapshot_reader *r, ohp_snapshot_info *out);
/** The last error message ("" if none).  Owned by the reader. */
const char *ohp_snapshot_reader_errmsg(const ohp_snapshot_reader *r);

/**
 * A snapshot's manifest (docs/psv-format.md, "The manifest"), filled by
 * ohp_snapshot_reader_manifest(); the strings belong to the reader.
 */
typedef struct ohp_manifest {
    unsigned int version;      /**< OHP_MANIFEST_STRUCT_VERSION */
    int present;               /**< 0: the archive has none (the fields are zero) */
    unsigned int format_major; /**< the manifest's format version */
    unsigned int format_minor;
    int layout; /**< the entry's layout version (1) */
    const char *external_system_code;
    const char *organization_code;
    uint64_t run_id;
    int mode;             /**< ohp_mode */
    int items;            /**< ohp_items: what the run covered */
    int64_t window_start; /**< OHP_TIME_NONE in full mode */
    int64_t snapshot_date;
    uint64_t data_lines;
    uint64_t serial_lines;       /**< lines carrying a serial number */
    uint64_t psv_bytes;          /**< the entry's size */
    uint32_t crc32;              /**< the entry's CRC-32 */
    size_t uom_total_count;      /**< see ohp_snapshot_reader_manifest_total() */
    const char *library_version; /**< of the library that wrote it */
    const char *text;            /**< the manifest as found in the archive comment */
} ohp_manifest;

#define OHP_MANIFEST_STRUCT_VERSION 1

/**
 * Fill *out (out->version fields; 0 is taken as 1) with the ZIP's manifest,
 * out->present 0 when it has none (an archive of another writer, of an
 * older version, published with omit_manifest, or a bare PSV).  Reads the
 * archive's end records if nothing was read yet, so it may fail like
 * ohp_snapshot_reader_next(): a manifest that is present but malformed is
 * OHP_EPARSE, one of another major version or layout OHP_EVERSION.  The
 * reader checks the entry against the manifest as it reads: line counts,
 * serial lines and totals per unit at the end of the entry, size and CRC-32,
 * and the identity fields of every line; a mismatch is an OHP_EPARSE error
 * of ohp_snapshot_reader_next() naming both values.  Not thread-safe with
 * other calls on the same reader.
 */
int ohp_snapshot_reader_manifest(ohp_snapshot_reader *r, ohp_manifest *out);
/**
 * The manifest's i-th total (0 <= i < uom_total_count): the unit of measure
 * and the exact sum of PRIMARY_QUANTITY as canonical decimal text, both
 * owned by the reader.  OHP_EINVAL when there is no such total.
 */
int ohp_snapshot_reader_manifest_total(const ohp_snapshot_reader *r, size_t i,
                                       const char **uom_code, const char **total);

/* ------------------------------------------------------------------ */
/* Reconciliation                                                      */
/* ------------------------------------------------------------------ */

/**
 * Compares the ERP side (a snapshot, or a chain folded into the current
 * state) with the external side (a snapshot or chain, or a PSV of the
 * external system's balances) and reports the differences.  The rules are
 * in docs/reconcile.md.  Sequence: ohp_reconcile_new(), one of the
 * ohp_reconcile_load_erp() calls and one of the ohp_reconcile_load_external*()
 * calls (either order; each side is loaded once), ohp_reconcile_run(),
 * ohp_reconcile_get_summary(), ohp_reconcile_free().
 *
 * Memory grows with the distinct balance keys and serial numbers, not with
 * the lines: about 150 bytes per key or serial with keys of 40-50 bytes
 * (measured; docs/reconcile.md).  One thread at a time per handle.
 */
typedef struct ohp_reconcile ohp_reconcile;

/** Key parts that the comparison may ignore (bit flags). */
typedef enum ohp_ignore {
    OHP_IGNORE_REVISION = 1,
    OHP_IGNORE_LOCATOR = 2, /**< LOCATOR_NAME and LOCATOR_ID */
    OHP_IGNORE_LOT = 4,
    OHP_IGNORE_OWNER = 8 /**< OWNING_PARTY_ID */
} ohp_ignore;

/** Discrepancy classes.  Values are part of the ABI: never renumbered. */
typedef enum ohp_discrepancy_kind {
    OHP_DISC_QUANTITY = 1,                /**< both sides have the key, quantities differ */
    OHP_DISC_MISSING_EXTERNAL = 2,        /**< the key is only on the ERP side */
    OHP_DISC_MISSING_ERP = 3,             /**< the key is only on the external side */
    OHP_DISC_UOM = 4,                     /**< same key, in units the sides do not share */
    OHP_DISC_SERIAL_MISSING_EXTERNAL = 5, /**< a serial only on the ERP side */
    OHP_DISC_SERIAL_MISSING_ERP = 6,      /**< a serial only on the external side */
    OHP_DISC_SERIAL_MOVED = 7,            /**< a serial at different keys on the two sides */
    OHP_DISC_SERIAL_DUPLICATE = 8         /**< a serial more than once on one side */
} ohp_discrepancy_kind;

/** The two sides. */
typedef enum ohp_side { OHP_SIDE_ERP = 0, OHP_SIDE_EXTERNAL = 1 } ohp_side;

/**
 * Options of a reconciliation.  Caller-allocated; strings are copied by
 * ohp_reconcile_new().
 */
typedef struct ohp_reconcile_options {
    unsigned int version; /**< OHP_RECONCILE_OPTIONS_VERSION */
    int ignore;           /**< OR of ohp_ignore flags; 0: the full key */
    /**
     * Absolute tolerance: an exact decimal >= 0 (NULL or "": 0).  A
     * quantity difference d with |d| <= this is within tolerance.
     */
    const char *tolerance_absolute;
    /**
     * Relative tolerance in percent of the ERP quantity, a decimal >= 0
     * (NULL or "": 0): |d| <= pct / 100 * |ERP quantity| is within
     * tolerance.  Either threshold suffices.
     */
    const char *tolerance_relative;
} ohp_reconcile_options;

#define OHP_RECONCILE_OPTIONS_VERSION 1
#define OHP_RECONCILE_OPTIONS_INIT                                                                 \
    {                                                                                              \
        OHP_RECONCILE_OPTIONS_VERSION, 0, NULL, NULL                                               \
    }
/** Initialise o for the given struct version.  OHP_OK, OHP_EINVAL or OHP_EVERSION. */
int ohp_reconcile_options_init(ohp_reconcile_options *o, unsigned int version);

/**
 * One discrepancy, as given to the callback; valid during the call only.
 * Key fields that the options ignore are "".  Quantities are canonical
 * exact decimals; absent values are "".
 */
typedef struct ohp_discrepancy {
    unsigned int version; /**< OHP_DISCREPANCY_VERSION */
    int kind;             /**< ohp_discrepancy_kind */
    /* the key (for serial classes: the serial's key on the ERP side, or on
     * the external side when it is only there) */
    const char *organization_code;
    const char *item_number;
    const char *revision;
    const char *subinventory_code;
    const char *locator; /**< LOCATOR_NAME, or LOCATOR_ID when there is no name */
    const char *lot_number;
    const char *owning_party_id;
    /* quantities of the key on each side (key classes) */
    const char *erp_quantity;
    const char *erp_uom_code;
    const char *external_quantity;
    const char *external_uom_code;
    const char *difference; /**< external minus ERP (quantity class) */
    /* serial classes */
    const char *serial_number;
    int side;       /**< duplicate: ohp_side where it repeats */
    uint64_t count; /**< duplicate: how many times it appears on that side */
    /* moved: the serial's key on the external side */
    const char *external_revision;
    const char *external_subinventory_code;
    const char *external_locator;
    const char *external_lot_number;
    const char *external_owning_party_id;
} ohp_discrepancy;

#define OHP_DISCREPANCY_VERSION 1

/** Discrepancy callback; non-zero stops ohp_reconcile_run(), which returns it. */
typedef int (*ohp_discrepancy_fn)(void *user_data, const ohp_discrepancy *d);

/** What a reconciliation found.  Owned by the handle. */
typedef struct ohp_reconcile_summary {
    unsigned int version;    /**< OHP_RECONCILE_SUMMARY_VERSION */
    uint64_t erp_lines;      /**< data lines read on the ERP side (every snapshot) */
    uint64_t external_lines; /**< data lines read on the external side */
    uint64_t erp_keys;       /**< keys (at the chosen granularity) on the ERP side */
    uint64_t external_keys;
    uint64_t erp_serials; /**< distinct serials on each side */
    uint64_t external_serials;
    uint64_t keys_compared;    /**< keys on either side */
    uint64_t matched;          /**< keys with equal quantities */
    uint64_t within_tolerance; /**< keys whose difference is within the tolerance */
    uint64_t quantity_mismatch;
    uint64_t missing_external;
    uint64_t missing_erp;
    uint64_t uom_mismatch;
    uint64_t serial_missing_external;
    uint64_t serial_missing_erp;
    uint64_t serial_moved;
    uint64_t serial_duplicate;
    uint64_t discrepancies; /**< total of the eight classes */
    size_t uom_total_count; /**< see ohp_reconcile_uom_total() */
    /**
     * Keys of the external side in an organization other than the ERP
     * side's: not compared (an external file may hold several).
     */
    uint64_t external_other_organization;
    /**
     * Key parts (OHP_IGNORE_* bits) the external side's PSV has no column
     * for: both sides were compared without them, as if the options ignored
     * them (a locator counts as present with LOCATOR_NAME or LOCATOR_ID).
     * Since OHP_RECONCILE_SUMMARY_VERSION 2.
     */
    int external_missing_key_parts;
} ohp_reconcile_summary;

#define OHP_RECONCILE_SUMMARY_VERSION 2

/**
 * Create a reconciliation.  opt may be NULL (full key, no tolerance).
 * Returns OHP_OK, OHP_EINVAL (unknown ignore flag, tolerance not a
 * decimal >= 0), OHP_EVERSION, OHP_ENOMEM.
 */
int ohp_reconcile_new(ohp_reconcile **out, const ohp_reconcile_options *opt,
                      const ohp_allocator *alloc);
/** Free (NULL is a no-op). */
void ohp_reconcile_free(ohp_reconcile *rc);

/**
 * Load the ERP side from n >= 1 snapshot readers (borrowed during the
 * call; each is read to its end): a FULL snapshot followed by INCREMENTAL
 * ones, folded in snapshot-date order into the current state.  Refused
 * with OHP_EINVAL: an incremental with no full snapshot before it,
 * snapshots of different systems or organizations, two snapshots with the
 * same date.  Reader errors are returned as they are (OHP_EPARSE, ...),
 * the message naming the snapshot, line and column.  OHP_ESTATE when the
 * side is already loaded or after ohp_reconcile_run().
 */
int ohp_reconcile_load_erp(ohp_reconcile *rc, ohp_snapshot_reader *const *readers, size_t n);
/** Load the external side from snapshots, with the same rules. */
int ohp_reconcile_load_external(ohp_reconcile *rc, ohp_snapshot_reader *const *readers, size_t n);
/**
 * Load the external side from a PSV read through read: a header naming the
 * columns (any order, unknown ones ignored, but a name that is a known
 * column's once blanks are trimmed and case ignored is an error; layout v1
 * and the balances input layout of ohp_balance_reader_new() both qualify),
 * then one balance per line, summed per key and unit.  Required columns: ORGANIZATION_CODE,
 * ITEM_NUMBER, SUBINVENTORY_CODE, PRIMARY_QUANTITY, PRIMARY_UOM_CODE;
 * optional: REVISION, LOCATOR_NAME, LOCATOR_ID, LOT_NUMBER,
 * OWNING_PARTY_ID, SERIAL_NUMBER (one serial) or SERIAL_NUMBERS (serials
 * and FROM..TO ranges separated by commas).  Key parts without a column
 * (REVISION, LOT_NUMBER, OWNING_PARTY_ID, or both locator columns) are left
 * out of the comparison on both sides, as if ignored, and reported in the
 * summary's external_missing_key_parts.  A UTF-8 byte order mark before the
 * header is skipped.  Errors (OHP_EPARSE, OHP_ELIMIT, OHP_EIO, OHP_ENOMEM)
 * name the line and column; a header separated by ',', ';' or tabs, or a
 * UTF-16 file, is described as such.
 */
int ohp_reconcile_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data);

/**
 * Compare the two loaded sides and call report (may be NULL) for every
 * discrepancy, ordered by key (byte order of organization, item, revision,
 * subinventory, locator, lot, owning party), within a key the key class
 * first and then the serial classes by serial number.  Once per handle.
 * Returns OHP_OK, OHP_ESTATE (a side not loaded or failed to load, or
 * already run),
 * OHP_ENOMEM, or the callback's non-zero value.
 */
int ohp_reconcile_run(ohp_reconcile *rc, ohp_discrepancy_fn report, void *user_data);

/** The summary (never NULL; counts fill in as the sides load and run). */
const ohp_reconcile_summary *ohp_reconcile_get_summary(const ohp_reconcile *rc);

/**
 * Quantity total i (0 <= i < uom_total_count) after ohp_reconcile_run():
 * the exact sum of the quantities on each side for one unit of measure,
 * ordered by UOM code.  Strings owned by the handle.  OHP_OK or OHP_EINVAL.
 */
int ohp_reconcile_uom_total(const ohp_reconcile *rc, size_t i, const char **uom_code,
                            const char **erp_total, const char **external_total);

/** The last error message ("" if none).  Owned by the handle. */
const char *ohp_reconcile_errmsg(const ohp_reconcile *rc);

#ifdef __cplusplus
}
#endif

#endif /* ONHANDPUB_H */
