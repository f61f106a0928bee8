/*
 * Fuzz target: serial list and range expansion, through a publish of one
 * serial-controlled record to the memory sink.
 *
 * Input: one flag byte, then the primary quantity up to the first LF, then
 * the serials.  Flag bit 0 clear: the rest is the record's serial_list
 * ("S1,S2,A001..A100").  Bit 0 set: the rest is an array, one serial per
 * line, a range as FROM<TAB>TO.
 *
 * A published record has exactly `quantity` lines, each with a distinct,
 * non-empty serial number; a refused one is a record error, never a crash.
 * The serial limit is lowered so that every input runs fast.
 */
#include "fuzz.h"

#include "../testutil.h"

#include <onhandpub.h>

#define MAX_SERIALS 20000
#define SERIAL_COL 15
#define NCOLS 26

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct one_src {
    ohp_record rec;
    int done;
} one_src;

static int one_next(void *ud, ohp_record *rec)
{
    one_src *s = ud;
    if (s->done)
        return 0;
    s->done = 1;
    unsigned int v = rec->version;
    *rec = s->rec;
    rec->version = v;
    return 1;
}

static int count_reject(void *ud, const ohp_rejection *rj)
{
    FUZZ_CHECK(rj->rule != OHP_RULE_NONE);
    FUZZ_CHECK(rj->message != NULL && rj->message[0] != '\0');
    (*(int *)ud)++;
    return 0;
}

/* Check the published entry: quantity lines, distinct serials. */
static void check_output(ohp_memsink *ms, const ohp_summary *s)
{
    size_t zlen = 0;
    const void *zip = ohp_memsink_data(ms, &zlen);
    FUZZ_CHECK(zip != NULL && zlen == s->zip_bytes);
    char *psv = NULL;
    size_t plen = 0;
    FUZZ_CHECK(tu_unzip_single(zip, zlen, &psv, &plen, NULL, 0) == 0);
    FUZZ_CHECK(plen == s->psv_bytes);
    ohp_psv_reader *r = NULL;
    FUZZ_CHECK(ohp_psv_reader_new_memory(&r, psv, plen, NULL) == OHP_OK);
    const char *const *f;
    size_t n;
    FUZZ_CHECK(ohp_psv_reader_next(r, &f, &n) == 1 && n == NCOLS);
    FUZZ_CHECK(strcmp(f[SERIAL_COL], "SERIAL_NUMBER") == 0);
    char **serials = malloc((s->lines_written + 1) * sizeof *serials);
    if (serials == NULL)
        abort();
    size_t rows = 0;
    int got;
    while ((got = ohp_psv_reader_next(r, &f, &n)) == 1) {
        FUZZ_CHECK(n == NCOLS);
        FUZZ_CHECK(rows < s->lines_written);
        FUZZ_CHECK(strcmp(f[SERIAL_COL - 1], "Y") == 0);
        FUZZ_CHECK(f[SERIAL_COL][0] != '\0');
        FUZZ_CHECK(strcmp(f[SERIAL_COL + 1], "1") == 0);
        serials[rows] = strdup(f[SERIAL_COL]);
        if (serials[rows] == NULL)
            abort();
        rows++;
    }
    FUZZ_CHECK(got == 0);
    FUZZ_CHECK(rows == s->lines_written && rows == s->serial_lines);
    if (rows > 1)
        qsort(serials, rows, sizeof *serials, cmp_str);
    for (size_t i = 1; i < rows; i++)
        FUZZ_CHECK(strcmp(serials[i - 1], serials[i]) != 0);
    for (size_t i = 0; i < rows; i++)
        free(serials[i]);
    free(serials);
    ohp_psv_reader_free(r);
    free(psv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int array = data[0] & 1;
    char *text = fuzz_cstr(data + 1, size - 1);
    char *qty = text, *body = strchr(text, '\n');
    if (body == NULL)
        body = text + strlen(text);
    else
        *body++ = '\0';

    one_src src;
    memset(&src, 0, sizeof src);
    src.rec.organization_code = "M1";
    src.rec.item_number = "SER";
    src.rec.subinventory_code = "FGI";
    src.rec.primary_quantity = qty;
    src.rec.primary_uom_code = "Ea";
    src.rec.last_update_date = "2026/11/01 08:00:00";
    src.rec.serial_controlled = 1;

    ohp_serial *items = NULL;
    size_t nitems = 0;
    if (array) {
        size_t cap = 1;
        for (const char *p = body; *p; p++)
            cap += *p == '\n';
        items = calloc(cap, sizeof *items);
        if (items == NULL)
            abort();
        char *p = body;
        while (*p != '\0' || nitems == 0) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            char *tab = strchr(p, '\t');
            if (tab)
                *tab = '\0';
            items[nitems].from = p;
            items[nitems].to = tab ? tab + 1 : NULL;
            nitems++;
            if (nl == NULL)
                break;
            p = nl + 1;
        }
        src.rec.serials = items;
        src.rec.serial_count = nitems;
    } else {
        src.rec.serial_list = body;
    }

    ohp_job *job = NULL;
    ohp_memsink *ms = NULL;
    FUZZ_CHECK(ohp_job_new(&job, NULL) == OHP_OK);
    FUZZ_CHECK(ohp_memsink_new(&ms, NULL) == OHP_OK);
    FUZZ_CHECK(ohp_job_set_memsink(job, ms) == OHP_OK);
    FUZZ_CHECK(ohp_job_set_source(job, NULL, one_next, NULL, &src) == OHP_OK);
    int rejects = 0;
    FUZZ_CHECK(ohp_job_set_reject_callback(job, count_reject, &rejects) == OHP_OK);
    ohp_params p;
    FUZZ_CHECK(ohp_params_init(&p, OHP_PARAMS_VERSION) == OHP_OK);
    p.organization_code = "M1";
    p.user = "FUZZ";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.run_id = 1;
    p.snapshot_date = 1793600000;
    p.compression_level = 0;
    p.on_error = OHP_ON_ERROR_REJECT;
    p.max_reject_percent = 100; /* the one record may be rejected */
    p.allow_empty = 1;          /* or be a zero balance */
    p.max_serials_per_record = MAX_SERIALS;

    int rc = ohp_job_run(job, &p);
    const ohp_summary *s = ohp_job_summary(job);
    FUZZ_CHECK(rc == OHP_OK);
    FUZZ_CHECK(s->records_read == 1);
    FUZZ_CHECK(s->records_published + s->records_rejected + s->skipped_zero == 1);
    FUZZ_CHECK((uint64_t)rejects == s->records_rejected);
    FUZZ_CHECK(s->serial_lines <= MAX_SERIALS);
    if (s->records_published == 1) {
        char canon[128];
        if (ohp_quantity_canonical(qty, canon, sizeof canon) == OHP_OK)
            FUZZ_CHECK(s->serial_lines == (uint64_t)strtoull(canon, NULL, 10));
    }
    check_output(ms, s);

    ohp_job_free(job);
    ohp_memsink_free(ms);
    free(items);
    free(text);
    return 0;
}
