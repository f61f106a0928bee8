/* Shared helpers for the Check test suites. */
#ifndef OHP_TESTUTIL_H
#define OHP_TESTUTIL_H

#include <onhandpub.h>

#include <stddef.h>
#include <stdint.h>

/* Layout v1's header line, spelled out by the tests (not the library's copy). */
#define TU_HEADER_V1                                                                               \
    "EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|PUBLISH_MODE|SNAPSHOT_DATE|ORGANIZATION_ID|"              \
    "ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|"       \
    "LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|SERIAL_NUMBER|"                 \
    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|"      \
    "OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n"

/* ---- a source over an array of records ---- */
typedef struct tu_source {
    const ohp_record *records;
    size_t count;
    size_t next;
    long fail_open;         /* non-zero: open fails */
    long fail_at;           /* 1-based record index at which next() fails; 0 never */
    int fail_pass;          /* non-zero: fail_at applies to this pass (1-based open) only */
    int opened, closed;     /* call counts */
    ohp_source_query query; /* what open received */
} tu_source;
int tu_source_open(void *ud, const ohp_source_query *q);
int tu_source_next(void *ud, ohp_record *rec);
void tu_source_close(void *ud);
/* Make src the job's source. */
void tu_use_source(ohp_job *job, tu_source *src);

/* A basic valid non-serial record of organization org. */
ohp_record tu_record(const char *org, const char *item, const char *qty);

/* ---- a sink collecting bytes, able to fail ---- */
typedef struct tu_sink {
    unsigned char *data;
    size_t len, cap;
    char name[512];
    long fail_open;   /* open fails */
    long fail_write;  /* 1-based write call that fails; 0 never */
    long fail_commit; /* close(commit=1) fails */
    long writes;      /* write calls so far */
    int opened;
    int closes;    /* close calls */
    int committed; /* last close was a successful commit */
    int aborted;   /* close(commit=0) calls */
} tu_sink;
int tu_sink_open(void *ud, const char *name);
int tu_sink_write(void *ud, const void *buf, size_t len);
int tu_sink_close(void *ud, int commit);
void tu_use_sink(ohp_job *job, tu_sink *sink);
void tu_sink_free(tu_sink *sink);

/* ---- an allocator counting bytes, able to fail the Nth allocation ---- */
typedef struct tu_alloc {
    ohp_allocator pub;
    long fail_at; /* 1-based malloc/realloc call that fails; 0 never */
    long calls;   /* malloc/realloc calls so far */
    size_t live;  /* bytes live now */
    size_t peak;  /* highest live */
    long blocks;  /* blocks live now */
} tu_alloc;
void tu_alloc_init(tu_alloc *a);

/* ---- reading a ZIP back (minizip unzip over memory) ---- */
/*
 * Extract the single entry of the ZIP in buf.  Returns 0 and sets *out
 * (malloc'd, NUL-terminated), *out_len and the entry name (name_size
 * bytes), or -1 if the archive is not a valid one-entry ZIP or the CRC is
 * wrong.
 */
int tu_unzip_single(const void *buf, size_t len, char **out, size_t *out_len, char *name,
                    size_t name_size);

/* Write buf to a new temporary file; returns a malloc'd path. */
char *tu_write_temp(const void *buf, size_t len, const char *suffix);

/* ---- a state store in memory ---- */
typedef struct tu_state {
    int64_t watermark; /* OHP_TIME_NONE: no previous success */
    uint64_t last_run_id;
    long fail_get, fail_next, fail_commit;
    int commits;
    char system[64], org[64];
} tu_state;
void tu_state_init(tu_state *st);
int tu_state_get(void *ud, const char *sys, const char *org, int64_t *w);
int tu_state_next(void *ud, uint64_t *id);
int tu_state_commit(void *ud, const char *sys, const char *org, int64_t snap, uint64_t id);
void tu_use_state(ohp_job *job, tu_state *st);

/* Parse a date or abort the test. */
int64_t tu_date(const char *text);

#endif
