/*
 * onhandpub - publish on-hand inventory balances as a PSV file in a ZIP.
 *
 *   onhandpub publish --input FILE --org CODE [options]
 *   onhandpub systems [--lookups FILE] [--date DATE]
 *
 * A command-line connector built on the public API of libonhandpub only.
 * See docs/cli.md.
 */
#include "onhandpub_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef ONHANDPUB_CLI_VERSION
#define ONHANDPUB_CLI_VERSION OHP_VERSION_STRING
#endif

/* Exit statuses (docs/cli.md). */
enum { EXIT_OK = 0, EXIT_WARNINGS = 1, EXIT_USAGE = 2, EXIT_DENIED = 3, EXIT_FAILED = 4 };

#define LOOKUPS_MAX_BYTES (16u * 1024u * 1024u)

static const char usage_text[] =
    "Usage:\n"
    "  onhandpub publish --input FILE --org CODE [options]\n"
    "  onhandpub systems [--lookups FILE] [--date DATE]\n"
    "  onhandpub --help | --version\n"
    "\n"
    "publish: write the organization's on-hand balances as a PSV file inside a ZIP\n"
    "in --outdir and print the ZIP's path.\n"
    "  --input FILE          balances PSV to read ('-': standard input) (required)\n"
    "  --org CODE            organization code (required)\n"
    "  --system CODE         external system code (default 0, Oracle WMS)\n"
    "  --lookups FILE        external systems (lookup values PSV); without it only code 0\n"
    "  --items KIND          both, serial or nonserial (default both)\n"
    "  --full                full publish (default: incremental from the last success)\n"
    "  --from DATE           publish-from date (reach back before the last success)\n"
    "  --state FILE          watermark and run-id store, locked for the whole run\n"
    "  --outdir DIR          directory for the ZIP (default .)\n"
    "  --user NAME           submitting user (default: the login name)\n"
    "  --grants FILE         privilege grants, lines USER_NAME|PRIVILEGE_CODE\n"
    "  --no-auth             the caller has authorized the request: skip the privilege check\n"
    "  --run-id N            run id, a positive integer (default: from --state, else 1)\n"
    "  --now DATE            snapshot date (default: the clock at start)\n"
    "  --level N             compression level 0-9 (default 6)\n"
    "  --on-error POLICY     fail or reject (default fail)\n"
    "  --rejects FILE        write rejected records as PSV (only with --on-error reject)\n"
    "\n"
    "systems: list the external systems usable on --date (default today) as PSV.\n"
    "\n"
    "Dates: YYYY/MM/DD, YYYY/MM/DD HH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ,\n"
    "YYYY-MM-DDTHH:MM:SS+HH:MM.  Values may also be given as --option=VALUE.\n"
    "Without --grants and without --no-auth every run is refused.\n"
    "\n"
    "Exit status:\n"
    "  0  succeeded\n"
    "  1  succeeded with warnings (records rejected, or --from later than the last success)\n"
    "  2  usage or configuration error (bad option or value, unknown or inactive system,\n"
    "     bad lookups file, unreadable or malformed grants file)\n"
    "  3  not authorized\n"
    "  4  failed (bad record under --on-error fail, input, output or state file error)\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("onhandpub: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

/* ---- option parsing ---- */

enum opt_id {
    OPT_INPUT,
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
    OPT_ON_ERROR,
    OPT_REJECTS,
    OPT_DATE,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT
};

typedef struct opt_def {
    const char *name;
    int takes_value;
} opt_def;

static const opt_def opt_defs[OPT_COUNT] = {
    [OPT_INPUT] = {"input", 1},     [OPT_ORG] = {"org", 1},
    [OPT_SYSTEM] = {"system", 1},   [OPT_LOOKUPS] = {"lookups", 1},
    [OPT_ITEMS] = {"items", 1},     [OPT_FULL] = {"full", 0},
    [OPT_FROM] = {"from", 1},       [OPT_STATE] = {"state", 1},
    [OPT_OUTDIR] = {"outdir", 1},   [OPT_USER] = {"user", 1},
    [OPT_GRANTS] = {"grants", 1},   [OPT_NO_AUTH] = {"no-auth", 0},
    [OPT_RUN_ID] = {"run-id", 1},   [OPT_NOW] = {"now", 1},
    [OPT_LEVEL] = {"level", 1},     [OPT_ON_ERROR] = {"on-error", 1},
    [OPT_REJECTS] = {"rejects", 1}, [OPT_DATE] = {"date", 1},
    [OPT_HELP] = {"help", 0},       [OPT_VERSION] = {"version", 0},
};

typedef struct opts {
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
} opts;

/*
 * Parse argv (after the command word) accepting only the options in
 * `allowed`.  Returns 0 or EXIT_USAGE after printing a one-line reason.
 */
static int parse_options(int argc, char **argv, const int *allowed, size_t nallowed, opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return usage_error("unexpected argument '%s' (see onhandpub --help)", argv[i]);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (size_t k = 0; k < nallowed; k++) {
            const char *n = opt_defs[allowed[k]].name;
            if (strlen(n) == nlen && strncmp(n, name, nlen) == 0) {
                id = allowed[k];
                break;
            }
        }
        if (id < 0) {
            char buf[128];
            snprintf(buf, sizeof buf, "%.*s", (int)(nlen > 100 ? 100 : nlen), name);
            return usage_error("unknown option '--%s' (see onhandpub --help)", buf);
        }
        const char *oname = opt_defs[id].name;
        if (o->given[id])
            return usage_error("option --%s given more than once", oname);
        o->given[id] = 1;
        if (!opt_defs[id].takes_value) {
            if (eq)
                return usage_error("option --%s takes no value", oname);
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            /* A following option is not taken as the value: "--org --full" is an error. */
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2] != '\0'))
                return usage_error("option --%s requires a value", oname);
            v = argv[++i];
        }
        if (*v == '\0')
            return usage_error("option --%s requires a non-empty value", oname);
        o->value[id] = v;
    }
    return 0;
}

static int parse_date_opt(const opts *o, int id, int64_t *out)
{
    *out = OHP_TIME_NONE;
    if (!o->given[id])
        return 0;
    if (ohp_date_parse(o->value[id], out) != OHP_OK)
        return usage_error("option --%s: '%s' is not a date (use YYYY/MM/DD, YYYY/MM/DD "
                           "HH:MM:SS, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)",
                           opt_defs[id].name, o->value[id]);
    return 0;
}

static int print_version(void)
{
    printf("onhandpub %s (libonhandpub %s)\n", ONHANDPUB_CLI_VERSION, ohp_version());
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int print_help(void)
{
    fputs(usage_text, stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* ---- lookups ---- */

/* Read a small configuration file into memory (the lookups file). */
static int slurp(const char *path, char **out, size_t *len, char *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_err(err, "cannot read lookups file '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        (void)close(fd);
        cli_err(err, "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= LOOKUPS_MAX_BYTES) {
                cli_err(err, "lookups file '%s' is larger than %u bytes", path, LOOKUPS_MAX_BYTES);
                goto fail;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                cli_err(err, "out of memory");
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cli_err(err, "cannot read lookups file '%s': %s", path, strerror(errno));
            goto fail;
        }
        n += (size_t)r;
    }
    (void)close(fd);
    *out = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    (void)close(fd);
    return -1;
}

static int load_registry(const char *lookups, ohp_registry **reg, char *err)
{
    *reg = NULL;
    int rc = ohp_registry_new(reg, NULL);
    if (rc != OHP_OK) {
        cli_err(err, "%s", ohp_strerror(rc));
        return -1;
    }
    if (lookups == NULL)
        return 0;
    char *buf;
    size_t len;
    if (slurp(lookups, &buf, &len, err) != 0)
        return -1;
    rc = ohp_registry_load_psv(*reg, buf, len);
    free(buf);
    if (rc != OHP_OK) {
        cli_err(err, "lookups file '%s': %s", lookups, ohp_registry_errmsg(*reg));
        return -1;
    }
    return 0;
}

/* ---- systems ---- */

static void psv_field(FILE *f, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, "|\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static int print_system(void *ud, const ohp_lookup_value *v)
{
    FILE *f = ud;
    psv_field(f, v->code);
    fputc('|', f);
    psv_field(f, v->meaning);
    fputc('|', f);
    psv_field(f, v->description);
    fputc('\n', f);
    return 0;
}

static int cmd_systems(int argc, char **argv)
{
    static const int allowed[] = {OPT_LOOKUPS, OPT_DATE, OPT_HELP};
    opts o;
    char err[CLI_ERRSIZE];
    int rc = parse_options(argc, argv, allowed, sizeof allowed / sizeof allowed[0], &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return print_help();
    int64_t date;
    if ((rc = parse_date_opt(&o, OPT_DATE, &date)) != 0)
        return rc;
    if (date == OHP_TIME_NONE)
        date = (int64_t)time(NULL);
    ohp_registry *reg;
    if (load_registry(o.value[OPT_LOOKUPS], &reg, err) != 0) {
        ohp_registry_free(reg);
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_USAGE;
    }
    fputs("LOOKUP_CODE|MEANING|DESCRIPTION\n", stdout);
    ohp_registry_foreach_usable(reg, date, print_system, stdout);
    ohp_registry_free(reg);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

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
    case OHP_EAUTH: /* the grants file could not be read or parsed */
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

static void print_summary(const ohp_job *job, const cli_rejects *rj, const char *user,
                          const char *rejects_path, double secs)
{
    const ohp_summary *s = ohp_job_summary(job);
    char snap[OHP_DATE_BUFSIZE], win[OHP_DATE_BUFSIZE];
    fmt_date(s->snapshot_date, snap);
    fmt_date(s->window_start, win);
    FILE *e = stderr;
    fprintf(e, "onhandpub: published %s (%s)\n", s->file_name,
            s->status == OHP_STATUS_WARNINGS ? "succeeded with warnings" : "succeeded");
    if (s->mode == OHP_MODE_FULL)
        fprintf(e, "  mode FULL, snapshot %s, run id %" PRIu64 "\n", snap, s->run_id);
    else
        fprintf(e, "  mode INCREMENTAL, window from %s, snapshot %s, run id %" PRIu64 "\n", win,
                snap, s->run_id);
    fprintf(e, "  system %s, organization %s, items %s, user %s\n", s->system_code,
            s->organization_code, items_name(s->items), user);
    fprintf(e, "  records read %" PRIu64 ", published %" PRIu64 ", rejected %" PRIu64 "\n",
            s->records_read, s->records_published, s->records_rejected);
    fprintf(e,
            "  skipped: other organization %" PRIu64 ", item type %" PRIu64
            ", outside window %" PRIu64 ", zero quantity %" PRIu64 "\n",
            s->skipped_organization, s->skipped_item_type, s->skipped_window, s->skipped_zero);
    fprintf(e,
            "  lines %" PRIu64 " (%" PRIu64 " from serials), PSV %" PRIu64
            " bytes, compressed %" PRIu64 " bytes, ZIP %" PRIu64 " bytes, CRC-32 %08" PRIx32 "\n",
            s->lines_written, s->serial_lines, s->psv_bytes, s->compressed_bytes, s->zip_bytes,
            s->crc32);
    if (s->uom_total_count > 0) {
        fputs("  quantity totals:", e);
        for (size_t i = 0; i < s->uom_total_count; i++) {
            const char *uom, *total;
            if (ohp_job_uom_total(job, i, &uom, &total) == OHP_OK)
                fprintf(e, "%s %s %s", i ? "," : "", total, uom);
        }
        fputc('\n', e);
    }
    for (size_t i = 0; i < s->warning_count; i++)
        fprintf(e, "  warning: %s\n", ohp_job_warning(job, i));
    for (size_t i = 0; i < CLI_REJECT_NOTES && i < rj->count; i++)
        fprintf(e, "  rejected: %s\n", rj->notes[i]);
    if (rj->count > CLI_REJECT_NOTES)
        fprintf(e, "  rejected: ... %" PRIu64 " more\n", rj->count - CLI_REJECT_NOTES);
    if (rejects_path)
        fprintf(e, "  rejects written to %s\n", rejects_path);
    fprintf(e, "  elapsed %.3f s\n", secs);
}

typedef struct publish_ctx {
    ohp_registry *reg;
    ohp_job *job;
    ohp_balance_reader *br;
    cli_input in;
    cli_sink sink;
    cli_grants grants;
    cli_state state;
    cli_rejects rejects;
    int outdir_fd;
} publish_ctx;

static void publish_free(publish_ctx *c)
{
    char err[CLI_ERRSIZE];
    cli_sink_free(&c->sink);
    (void)cli_rejects_finish(&c->rejects, 0, err);
    cli_state_close(&c->state);
    cli_grants_close(&c->grants);
    cli_input_close(&c->in);
    ohp_job_free(c->job);
    ohp_balance_reader_free(c->br);
    ohp_registry_free(c->reg);
    if (c->outdir_fd >= 0)
        (void)close(c->outdir_fd);
}

static int do_publish(const opts *o, publish_ctx *c)
{
    char err[CLI_ERRSIZE];
    struct timespec t0;
    if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0)
        t0.tv_sec = t0.tv_nsec = 0;

    /* Parameters. */
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    if (!o->given[OPT_INPUT])
        return usage_error("option --input is required (use --input - for standard input)");
    if (!o->given[OPT_ORG])
        return usage_error("option --org is required");
    p.organization_code = o->value[OPT_ORG];
    p.system_code = o->given[OPT_SYSTEM] ? o->value[OPT_SYSTEM] : OHP_SYSTEM_ORACLE_WMS;
    if (o->given[OPT_ITEMS]) {
        const char *v = o->value[OPT_ITEMS];
        if (strcmp(v, "both") == 0)
            p.items = OHP_ITEMS_BOTH;
        else if (strcmp(v, "serial") == 0)
            p.items = OHP_ITEMS_SERIAL;
        else if (strcmp(v, "nonserial") == 0)
            p.items = OHP_ITEMS_NONSERIAL;
        else
            return usage_error("option --items: expected both, serial or nonserial, found '%s'", v);
    }
    p.full_publish = o->given[OPT_FULL];
    int rc;
    if ((rc = parse_date_opt(o, OPT_FROM, &p.publish_from)) != 0 ||
        (rc = parse_date_opt(o, OPT_NOW, &p.snapshot_date)) != 0)
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
            return usage_error("option --run-id: expected a positive integer, found '%s'", v);
        p.run_id = id;
    }
    if (o->given[OPT_LEVEL]) {
        const char *v = o->value[OPT_LEVEL];
        if (!(v[0] >= '0' && v[0] <= '9' && v[1] == '\0'))
            return usage_error("option --level: expected 0 to 9, found '%s'", v);
        p.compression_level = v[0] - '0';
    }
    if (o->given[OPT_ON_ERROR]) {
        const char *v = o->value[OPT_ON_ERROR];
        if (strcmp(v, "fail") == 0)
            p.on_error = OHP_ON_ERROR_FAIL;
        else if (strcmp(v, "reject") == 0)
            p.on_error = OHP_ON_ERROR_REJECT;
        else
            return usage_error("option --on-error: expected fail or reject, found '%s'", v);
    }
    if (o->given[OPT_REJECTS] && p.on_error != OHP_ON_ERROR_REJECT)
        return usage_error("option --rejects requires --on-error reject");
    if (o->given[OPT_NO_AUTH] && o->given[OPT_GRANTS])
        return usage_error("options --no-auth and --grants exclude each other");
    p.caller_authorized = o->given[OPT_NO_AUTH];
    char userbuf[256];
    p.user = o->given[OPT_USER] ? o->value[OPT_USER] : login_name(userbuf, sizeof userbuf);
    if (p.user == NULL)
        return usage_error("cannot determine the login name; give --user NAME");

    /* Configuration files and directories. */
    const char *outdir = o->given[OPT_OUTDIR] ? o->value[OPT_OUTDIR] : ".";
    if (cli_open_dir(outdir, &c->outdir_fd, err) != 0)
        return usage_error("option --outdir: %s", err);
    if (load_registry(o->value[OPT_LOOKUPS], &c->reg, err) != 0)
        return usage_error("%s", err);
    if (o->given[OPT_GRANTS] && cli_grants_open(&c->grants, o->value[OPT_GRANTS], err) != 0)
        return usage_error("%s", err);

    /* The job. */
    c->in.path = o->value[OPT_INPUT];
    if ((rc = ohp_job_new(&c->job, NULL)) != OHP_OK ||
        (rc = ohp_balance_reader_new(&c->br, cli_input_read, &c->in, NULL)) != OHP_OK) {
        fprintf(stderr, "onhandpub: %s\n", ohp_strerror(rc));
        return EXIT_FAILED;
    }
    c->sink.job = c->grants.job = c->state.job = c->rejects.job = c->job;
    c->sink.dirfd = c->outdir_fd;
    c->sink.dir = outdir;
    ohp_job_set_registry(c->job, c->reg);
    ohp_job_set_balance_reader(c->job, c->br);
    ohp_job_set_sink(c->job, cli_sink_open, cli_sink_write, cli_sink_close, &c->sink);
    if (o->given[OPT_GRANTS])
        ohp_job_set_authorizer(c->job, cli_grants_authorize, &c->grants);
    if (p.on_error == OHP_ON_ERROR_REJECT) {
        if (o->given[OPT_REJECTS]) {
            char *dir = NULL, *base = NULL;
            if (cli_split_path(o->value[OPT_REJECTS], &dir, &base, err) != 0)
                return usage_error("option --rejects: %s", err);
            int dfd;
            int bad = cli_open_dir(dir, &dfd, err);
            free(dir);
            free(base);
            if (bad)
                return usage_error("option --rejects: %s", err);
            (void)close(dfd);
        }
        if (cli_rejects_open(&c->rejects, o->value[OPT_REJECTS], err) != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return EXIT_FAILED;
        }
        ohp_job_set_reject_callback(c->job, cli_rejects_record, &c->rejects);
    }
    if (o->given[OPT_STATE]) {
        if (cli_state_open(&c->state, o->value[OPT_STATE], err) != 0) {
            fprintf(stderr, "onhandpub: %s\n", err);
            return EXIT_FAILED;
        }
        ohp_job_set_state_store(c->job, cli_state_get, cli_state_next_run_id, cli_state_commit,
                                &c->state);
    }

    /* Run. */
    rc = ohp_job_run(c->job, &p);
    const ohp_summary *s = ohp_job_summary(c->job);
    int status = exit_for(rc, s);
    if (rc != OHP_OK) {
        (void)cli_rejects_finish(&c->rejects, 0, err);
        if (c->in.failed)
            fprintf(stderr, "onhandpub: %s\n", c->in.err);
        else
            fprintf(stderr, "onhandpub: %s\n", ohp_job_errmsg(c->job));
        return status;
    }
    if (c->rejects.enabled && cli_rejects_finish(&c->rejects, 1, err) != 0) {
        fprintf(stderr,
                "onhandpub: %s was published but the rejects file could not be written: %s\n",
                s->file_name, err);
        return EXIT_FAILED;
    }
    print_summary(c->job, &c->rejects, p.user, o->value[OPT_REJECTS], elapsed_since(&t0));
    printf("%s\n", c->sink.path ? c->sink.path : s->file_name);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    return status;
}

static int cmd_publish(int argc, char **argv)
{
    static const int allowed[] = {OPT_INPUT,    OPT_ORG,     OPT_SYSTEM, OPT_LOOKUPS, OPT_ITEMS,
                                  OPT_FULL,     OPT_FROM,    OPT_STATE,  OPT_OUTDIR,  OPT_USER,
                                  OPT_GRANTS,   OPT_NO_AUTH, OPT_RUN_ID, OPT_NOW,     OPT_LEVEL,
                                  OPT_ON_ERROR, OPT_REJECTS, OPT_HELP};
    opts o;
    int rc = parse_options(argc, argv, allowed, sizeof allowed / sizeof allowed[0], &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return print_help();
    publish_ctx c;
    memset(&c, 0, sizeof c);
    c.outdir_fd = -1;
    c.in.fd = -1;
    c.grants.fd = -1;
    c.state.dirfd = c.state.lockfd = -1;
    c.rejects.dirfd = -1;
    c.sink.file = (cli_atomic)CLI_ATOMIC_INIT;
    c.rejects.file = (cli_atomic)CLI_ATOMIC_INIT;
    rc = do_publish(&o, &c);
    publish_free(&c);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("a command is required: publish or systems (see onhandpub --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "publish") == 0)
        return cmd_publish(argc - 2, argv + 2);
    if (strcmp(cmd, "systems") == 0)
        return cmd_systems(argc - 2, argv + 2);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return argc == 2 ? print_help() : usage_error("unexpected argument '%s'", argv[2]);
    if (strcmp(cmd, "--version") == 0)
        return argc == 2 ? print_version() : usage_error("unexpected argument '%s'", argv[2]);
    if (strncmp(cmd, "-", 1) == 0)
        return usage_error("unknown option '%s' (see onhandpub --help)", cmd);
    return usage_error("unknown command '%s': expected publish or systems", cmd);
}
