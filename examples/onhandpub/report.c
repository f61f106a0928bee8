/*
 * What publish tells schedulers and people besides the ZIP: progress on
 * standard error while it runs, and with --json the run's summary as one
 * JSON object on standard output (docs/cli.md, "The JSON summary").
 */
#define _DEFAULT_SOURCE /* isatty */
#include "cli.h"
#include "ucm.h" /* json_quote */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- progress ---- */

static double now_s(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return 0.0;
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void cli_progress_init(cli_progress *p, int mode, const char *what)
{
    memset(p, 0, sizeof *p);
    p->enabled = mode > 0 || (mode == 0 && isatty(STDERR_FILENO));
    p->what = what;
    p->start = p->last = now_s();
}

int cli_progress_report(void *ud, uint64_t count)
{
    cli_progress *p = ud;
    if (!p->enabled)
        return 0;
    double t = now_s();
    if (p->shown && t - p->last < 0.25)
        return 0; /* a few lines a second at most */
    p->last = t;
    double secs = t - p->start;
    if (p->what)
        fprintf(stderr, "\ronhandpub: %" PRIu64 " %s, %.0f/s, %.1f s   ", count, p->what,
                secs > 0 ? (double)count / secs : 0.0, secs);
    else
        fprintf(stderr, "\ronhandpub: %.1f MB read, %.1f MB/s, %.1f s   ", (double)count / 1e6,
                secs > 0 ? (double)count / 1e6 / secs : 0.0, secs);
    fflush(stderr);
    p->shown = 1;
    return 0;
}

void cli_progress_bytes(cli_progress *p, uint64_t n)
{
    if (p == NULL || !p->enabled)
        return;
    p->bytes += n;
    (void)cli_progress_report(p, p->bytes);
}

void cli_progress_end(cli_progress *p)
{
    if (p->shown) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->shown = 0;
}

/* ---- the JSON summary ---- */

static void jstr(FILE *f, const char *s)
{
    char *q = s ? json_quote(s) : NULL;
    fputs(q ? q : "null", f);
    free(q);
}

static void jtime(FILE *f, int64_t t)
{
    char buf[OHP_DATE_BUFSIZE];
    if (t == OHP_TIME_NONE || ohp_date_format(t, 0, buf) != OHP_OK)
        fputs("null", f);
    else
        fprintf(f, "\"%s\"", buf);
}

static const char *status_name(int status)
{
    switch (status) {
    case OHP_STATUS_SUCCEEDED:
        return "succeeded";
    case OHP_STATUS_WARNINGS:
        return "warnings";
    case OHP_STATUS_REFUSED:
        return "refused";
    case OHP_STATUS_FAILED:
        return "failed";
    default:
        return "not_run";
    }
}

int cli_print_json_summary(const ohp_job *job, const cli_json_extra *x)
{
    const ohp_summary *s = ohp_job_summary(job);
    static const char *const items[] = {"both", "serial", "nonserial"};
    FILE *f = stdout;
    fprintf(f, "{\"onhandpub_summary\":\"1.0\",\"status\":\"%s\",\"exit_status\":%d,",
            status_name(s->status), x->exit_status);
    if (s->error != OHP_OK) {
        fprintf(f, "\"error\":{\"code\":%d,\"text\":", s->error);
        jstr(f, ohp_strerror(s->error));
        fputs(",\"message\":", f);
        jstr(f, x->message);
        fputs("},", f);
    } else {
        fputs("\"error\":null,", f);
    }
    fputs("\"file\":", f);
    jstr(f, x->path);
    fputs(",\"file_name\":", f);
    jstr(f, s->file_name && s->file_name[0] ? s->file_name : NULL);
    fputs(",\"entry_name\":", f);
    jstr(f, s->entry_name && s->entry_name[0] ? s->entry_name : NULL);
    fputs(",\"system_code\":", f);
    jstr(f, s->system_code);
    fputs(",\"organization_code\":", f);
    jstr(f, s->organization_code);
    fprintf(f, ",\"mode\":\"%s\",\"items\":\"%s\",\"run_id\":%" PRIu64 ",\"snapshot_date\":",
            s->mode == OHP_MODE_FULL ? "FULL" : "INCREMENTAL",
            items[s->items >= 0 && s->items <= 2 ? s->items : 0], s->run_id);
    jtime(f, s->snapshot_date);
    fputs(",\"window_start\":", f);
    jtime(f, s->window_start);
    fputs(",\"user\":", f);
    jstr(f, x->user);
    fprintf(f,
            ",\"records_read\":%" PRIu64 ",\"records_published\":%" PRIu64
            ",\"records_rejected\":%" PRIu64 ",\"skipped\":{\"organization\":%" PRIu64
            ",\"item_type\":%" PRIu64 ",\"window\":%" PRIu64 ",\"zero_quantity\":%" PRIu64
            "},\"changed_keys\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"serial_lines\":%" PRIu64
            ",\"psv_bytes\":%" PRIu64 ",\"compressed_bytes\":%" PRIu64 ",\"zip_bytes\":%" PRIu64
            ",\"crc32\":\"%08" PRIx32 "\",\"engine\":\"%s\",\"totals\":{",
            s->records_read, s->records_published, s->records_rejected, s->skipped_organization,
            s->skipped_item_type, s->skipped_window, s->skipped_zero, s->changed_keys,
            s->lines_written, s->serial_lines, s->psv_bytes, s->compressed_bytes, s->zip_bytes,
            s->crc32, s->engine == OHP_ENGINE_ISAL ? "isal" : "zlib");
    for (size_t i = 0; i < s->uom_total_count; i++) {
        const char *uom, *total;
        if (ohp_job_uom_total(job, i, &uom, &total) != OHP_OK)
            continue;
        if (i)
            fputc(',', f);
        jstr(f, uom);
        fputc(':', f);
        jstr(f, total); /* exact decimals as strings */
    }
    fputs("},\"warnings\":[", f);
    for (size_t i = 0; i < s->warning_count; i++) {
        if (i)
            fputc(',', f);
        jstr(f, ohp_job_warning(job, i));
    }
    fputs("],\"rejects_file\":", f);
    jstr(f, x->rejects_path);
    fputs(",\"upload\":", f);
    if (x->document_id) {
        fputs("{\"document_id\":", f);
        jstr(f, x->document_id);
        fputs(",\"account\":", f);
        jstr(f, x->account);
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"elapsed_seconds\":%.3f}\n", x->elapsed);
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
