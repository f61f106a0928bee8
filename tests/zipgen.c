/*
 * zipgen: publish a deterministic snapshot to standard output through an
 * append-only sink (plain write(2) on fd 1, never a seek), for the
 * interoperability and large-archive tests.
 *
 *   zipgen [-l level] [-t threads] [-e zlib|isal] [-m sample|single|empty|large] [-b bytes]
 *
 * -t sets ohp_params.threads (compression threads; the output is the same
 * for any number); -e the deflate engine (ohp_params.engine).
 * -m large publishes records until the PSV holds at least -b bytes.
 * The run's summary goes to standard error as key=value pairs.
 */
#define _POSIX_C_SOURCE 200809L
#include <onhandpub.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd_write(void *ud, const void *buf, size_t len)
{
    (void)ud;
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(1, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fd_close(void *ud, int commit)
{
    (void)ud;
    (void)commit;
    return 0;
}

/* ---- the sample ---- */

static const ohp_serial sample_serials[] = {{"SN0098", "SN0101"}};

static ohp_record base(const char *item, const char *qty)
{
    ohp_record r;
    memset(&r, 0, sizeof r);
    r.organization_code = "M1";
    r.item_number = item;
    r.subinventory_code = "FGI";
    r.primary_quantity = qty;
    r.primary_uom_code = "Ea";
    r.last_update_date = "2026/11/01 08:00:00";
    return r;
}

static size_t sample(ohp_record *out)
{
    size_t n = 0;
    ohp_record r = base("AS54888", "0012.500");
    r.organization_id = "204";
    r.inventory_item_id = "1001";
    r.revision = "B";
    r.locator_id = "3001";
    r.locator_name = "A.01.02";
    r.lot_number = "LOT-7";
    r.lot_expiration_date = "2027-03-31T22:00:00-05:00";
    r.secondary_quantity = "3.0";
    r.secondary_uom_code = "KG";
    r.consigned = 1;
    r.owning_party_id = "5005";
    r.project_id = "6006";
    r.task_id = "7007";
    r.material_status_code = "HOLD";
    r.last_update_date = "2026-10-31T23:30:00-02:00";
    out[n++] = r;
    r = base("A|B", "1");
    r.revision = "a,b; c'd";
    r.locator_name = "say \"hi\"";
    r.lot_number = "L\r\n1";
    r.material_status_code = "x\ny";
    out[n++] = r;
    r = base("SER1", "4");
    r.serial_controlled = 1;
    r.serials = sample_serials;
    r.serial_count = 1;
    out[n++] = r;
    r = base("\xce\xa9-1", "-2.50");
    r.subinventory_code = "B\xc3\xbc"
                          "cher";
    out[n++] = r;
    r = base("OTHER", "5");
    r.organization_code = "M2";
    out[n++] = r;
    return n;
}

typedef struct src {
    ohp_record recs[8];
    size_t n, next;
    /* large mode */
    unsigned long long target, count;
    char item[32];
    char locator[1001];
} src;

static int sample_next(void *ud, ohp_record *rec)
{
    src *s = ud;
    if (s->next >= s->n)
        return 0;
    unsigned int v = rec->version;
    *rec = s->recs[s->next++];
    rec->version = v;
    return 1;
}

/* Each large record's line is longer than 1000 bytes. */
static int large_next(void *ud, ohp_record *rec)
{
    src *s = ud;
    if (s->count * 1000ULL >= s->target)
        return 0;
    snprintf(s->item, sizeof s->item, "ITEM-%012llu", s->count);
    rec->organization_code = "M1";
    rec->item_number = s->item;
    rec->subinventory_code = "FGI";
    rec->locator_name = s->locator;
    rec->primary_quantity = "1";
    rec->primary_uom_code = "Ea";
    rec->last_update_date = "2026/11/01 08:00:00";
    s->count++;
    return 1;
}

int main(int argc, char **argv)
{
    int level = 6;
    unsigned threads = 0;
    int engine = OHP_ENGINE_ZLIB;
    const char *mode = "sample";
    unsigned long long target = 0;
    int opt;
    while ((opt = getopt(argc, argv, "l:t:e:m:b:")) != -1) {
        switch (opt) {
        case 'l':
            level = atoi(optarg);
            break;
        case 't':
            threads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'e':
            engine = strcmp(optarg, "isal") == 0 ? OHP_ENGINE_ISAL : OHP_ENGINE_ZLIB;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'b':
            target = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: zipgen [-l level] [-t threads] [-e zlib|isal] "
                            "[-m sample|single|empty|large] [-b bytes]\n");
            return 2;
        }
    }
    static src s;
    memset(&s, 0, sizeof s);
    ohp_source_next_fn next = sample_next;
    if (strcmp(mode, "sample") == 0) {
        s.n = sample(s.recs);
    } else if (strcmp(mode, "single") == 0) {
        s.recs[0] = base("ITEM1", "1");
        s.n = 1;
    } else if (strcmp(mode, "empty") == 0) {
        s.n = 0;
    } else if (strcmp(mode, "large") == 0) {
        s.target = target;
        /* Varied text so that deflate has work to do. */
        unsigned x = 12345;
        for (size_t i = 0; i < 1000; i++) {
            x = x * 1103515245u + 12345u;
            s.locator[i] = (char)('A' + (x >> 16) % 26);
        }
        s.locator[1000] = '\0';
        next = large_next;
    } else {
        fprintf(stderr, "zipgen: unknown mode %s\n", mode);
        return 2;
    }

    ohp_job *job = NULL;
    if (ohp_job_new(&job, NULL) != OHP_OK)
        return 1;
    ohp_job_set_source(job, NULL, next, NULL, &s);
    ohp_job_set_sink(job, NULL, fd_write, fd_close, NULL);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.run_id = 5;
    p.user = "zipgen";
    p.caller_authorized = 1;
    p.compression_level = level;
    p.threads = threads;
    p.engine = engine;
    if (ohp_date_parse("2026/11/02 06:00:00", &p.snapshot_date) != OHP_OK)
        return 1;
    int rc = ohp_job_run(job, &p);
    const ohp_summary *sum = ohp_job_summary(job);
    if (rc != OHP_OK) {
        fprintf(stderr, "zipgen: %s\n", ohp_job_errmsg(job));
    } else {
        fprintf(stderr,
                "entry=%s psv_bytes=%llu compressed_bytes=%llu zip_bytes=%llu crc32=%lu "
                "lines=%llu\n",
                sum->entry_name, (unsigned long long)sum->psv_bytes,
                (unsigned long long)sum->compressed_bytes, (unsigned long long)sum->zip_bytes,
                (unsigned long)sum->crc32, (unsigned long long)sum->lines_written);
    }
    ohp_job_free(job);
    return rc == OHP_OK ? 0 : 1;
}
