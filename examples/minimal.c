/*
 * minimal.c - the smallest complete use of libonhandpub: one record from
 * a source callback, published in full to the in-memory sink, and the ZIP
 * written to the current directory under the library's file name.
 */
#include <onhandpub.h>

#include <stdio.h>

static int next(void *ud, ohp_record *r)
{
    int *n = ud;
    if ((*n)++ == 1)
        return 0; /* end of data */
    r->organization_code = "M1";
    r->item_number = "AS54888";
    r->subinventory_code = "FGI";
    r->primary_quantity = "120.5";
    r->primary_uom_code = "Ea";
    r->last_update_date = "2026/11/20 14:03:11";
    return 1;
}

int main(void)
{
    int n = 0, rc;
    ohp_job *job = NULL;
    ohp_memsink *zip = NULL;
    if ((rc = ohp_job_new(&job, NULL)) != OHP_OK || (rc = ohp_memsink_new(&zip, NULL)) != OHP_OK) {
        fprintf(stderr, "minimal: %s\n", ohp_strerror(rc));
        ohp_job_free(job);
        return 1;
    }
    ohp_job_set_source(job, NULL, next, NULL, &n);
    ohp_job_set_memsink(job, zip);

    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.full_publish = 1;
    p.user = "BATCH";
    p.caller_authorized = 1; /* this program checked the privilege itself */
    rc = ohp_job_run(job, &p);
    if (rc != OHP_OK) {
        fprintf(stderr, "minimal: %s\n", ohp_job_errmsg(job));
    } else {
        size_t len;
        const void *data = ohp_memsink_data(zip, &len);
        const char *name = ohp_memsink_file_name(zip);
        FILE *f = fopen(name, "wb");
        if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
            perror(name);
            rc = OHP_EIO;
        } else {
            printf("%s\n", name);
        }
    }
    ohp_memsink_free(zip);
    ohp_job_free(job);
    return rc == OHP_OK ? 0 : 1;
}
