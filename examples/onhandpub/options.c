/*
 * The command's one option parser, for every subcommand: --name VALUE or
--name=VALUE, each option at most once (but one repeatable option a
command may have), a value that looks like an option refused; and the
checks of dates, counts and the content-server options.
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

/* The options of every subcommand; each subcommand allows some (cli_command). */
typedef struct opt_def {
    const char *name;
    int takes_value;
} opt_def;

static const opt_def opt_defs[OPT_COUNT] = {
    [OPT_INPUT] = {"input", 1},
    [OPT_SOURCE] = {"source", 1},
    [OPT_QUERY] = {"query", 1},
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
    [OPT_ENGINE] = {"engine", 1},
    [OPT_ON_ERROR] = {"on-error", 1},
    [OPT_REJECTS] = {"rejects", 1},
    [OPT_MAX_REJECTS] = {"max-rejects", 1},
    [OPT_ALLOW_EMPTY] = {"allow-empty", 0},
    [OPT_NO_MANIFEST] = {"no-manifest", 0},
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
    [OPT_SNAPSHOT] = {"snapshot", 1},
    [OPT_EXTERNAL] = {"external", 1},
    [OPT_OUT] = {"out", 1},
    [OPT_IGNORE] = {"ignore", 1},
    [OPT_TOLERANCE] = {"tolerance", 1},
    [OPT_JSON] = {"json", 0},
    [OPT_FORMAT] = {"format", 1},
    [OPT_QUIET] = {"quiet", 0},
    [OPT_PROGRESS] = {"progress", 0},
    [OPT_VERBOSE] = {"verbose", 0},
};

const char *cli_opt_name(int id)
{
    return opt_defs[id].name;
}

int cli_usage_error(const char *fmt, ...)
{
    char raw[CLI_ERRSIZE], text[CLI_ERRSIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "onhandpub: %s\n", cli_visible(raw, text, sizeof text));
    return EXIT_USAGE;
}

/* A parser's usage error: its command's message function, or the command's own. */
static int usage(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage(const cli_command *cmd, const char *fmt, ...)
{
    char msg[CLI_ERRSIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return (cmd->usage ? cmd->usage : cli_usage_error)("%s", msg);
}

/* The option of cmd named name (nlen bytes), or -1. */
static int find_option(const cli_command *cmd, const char *name, size_t nlen)
{
    for (size_t k = 0; k < cmd->nallowed; k++) {
        const char *n = opt_defs[cmd->allowed[k]].name;
        if (strlen(n) == nlen && strncmp(n, name, nlen) == 0)
            return cmd->allowed[k];
    }
    return -1;
}

/* Record option id's value v (the repeatable option's in o->list). */
static int take_value(const cli_command *cmd, cli_opts *o, int id, const char *v)
{
    const char *oname = opt_defs[id].name;
    if (*v == '\0')
        return usage(cmd, "option --%s requires a non-empty value", oname);
    if (id != cmd->repeatable) {
        o->value[id] = v;
        return 0;
    }
    if (o->nlist == CLI_MAX_LIST)
        return usage(cmd, "at most %d --%s options", CLI_MAX_LIST, oname);
    o->list[o->nlist++] = v;
    return 0;
}

int cli_parse_options(int argc, char **argv, const cli_command *cmd, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *see = cmd->see ? cmd->see : "";
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        else if (strcmp(arg, "-q") == 0)
            arg = "--quiet";
        else if (strcmp(arg, "-v") == 0)
            arg = "--verbose";
        if (cmd->operands && arg[0] != '-') {
            if (o->nlist == CLI_MAX_LIST)
                return usage(cmd, "at most %d arguments", CLI_MAX_LIST);
            o->list[o->nlist++] = arg;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return usage(cmd, "unexpected argument '%s'%s", argv[i], see);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = find_option(cmd, name, nlen);
        if (id < 0)
            return usage(cmd, "unknown option '--%.*s'%s", (int)(nlen > 100 ? 100 : nlen), name,
                         see);
        const char *oname = opt_defs[id].name;
        if (o->given[id] && id != cmd->repeatable)
            return usage(cmd, "option --%s given more than once", oname);
        o->given[id] = 1;
        if (!opt_defs[id].takes_value) {
            if (eq)
                return usage(cmd, "option --%s takes no value", oname);
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            /* A following option is not taken as the value: "--org --full" is an error. */
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2] != '\0'))
                return usage(cmd, "option --%s requires a value", oname);
            v = argv[++i];
        }
        int rc = take_value(cmd, o, id, v);
        if (rc)
            return rc;
    }
    return 0;
}

int cli_parse_date_opt(const cli_opts *o, int id, int64_t *out)
{
    *out = OHP_TIME_NONE;
    if (!o->given[id])
        return 0;
    if (ohp_date_parse(o->value[id], out) != OHP_OK)
        return cli_usage_error("option --%s: '%s' is not a date (accepted: " OHP_DATE_FORMATS ")",
                               cli_opt_name(id), o->value[id]);
    return 0;
}

/* ---- the content server options ---- */

/* A whole number of seconds or a count in [lo, hi]. */
int cli_parse_count_opt(const cli_opts *o, int id, long lo, long hi, long *out)
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
        return cli_usage_error("option --%s: expected a whole number from %ld to %ld, found '%s'",
                               cli_opt_name(id), lo, hi, v);
    *out = n;
    return 0;
}

/*
 * The --ucm options into u (u->url stays NULL without --ucm).  Loads the
 * credentials; the caller frees u.  Returns 0 or EXIT_USAGE.
 */
int cli_parse_ucm_options(const cli_opts *o, cli_ucm *u)
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
                return cli_usage_error("option --%s requires --ucm", opt_defs[deps[i]].name);
        return 0;
    }
    if (!cli_ucm_supported())
        return cli_usage_error("option --ucm: this onhandpub was built without content-server "
                               "(UCM) support: rebuild with libcurl (meson option ucm)");
    if (!o->given[OPT_UCM_ACCOUNT])
        return cli_usage_error("option --ucm requires --ucm-account");
    u->account = o->value[OPT_UCM_ACCOUNT];
    if (cli_ucm_check_finder_value("option --ucm-account", u->account, err) != 0)
        return cli_usage_error("%s", err);
    long retries = 3;
    int rc;
    if ((rc = cli_parse_count_opt(o, OPT_UCM_CONNECT_TIMEOUT, 1, 3600, &u->connect_timeout)) != 0 ||
        (rc = cli_parse_count_opt(o, OPT_UCM_TIMEOUT, 1, 86400, &u->timeout)) != 0 ||
        (rc = cli_parse_count_opt(o, OPT_UCM_RETRIES, 0, 20, &retries)) != 0)
        return rc;
    u->retries = (unsigned)retries;
    if (o->given[OPT_UCM_BACKOFF]) {
        const char *v = o->value[OPT_UCM_BACKOFF];
        char *end;
        errno = 0;
        double b = strtod(v, &end);
        if (errno != 0 || *end != '\0' || !(v[0] >= '0' && v[0] <= '9') || !(b >= 0) || b > 3600)
            return cli_usage_error(
                "option --ucm-backoff: expected seconds from 0 to 3600, found '%s'", v);
        u->backoff = b;
    }
    u->insecure = o->given[OPT_UCM_INSECURE];
    if (cli_ucm_set_url(u, o->value[OPT_UCM], err) != 0)
        return cli_usage_error("%s", err);
    if (o->given[OPT_UCM_CACERT]) {
        const char *ca = o->value[OPT_UCM_CACERT];
        if (u->insecure)
            return cli_usage_error("option --ucm-cacert: no certificate is verified with "
                                   "--ucm-insecure; give one or the other");
        if (u->plain_http)
            return cli_usage_error("option --ucm-cacert: the URL is http://, not https://");
        struct stat st;
        int fd = open(ca, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int bad = fd < 0 ? errno : (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) ? -1 : 0;
        if (fd >= 0)
            (void)close(fd);
        if (bad)
            return cli_usage_error("option --ucm-cacert: cannot use '%s': %s", ca,
                                   bad > 0 ? strerror(bad) : "not a regular file");
        u->cacert = ca;
    }
    if (cli_ucm_credentials(u, o->value[OPT_UCM_CREDENTIALS], err) != 0)
        return cli_usage_error("%s", err);
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
