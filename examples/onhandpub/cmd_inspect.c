/*
 * onhandpub inspect: each archive's manifest, and whether the archive's
 * content checks out against it (every line read, counts, totals, size and
 * CRC-32); as text or, with --json, one JSON object per archive.  What an
 * operator runs on a file a receiver disputes.
 */
#include "cli.h"
#include "ucm.h" /* json_quote */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What reading one archive found. */
typedef struct inspected {
    uint64_t lines;
    int rc; /* OHP_OK: it checks out */
    char err[CLI_ERRSIZE];
} inspected;

static const char *items_text(int items)
{
    return items == OHP_ITEMS_SERIAL      ? "serial"
           : items == OHP_ITEMS_NONSERIAL ? "nonserial"
                                          : "both";
}

/* Read every line of the archive (the reader checks it against its manifest). */
static void read_through(ohp_snapshot_reader *r, inspected *in)
{
    const ohp_snapshot_record *rec;
    int rc;
    while ((rc = ohp_snapshot_reader_next(r, &rec)) == 1)
        in->lines++;
    in->rc = rc;
    if (rc < 0)
        cli_err(in->err, "%s", ohp_snapshot_reader_errmsg(r));
}

static void print_manifest(const ohp_snapshot_reader *r, const ohp_manifest *m)
{
    char vis[CLI_ERRSIZE], snap[OHP_DATE_BUFSIZE];
    ohp_date_format(m->snapshot_date, 0, snap);
    printf("  manifest %u.%u (library %s), layout %d\n", m->format_major, m->format_minor,
           cli_visible(m->library_version, vis, sizeof vis), m->layout);
    printf("  system %s, ", cli_visible(m->external_system_code, vis, sizeof vis));
    printf("organization %s, run id %llu\n", cli_visible(m->organization_code, vis, sizeof vis),
           (unsigned long long)m->run_id);
    printf("  mode %s, items %s", m->mode ? "INCREMENTAL" : "FULL", items_text(m->items));
    if (m->window_start != OHP_TIME_NONE) {
        char from[OHP_DATE_BUFSIZE];
        ohp_date_format(m->window_start, 0, from);
        printf(", window from %s", from);
    }
    printf(", snapshot %s\n", snap);
    printf("  lines %llu (%llu with a serial number), PSV %llu bytes, CRC-32 %08lx\n",
           (unsigned long long)m->data_lines, (unsigned long long)m->serial_lines,
           (unsigned long long)m->psv_bytes, (unsigned long)m->crc32);
    printf("  totals:");
    for (size_t i = 0; i < m->uom_total_count; i++) {
        const char *u, *t;
        if (ohp_snapshot_reader_manifest_total(r, i, &u, &t) == OHP_OK)
            printf("%s %s %s", i ? "," : "", t, cli_visible(u, vis, sizeof vis));
    }
    printf("%s\n", m->uom_total_count ? "" : " none");
}

static void print_text(const char *path, const ohp_snapshot_reader *r, const ohp_manifest *m,
                       const inspected *in)
{
    char vis[CLI_ERRSIZE];
    printf("%s\n", cli_visible(path, vis, sizeof vis));
    if (m == NULL || !m->present)
        printf("  no manifest\n");
    else
        print_manifest(r, m);
    if (in->rc == OHP_OK)
        printf("  check: ok (%llu lines read%s)\n", (unsigned long long)in->lines,
               m != NULL && m->present ? ", all as the manifest says" : "; nothing to check");
    else
        printf("  check: FAILED: %s\n", in->err);
}

static void print_json(const char *path, const ohp_manifest *m, const inspected *in)
{
    char *qpath = json_quote(path), *qerr = in->rc ? json_quote(in->err) : NULL;
    printf("{\"archive\":%s,\"manifest\":%s,\"ok\":%s,\"lines\":%llu,\"error\":%s}\n",
           qpath ? qpath : "null", m != NULL && m->present ? m->text : "null",
           in->rc == OHP_OK ? "true" : "false", (unsigned long long)in->lines,
           qerr ? qerr : "null");
    free(qpath);
    free(qerr);
}

/* One archive: opened, its manifest taken, read through, reported.  0 when it checks out. */
static int inspect_one(const char *path, int json)
{
    inspected in;
    memset(&in, 0, sizeof in);
    cli_file_in f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    ohp_snapshot_reader *r = NULL;
    ohp_manifest m;
    memset(&m, 0, sizeof m);
    m.version = OHP_MANIFEST_STRUCT_VERSION;
    int have_m = 0;
    in.rc = OHP_EIO;
    if (cli_file_open(&f, path, in.err) == 0) {
        if (ohp_snapshot_reader_open_zip(&r, cli_file_read, cli_file_seek, &f, f.size, NULL) !=
            OHP_OK) {
            cli_err(in.err, "out of memory");
        } else if ((in.rc = ohp_snapshot_reader_manifest(r, &m)) != OHP_OK) {
            cli_err(in.err, "%s", f.err[0] ? f.err : ohp_snapshot_reader_errmsg(r));
        } else {
            have_m = 1;
            read_through(r, &in);
            if (in.rc < 0 && f.err[0])
                cli_err(in.err, "%s", f.err);
        }
    }
    if (json)
        print_json(path, have_m ? &m : NULL, &in);
    else
        print_text(path, r, have_m ? &m : NULL, &in);
    ohp_snapshot_reader_free(r);
    if (f.fd >= 0)
        close(f.fd);
    return in.rc == OHP_OK ? 0 : -1;
}

int cmd_inspect(int argc, char **argv)
{
    static const int allowed[] = {OPT_JSON, OPT_HELP};
    const cli_command cmd = {allowed, sizeof allowed / sizeof allowed[0], -1,
                             1,       " (see onhandpub --help)",          NULL};
    cli_opts o;
    int rc = cli_parse_options(argc, argv, &cmd, &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return cli_print_command_help("inspect");
    if (o.nlist == 0)
        return cli_usage_error("inspect: at least one ZIP archive is required");
    int bad = 0;
    for (size_t i = 0; i < o.nlist; i++)
        bad += inspect_one(o.list[i], o.given[OPT_JSON]) != 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output\n");
        return EXIT_FAILED;
    }
    return bad ? EXIT_FAILED : EXIT_OK;
}
