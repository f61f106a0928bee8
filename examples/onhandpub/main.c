/*
 * onhandpub - publish on-hand inventory balances as a PSV file in a ZIP.

  onhandpub publish (--input FILE | --source URI --query FILE) --org CODE [options]
  onhandpub systems [--lookups FILE] [--date DATE]
  onhandpub fetch --ucm URL --ucm-account ACCOUNT --prefix PREFIX [options]
  onhandpub reconcile --snapshot ZIP [--snapshot ZIP ...] --external FILE [options]

A command-line connector built on the public API of libonhandpub only; each
subcommand is a file (cmd_*.c), the options are parsed by options.c.  See
docs/cli.md.
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

#ifndef ONHANDPUB_CLI_VERSION
#define ONHANDPUB_CLI_VERSION OHP_VERSION_STRING
#endif

/* --help, in parts: the synopsis, a section per command, the common end. */
static const char help_synopsis[] =
    "Usage:\n"
    "  onhandpub publish (--input FILE | --source URI --query FILE) --org CODE [options]\n"
    "  onhandpub systems [--lookups FILE] [--date DATE]\n"
    "  onhandpub fetch --ucm URL --ucm-account ACCOUNT --prefix PREFIX [options]\n"
    "  onhandpub reconcile --snapshot ZIP [--snapshot ZIP ...] --external FILE [options]\n"
    "  onhandpub inspect [--json] ZIP...\n"
    "  onhandpub --help | --version\n"
    "\n";

static const char help_publish[] =
    "publish: write the organization's on-hand balances as a PSV file inside a ZIP\n"
    "in --outdir and print the ZIP's path.\n"
    "  --input FILE          balances PSV to read ('-': standard input)\n"
    "  --source URI          or read the balances from a database (sqlite:PATH, or a\n"
    "                        postgresql://... connection URI) ...\n"
    "  --query FILE          ... with this query (columns named like the balances PSV)\n"
    "  --org CODE            organization code (required)\n"
    "  --system CODE         external system code (default 0, Oracle WMS)\n"
    "  --lookups FILE        external systems (lookup values PSV); without it only code 0\n"
    "  --items KIND          both, serial or nonserial (default both)\n"
    "  --full                full publish (default: incremental from the last success)\n"
    "  --from DATE           publish-from date (reach back before the last success)\n"
    "  --state FILE          watermark and run-id store, locked for the whole run\n"
    "                        (sqlite:PATH, postgresql://...: in a database)\n"
    "  --outdir DIR          directory for the ZIP (default .)\n"
    "  --user NAME           submitting user (default: the login name)\n"
    "  --grants FILE         privilege grants, lines USER_NAME|PRIVILEGE_CODE\n"
    "  --no-auth             the caller has authorized the request: skip the privilege check\n"
    "  --run-id N            run id, a positive integer (default: from --state, else 1)\n"
    "  --now DATE            snapshot date (default: the clock at start)\n"
    "  --level N             compression level 0-9 (default 6)\n"
    "  --threads N           compression threads 1-64 (default: the number of cores;\n"
    "                        the ZIP is the same whatever the number)\n"
    "  --engine NAME         deflate engine: zlib (default: the same ZIP on every machine),\n"
    "                        isal (ISA-L, several times faster; its bytes can differ\n"
    "                        between processors, the PSV inside never does) or best\n"
    "  --on-error POLICY     fail or reject (default fail)\n"
    "  --rejects FILE        write rejected records as PSV (only with --on-error reject)\n"
    "  --max-rejects N|P%    with --on-error reject: fail the run when more than N records,\n"
    "                        or more than P% of the records checked, are rejected\n"
    "                        (default 50%: a run rejecting everything never succeeds)\n"
    "  --allow-empty         a full publish may hold no line (the organization is empty);\n"
    "                        without it such a run is refused, nothing published\n"
    "  --no-manifest         leave the manifest out of the ZIP's archive comment\n"
    "  --json                the summary as one line of JSON on standard output, instead\n"
    "                        of the ZIP's path and the text summary (docs/cli.md)\n"
    "  -q, --quiet           no progress and no summary on standard error\n"
    "  --progress            progress on standard error even when it is not a terminal\n"
    "  -v, --verbose         say what the run is about to do, and show progress\n"
    "  --ucm URL             then upload the ZIP to the content server (UCM) at URL; the\n"
    "                        run succeeds, and the watermark advances, only once the\n"
    "                        service answered with a document id\n"
    "\n";

static const char help_systems[] =
    "systems: list the external systems usable on --date (default today) as PSV.\n"
    "  --lookups FILE        external systems (lookup values PSV); without it only code 0\n"
    "  --date DATE           the day they must be usable on (default today)\n"
    "\n";

static const char help_reconcile[] =
    "reconcile: compare snapshots with the external system's balances and write the\n"
    "discrepancies as PSV (options: onhandpub reconcile --help).\n"
    "\n";

static const char help_inspect[] =
    "inspect: print each archive's manifest and whether its content checks out\n"
    "against it; --json: one JSON object per archive.  Exit 0 when every archive\n"
    "checks out, 4 otherwise.\n"
    "\n";

static const char help_fetch[] =
    "fetch: download the documents of the content server whose names start with\n"
    "--prefix and that were not fetched before, check each ZIP and save it in --outdir.\n"
    "  --prefix PREFIX       file name prefix to list (required)\n"
    "  --outdir DIR          directory for the ZIPs (default .)\n"
    "  --state FILE          document ids fetched so far, locked for the whole run\n"
    "\n";

static const char help_ucm[] =
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
    "\n";

static const char help_tail[] =
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

static int print_version(void)
{
    printf("onhandpub %s (libonhandpub %s)\n", ONHANDPUB_CLI_VERSION, ohp_version());
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

int cli_print_help(void)
{
    fputs(help_synopsis, stdout);
    fputs(help_publish, stdout);
    fputs(help_systems, stdout);
    fputs(help_reconcile, stdout);
    fputs(help_inspect, stdout);
    fputs(help_fetch, stdout);
    fputs(help_ucm, stdout);
    fputs(help_tail, stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* The synopsis line of command cmd ("  onhandpub CMD ...\n"), or NULL. */
static const char *synopsis_line(const char *cmd, size_t *len)
{
    char key[64];
    snprintf(key, sizeof key, "  onhandpub %s ", cmd);
    const char *p = strstr(help_synopsis, key);
    if (p == NULL)
        return NULL;
    *len = (size_t)(strchr(p, '\n') + 1 - p);
    return p;
}

int cli_print_command_help(const char *cmd)
{
    static const struct {
        const char *name, *section;
        int ucm;
    } cmds[] = {{"publish", help_publish, 1},
                {"systems", help_systems, 0},
                {"inspect", help_inspect, 0},
                {"fetch", help_fetch, 1}};
    if (strcmp(cmd, "reconcile") == 0)
        return cli_print_reconcile_help();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        size_t len = 0;
        const char *line = synopsis_line(cmd, &len);
        fputs("Usage:\n", stdout);
        if (line)
            fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
        fputs(cmds[i].section, stdout);
        if (cmds[i].ucm)
            fputs(help_ucm, stdout);
        fputs(help_tail, stdout);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
    }
    return cli_usage_error("unknown command '%s': expected publish, systems, fetch, reconcile or "
                           "inspect",
                           cmd);
}

/* Edit distance of a and b (insert, delete, replace, swap of neighbours), at most 32 bytes each. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 32 || m > 32)
        return SIZE_MAX;
    size_t d[33][33];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* The command a mistyped name most likely meant (at most two edits away), or NULL. */
static const char *near_command(const char *cmd)
{
    static const char *const names[] = {"publish",   "systems", "fetch",
                                        "reconcile", "inspect", "help"};
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t d = edit_distance(cmd, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

int main(int argc, char **argv)
{
    /* A file size limit (ulimit -f) makes a write fail with EFBIG, handled like any
     * write error (exit 4, nothing left behind), instead of killing the run. */
    (void)signal(SIGXFSZ, SIG_IGN);
    if (argc < 2)
        return cli_usage_error("a command is required: publish, systems, fetch, reconcile or "
                               "inspect (see onhandpub --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "publish") == 0)
        return cmd_publish(argc - 2, argv + 2);
    if (strcmp(cmd, "systems") == 0)
        return cmd_systems(argc - 2, argv + 2);
    if (strcmp(cmd, "fetch") == 0)
        return cmd_fetch(argc - 2, argv + 2);
    if (strcmp(cmd, "reconcile") == 0)
        return cmd_reconcile(argc - 2, argv + 2);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 && argc == 3)
        return cli_print_command_help(argv[2]); /* onhandpub help CMD */
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return argc == 2 ? cli_print_help() : cli_usage_error("unexpected argument '%s'", argv[2]);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        return argc == 2 ? print_version() : cli_usage_error("unexpected argument '%s'", argv[2]);
    if (strncmp(cmd, "-", 1) == 0)
        return cli_usage_error("unknown option '%s' (see onhandpub --help)", cmd);
    const char *near = near_command(cmd);
    if (near != NULL)
        return cli_usage_error("unknown command '%s': expected publish, systems, fetch, reconcile "
                               "or inspect (did you mean '%s'?)",
                               cmd, near);
    return cli_usage_error(
        "unknown command '%s': expected publish, systems, fetch, reconcile or inspect", cmd);
}
