/*
 * onhandpub - publish on-hand inventory balances as a PSV file in a ZIP.
 *
 *   onhandpub publish --input FILE --org CODE [options]
 *   onhandpub systems [--lookups FILE] [--date DATE]
 *   onhandpub fetch --ucm URL --ucm-account ACCOUNT --prefix PREFIX [options]
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
#include <signal.h>
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
    "  onhandpub fetch --ucm URL --ucm-account ACCOUNT --prefix PREFIX [options]\n"
    "  onhandpub reconcile --snapshot ZIP [--snapshot ZIP ...] --external FILE [options]\n"
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
    "  --threads N           compression threads 1-64 (default: the number of cores;\n"
    "                        the ZIP is the same whatever the number)\n"
    "  --on-error POLICY     fail or reject (default fail)\n"
    "  --rejects FILE        write rejected records as PSV (only with --on-error reject)\n"
    "  --max-rejects N|P%    with --on-error reject: fail the run when more than N records,\n"
    "                        or more than P% of the records checked, are rejected\n"
    "                        (default 50%: a run rejecting everything never succeeds)\n"
    "  --allow-empty         a full publish may hold no line (the organization is empty);\n"
    "                        without it such a run is refused, nothing published\n"
    "  --ucm URL             then upload the ZIP to the content server (UCM) at URL; the\n"
    "                        run succeeds, and the watermark advances, only once the\n"
    "                        service answered with a document id\n"
    "\n"
    "systems: list the external systems usable on --date (default today) as PSV.\n"
    "\n"
    "reconcile: compare snapshots with the external system's balances and write the\n"
    "discrepancies as PSV (options: onhandpub reconcile --help).\n"
    "\n"
    "fetch: download the documents of the content server whose names start with\n"
    "--prefix and that were not fetched before, check each ZIP and save it in --outdir.\n"
    "  --prefix PREFIX       file name prefix to list (required)\n"
    "  --outdir DIR          directory for the ZIPs (default .)\n"
    "  --state FILE          document ids fetched so far, locked for the whole run\n"
    "\n"
    "Content server options (publish --ucm, fetch):\n"
    "  --ucm URL             the service's base URL (https://host[:port]); http:// only\n"
    "                        to a loopback address, or with --ucm-insecure\n"
    "  --ucm-account NAME    document account, site-specific: the one set up for this\n"
    "                        interface (required)\n"
    "  --ucm-credentials FILE  a line user:password, mode 600; without it the\n"
    "                        environment variables " CLI_UCM_ENV_USER " and\n"
    "                        " CLI_UCM_ENV_PASSWORD "\n"
    "  --ucm-connect-timeout S  connect timeout in seconds (default 30)\n"
    "  --ucm-timeout S       time limit of each request in seconds (default 600)\n"
    "  --ucm-retries N       retries after a network error, a 429 or a 5xx answer (default 3)\n"
    "  --ucm-backoff S       seconds before the first retry, doubled after each (default 1);\n"
    "                        a Retry-After of the service (429, 503) is waited instead\n"
    "  --ucm-cacert FILE     verify the server's certificate against the CA certificates\n"
    "                        in FILE (PEM) instead of the system's store\n"
    "  --ucm-insecure        do not verify the server's TLS certificate, and allow http://\n"
    "                        to any host (prints a warning)\n"
    "  Proxies: libcurl's variables https_proxy, http_proxy, all_proxy, no_proxy\n"
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
    "  3  not authorized (also: the content server refused the credentials)\n"
    "  4  failed (bad record under --on-error fail, input, output or state file error,\n"
    "     content server error after the retries, refused document)\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char raw[CLI_ERRSIZE], text[CLI_ERRSIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "onhandpub: %s\n", cli_visible(raw, text, sizeof text));
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
    OPT_THREADS,
    OPT_ON_ERROR,
    OPT_REJECTS,
    OPT_MAX_REJECTS,
    OPT_ALLOW_EMPTY,
    OPT_DATE,
    OPT_UCM,
    OPT_UCM_ACCOUNT,
    OPT_UCM_CREDENTIALS,
    OPT_UCM_INSECURE,
    OPT_UCM_CONNECT_TIMEOUT,
    OPT_UCM_TIMEOUT,
    OPT_UCM_RETRIES,
    OPT_UCM_BACKOFF,
    OPT_UCM_CACERT,
    OPT_PREFIX,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT
};

typedef struct opt_def {
    const char *name;
    int takes_value;
} opt_def;

static const opt_def opt_defs[OPT_COUNT] = {
    [OPT_INPUT] = {"input", 1},
    [OPT_ORG] = {"org", 1},
    [OPT_SYSTEM] = {"system", 1},
    [OPT_LOOKUPS] = {"lookups", 1},
    [OPT_ITEMS] = {"items", 1},
    [OPT_FULL] = {"full", 0},
    [OPT_FROM] = {"from", 1},
    [OPT_STATE] = {"state", 1},
    [OPT_OUTDIR] = {"outdir", 1},
    [OPT_USER] = {"user", 1},
    [OPT_GRANTS] = {"grants", 1},
    [OPT_NO_AUTH] = {"no-auth", 0},
    [OPT_RUN_ID] = {"run-id", 1},
    [OPT_NOW] = {"now", 1},
    [OPT_LEVEL] = {"level", 1},
    [OPT_THREADS] = {"threads", 1},
    [OPT_ON_ERROR] = {"on-error", 1},
    [OPT_REJECTS] = {"rejects", 1},
    [OPT_MAX_REJECTS] = {"max-rejects", 1},
    [OPT_ALLOW_EMPTY] = {"allow-empty", 0},
    [OPT_DATE] = {"date", 1},
    [OPT_HELP] = {"help", 0},
    [OPT_VERSION] = {"version", 0},
    [OPT_UCM] = {"ucm", 1},
    [OPT_UCM_ACCOUNT] = {"ucm-account", 1},
    [OPT_UCM_CREDENTIALS] = {"ucm-credentials", 1},
    [OPT_UCM_INSECURE] = {"ucm-insecure", 0},
    [OPT_UCM_CONNECT_TIMEOUT] = {"ucm-connect-timeout", 1},
    [OPT_UCM_TIMEOUT] = {"ucm-timeout", 1},
    [OPT_UCM_RETRIES] = {"ucm-retries", 1},
    [OPT_UCM_BACKOFF] = {"ucm-backoff", 1},
    [OPT_UCM_CACERT] = {"ucm-cacert", 1},
    [OPT_PREFIX] = {"prefix", 1},
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
        return usage_error("option --%s: '%s' is not a date (accepted: " OHP_DATE_FORMATS ")",
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

/* ---- the content server options ---- */

/* A whole number of seconds or a count in [lo, hi]. */
static int parse_count_opt(const opts *o, int id, long lo, long hi, long *out)
{
    if (!o->given[id])
        return 0;
    const char *v = o->value[id];
    long n = 0;
    int ok = 1;
    for (const char *q = v; ok && *q; q++) {
        ok = *q >= '0' && *q <= '9' && n <= hi;
        n = n * 10 + (*q - '0');
    }
    if (!ok || n < lo || n > hi)
        return usage_error("option --%s: expected a whole number from %ld to %ld, found '%s'",
                           opt_defs[id].name, lo, hi, v);
    *out = n;
    return 0;
}

/*
 * The --ucm options into u (u->url stays NULL without --ucm).  Loads the
 * credentials; the caller frees u.  Returns 0 or EXIT_USAGE.
 */
static int parse_ucm_options(const opts *o, cli_ucm *u)
{
    static const int deps[] = {OPT_UCM_ACCOUNT,         OPT_UCM_CREDENTIALS, OPT_UCM_INSECURE,
                               OPT_UCM_CONNECT_TIMEOUT, OPT_UCM_TIMEOUT,     OPT_UCM_RETRIES,
                               OPT_UCM_BACKOFF,         OPT_UCM_CACERT};
    char err[CLI_ERRSIZE];
    u->connect_timeout = 30;
    u->timeout = 600;
    u->retries = 3;
    u->backoff = 1.0;
    u->retry_after = -1;
    if (!o->given[OPT_UCM]) {
        for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++)
            if (o->given[deps[i]])
                return usage_error("option --%s requires --ucm", opt_defs[deps[i]].name);
        return 0;
    }
    if (!cli_ucm_supported())
        return usage_error("option --ucm: this onhandpub was built without content-server "
                           "(UCM) support: rebuild with libcurl (meson option ucm)");
    if (!o->given[OPT_UCM_ACCOUNT])
        return usage_error("option --ucm requires --ucm-account");
    u->account = o->value[OPT_UCM_ACCOUNT];
    if (cli_ucm_check_finder_value("option --ucm-account", u->account, err) != 0)
        return usage_error("%s", err);
    long retries = 3;
    int rc;
    if ((rc = parse_count_opt(o, OPT_UCM_CONNECT_TIMEOUT, 1, 3600, &u->connect_timeout)) != 0 ||
        (rc = parse_count_opt(o, OPT_UCM_TIMEOUT, 1, 86400, &u->timeout)) != 0 ||
        (rc = parse_count_opt(o, OPT_UCM_RETRIES, 0, 20, &retries)) != 0)
        return rc;
    u->retries = (unsigned)retries;
    if (o->given[OPT_UCM_BACKOFF]) {
        const char *v = o->value[OPT_UCM_BACKOFF];
        char *end;
        errno = 0;
        double b = strtod(v, &end);
        if (errno != 0 || *end != '\0' || !(v[0] >= '0' && v[0] <= '9') || !(b >= 0) || b > 3600)
            return usage_error("option --ucm-backoff: expected seconds from 0 to 3600, found '%s'",
                               v);
        u->backoff = b;
    }
    u->insecure = o->given[OPT_UCM_INSECURE];
    if (cli_ucm_set_url(u, o->value[OPT_UCM], err) != 0)
        return usage_error("%s", err);
    if (o->given[OPT_UCM_CACERT]) {
        const char *ca = o->value[OPT_UCM_CACERT];
        if (u->insecure)
            return usage_error("option --ucm-cacert: no certificate is verified with "
                               "--ucm-insecure; give one or the other");
        if (u->plain_http)
            return usage_error("option --ucm-cacert: the URL is http://, not https://");
        struct stat st;
        int fd = open(ca, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int bad = fd < 0 ? errno : (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) ? -1 : 0;
        if (fd >= 0)
            (void)close(fd);
        if (bad)
            return usage_error("option --ucm-cacert: cannot use '%s': %s", ca,
                               bad > 0 ? strerror(bad) : "not a regular file");
        u->cacert = ca;
    }
    if (cli_ucm_credentials(u, o->value[OPT_UCM_CREDENTIALS], err) != 0)
        return usage_error("%s", err);
    if (u->insecure && u->plain_http && !u->loopback)
        fputs("onhandpub: warning: --ucm-insecure: the URL is http://: the credentials and the "
              "data cross the network unencrypted\n",
              stderr);
    else if (u->insecure && !u->plain_http)
        fputs("onhandpub: warning: --ucm-insecure: the content server's TLS certificate is not "
              "verified; the credentials and the data may go to an impostor\n",
              stderr);
    else if (u->insecure)
        fputs("onhandpub: warning: --ucm-insecure: the URL is http:// to a loopback address, "
              "where it changes nothing\n",
              stderr);
    return 0;
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
            /* A file of exactly the limit fits: one byte more is read to tell. */
            if (n > LOOKUPS_MAX_BYTES) {
                cli_err(err, "lookups file '%s' is larger than %u bytes", path, LOOKUPS_MAX_BYTES);
                goto fail;
            }
            size_t ncap = cap * 2 > LOOKUPS_MAX_BYTES ? (size_t)LOOKUPS_MAX_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                cli_err(err, "out of memory");
                goto fail;
            }
            buf = nb;
            cap = ncap;
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
    case OHP_EAUTH:  /* the grants file could not be read or parsed */
    case OHP_EEMPTY: /* a FULL snapshot with no line, not allowed */
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
            " bytes, compressed %" PRIu64 " bytes, ZIP %" PRIu64 " bytes, CRC-32 %08" PRIx32 "\n",
            s->lines_written, s->serial_lines, s->psv_bytes, s->compressed_bytes, s->zip_bytes,
            s->crc32);
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
    cli_sink sink;
    cli_grants grants;
    cli_state state;
    cli_rejects rejects;
    cli_ucm ucm;
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
    cli_ucm_free(&c->ucm);
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
    if (o->given[OPT_THREADS]) {
        const char *v = o->value[OPT_THREADS];
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end != '\0' || n < 1 || n > 64)
            return usage_error("option --threads: expected 1 to 64, found '%s'", v);
        p.threads = (unsigned)n;
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.threads = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
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
    p.allow_empty = o->given[OPT_ALLOW_EMPTY];
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
            return usage_error("option --max-rejects: expected a count (1 or more) or a "
                               "percentage of the records checked (1%% to 100%%), found '%s' "
                               "(to reject nothing, use --on-error fail)",
                               v);
        if (percent) {
            p.max_reject_percent = (unsigned)n;
        } else {
            p.max_rejects = n;
            p.max_reject_percent = 100; /* the count alone */
        }
        if (p.on_error != OHP_ON_ERROR_REJECT)
            return usage_error("option --max-rejects applies only with --on-error reject");
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
    if ((rc = parse_ucm_options(o, &c->ucm)) != 0)
        return rc;

    /* Configuration files and directories. */
    const char *outdir = o->given[OPT_OUTDIR] ? o->value[OPT_OUTDIR] : ".";
    if (cli_open_dir(outdir, &c->outdir_fd, err) != 0)
        return usage_error("option --outdir: %s", err);
    if (load_registry(o->value[OPT_LOOKUPS], &c->reg, err) != 0)
        return usage_error("%s", err);
    if (o->given[OPT_GRANTS] && cli_grants_open(&c->grants, o->value[OPT_GRANTS], err) != 0)
        return usage_error("%s", err);

    /* The job. */
    /* An incremental run reads the input twice (whole keys). */
    cli_input_init(&c->in, o->value[OPT_INPUT], !p.full_publish);
    if ((rc = ohp_job_new(&c->job, NULL)) != OHP_OK ||
        (rc = ohp_balance_reader_new(&c->br, cli_input_read, &c->in, NULL)) != OHP_OK ||
        (rc = ohp_balance_reader_set_rewind(c->br, cli_input_rewind)) != OHP_OK) {
        fprintf(stderr, "onhandpub: %s\n", ohp_strerror(rc));
        return EXIT_FAILED;
    }
    c->sink.job = c->grants.job = c->state.job = c->rejects.job = c->job;
    c->rejects.br = c->br;
    c->rejects.input = c->in.path;
    c->sink.dirfd = c->outdir_fd;
    c->sink.dir = outdir;
    if (c->ucm.url) {
        c->sink.publish = cli_ucm_sink_publish;
        c->sink.publish_ud = &c->ucm;
    }
    ohp_job_set_registry(c->job, c->reg);
    ohp_job_set_balance_reader(c->job, c->br);
    ohp_job_set_sink(c->job, cli_sink_open, cli_sink_write, cli_sink_close, &c->sink);
    if (o->given[OPT_GRANTS])
        ohp_job_set_authorizer(c->job, cli_grants_authorize, &c->grants);
    if (p.on_error == OHP_ON_ERROR_REJECT) {
        if (o->given[OPT_REJECTS] && cli_output_check(o->value[OPT_REJECTS], "--rejects", err) != 0)
            return usage_error("%s", err);
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
        const ohp_state_store store = {OHP_STATE_STORE_VERSION, cli_state_get,
                                       cli_state_reserve_run_id, cli_state_commit};
        ohp_job_set_state_store2(c->job, &store, &c->state);
    }

    /* Run. */
    rc = ohp_job_run(c->job, &p);
    const ohp_summary *s = ohp_job_summary(c->job);
    int status = exit_for(rc, s);
    if (rc != OHP_OK && c->ucm.exit_status != 0)
        status = c->ucm.exit_status; /* the upload failed: the service's verdict */
    if (rc != OHP_OK) {
        (void)cli_rejects_finish(&c->rejects, 0, err);
        if (c->in.failed) {
            fprintf(stderr, "onhandpub: %s\n", c->in.err);
        } else if (rc == OHP_ERECORD || rc == OHP_ESOURCE) {
            /* A record error, or the input could not be read: name the file (and the line). */
            char where[CLI_ERRSIZE], where_seen[CLI_ERRSIZE];
            cli_input_where(c->br, c->in.path, rc == OHP_ERECORD ? s->error_ordinal : 0, where,
                            sizeof where);
            fprintf(stderr, "onhandpub: %s; %s\n",
                    cli_visible(ohp_job_errmsg(c->job), err, sizeof err),
                    cli_visible(where, where_seen, sizeof where_seen));
        } else {
            fprintf(stderr, "onhandpub: %s\n",
                    cli_visible(ohp_job_errmsg(c->job), err, sizeof err));
        }
        return status;
    }
    if (c->rejects.enabled && cli_rejects_finish(&c->rejects, 1, err) != 0) {
        fprintf(stderr,
                "onhandpub: %s was published but the rejects file could not be written: %s\n",
                s->file_name, err);
        return EXIT_FAILED;
    }
    print_summary(c->job, &c->rejects, &c->ucm, p.user, o->value[OPT_REJECTS], elapsed_since(&t0));
    printf("%s\n", c->sink.path ? c->sink.path : s->file_name);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    return status;
}

static int cmd_publish(int argc, char **argv)
{
    static const int allowed[] = {OPT_INPUT,
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
                                  OPT_ON_ERROR,
                                  OPT_REJECTS,
                                  OPT_MAX_REJECTS,
                                  OPT_ALLOW_EMPTY,
                                  OPT_UCM,
                                  OPT_UCM_ACCOUNT,
                                  OPT_UCM_CREDENTIALS,
                                  OPT_UCM_INSECURE,
                                  OPT_UCM_CONNECT_TIMEOUT,
                                  OPT_UCM_TIMEOUT,
                                  OPT_UCM_RETRIES,
                                  OPT_UCM_BACKOFF,
                                  OPT_UCM_CACERT,
                                  OPT_HELP};
    opts o;
    int rc = parse_options(argc, argv, allowed, sizeof allowed / sizeof allowed[0], &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return print_help();
    char err[CLI_ERRSIZE];
    if (o.given[OPT_UCM] && cli_ucm_supported() && cli_ucm_global_init(err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_FAILED;
    }
    publish_ctx c;
    memset(&c, 0, sizeof c);
    c.outdir_fd = -1;
    cli_input_init(&c.in, "-", 0); /* set again from the options */
    c.grants.fd = -1;
    c.state.dirfd = c.state.lockfd = -1;
    c.rejects.dirfd = -1;
    c.sink.file = (cli_atomic)CLI_ATOMIC_INIT;
    c.rejects.file = (cli_atomic)CLI_ATOMIC_INIT;
    rc = do_publish(&o, &c);
    publish_free(&c);
    if (o.given[OPT_UCM] && cli_ucm_supported())
        cli_ucm_global_cleanup();
    return rc;
}

/* ---- fetch ---- */

static int cmd_fetch(int argc, char **argv)
{
    static const int allowed[] = {OPT_UCM,
                                  OPT_UCM_ACCOUNT,
                                  OPT_UCM_CREDENTIALS,
                                  OPT_UCM_INSECURE,
                                  OPT_UCM_CONNECT_TIMEOUT,
                                  OPT_UCM_TIMEOUT,
                                  OPT_UCM_RETRIES,
                                  OPT_UCM_BACKOFF,
                                  OPT_UCM_CACERT,
                                  OPT_PREFIX,
                                  OPT_OUTDIR,
                                  OPT_STATE,
                                  OPT_HELP};
    opts o;
    int rc = parse_options(argc, argv, allowed, sizeof allowed / sizeof allowed[0], &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return print_help();
    if (!o.given[OPT_UCM])
        return usage_error("option --ucm is required for fetch");
    if (!o.given[OPT_PREFIX])
        return usage_error("option --prefix is required for fetch");
    char perr[CLI_ERRSIZE];
    if (cli_ucm_check_finder_value("option --prefix", o.value[OPT_PREFIX], perr) != 0)
        return usage_error("%s", perr);
    if (!cli_ucm_supported())
        return usage_error("fetch: this onhandpub was built without content-server (UCM) "
                           "support: rebuild with libcurl (meson option ucm)");
    char err[CLI_ERRSIZE];
    if (cli_ucm_global_init(err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_FAILED;
    }
    cli_ucm u;
    memset(&u, 0, sizeof u);
    rc = parse_ucm_options(&o, &u);
    if (rc == 0)
        rc = cli_ucm_fetch(&u, o.value[OPT_PREFIX], o.given[OPT_OUTDIR] ? o.value[OPT_OUTDIR] : ".",
                           o.value[OPT_STATE]);
    cli_ucm_free(&u);
    cli_ucm_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    /* A file size limit (ulimit -f) makes a write fail with EFBIG, handled like any
     * write error (exit 4, nothing left behind), instead of killing the run. */
    (void)signal(SIGXFSZ, SIG_IGN);
    if (argc < 2)
        return usage_error(
            "a command is required: publish, systems or fetch (see onhandpub --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "publish") == 0)
        return cmd_publish(argc - 2, argv + 2);
    if (strcmp(cmd, "systems") == 0)
        return cmd_systems(argc - 2, argv + 2);
    if (strcmp(cmd, "fetch") == 0)
        return cmd_fetch(argc - 2, argv + 2);
    if (strcmp(cmd, "reconcile") == 0)
        return cli_reconcile(argc - 2, argv + 2);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return argc == 2 ? print_help() : usage_error("unexpected argument '%s'", argv[2]);
    if (strcmp(cmd, "--version") == 0)
        return argc == 2 ? print_version() : usage_error("unexpected argument '%s'", argv[2]);
    if (strncmp(cmd, "-", 1) == 0)
        return usage_error("unknown option '%s' (see onhandpub --help)", cmd);
    return usage_error("unknown command '%s': expected publish, systems or fetch", cmd);
}
