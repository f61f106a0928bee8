/*
 * The rejects file (--rejects): each rejected record as a PSV line with its
 * message, written atomically when the run ends.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "psv_field.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the rejects file ---- */

static const char *const reject_columns =
    "ORDINAL|REASON|ORGANIZATION_ID|ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|"
    "SUBINVENTORY_CODE|LOCATOR_ID|LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|"
    "SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|"
    "CONSIGNED_FLAG|OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n";

/* The balances columns, in the order of the rejects file. */
static const char *const input_columns[] = {
    "ORGANIZATION_ID",     "ORGANIZATION_CODE", "INVENTORY_ITEM_ID",
    "ITEM_NUMBER",         "REVISION",          "SUBINVENTORY_CODE",
    "LOCATOR_ID",          "LOCATOR_NAME",      "LOT_NUMBER",
    "LOT_EXPIRATION_DATE", "SERIAL_CONTROLLED", "SERIAL_NUMBERS",
    "PRIMARY_QUANTITY",    "PRIMARY_UOM_CODE",  "SECONDARY_QUANTITY",
    "SECONDARY_UOM_CODE",  "CONSIGNED_FLAG",    "OWNING_PARTY_ID",
    "PROJECT_ID",          "TASK_ID",           "MATERIAL_STATUS_CODE",
    "LAST_UPDATE_DATE"};

int cli_rejects_open(cli_rejects *r, const char *path, char *err)
{
    r->file = (cli_atomic)CLI_ATOMIC_INIT;
    if (path == NULL)
        return 0;
    if (cli_output_open(&r->file, path, "--rejects", err) != 0)
        return -1;
    r->enabled = 1;
    return cli_atomic_write(&r->file, reject_columns, strlen(reject_columns), err);
}

/* The serials as the source gave them: the text list, or the array joined. */
static int reject_serials(cli_atomic *a, const ohp_record *rec, char *err)
{
    if (rec->serial_list && rec->serial_list[0])
        return cli_atomic_field(a, rec->serial_list, err);
    if (rec->serials == NULL || rec->serial_count == 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < rec->serial_count; i++)
        n += (rec->serials[i].from ? strlen(rec->serials[i].from) : 0) +
             (rec->serials[i].to ? strlen(rec->serials[i].to) + 2 : 0) + 1;
    char *text = malloc(n + 1), *p = text;
    if (text == NULL) {
        cli_err(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < rec->serial_count; i++) {
        const ohp_serial *s = &rec->serials[i];
        p += sprintf(p, "%s%s%s%s", i ? "," : "", s->from ? s->from : "", s->to ? ".." : "",
                     s->to ? s->to : "");
    }
    int rc = cli_atomic_field(a, text, err);
    free(text);
    return rc;
}

/* The rejected row as read, byte for byte (the record's flags are interpreted values). */
static int reject_raw_row(cli_rejects *r, const char *ord, const char *message, char *err)
{
    int rc = cli_atomic_field(&r->file, ord, err);
    if (rc == 0)
        rc = cli_atomic_write(&r->file, "|", 1, err);
    if (rc == 0)
        rc = cli_atomic_field(&r->file, message, err);
    for (size_t i = 0; rc == 0 && i < sizeof input_columns / sizeof input_columns[0]; i++) {
        rc = cli_atomic_write(&r->file, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&r->file, ohp_balance_reader_field(r->br, input_columns[i]), err);
    }
    if (rc == 0)
        rc = cli_atomic_write(&r->file, "\n", 1, err);
    return rc;
}

/* The rejected record of a source that is no balance reader, from its fields. */
static int reject_record_row(cli_rejects *r, const ohp_record *rec, const char *ord,
                             const char *message, char *err)
{
    /* A record the source could not build has no reliable flags: leave them empty. */
    const char *serial_flag = rec->source_error ? "" : rec->serial_controlled ? "Y" : "N";
    const char *consigned_flag = rec->source_error ? "" : rec->consigned ? "Y" : "N";
    const char *before[] = {ord,
                            message,
                            rec->organization_id,
                            rec->organization_code,
                            rec->inventory_item_id,
                            rec->item_number,
                            rec->revision,
                            rec->subinventory_code,
                            rec->locator_id,
                            rec->locator_name,
                            rec->lot_number,
                            rec->lot_expiration_date,
                            serial_flag};
    const char *after[] = {
        rec->primary_quantity,   rec->primary_uom_code, rec->secondary_quantity,
        rec->secondary_uom_code, consigned_flag,        rec->owning_party_id,
        rec->project_id,         rec->task_id,          rec->material_status_code,
        rec->last_update_date};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof before / sizeof before[0]; i++) {
        rc = cli_atomic_field(&r->file, before[i], err);
        if (rc == 0)
            rc = cli_atomic_write(&r->file, "|", 1, err);
    }
    if (rc == 0)
        rc = reject_serials(&r->file, rec, err);
    for (size_t i = 0; rc == 0 && i < sizeof after / sizeof after[0]; i++) {
        rc = cli_atomic_write(&r->file, "|", 1, err);
        if (rc == 0)
            rc = cli_atomic_field(&r->file, after[i], err);
    }
    if (rc == 0)
        rc = cli_atomic_write(&r->file, "\n", 1, err);
    return rc;
}

int cli_rejects_record(void *ud, const ohp_rejection *rj)
{
    cli_rejects *r = ud;
    char err[CLI_ERRSIZE];
    /* The message with the file and the line (and column) the record came from. */
    char where[CLI_ERRSIZE], message[2 * CLI_ERRSIZE];
    cli_input_where(r->br, r->input, rj->ordinal, where, sizeof where);
    snprintf(message, sizeof message, "%s; %s", rj->message ? rj->message : "", where);
    if (r->count < CLI_REJECT_NOTES) {
        r->notes[r->count] = strdup(message);
        if (r->notes[r->count] == NULL) {
            ohp_job_set_callback_error(r->job, "out of memory");
            return -1;
        }
    }
    r->count++;
    if (!r->enabled)
        return 0;
    char ord[32];
    snprintf(ord, sizeof ord, "%llu", (unsigned long long)rj->ordinal);
    int rc = r->br != NULL ? reject_raw_row(r, ord, message, err)
                           : reject_record_row(r, rj->record, ord, message, err);
    if (rc != 0) {
        ohp_job_set_callback_error(r->job, err);
        return -1;
    }
    return 0;
}

int cli_rejects_finish(cli_rejects *r, int commit, char *err)
{
    int rc = 0;
    if (r->enabled) {
        if (commit)
            rc = cli_atomic_commit(&r->file, err);
        else
            cli_atomic_abort(&r->file);
        r->enabled = 0;
    }
    /* After a commit the notes are still printed in the summary; the final
     * cleanup (commit = 0) frees them. */
    for (size_t i = 0; !commit && i < CLI_REJECT_NOTES; i++) {
        free(r->notes[i]);
        r->notes[i] = NULL;
    }
    return rc;
}
