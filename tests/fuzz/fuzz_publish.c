/*
 * Fuzz target: a whole publish from a fuzzed balances PSV (through the
 * library's balance reader) to the memory sink, rejecting bad records.
 * The committed ZIP is read back (minizip, CRC checked): its entry must
 * be the layout v1 header followed by one 26-field row per published
 * line, of the run's organization, with canonical quantities, and its
 * size and line count must be the ones the summary reports.
 *
 * Input: one byte choosing the read chunk size, the compression level,
 * full or incremental mode and one or two compression threads, then the
 * balances PSV.
 */
#include "fuzz.h"

#include "../testutil.h"

#include <onhandpub.h>

#define NCOLS 26
#define COL_SYSTEM 0
#define COL_ORG 5
#define COL_SERIAL_FLAG 14
#define COL_SERIAL 15
#define COL_PRIMARY 16
#define COL_SECONDARY 18

static const char *const header[NCOLS] = {
    "EXTERNAL_SYSTEM_CODE", "PUBLISH_RUN_ID",      "PUBLISH_MODE",
    "SNAPSHOT_DATE",        "ORGANIZATION_ID",     "ORGANIZATION_CODE",
    "INVENTORY_ITEM_ID",    "ITEM_NUMBER",         "REVISION",
    "SUBINVENTORY_CODE",    "LOCATOR_ID",          "LOCATOR_NAME",
    "LOT_NUMBER",           "LOT_EXPIRATION_DATE", "SERIAL_CONTROLLED",
    "SERIAL_NUMBER",        "PRIMARY_QUANTITY",    "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY",   "SECONDARY_UOM_CODE",  "CONSIGNED_FLAG",
    "OWNING_PARTY_ID",      "PROJECT_ID",          "TASK_ID",
    "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE"};

static int count_reject(void *ud, const ohp_rejection *rj)
{
    FUZZ_CHECK(rj->version == OHP_REJECTION_VERSION);
    FUZZ_CHECK(rj->rule > OHP_RULE_NONE && rj->rule <= OHP_RULE_SOURCE);
    FUZZ_CHECK(rj->message != NULL && rj->message[0] != '\0');
    FUZZ_CHECK(rj->record != NULL);
    (*(uint64_t *)ud)++;
    return 0;
}

static int canonical(const char *q)
{
    size_t n = strlen(q);
    char *out = malloc(n + 1);
    if (out == NULL)
        abort();
    int ok = ohp_quantity_canonical(q, out, n + 1) == OHP_OK && strcmp(out, q) == 0;
    free(out);
    return ok;
}

static void check_archive(ohp_memsink *ms, const ohp_summary *s)
{
    size_t zlen = 0;
    const void *zip = ohp_memsink_data(ms, &zlen);
    FUZZ_CHECK(zip != NULL && zlen == s->zip_bytes);
    char *psv = NULL, name[256];
    size_t plen = 0;
    FUZZ_CHECK(tu_unzip_single(zip, zlen, &psv, &plen, name, sizeof name) == 0);
    FUZZ_CHECK(strcmp(name, s->entry_name) == 0);
    FUZZ_CHECK(plen == s->psv_bytes);
    ohp_psv_reader *r = NULL;
    FUZZ_CHECK(ohp_psv_reader_new_memory(&r, psv, plen, NULL) == OHP_OK);
    const char *const *f;
    size_t n;
    FUZZ_CHECK(ohp_psv_reader_next(r, &f, &n) == 1);
    FUZZ_CHECK(n == NCOLS);
    for (size_t i = 0; i < NCOLS; i++)
        FUZZ_CHECK(strcmp(f[i], header[i]) == 0);
    uint64_t rows = 0, serial_rows = 0;
    int got;
    while ((got = ohp_psv_reader_next(r, &f, &n)) == 1) {
        FUZZ_CHECK(n == NCOLS);
        FUZZ_CHECK(strcmp(f[COL_SYSTEM], "0") == 0);
        FUZZ_CHECK(strcmp(f[COL_ORG], "M1") == 0);
        FUZZ_CHECK(canonical(f[COL_PRIMARY]));
        FUZZ_CHECK(f[COL_SECONDARY][0] == '\0' || canonical(f[COL_SECONDARY]));
        FUZZ_CHECK(strcmp(f[COL_SERIAL_FLAG], "Y") == 0 || strcmp(f[COL_SERIAL_FLAG], "N") == 0);
        if (f[COL_SERIAL][0] != '\0') {
            FUZZ_CHECK(strcmp(f[COL_SERIAL_FLAG], "Y") == 0);
            FUZZ_CHECK(strcmp(f[COL_PRIMARY], "1") == 0);
            serial_rows++;
        }
        rows++;
    }
    FUZZ_CHECK(got == 0);
    FUZZ_CHECK(rows == s->lines_written);
    FUZZ_CHECK(serial_rows == s->serial_lines);
    ohp_psv_reader_free(r);
    free(psv);
}

static const size_t chunks[] = {1, 5, 64, 4096};
static const int levels[] = {0, 1, 6, 9};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    chunked c = {data + 1, size - 1, chunks[data[0] & 3]};
    ohp_balance_reader *br = NULL;
    ohp_job *job = NULL;
    ohp_memsink *ms = NULL;
    FUZZ_CHECK(ohp_balance_reader_new(&br, chunk_read, &c, NULL) == OHP_OK);
    FUZZ_CHECK(ohp_job_new(&job, NULL) == OHP_OK);
    FUZZ_CHECK(ohp_memsink_new(&ms, NULL) == OHP_OK);
    FUZZ_CHECK(ohp_job_set_memsink(job, ms) == OHP_OK);
    FUZZ_CHECK(ohp_job_set_balance_reader(job, br) == OHP_OK);
    uint64_t rejects = 0;
    FUZZ_CHECK(ohp_job_set_reject_callback(job, count_reject, &rejects) == OHP_OK);

    ohp_params p;
    FUZZ_CHECK(ohp_params_init(&p, OHP_PARAMS_VERSION) == OHP_OK);
    p.organization_code = "M1";
    p.user = "FUZZ";
    p.caller_authorized = 1;
    p.full_publish = (data[0] >> 4) & 1;
    p.publish_from = p.full_publish ? OHP_TIME_NONE : 1790000000;
    p.run_id = 7;
    p.snapshot_date = 1793600000;
    p.compression_level = levels[(data[0] >> 2) & 3];
    p.threads = (data[0] & 0x20) ? 2 : 1;
    p.on_error = OHP_ON_ERROR_REJECT;
    p.max_serials_per_record = 5000;
    p.max_field_length = 512;

    int rc = ohp_job_run(job, &p);
    const ohp_summary *s = ohp_job_summary(job);
    FUZZ_CHECK(s->error == rc);
    FUZZ_CHECK(rejects == s->records_rejected);
    if (rc == OHP_OK) {
        FUZZ_CHECK(s->status == OHP_STATUS_SUCCEEDED || s->status == OHP_STATUS_WARNINGS);
        FUZZ_CHECK(ohp_memsink_committed(ms));
        FUZZ_CHECK(s->records_read == s->records_published + s->records_rejected +
                                          s->skipped_organization + s->skipped_item_type +
                                          s->skipped_window + s->skipped_zero);
        FUZZ_CHECK(s->lines_written >= s->records_published);
        check_archive(ms, s);
    } else {
        /* Only the input as a whole can fail a run that rejects bad records. */
        FUZZ_CHECK(rc == OHP_ESOURCE || rc == OHP_ELIMIT);
        FUZZ_CHECK(s->status == OHP_STATUS_FAILED);
        FUZZ_CHECK(ohp_job_errmsg(job)[0] != '\0');
        FUZZ_CHECK(!ohp_memsink_committed(ms));
        size_t len = 1;
        FUZZ_CHECK(ohp_memsink_data(ms, &len) == NULL && len == 0);
    }
    ohp_job_free(job);
    ohp_memsink_free(ms);
    ohp_balance_reader_free(br);
    return 0;
}
