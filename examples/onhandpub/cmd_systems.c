/*
 * onhandpub systems: the external systems usable on --date, as PSV.
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

/* Where the listing goes, and the first write error. */
typedef struct listing_out {
    cli_atomic file;
    int failed;
    char err[CLI_ERRSIZE];
} listing_out;

/* One field, quoted by the library's PSV field writer like every PSV of the command. */
static void put_field(listing_out *o, const char *s, const char *after)
{
    if (!o->failed && ((s != NULL && cli_atomic_field(&o->file, s, o->err) != 0) ||
                       cli_atomic_write(&o->file, after, 1, o->err) != 0))
        o->failed = 1;
}

static int print_system(void *ud, const ohp_lookup_value *v)
{
    listing_out *o = ud;
    put_field(o, v->code, "|");
    put_field(o, v->meaning, "|");
    put_field(o, v->description, "\n");
    return o->failed ? -1 : 0;
}

int cmd_systems(int argc, char **argv)
{
    static const int allowed[] = {OPT_LOOKUPS, OPT_DATE, OPT_HELP};
    cli_opts o;
    char err[CLI_ERRSIZE];
    int rc = cli_parse_options(argc, argv, &(const cli_command)CLI_COMMAND(allowed), &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return cli_print_command_help("systems");
    int64_t date;
    if ((rc = cli_parse_date_opt(&o, OPT_DATE, &date)) != 0)
        return rc;
    if (date == OHP_TIME_NONE)
        date = (int64_t)time(NULL);
    ohp_registry *reg;
    if (cli_load_registry(o.value[OPT_LOOKUPS], &reg, err) != 0) {
        ohp_registry_free(reg);
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_USAGE;
    }
    listing_out out;
    memset(&out, 0, sizeof out);
    if (cli_output_open(&out.file, NULL, "standard output", out.err) != 0) {
        ohp_registry_free(reg);
        fprintf(stderr, "onhandpub: %s\n", out.err);
        return EXIT_FAILED;
    }
    static const char header[] = "LOOKUP_CODE|MEANING|DESCRIPTION\n";
    if (cli_atomic_write(&out.file, header, sizeof header - 1, out.err) != 0)
        out.failed = 1;
    if (!out.failed)
        ohp_registry_foreach_usable(reg, date, print_system, &out);
    ohp_registry_free(reg);
    if (out.failed || cli_atomic_commit(&out.file, out.err) != 0) {
        cli_atomic_abort(&out.file);
        fprintf(stderr, "onhandpub: %s\n", out.err);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}
