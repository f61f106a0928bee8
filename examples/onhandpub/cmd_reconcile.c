/*
 * onhandpub reconcile: compare published snapshots (the ERP side) with the
 * external system's balances and write the discrepancies as PSV
 * (docs/reconcile.md, docs/cli.md).
 */
#include "cli.h"
#include "ucm.h" /* json_quote */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { R_OK_ = 0, R_FOUND = 1, R_USAGE = 2, R_FAILED = 4 };

static const char reconcile_usage[] =
    "Usage: onhandpub reconcile --snapshot ZIP [--snapshot ZIP ...] --external FILE\n"
    "                           [--ignore revision,locator,lot,owner] [--tolerance ABS[,REL%]]\n"
    "                           [--out FILE] [--format psv|csv]\n"
    "  --snapshot ZIP        a published snapshot (the ERP side); several are folded:\n"
    "                        a FULL snapshot, then INCREMENTAL ones by snapshot date\n"
    "  --external FILE       the external system's balances: a snapshot ZIP, or a PSV\n"
    "                        with named columns (layout v1 or the balances layout)\n"
    "  --ignore LIST         key parts to ignore: revision, locator, lot, owner\n"
    "                        (comma-separated); parts the external PSV has no column\n"
    "                        for are ignored too, and the summary says so\n"
    "  --tolerance ABS[,REL%]\n"
    "                        differences up to ABS, or up to REL percent of the ERP\n"
    "                        quantity, count as matched within tolerance\n"
    "  --out FILE            write the discrepancies PSV to FILE (default: standard\n"
    "                        output, the summary then goes to standard error)\n"
    "  --json                the summary as one line of JSON on standard output\n"
    "                        (needs --out)\n"
    "  -q, --quiet           no progress and no summary on standard error\n"
    "  --progress            progress (MB read) on standard error even when it is not a\n"
    "                        terminal; -v, --verbose: the same\n"
    "  --format FORMAT       psv (default) or csv: the same columns as comma-separated\n"
    "                        values (RFC 4180: CRLF, fields with , \" CR or LF quoted),\n"
    "                        for spreadsheets\n"
    "Exit status: 0 nothing out of tolerance, 1 discrepancies found, 2 usage error,\n"
    "4 failure.\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    char raw[CLI_ERRSIZE], text[CLI_ERRSIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "onhandpub reconcile: %s (see onhandpub reconcile --help)\n",
            cli_visible(raw, text, sizeof text));
    return R_USAGE;
}

/* ---- the discrepancies PSV ---- */

typedef struct out {
    cli_atomic file; /* --out FILE, or standard output written straight into */
    int to_stdout;   /* no --out: the summary goes to standard error */
    int csv;         /* --format csv */
    int failed;
    char err[CLI_ERRSIZE];
} out;

static void out_raw(out *o, const char *s, size_t n)
{
    if (!o->failed && cli_atomic_write(&o->file, s, n, o->err) != 0)
        o->failed = 1;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF. */
static void out_csv_field(out *o, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        out_raw(o, s, strlen(s));
        return;
    }
    out_raw(o, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        out_raw(o, s, (size_t)(q - s) + 1);
        out_raw(o, "\"", 1); /* an inner quote doubled */
    }
    out_raw(o, s, strlen(s));
    out_raw(o, "\"", 1);
}

/* One field: PSV quoted by the library's field writer (src/psv_field.h), or CSV. */
static void out_field(out *o, const char *s, int last)
{
    if (o->csv) {
        out_csv_field(o, s);
        out_raw(o, last ? "\r\n" : ",", last ? 2 : 1);
        return;
    }
    if (!o->failed && cli_atomic_field(&o->file, s, o->err) != 0)
        o->failed = 1;
    out_raw(o, last ? "\n" : "|", 1);
}

static const char *const out_columns[] = {"CLASS",
                                          "ORGANIZATION_CODE",
                                          "ITEM_NUMBER",
                                          "REVISION",
                                          "SUBINVENTORY_CODE",
                                          "LOCATOR",
                                          "LOT_NUMBER",
                                          "OWNING_PARTY_ID",
                                          "SERIAL_NUMBER",
                                          "ERP_QUANTITY",
                                          "ERP_UOM_CODE",
                                          "EXTERNAL_QUANTITY",
                                          "EXTERNAL_UOM_CODE",
                                          "DIFFERENCE",
                                          "DUPLICATE_SIDE",
                                          "DUPLICATE_COUNT",
                                          "EXTERNAL_REVISION",
                                          "EXTERNAL_SUBINVENTORY_CODE",
                                          "EXTERNAL_LOCATOR",
                                          "EXTERNAL_LOT_NUMBER",
                                          "EXTERNAL_OWNING_PARTY_ID"};

#define NOUT (sizeof out_columns / sizeof out_columns[0])

static const char *class_name(int kind)
{
    switch (kind) {
    case OHP_DISC_QUANTITY:
        return "QUANTITY";
    case OHP_DISC_MISSING_EXTERNAL:
        return "MISSING_EXTERNAL";
    case OHP_DISC_MISSING_ERP:
        return "MISSING_ERP";
    case OHP_DISC_UOM:
        return "UOM";
    case OHP_DISC_SERIAL_MISSING_EXTERNAL:
        return "SERIAL_MISSING_EXTERNAL";
    case OHP_DISC_SERIAL_MISSING_ERP:
        return "SERIAL_MISSING_ERP";
    case OHP_DISC_SERIAL_MOVED:
        return "SERIAL_MOVED";
    case OHP_DISC_SERIAL_DUPLICATE:
        return "SERIAL_DUPLICATE";
    default:
        return "UNKNOWN";
    }
}

static int write_disc(void *ud, const ohp_discrepancy *d)
{
    out *o = ud;
    char count[32] = "";
    const char *side = "";
    if (d->kind == OHP_DISC_SERIAL_DUPLICATE) {
        snprintf(count, sizeof count, "%llu", (unsigned long long)d->count);
        side = d->side == OHP_SIDE_ERP ? "ERP" : "EXTERNAL";
    }
    const char *v[NOUT] = {class_name(d->kind),
                           d->organization_code,
                           d->item_number,
                           d->revision,
                           d->subinventory_code,
                           d->locator,
                           d->lot_number,
                           d->owning_party_id,
                           d->serial_number,
                           d->erp_quantity,
                           d->erp_uom_code,
                           d->external_quantity,
                           d->external_uom_code,
                           d->difference,
                           side,
                           count,
                           d->external_revision,
                           d->external_subinventory_code,
                           d->external_locator,
                           d->external_lot_number,
                           d->external_owning_party_id};
    for (size_t i = 0; i < NOUT; i++)
        out_field(o, v[i], i + 1 == NOUT);
    return o->failed ? -1 : 0;
}

/* ---- options ---- */

static int parse_ignore(const char *v, int *flags)
{
    *flags = 0;
    const char *t = v;
    for (;;) {
        size_t n = strcspn(t, ",");
        if (n == 8 && strncmp(t, "revision", 8) == 0)
            *flags |= OHP_IGNORE_REVISION;
        else if (n == 7 && strncmp(t, "locator", 7) == 0)
            *flags |= OHP_IGNORE_LOCATOR;
        else if (n == 3 && strncmp(t, "lot", 3) == 0)
            *flags |= OHP_IGNORE_LOT;
        else if (n == 5 && strncmp(t, "owner", 5) == 0)
            *flags |= OHP_IGNORE_OWNER;
        else
            return usage("option --ignore: expected revision, locator, lot or owner, found '%.*s'",
                         (int)(n > 40 ? 40 : n), t);
        if (t[n] == '\0')
            return 0;
        t += n + 1;
    }
}

static int parse_tolerance(const char *v, char *abs_t, char *rel_t, size_t n)
{
    const char *comma = strchr(v, ',');
    size_t al = comma ? (size_t)(comma - v) : strlen(v);
    if (al >= n)
        return usage("option --tolerance: value too long");
    if (al == 0)
        return usage("option --tolerance: the absolute part is missing (use 0 for none)");
    memcpy(abs_t, v, al);
    abs_t[al] = '\0';
    rel_t[0] = '\0';
    if (comma) {
        const char *r = comma + 1;
        size_t rl = strlen(r);
        if (rl < 2 || r[rl - 1] != '%' || rl >= n)
            return usage("option --tolerance: the relative part is a percentage such as 0.5%%, "
                         "found '%s'",
                         r);
        memcpy(rel_t, r, rl - 1);
        rel_t[rl - 1] = '\0';
    }
    char canon[128];
    if (abs_t[0] &&
        (ohp_quantity_canonical(abs_t, canon, sizeof canon) != OHP_OK || abs_t[0] == '-'))
        return usage("option --tolerance: '%s' is not a decimal >= 0", abs_t);
    if (rel_t[0] &&
        (ohp_quantity_canonical(rel_t, canon, sizeof canon) != OHP_OK || rel_t[0] == '-'))
        return usage("option --tolerance: '%s%%' is not a percentage >= 0", rel_t);
    return 0;
}

static void print_summary(FILE *f, const ohp_reconcile *rc, size_t nsnap, const char *ext)
{
    const ohp_reconcile_summary *s = ohp_reconcile_get_summary(rc);
    fprintf(f, "reconciled %zu snapshot(s) against %s\n", nsnap, ext);
    /* key parts the external file has no column for: compared without them on both sides */
    static const struct {
        int bit;
        const char *column, *part;
    } parts[] = {{OHP_IGNORE_REVISION, "REVISION", "revision"},
                 {OHP_IGNORE_LOCATOR, "LOCATOR_NAME or LOCATOR_ID", "locator"},
                 {OHP_IGNORE_LOT, "LOT_NUMBER", "lot"},
                 {OHP_IGNORE_OWNER, "OWNING_PARTY_ID", "owner"}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (s->external_missing_key_parts & parts[i].bit)
            fprintf(f, "  external side has no %s: compared without %s\n", parts[i].column,
                    parts[i].part);
    fprintf(f, "  lines read:          ERP %llu, external %llu\n", (unsigned long long)s->erp_lines,
            (unsigned long long)s->external_lines);
    fprintf(f, "  keys:                ERP %llu, external %llu, compared %llu\n",
            (unsigned long long)s->erp_keys, (unsigned long long)s->external_keys,
            (unsigned long long)s->keys_compared);
    fprintf(f, "  serials:             ERP %llu, external %llu\n",
            (unsigned long long)s->erp_serials, (unsigned long long)s->external_serials);
    if (s->external_other_organization)
        fprintf(f, "  not compared:        %llu external key(s) of other organizations\n",
                (unsigned long long)s->external_other_organization);
    fprintf(f, "  matched:             %llu\n", (unsigned long long)s->matched);
    fprintf(f, "  within tolerance:    %llu\n", (unsigned long long)s->within_tolerance);
    fprintf(f, "  discrepancies:       %llu\n", (unsigned long long)s->discrepancies);
    const struct {
        const char *name;
        uint64_t n;
    } rows[] = {{"quantity mismatch", s->quantity_mismatch},
                {"missing on the external side", s->missing_external},
                {"missing on the ERP side", s->missing_erp},
                {"unit of measure mismatch", s->uom_mismatch},
                {"serial missing on the external side", s->serial_missing_external},
                {"serial missing on the ERP side", s->serial_missing_erp},
                {"serial moved", s->serial_moved},
                {"serial duplicated", s->serial_duplicate}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].n)
            fprintf(f, "    %-36s %llu\n", rows[i].name, (unsigned long long)rows[i].n);
    for (size_t i = 0; i < s->uom_total_count; i++) {
        const char *u, *a, *b;
        if (ohp_reconcile_uom_total(rc, i, &u, &a, &b) == OHP_OK)
            fprintf(f, "  total %-13s ERP %s, external %s\n", u, a, b);
    }
}

/* --json: the summary as one line of JSON on standard output (docs/cli.md). */
static void print_json(const ohp_reconcile *rc, int status, const char *out_path)
{
    const ohp_reconcile_summary *s = ohp_reconcile_get_summary(rc);
    char *q = json_quote(out_path);
    printf("{\"onhandpub_reconcile\":\"1.0\",\"exit_status\":%d,\"report\":%s,", status,
           q ? q : "null");
    free(q);
    const struct {
        const char *name;
        uint64_t n;
    } counts[] = {{"erp_lines", s->erp_lines},
                  {"external_lines", s->external_lines},
                  {"erp_keys", s->erp_keys},
                  {"external_keys", s->external_keys},
                  {"erp_serials", s->erp_serials},
                  {"external_serials", s->external_serials},
                  {"keys_compared", s->keys_compared},
                  {"external_other_organization", s->external_other_organization},
                  {"matched", s->matched},
                  {"within_tolerance", s->within_tolerance},
                  {"discrepancies", s->discrepancies},
                  {"quantity_mismatch", s->quantity_mismatch},
                  {"missing_external", s->missing_external},
                  {"missing_erp", s->missing_erp},
                  {"uom_mismatch", s->uom_mismatch},
                  {"serial_missing_external", s->serial_missing_external},
                  {"serial_missing_erp", s->serial_missing_erp},
                  {"serial_moved", s->serial_moved},
                  {"serial_duplicate", s->serial_duplicate}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        printf("\"%s\":%llu,", counts[i].name, (unsigned long long)counts[i].n);
    static const char *const parts[] = {"revision", "locator", "lot", "owner"};
    fputs("\"compared_without\":[", stdout);
    for (int i = 0, n = 0; i < 4; i++)
        if (s->external_missing_key_parts & (1 << i))
            printf("%s\"%s\"", n++ ? "," : "", parts[i]);
    fputs("],\"totals\":{", stdout);
    for (size_t i = 0; i < s->uom_total_count; i++) {
        const char *u, *a, *b;
        if (ohp_reconcile_uom_total(rc, i, &u, &a, &b) != OHP_OK)
            continue;
        char *qu = json_quote(u);
        printf("%s%s:{\"erp\":\"%s\",\"external\":\"%s\"}", i ? "," : "", qu ? qu : "\"\"", a, b);
        free(qu);
    }
    fputs("}}\n", stdout);
    fflush(stdout);
}

/* One reconciliation: its inputs, the library's handles, the report. */
typedef struct recon {
    const char *const *snapshots;
    size_t nsnap;
    const char *external, *out_path;
    ohp_reconcile *rc;
    cli_file_in *files; /* the snapshots, then the external side */
    ohp_snapshot_reader **readers;
    size_t opened;
    out o;
    cli_progress progress; /* bytes of both sides read */
    int json, quiet;
    char err[CLI_ERRSIZE];
} recon;

/* The options into r and opt (the tolerance texts into abs_t and rel_t, 128 bytes each). */
static int parse_args(int argc, char **argv, recon *r, ohp_reconcile_options *opt, char *abs_t,
                      char *rel_t, cli_opts *args)
{
    static const int allowed[] = {OPT_SNAPSHOT,  OPT_EXTERNAL, OPT_OUT,  OPT_IGNORE,
                                  OPT_TOLERANCE, OPT_FORMAT,   OPT_JSON, OPT_QUIET,
                                  OPT_PROGRESS,  OPT_VERBOSE,  OPT_HELP};
    const cli_command cmd = {allowed, sizeof allowed / sizeof allowed[0], OPT_SNAPSHOT, 0, "",
                             usage};
    int prc = cli_parse_options(argc, argv, &cmd, args);
    if (prc || args->given[OPT_HELP])
        return prc;
    r->snapshots = args->list;
    r->nsnap = args->nlist;
    r->external = args->value[OPT_EXTERNAL];
    r->out_path = args->value[OPT_OUT];
    if (r->nsnap == 0)
        return usage("at least one --snapshot ZIP is required");
    if (r->external == NULL)
        return usage("option --external is required");
    char oerr[CLI_ERRSIZE];
    if (r->out_path != NULL && cli_output_check(r->out_path, "--out", oerr) != 0)
        return usage("%s", oerr);
    if (args->given[OPT_IGNORE] && parse_ignore(args->value[OPT_IGNORE], &opt->ignore) != 0)
        return R_USAGE;
    r->json = args->given[OPT_JSON];
    r->quiet = args->given[OPT_QUIET];
    if (r->quiet && (args->given[OPT_PROGRESS] || args->given[OPT_VERBOSE]))
        return usage("option --quiet excludes --progress and --verbose");
    if (r->json && r->out_path == NULL)
        return usage("option --json needs --out FILE: standard output carries the JSON summary");
    cli_progress_init(&r->progress,
                      args->given[OPT_PROGRESS] || args->given[OPT_VERBOSE] ? 1
                      : r->quiet || r->json                                 ? -1
                                                                            : 0,
                      NULL);
    if (args->given[OPT_FORMAT]) {
        const char *f = args->value[OPT_FORMAT];
        if (strcmp(f, "csv") != 0 && strcmp(f, "psv") != 0)
            return usage("option --format: expected psv or csv, found '%s'", f);
        r->o.csv = strcmp(f, "csv") == 0;
    }
    if (args->given[OPT_TOLERANCE] &&
        parse_tolerance(args->value[OPT_TOLERANCE], abs_t, rel_t, 128) != 0)
        return R_USAGE;
    opt->tolerance_absolute = abs_t;
    opt->tolerance_relative = rel_t;
    return 0;
}

/* The ERP side: the snapshots, folded when there are several.  0 or the exit status. */
static int load_erp(recon *r)
{
    for (size_t i = 0; i < r->nsnap; i++, r->opened++) {
        if (cli_file_open(&r->files[i], r->snapshots[i], r->err) != 0)
            return R_FAILED;
        r->files[i].progress = &r->progress;
        if (ohp_snapshot_reader_open_zip(&r->readers[i], cli_file_read, cli_file_seek, &r->files[i],
                                         r->files[i].size, NULL) != OHP_OK) {
            cli_err(r->err, "out of memory");
            close(r->files[i].fd);
            return R_FAILED;
        }
    }
    int rc = ohp_reconcile_load_erp(r->rc, r->readers, r->nsnap);
    if (rc == OHP_OK)
        return 0;
    /* an I/O error of our own says it best; else the library's message, and the file */
    size_t failed = r->nsnap;
    for (size_t i = 0; i < r->nsnap && failed == r->nsnap; i++)
        if (r->files[i].err[0])
            failed = i;
    const char *msg = ohp_reconcile_errmsg(r->rc), *at = strstr(msg, "snapshot ");
    unsigned long k = at ? strtoul(at + 9, NULL, 10) : 0;
    if (failed < r->nsnap)
        cli_err(r->err, "%s", r->files[failed].err);
    else if (k >= 1 && k <= r->nsnap)
        cli_err(r->err, "%s: %s", r->snapshots[k - 1], msg);
    else
        cli_err(r->err, "%s", msg);
    return rc == OHP_EINVAL ? R_USAGE : R_FAILED;
}

/* The external side: a snapshot ZIP, or a PSV with named columns.  0 or the exit status. */
static int load_external(recon *r)
{
    cli_file_in *x = &r->files[r->nsnap];
    if (cli_file_open(x, r->external, r->err) != 0)
        return R_FAILED;
    x->progress = &r->progress;
    r->opened++;
    int rc;
    if (cli_file_is_zip(x)) {
        if (ohp_snapshot_reader_open_zip(&r->readers[r->nsnap], cli_file_read, cli_file_seek, x,
                                         x->size, NULL) != OHP_OK) {
            cli_err(r->err, "out of memory");
            return R_FAILED;
        }
        rc = ohp_reconcile_load_external(r->rc, &r->readers[r->nsnap], 1);
    } else {
        rc = ohp_reconcile_load_external_psv(r->rc, cli_file_read, x);
    }
    if (rc == OHP_OK)
        return 0;
    if (x->err[0])
        cli_err(r->err, "%s", x->err);
    else
        cli_err(r->err, "%s: %s", r->external, ohp_reconcile_errmsg(r->rc));
    return rc == OHP_EINVAL ? R_USAGE : R_FAILED;
}

/* The comparison, its discrepancies written as PSV, then the summary.  The exit status. */
static int write_report(recon *r)
{
    out *o = &r->o;
    o->to_stdout = r->out_path == NULL || strcmp(r->out_path, "-") == 0;
    if (cli_output_open(&o->file, o->to_stdout ? NULL : r->out_path, "--out", r->err) != 0)
        return R_FAILED;
    for (size_t i = 0; i < NOUT; i++)
        out_field(o, out_columns[i], i + 1 == NOUT);
    int rc = ohp_reconcile_run(r->rc, write_disc, o);
    if (rc != OHP_OK || o->failed) {
        cli_err(r->err, "%s", o->failed ? o->err : ohp_reconcile_errmsg(r->rc));
        cli_atomic_abort(&o->file);
        return R_FAILED;
    }
    if (cli_atomic_commit(&o->file, r->err) != 0)
        return R_FAILED;
    int status = ohp_reconcile_get_summary(r->rc)->discrepancies ? R_FOUND : R_OK_;
    cli_progress_end(&r->progress);
    if (r->json)
        print_json(r->rc, status, r->out_path);
    else if (!r->quiet)
        print_summary(o->to_stdout ? stderr : stdout, r->rc, r->nsnap, r->external);
    return status;
}

static void recon_free(recon *r)
{
    for (size_t i = 0; r->readers != NULL && i <= r->nsnap; i++)
        ohp_snapshot_reader_free(r->readers[i]);
    for (size_t i = 0; r->files != NULL && i < r->opened; i++)
        if (r->files[i].fd >= 0)
            close(r->files[i].fd);
    free(r->files);
    free(r->readers);
    ohp_reconcile_free(r->rc);
}

int cli_print_reconcile_help(void)
{
    fputs(reconcile_usage, stdout);
    return fflush(stdout) == 0 ? R_OK_ : R_FAILED;
}

int cmd_reconcile(int argc, char **argv)
{
    recon r;
    memset(&r, 0, sizeof r);
    r.o.file = (cli_atomic)CLI_ATOMIC_INIT;
    ohp_reconcile_options opt = OHP_RECONCILE_OPTIONS_INIT;
    char abs_t[128] = "", rel_t[128] = "";
    cli_opts args;
    int status = parse_args(argc, argv, &r, &opt, abs_t, rel_t, &args);
    if (status != 0)
        return status;
    if (args.given[OPT_HELP])
        return cli_print_reconcile_help();
    r.files = calloc(r.nsnap + 1, sizeof *r.files);
    r.readers = calloc(r.nsnap + 1, sizeof *r.readers);
    status = R_FAILED;
    if (r.files == NULL || r.readers == NULL)
        cli_err(r.err, "out of memory");
    else if (ohp_reconcile_new(&r.rc, &opt, NULL) != OHP_OK)
        cli_err(r.err, "cannot set up the reconciliation");
    else if ((status = load_erp(&r)) == 0 && (status = load_external(&r)) == 0)
        status = write_report(&r);
    if (status == R_FAILED || status == R_USAGE)
        fprintf(stderr, "onhandpub reconcile: %s\n", r.err);
    recon_free(&r);
    return status;
}
