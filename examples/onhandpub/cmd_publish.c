/*
 * onhandpub publish: the organization's balances from --input into a ZIP in
--outdir through the library's job, with the state file, the grants, the
rejects file and, with --ucm, the upload to the content server.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- publish ---- */

static const char *login_name(char *buf, size_t size)
{
    if (getlogin_r(buf, size) == 0 && buf[0] != '\0')
        return buf;
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && pw->pw_name[0]) {
        snprintf(buf, size, "%s", pw->pw_name);
        return buf;
    }
    const char *u = getenv("USER");
    if (u && u[0]) {
        snprintf(buf, size, "%s", u);
        return buf;
    }
    return NULL;
}

static const char *items_name(int items)
{
    return items == OHP_ITEMS_SERIAL      ? "serial"
           : items == OHP_ITEMS_NONSERIAL ? "nonserial"
                                          : "both";
}

static void fmt_date(int64_t t, char buf[OHP_DATE_BUFSIZE])
{
    if (t == OHP_TIME_NONE || ohp_date_format(t, 0, buf) != OHP_OK)
        snprintf(buf, OHP_DATE_BUFSIZE, "-");
}

static int exit_for(int rc, const ohp_summary *s)
{
    switch (rc) {
    case OHP_OK:
        return s->status == OHP_STATUS_WARNINGS ? EXIT_WARNINGS : EXIT_OK;
    case OHP_EINVAL:
    case OHP_EVERSION:
    case OHP_ENOTFOUND:
    case OHP_EINACTIVE:
    case OHP_EAUTH:        /* the grants file could not be read or parsed */
    case OHP_EEMPTY:       /* a FULL snapshot with no line, not allowed */
    case OHP_EUNSUPPORTED: /* --engine isal from a library without ISA-L */
        return EXIT_USAGE;
    case OHP_EDENIED:
        return EXIT_DENIED;
    default:
        return EXIT_FAILED;
    }
}

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0)
        return 0.0;
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void print_summary(const ohp_job *job, const cli_rejects *rj, const cli_ucm *ucm,
                          const char *user, const char *rejects_path, double secs)
{
    const ohp_summary *s = ohp_job_summary(job);
    char snap[OHP_DATE_BUFSIZE], win[OHP_DATE_BUFSIZE];
    fmt_date(s->snapshot_date, snap);
    fmt_date(s->window_start, win);
    FILE *e = stderr;
    char v1[CLI_ERRSIZE], v2[CLI_ERRSIZE], v3[CLI_ERRSIZE]; /* values as visible text */
    fprintf(e, "onhandpub: published %s (%s)\n", cli_visible(s->file_name, v1, sizeof v1),
            s->status == OHP_STATUS_WARNINGS ? "succeeded with warnings" : "succeeded");
    if (s->mode == OHP_MODE_FULL)
        fprintf(e, "  mode FULL, snapshot %s, run id %" PRIu64 "\n", snap, s->run_id);
    else
        fprintf(e,
                "  mode INCREMENTAL, window from %s, snapshot %s, run id %" PRIu64
                ", changed keys %" PRIu64 "\n",
                win, snap, s->run_id, s->changed_keys);
    fprintf(e, "  system %s, organization %s, items %s, user %s\n",
            cli_visible(s->system_code, v1, sizeof v1),
            cli_visible(s->organization_code, v2, sizeof v2), items_name(s->items),
            cli_visible(user, v3, sizeof v3));
    fprintf(e, "  records read %" PRIu64 ", published %" PRIu64 ", rejected %" PRIu64 "\n",
            s->records_read, s->records_published, s->records_rejected);
    fprintf(e,
            "  skipped: other organization %" PRIu64 ", item type %" PRIu64
            ", outside window %" PRIu64 ", zero quantity %" PRIu64 "\n",
            s->skipped_organization, s->skipped_item_type, s->skipped_window, s->skipped_zero);
    fprintf(e,
            "  lines %" PRIu64 " (%" PRIu64 " from serials), PSV %" PRIu64
            " bytes, compressed %" PRIu64 " bytes (%s), ZIP %" PRIu64 " bytes, CRC-32 %08" PRIx32
            "\n",
            s->lines_written, s->serial_lines, s->psv_bytes, s->compressed_bytes,
            s->engine == OHP_ENGINE_ISAL ? "isal" : "zlib", s->zip_bytes, s->crc32);
    if (s->uom_total_count > 0) {
        fputs("  quantity totals:", e);
        for (size_t i = 0; i < s->uom_total_count; i++) {
            const char *uom, *total;
            if (ohp_job_uom_total(job, i, &uom, &total) == OHP_OK)
                fprintf(e, "%s %s %s", i ? "," : "", total, cli_visible(uom, v1, sizeof v1));
        }
        fputc('\n', e);
    }
    for (size_t i = 0; i < s->warning_count; i++)
        fprintf(e, "  warning: %s\n", cli_visible(ohp_job_warning(job, i), v1, sizeof v1));
    for (size_t i = 0; i < CLI_REJECT_NOTES && i < rj->count; i++)
        fprintf(e, "  rejected: %s\n", cli_visible(rj->notes[i], v1, sizeof v1));
    if (rj->count > CLI_REJECT_NOTES)
        fprintf(e, "  rejected: ... %" PRIu64 " more\n", rj->count - CLI_REJECT_NOTES);
    if (rejects_path)
        fprintf(e, "  rejects written to %s\n", cli_visible(rejects_path, v1, sizeof v1));
    if (ucm && ucm->document_id)
        fprintf(e, "  uploaded to the content server: document id %s, account %s%s\n",
                cli_visible(ucm->document_id, v1, sizeof v1),
                cli_visible(ucm->account, v2, sizeof v2),
                ucm->found_existing ? " (found by listing after a lost or unusable answer)" : "");
    fprintf(e, "  elapsed %.3f s\n", secs);
}

typedef struct publish_ctx {
    ohp_registry *reg;
    ohp_job *job;
    ohp_balance_reader *br;
    cli_input in;
    ohp_filesink *sink; /* --outdir */
    cli_grants grants;
    ohp_filestate *state;  /* --state FILE */
    cli_sql_source sql;    /* --source sqlite:PATH */
    cli_sql_state sqlst;   /* --state sqlite:PATH */
    cli_pg_source pg;      /* --source postgresql://... */
    cli_pg_state pgst;     /* --state postgresql://... */
    char source_name[512]; /* the source as messages name it */
    cli_rejects rejects;
    cli_ucm ucm;
    cli_progress progress;
} publish_ctx;

/* A --source or --state value naming a SQLite database: its path, else NULL. */
static const char *sqlite_path(const char *v)
{
    return v != NULL && strncmp(v, "sqlite:", 7) == 0 ? v + 7 : NULL;
}

/* A --source or --state value that is a PostgreSQL connection URI: the value, else NULL. */
static const char *pg_uri(const char *v)
{
    return v != NULL && (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0)
               ? v
               : NULL;
}

static void publish_free(publish_ctx *c)
{
    char err[CLI_ERRSIZE];
    ohp_filesink_free(c->sink);
    (void)cli_rejects_finish(&c->rejects, 0, err);
    ohp_filestate_close(c->state);
    cli_sql_source_close(&c->sql);
    cli_sql_state_close(&c->sqlst);
    cli_pg_source_close(&c->pg);
    cli_pg_state_close(&c->pgst);
    cli_grants_close(&c->grants);
    cli_input_close(&c->in);
    cli_ucm_free(&c->ucm);
    ohp_job_free(c->job);
    ohp_balance_reader_free(c->br);
    ohp_registry_free(c->reg);
}

/*
 * --engine: zlib (the default: the same archive from every host, whatever
 * its processor), isal or best.
 */
static int parse_engine(const cli_opts *o, ohp_params *p)
{
    if (!o->given[OPT_ENGINE]) {
        p->engine = OHP_ENGINE_ZLIB;
        return 0;
    }
    const char *v = o->value[OPT_ENGINE];
    if (strcmp(v, "zlib") == 0)
        p->engine = OHP_ENGINE_ZLIB;
    else if (strcmp(v, "isal") == 0)
        p->engine = OHP_ENGINE_ISAL;
    else if (strcmp(v, "best") == 0)
        p->engine = OHP_ENGINE_BEST;
    else
        return cli_usage_error("option --engine: expected zlib, isal or best, found '%s'", v);
    if (!ohp_engine_available(p->engine))
        return cli_usage_error("option --engine isal: this build of libonhandpub has no ISA-L "
                               "(use zlib or best)");
    return 0;
}

/* What the run publishes: --items, --full, --from, --now, --run-id, --level, --threads, --engine.
 */
static int parse_run_options(const cli_opts *o, ohp_params *p)
{
    if (o->given[OPT_ITEMS]) {
        const char *v = o->value[OPT_ITEMS];
        if (strcmp(v, "both") == 0)
            p->items = OHP_ITEMS_BOTH;
        else if (strcmp(v, "serial") == 0)
            p->items = OHP_ITEMS_SERIAL;
        else if (strcmp(v, "nonserial") == 0)
            p->items = OHP_ITEMS_NONSERIAL;
        else
            return cli_usage_error("option --items: expected both, serial or nonserial, found '%s'",
                                   v);
    }
    p->full_publish = o->given[OPT_FULL];
    int rc;
    if ((rc = cli_parse_date_opt(o, OPT_FROM, &p->publish_from)) != 0 ||
        (rc = cli_parse_date_opt(o, OPT_NOW, &p->snapshot_date)) != 0)
        return rc;
    if (o->given[OPT_RUN_ID]) {
        const char *v = o->value[OPT_RUN_ID];
        uint64_t id = 0;
        int ok = 1;
        for (const char *q = v; ok && *q; q++) {
            unsigned d = (unsigned)(*q - '0');
            ok = *q >= '0' && *q <= '9' && id <= (UINT64_MAX - d) / 10;
            id = id * 10 + d;
        }
        if (!ok || id == 0)
            return cli_usage_error("option --run-id: expected a positive integer, found '%s'", v);
        p->run_id = id;
    }
    if (o->given[OPT_LEVEL]) {
        const char *v = o->value[OPT_LEVEL];
        if (!(v[0] >= '0' && v[0] <= '9' && v[1] == '\0'))
            return cli_usage_error("option --level: expected 0 to 9, found '%s'", v);
        p->compression_level = v[0] - '0';
    }
    if (o->given[OPT_THREADS]) {
        const char *v = o->value[OPT_THREADS];
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end != '\0' || n < 1 || n > 64)
            return cli_usage_error("option --threads: expected 1 to 64, found '%s'", v);
        p->threads = (unsigned)n;
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p->threads = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
    }
    return parse_engine(o, p);
}

/* What a bad record does: --on-error, --max-rejects, --rejects. */
static int parse_reject_options(const cli_opts *o, ohp_params *p)
{
    if (o->given[OPT_ON_ERROR]) {
        const char *v = o->value[OPT_ON_ERROR];
        if (strcmp(v, "fail") == 0)
            p->on_error = OHP_ON_ERROR_FAIL;
        else if (strcmp(v, "reject") == 0)
            p->on_error = OHP_ON_ERROR_REJECT;
        else
            return cli_usage_error("option --on-error: expected fail or reject, found '%s'", v);
    }
    p->allow_empty = o->given[OPT_ALLOW_EMPTY];
    if (o->given[OPT_MAX_REJECTS]) {
        const char *v = o->value[OPT_MAX_REJECTS];
        size_t len = strlen(v);
        int percent = len > 0 && v[len - 1] == '%';
        uint64_t n = 0;
        int ok = len > (size_t)percent;
        for (size_t i = 0; ok && i < len - (size_t)percent; i++) {
            unsigned d = (unsigned)(v[i] - '0');
            ok = v[i] >= '0' && v[i] <= '9' && n <= (UINT64_MAX - d) / 10;
            n = n * 10 + d;
        }
        if (!ok || n < 1 || (percent && n > 100))
            return cli_usage_error("option --max-rejects: expected a count (1 or more) or a "
                                   "percentage of the records checked (1%% to 100%%), found '%s' "
                                   "(to reject nothing, use --on-error fail)",
                                   v);
        if (percent) {
            p->max_reject_percent = (unsigned)n;
        } else {
            p->max_rejects = n;
            p->max_reject_percent = 100; /* the count alone */
        }
        if (p->on_error != OHP_ON_ERROR_REJECT)
            return cli_usage_error("option --max-rejects applies only with --on-error reject");
    }
    if (o->given[OPT_REJECTS] && p->on_error != OHP_ON_ERROR_REJECT)
        return cli_usage_error("option --rejects requires --on-error reject");
    return 0;
}

/* The job's parameters from the options (user: room for the login name). */
static int parse_params(const cli_opts *o, ohp_params *p, char *userbuf, size_t usersize)
{
    ohp_params_init(p, OHP_PARAMS_VERSION);
    if (o->given[OPT_INPUT] == o->given[OPT_SOURCE])
        return cli_usage_error(o->given[OPT_INPUT]
                                   ? "options --input and --source exclude each other"
                                   : "option --input is required, or --source with --query "
                                     "(--input - reads standard input)");
    if (o->given[OPT_SOURCE] != o->given[OPT_QUERY])
        return cli_usage_error(o->given[OPT_SOURCE] ? "option --source requires --query FILE"
                                                    : "option --query requires --source");
    if (o->given[OPT_SOURCE] && sqlite_path(o->value[OPT_SOURCE]) == NULL &&
        pg_uri(o->value[OPT_SOURCE]) == NULL)
        return cli_usage_error("option --source: expected sqlite:PATH or postgresql://..., "
                               "found '%s'",
                               o->value[OPT_SOURCE]);
    if (!o->given[OPT_ORG])
        return cli_usage_error("option --org is required");
    p->organization_code = o->value[OPT_ORG];
    p->system_code = o->given[OPT_SYSTEM] ? o->value[OPT_SYSTEM] : OHP_SYSTEM_ORACLE_WMS;
    int rc;
    if ((rc = parse_run_options(o, p)) != 0 || (rc = parse_reject_options(o, p)) != 0)
        return rc;
    if (o->given[OPT_NO_AUTH] && o->given[OPT_GRANTS])
        return cli_usage_error("options --no-auth and --grants exclude each other");
    p->caller_authorized = o->given[OPT_NO_AUTH];
    p->omit_manifest = o->given[OPT_NO_MANIFEST];
    p->user = o->given[OPT_USER] ? o->value[OPT_USER] : login_name(userbuf, usersize);
    if (p->user == NULL)
        return cli_usage_error("cannot determine the login name; give --user NAME");
    return 0;
}

/* The output directory, the lookups and the grants. */
static int open_config(const cli_opts *o, publish_ctx *c, const char *outdir)
{
    char err[CLI_ERRSIZE];
    char msg[OHP_FILESINK_MSGSIZE];
    if (ohp_filesink_new(&c->sink, outdir, 0, NULL, msg) != OHP_OK)
        return cli_usage_error("option --outdir: %s", msg);
    if (cli_load_registry(o->value[OPT_LOOKUPS], &c->reg, err) != 0)
        return cli_usage_error("%s", err);
    if (o->given[OPT_GRANTS] && cli_grants_open(&c->grants, o->value[OPT_GRANTS], err) != 0)
        return cli_usage_error("%s", err);
    return 0;
}

/* The job with its source, sink, authorizer, rejects file and state file. */
static int setup_job(const cli_opts *o, publish_ctx *c, const ohp_params *p, const char *outdir)
{
    char err[CLI_ERRSIZE];
    int rc;
    const char *db = sqlite_path(o->value[OPT_SOURCE]);
    if ((rc = ohp_job_new(&c->job, NULL)) != OHP_OK) {
        fprintf(stderr, "onhandpub: %s\n", ohp_strerror(rc));
        return EXIT_FAILED;
    }
    const char *pg = pg_uri(o->value[OPT_SOURCE]);
    if (db != NULL || pg != NULL) {
        /* named in messages; never the URI, which may hold a password */
        snprintf(c->source_name, sizeof c->source_name, "%s",
                 db != NULL ? o->value[OPT_SOURCE] : "postgresql");
        /* The query is prepared and its columns checked before anything is read. */
        rc = db != NULL ? cli_sql_use_source(&c->sql, c->job, db, o->value[OPT_QUERY], err)
                        : cli_pg_use_source(&c->pg, c->job, pg, o->value[OPT_QUERY], err);
        if (rc != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return rc;
        }
    } else {
        /* An incremental run reads the input twice (whole keys). */
        cli_input_init(&c->in, o->value[OPT_INPUT], !p->full_publish);
        if ((rc = ohp_balance_reader_new(&c->br, cli_input_read, &c->in, NULL)) != OHP_OK ||
            (rc = ohp_balance_reader_set_rewind(c->br, cli_input_rewind)) != OHP_OK) {
            fprintf(stderr, "onhandpub: %s\n", ohp_strerror(rc));
            return EXIT_FAILED;
        }
        ohp_job_set_balance_reader(c->job, c->br);
    }
    c->grants.job = c->rejects.job = c->job;
    c->rejects.br = c->br; /* NULL for a database: rejected rows are echoed from their values */
    c->rejects.input = c->source_name[0] ? c->source_name : c->in.path;
    if (c->ucm.url)
        ohp_filesink_set_placed_callback(c->sink, cli_ucm_sink_publish, &c->ucm);
    ohp_job_set_registry(c->job, c->reg);
    ohp_job_set_filesink(c->job, c->sink);
    if (o->given[OPT_GRANTS])
        ohp_job_set_authorizer(c->job, cli_grants_authorize, &c->grants);
    if (p->on_error == OHP_ON_ERROR_REJECT) {
        if (o->given[OPT_REJECTS] && cli_output_check(o->value[OPT_REJECTS], "--rejects", err) != 0)
            return cli_usage_error("%s", err);
        if (cli_rejects_open(&c->rejects, o->value[OPT_REJECTS], err) != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return EXIT_FAILED;
        }
        ohp_job_set_reject_callback(c->job, cli_rejects_record, &c->rejects);
    }
    const char *state_db = sqlite_path(o->value[OPT_STATE]);
    const char *state_pg = pg_uri(o->value[OPT_STATE]);
    if (state_pg != NULL || state_db != NULL) {
        rc = state_pg != NULL ? cli_pg_use_state(&c->pgst, c->job, state_pg, p->system_code,
                                                 p->organization_code, err)
                              : cli_sql_use_state(&c->sqlst, c->job, state_db, err);
        if (rc != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return rc;
        }
    } else if (o->given[OPT_STATE]) {
        if (cli_state_open(&c->state, o->value[OPT_STATE], err) != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return EXIT_FAILED;
        }
        ohp_job_set_filestate(c->job, c->state);
    }
    return 0;
}

/* A failed run's message: the input's own error, or the job's with where the record is. */
static void report_failure(publish_ctx *c, int rc, const ohp_summary *s)
{
    char err[CLI_ERRSIZE];
    if (c->in.failed) {
        fprintf(stderr, "onhandpub: %s\n", c->in.err);
    } else if (rc == OHP_ERECORD || rc == OHP_ESOURCE) {
        /* A record error, or the input could not be read: name the file (and the line). */
        char where[CLI_ERRSIZE], where_seen[CLI_ERRSIZE];
        if (c->source_name[0] && rc == OHP_ERECORD && s->error_ordinal > 0)
            snprintf(where, sizeof where, "source '%s', row %llu of the query", c->source_name,
                     (unsigned long long)s->error_ordinal);
        else if (c->source_name[0])
            snprintf(where, sizeof where, "source '%s'", c->source_name);
        else
            cli_input_where(c->br, c->in.path, rc == OHP_ERECORD ? s->error_ordinal : 0, where,
                            sizeof where);
        fprintf(stderr, "onhandpub: %s; %s\n", cli_visible(ohp_job_errmsg(c->job), err, sizeof err),
                cli_visible(where, where_seen, sizeof where_seen));
    } else {
        fprintf(stderr, "onhandpub: %s\n", cli_visible(ohp_job_errmsg(c->job), err, sizeof err));
    }
}

/* --verbose: what the run is about to do. */
static void print_plan(const cli_opts *o, const ohp_params *p)
{
    char v1[CLI_ERRSIZE], v2[CLI_ERRSIZE], v3[CLI_ERRSIZE];
    const char *src = o->given[OPT_SOURCE] ? o->value[OPT_SOURCE] : o->value[OPT_INPUT];
    fprintf(stderr,
            "onhandpub: publishing organization %s, system %s, items %s, %s, from %s; level %d, "
            "%u thread(s), engine %s\n",
            cli_visible(p->organization_code, v1, sizeof v1),
            cli_visible(p->system_code, v2, sizeof v2), items_name(p->items),
            p->full_publish ? "full" : "incremental", cli_visible(src, v3, sizeof v3),
            p->compression_level < 0 ? 6 : p->compression_level, p->threads ? p->threads : 1,
            p->engine == OHP_ENGINE_ISAL   ? "isal"
            : p->engine == OHP_ENGINE_BEST ? "best"
                                           : "zlib");
}

static int do_publish(const cli_opts *o, publish_ctx *c)
{
    char err[CLI_ERRSIZE];
    struct timespec t0;
    if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0)
        t0.tv_sec = t0.tv_nsec = 0;
    ohp_params p;
    char userbuf[256];
    int rc;
    if ((rc = parse_params(o, &p, userbuf, sizeof userbuf)) != 0 ||
        (rc = cli_parse_ucm_options(o, &c->ucm)) != 0)
        return rc;
    int json = o->given[OPT_JSON], quiet = o->given[OPT_QUIET];
    if (quiet && (o->given[OPT_PROGRESS] || o->given[OPT_VERBOSE]))
        return cli_usage_error("option --quiet excludes --progress and --verbose");
    const char *outdir = o->given[OPT_OUTDIR] ? o->value[OPT_OUTDIR] : ".";
    if ((rc = open_config(o, c, outdir)) != 0 || (rc = setup_job(o, c, &p, outdir)) != 0)
        return rc;
    /* Progress on a terminal; --progress and --verbose force it, --quiet and --json drop it. */
    int pmode = o->given[OPT_PROGRESS] || o->given[OPT_VERBOSE] ? 1 : quiet || json ? -1 : 0;
    cli_progress_init(&c->progress, pmode, "records read");
    if (c->progress.enabled)
        ohp_job_set_progress_callback(c->job, cli_progress_report, &c->progress);
    if (o->given[OPT_VERBOSE])
        print_plan(o, &p);

    rc = ohp_job_run(c->job, &p);
    cli_progress_end(&c->progress);
    const ohp_summary *s = ohp_job_summary(c->job);
    int status = exit_for(rc, s);
    if (rc != OHP_OK && c->ucm.exit_status != 0)
        status = c->ucm.exit_status; /* the upload failed: the service's verdict */
    cli_json_extra jx = {status, NULL, NULL, p.user, o->value[OPT_REJECTS], NULL, NULL, 0.0};
    if (rc != OHP_OK) {
        (void)cli_rejects_finish(&c->rejects, 0, err);
        report_failure(c, rc, s);
        if (json) {
            char msg[CLI_ERRSIZE];
            jx.message = cli_visible(ohp_job_errmsg(c->job), msg, sizeof msg);
            jx.rejects_path = NULL;
            jx.elapsed = elapsed_since(&t0);
            (void)cli_print_json_summary(c->job, &jx);
        }
        return status;
    }
    if (c->rejects.enabled && cli_rejects_finish(&c->rejects, 1, err) != 0) {
        fprintf(stderr,
                "onhandpub: %s was published but the rejects file could not be written: %s\n",
                s->file_name, err);
        return EXIT_FAILED;
    }
    if (json) {
        jx.path = ohp_filesink_path(c->sink) ? ohp_filesink_path(c->sink) : s->file_name;
        jx.document_id = c->ucm.document_id;
        jx.account = c->ucm.document_id ? c->ucm.account : NULL;
        jx.elapsed = elapsed_since(&t0);
        if (cli_print_json_summary(c->job, &jx) != 0) {
            fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
            return EXIT_FAILED;
        }
        return status;
    }
    if (!quiet)
        print_summary(c->job, &c->rejects, &c->ucm, p.user, o->value[OPT_REJECTS],
                      elapsed_since(&t0));
    printf("%s\n", ohp_filesink_path(c->sink) ? ohp_filesink_path(c->sink) : s->file_name);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    return status;
}

int cmd_publish(int argc, char **argv)
{
    static const int allowed[] = {OPT_INPUT,
                                  OPT_SOURCE,
                                  OPT_QUERY,
                                  OPT_ORG,
                                  OPT_SYSTEM,
                                  OPT_LOOKUPS,
                                  OPT_ITEMS,
                                  OPT_FULL,
                                  OPT_FROM,
                                  OPT_STATE,
                                  OPT_OUTDIR,
                                  OPT_USER,
                                  OPT_GRANTS,
                                  OPT_NO_AUTH,
                                  OPT_RUN_ID,
                                  OPT_NOW,
                                  OPT_LEVEL,
                                  OPT_THREADS,
                                  OPT_ENGINE,
                                  OPT_ON_ERROR,
                                  OPT_REJECTS,
                                  OPT_MAX_REJECTS,
                                  OPT_ALLOW_EMPTY,
                                  OPT_NO_MANIFEST,
                                  OPT_UCM,
                                  OPT_UCM_ACCOUNT,
                                  OPT_UCM_CREDENTIALS,
                                  OPT_UCM_INSECURE,
                                  OPT_UCM_CONNECT_TIMEOUT,
                                  OPT_UCM_TIMEOUT,
                                  OPT_UCM_RETRIES,
                                  OPT_UCM_BACKOFF,
                                  OPT_UCM_CACERT,
                                  OPT_JSON,
                                  OPT_QUIET,
                                  OPT_PROGRESS,
                                  OPT_VERBOSE,
                                  OPT_HELP};
    cli_opts o;
    int rc = cli_parse_options(argc, argv, &(const cli_command)CLI_COMMAND(allowed), &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return cli_print_command_help("publish");
    char err[CLI_ERRSIZE];
    if (o.given[OPT_UCM] && cli_ucm_supported() && cli_ucm_global_init(err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_FAILED;
    }
    publish_ctx c;
    memset(&c, 0, sizeof c);
    cli_input_init(&c.in, "-", 0); /* set again from the options */
    c.grants.fd = -1;
    c.rejects.file = (cli_atomic)CLI_ATOMIC_INIT;
    rc = do_publish(&o, &c);
    publish_free(&c);
    if (o.given[OPT_UCM] && cli_ucm_supported())
        cli_ucm_global_cleanup();
    return rc;
}
