/*
 * The internals shared by the files of the onhandpub command: its exit
 * statuses and options, its subcommands, and the host side of the job
 * (atomic files, the ZIP file sink, the state file, the grants file, the
 * rejects file, the content server).
 *
 * The command uses only the public API (onhandpub.h).  Every function that can fail fills a
 * one-line message into err (CLI_ERRSIZE bytes) and returns -1.
 */
#ifndef ONHANDPUB_CLI_H
#define ONHANDPUB_CLI_H

#include <onhandpub.h>

#include "escape.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_ERRSIZE 1024

/* printf-style formatting into err (truncated, always terminated), escaped by ohp_escape_text. */
void cli_err(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ohp_escape_text(), the library's escaper (src/common/escape.h, compiled into the command):
 * cli_err and every message of the command pass their text through it, so a message is one
 * line. */
/* s (NULL: "") escaped into buf; returns buf. */
const char *cli_visible(const char *s, char *buf, size_t size);

/* ---- paths ---- */

/*
 * Split path into a directory ("." when there is no slash) and a last
 * component, both malloc'ed.  Refuses an empty last component, "." and "..".
 */
int cli_split_path(const char *path, char **dir, char **base, char *err);
/* Open a directory for *at() calls and fsync. */
int cli_open_dir(const char *dir, int *fd, char *err);
/* "dir/name" (no doubled slash), malloc'ed, or NULL. */
char *cli_join(const char *dir, const char *name);

/* ---- output files (docs/cli.md, "Files the command writes") ----
 *
 * Every file the command writes goes through the library's file sink
 * (onhandpub.h, "File sink"; docs/files.md): written to a temporary in its
 * folder and put in place only when complete, so a killed run leaves
 * nothing under a real name.  Into a folder (no_replace) an existing name
 * is never replaced; a file path is replaced atomically, and a device,
 * FIFO or socket there, or a name of the process's own descriptors
 * (/dev/stdout, /dev/fd/N, ...), is written straight into; a directory is
 * refused.
 */

typedef struct cli_atomic {
    ohp_filesink *fs; /* NULL when closed */
} cli_atomic;

#define CLI_ATOMIC_INIT                                                                            \
    {                                                                                              \
        NULL                                                                                       \
    }

/* Begin name in dir: with no_replace never over an existing file, else replacing it. */
int cli_atomic_open(cli_atomic *a, const char *dir, const char *name, int no_replace, char *err);
/*
 * Open the output path given by the user (see above).  NULL or "-" is
 * standard output.  Messages name the option (e.g. "--out").
 */
int cli_output_open(cli_atomic *a, const char *path, const char *option, char *err);
/*
 * Check an output path before any work (usage errors): a directory, or a
 * missing directory of a file to create, is refused.
 */
int cli_output_check(const char *path, const char *option, char *err);
/* Append bytes (buffered). */
int cli_atomic_write(cli_atomic *a, const void *buf, size_t len, char *err);
/* A new read-only descriptor of what was written so far (the caller closes it). */
int cli_atomic_reader(cli_atomic *a, int *fd, char *err);
/* Append one PSV field (layout v1 quoting, src/psv_field.h); NULL is empty. */
int cli_atomic_field(cli_atomic *a, const char *s, char *err);
/* Put the file in place (success or nothing).  The object is closed either way. */
int cli_atomic_commit(cli_atomic *a, char *err);
/* Discard the file (nothing is left).  Safe on a closed object. */
void cli_atomic_abort(cli_atomic *a);

/*
 * A state file and its lock (docs/cli.md): refuse at once, before any
 * waiting, a path that exists and is not a regular file (a symbolic link,
 * a FIFO, a device, a directory): "<what> '<path>' is not a regular file".
 */
int cli_check_regular(int dirfd, const char *name, const char *what, const char *path, char *err);
/*
 * Open (creating it, mode 0666 less the umask) the lock file name in dirfd
 * and take an exclusive flock, waiting with a notice on standard error
 * while another run holds it.  Never opens anything but a regular file.
 */
int cli_lock_open(int dirfd, const char *name, const char *path, int *fd, char *err);
/*
 * Open the state file name in dirfd for reading: 0 and *fd, or 0 and *fd
 * = -1 when it does not exist; -1 when it is not a regular file or cannot
 * be opened (never blocks on a FIFO, never follows a link).
 */
int cli_state_file_open(int dirfd, const char *name, const char *what, const char *path, int *fd,
                        char *err);

/* ---- the ZIP file sink and the state file: the library's (onhandpub.h) ---- */

/*
 * Open the state file path for the job (ohp_filestate_open; a notice goes
 * to stderr while another run holds its lock).  0, or -1 with err set.
 */
int cli_state_open(ohp_filestate **st, const char *path, char *err);

/* ---- SQLite ends (db_sqlite.c; docs/cli.md, "Databases") ---- */

/* The highest run id a snapshot carries (18 digits). */
#define CLI_MAX_RUN_ID 999999999999999999ull
/* Room for every column of the balances input (layout.h: OHP_IN_NCOLS). */
#define CLI_SQL_COLUMNS 32

struct sqlite3;
struct sqlite3_stmt;

/* A query over a SQLite database as the job's source. */
typedef struct cli_sql_source {
    ohp_job *job;
    const char *path, *query_path;
    char *sql;
    struct sqlite3 *db;
    struct sqlite3_stmt *st;
    int col[CLI_SQL_COLUMNS]; /* result column of each input column, or -1 */
    int in_txn;
    uint64_t rows; /* of the current pass */
    char dates[CLI_SQL_COLUMNS][OHP_DATE_BUFSIZE];
    char row_error[CLI_ERRSIZE];
} cli_sql_source;

/* The query file (at most 1 MiB, no NUL byte), malloc'ed; NULL with err set. */
char *cli_read_query(const char *path, char *err);
/* Result column c named name: its input column i (col[i] = c), -2 if the balances input has no
 * such column (ignored), -1 with err set if it was returned before. */
int cli_query_column(int col[CLI_SQL_COLUMNS], const char *name, int c, const char *query_path,
                     char *err);
/* 0 if every required input column has a result column; else -1, err naming the missing. */
int cli_query_columns_complete(const int col[CLI_SQL_COLUMNS], const char *query_path, char *err);
/* A bad value of input column i: "column NAME why" into buf (size bytes) becomes rec's source
 * error, unless the row already has one. */
void cli_db_bad_value(ohp_record *rec, int i, const char *why, char *buf, size_t size);
/* Input column i holds a time (LAST_UPDATE_DATE, LOT_EXPIRATION_DATE). */
int cli_db_is_time(int i);
/* The text v (len bytes, as the database gave it) of input column i into rec: a flag takes
 * Y/N, 1/0, t/f (a boolean) or empty, any other column points at v.  NULL, or why it is bad. */
const char *cli_db_set_text(ohp_record *rec, int i, const char *v, size_t len);
/* A run of items (ohp_items) covers item class k (ohp_item_class). */
int cli_items_cover(int items, int k);

/* Open the database read-only, prepare the query of query_path (its columns and parameters
 * checked: nothing is read yet) and make it the job's source.  0, or an exit status with err
 * set (EXIT_USAGE: the query cannot run, or a build without SQLite). */
int cli_sql_use_source(cli_sql_source *s, ohp_job *job, const char *path, const char *query_path,
                       char *err);
/* End the read transaction, close (safe on a zeroed object). */
void cli_sql_source_close(cli_sql_source *s);

/* The state store in a SQLite database, locked from open to close. */
typedef struct cli_sql_state {
    ohp_job *job;
    const char *path;
    struct sqlite3 *db;
    uint64_t last_run_id;
} cli_sql_state;

/* Open (creating the database and its tables if missing), lock it (waiting for another run)
 * and make it the job's state store.  0, or an exit status with err set. */
int cli_sql_use_state(cli_sql_state *st, ohp_job *job, const char *path, char *err);
void cli_sql_state_close(cli_sql_state *st);
/* ohp_state_store callbacks (user data: the cli_sql_state). */

/* ---- PostgreSQL ends (db_pg.c; docs/cli.md, "Databases") ---- */

struct pg_conn;
struct pg_result;

/* A query over a PostgreSQL database as the job's source. */
typedef struct cli_pg_source {
    ohp_job *job;
    const char *uri, *query_path;
    struct pg_conn *conn;
    struct pg_result *res;              /* the current row */
    int col[CLI_SQL_COLUMNS];           /* result column of each input column, or -1 */
    unsigned int type[CLI_SQL_COLUMNS]; /* its type oid */
    int in_txn, running;
    uint64_t rows;
    char dates[CLI_SQL_COLUMNS][32];
    char row_error[CLI_ERRSIZE];
} cli_pg_source;

/* Connect (uri: libpq's connection string), prepare the query (its columns checked) and make
 * it the job's source.  0, or an exit status with err set. */
int cli_pg_use_source(cli_pg_source *s, ohp_job *job, const char *uri, const char *query_path,
                      char *err);
void cli_pg_source_close(cli_pg_source *s);

/* The state store in a PostgreSQL database; one run per (system, organization) at a time. */
typedef struct cli_pg_state {
    ohp_job *job;
    const char *uri;
    struct pg_conn *conn;
} cli_pg_state;

/* Connect, create the tables if missing, take the (system, organization) lock (waiting) and
 * make it the job's state store.  0, or an exit status with err set. */
int cli_pg_use_state(cli_pg_state *st, ohp_job *job, const char *uri, const char *system_code,
                     const char *organization_code, char *err);
void cli_pg_state_close(cli_pg_state *st);

/* ---- progress and the JSON summary (report.c) ---- */

typedef struct cli_progress {
    int enabled, shown;
    const char *what; /* "records read"; NULL: bytes, shown as MB read */
    double start, last;
    uint64_t bytes; /* counted by cli_progress_bytes */
} cli_progress;

/* mode > 0: always (--progress); < 0: never (--quiet, --json); 0: when stderr is a terminal. */
void cli_progress_init(cli_progress *p, int mode, const char *what);
/* An ohp_progress_fn (user data: the cli_progress); a few lines a second at most. */
int cli_progress_report(void *ud, uint64_t count);
/* Count n more bytes read and report them (p may be NULL). */
void cli_progress_bytes(cli_progress *p, uint64_t n);
/* End the progress line, if one was shown. */
void cli_progress_end(cli_progress *p);

/* What the JSON summary holds besides the job's summary. */
typedef struct cli_json_extra {
    int exit_status;
    const char *message;               /* the failure's message, or NULL */
    const char *path;                  /* the ZIP written, or NULL */
    const char *user;                  /* the submitting user */
    const char *rejects_path;          /* --rejects, or NULL */
    const char *document_id, *account; /* the upload, or NULL */
    double elapsed;
} cli_json_extra;

/* The run's summary as one line of JSON on standard output; -1 if it cannot be written. */
int cli_print_json_summary(const ohp_job *job, const cli_json_extra *x);

/* ---- the grants file (authorizer) ---- */

typedef struct cli_grants {
    ohp_job *job;
    const char *path;
    int fd;
} cli_grants;

/* Open the grants file (read when the job asks). */
int cli_grants_open(cli_grants *g, const char *path, char *err);
void cli_grants_close(cli_grants *g);
int cli_grants_authorize(void *ud, const char *user, const char *privilege, int *granted);

/* ---- the rejects file ---- */

#define CLI_REJECT_NOTES 5

typedef struct cli_rejects {
    ohp_job *job;
    /* The source: to name a rejected record's line, and to echo the rejected
     * row field by field as read (ohp_balance_reader_field); NULL echoes the
     * record's values. */
    const ohp_balance_reader *br;
    const char *input; /* --input, "-" for standard input */
    cli_atomic file;
    int enabled; /* a file is written */
    uint64_t count;
    char *notes[CLI_REJECT_NOTES]; /* the first messages, for the summary */
} cli_rejects;

/* Create the temporary rejects file and write its header (path may be NULL;
 * the rules of cli_output_open apply). */
int cli_rejects_open(cli_rejects *r, const char *path, char *err);
int cli_rejects_record(void *ud, const ohp_rejection *rejection);
/* Put the file in place (commit) or discard it. */
int cli_rejects_finish(cli_rejects *r, int commit, char *err);

/* ---- input ---- */

typedef struct cli_input {
    const char *path; /* "-": standard input */
    int fd;           /* -1 until the first read */
    int failed;
    /*
     * An incremental run reads the input twice.  A seekable input goes back
     * to where it started; a pipe is copied as it is first read into an
     * unnamed temporary file (spool), replayed the second time.  Set
     * may_rewind before the first read (a full run never rewinds).
     */
    int may_rewind;
    long long start; /* offset of the first read, -1: not seekable */
    int spool;       /* -1: none */
    int replay;      /* reading the spool */
    char err[CLI_ERRSIZE];
} cli_input;

/* Before the first read: path, fd = -1, spool = -1, may_rewind. */
void cli_input_init(cli_input *in, const char *path, int may_rewind);
int cli_input_read(void *ud, void *buf, size_t cap, size_t *got);
/* ohp_rewind_fn: back to the first byte read. */
int cli_input_rewind(void *ud);
void cli_input_close(cli_input *in);
/*
 * Where record `ordinal` of the balances input came from, for messages:
 * "input 'FILE', line N, column C (NAME)" (the column when the record's
 * error concerns one; "standard input" for "-"), or only the input's name
 * when the record is not known (ordinal 0).
 */
void cli_input_where(const ohp_balance_reader *br, const char *input, uint64_t ordinal, char *buf,
                     size_t size);

/* An ohp_read_fn over the file descriptor *(int *)ud, read() retried after EINTR (state.c). */
int cli_fd_read(void *ud, void *buf, size_t cap, size_t *got);

/* ---- the content server (UCM): ucm.h and its files ---- */

/* Environment variables holding the credentials when no file is given. */
#define CLI_UCM_ENV_USER "ONHANDPUB_UCM_USER"
#define CLI_UCM_ENV_PASSWORD "ONHANDPUB_UCM_PASSWORD"

typedef struct cli_ucm {
    char *url;             /* base URL without a trailing slash */
    const char *account;   /* document account (borrowed) */
    char *user, *password; /* wiped before they are freed */
    int insecure;          /* no TLS verification; http:// to any host allowed */
    int plain_http;        /* the URL is http:// (checked: loopback, or insecure) */
    int loopback;          /* the URL's host is a loopback address or localhost */
    const char *cacert;    /* CA bundle verifying the server instead of the system's (borrowed) */
    long connect_timeout;  /* seconds */
    long timeout;          /* seconds, the whole of one request */
    unsigned retries;      /* network errors, 429 and 5xx answers */
    double backoff;        /* seconds before the first retry, doubled after each */
    double retry_after;    /* the last answer's Retry-After in seconds, or -1 */
    char *document_id;     /* after a successful upload */
    int exit_status;       /* after a failure: 3 not authorized, 4 failed */
    int found_existing;    /* the document was found by listing after a lost answer */
    void *curl;            /* CURL handle */
} cli_ucm;

/* Non-zero when the program was built with libcurl. */
int cli_ucm_supported(void);
/* Once per process, around every other cli_ucm_* call. */
int cli_ucm_global_init(char *err);
void cli_ucm_global_cleanup(void);
/*
 * Check the base URL (http or https, no user information, no query) and
 * keep a copy.  http:// is refused unless the host is a loopback address
 * (127.0.0.0/8, ::1, localhost) or u->insecure is set (set it first).
 */
int cli_ucm_set_url(cli_ucm *u, const char *url, char *err);
/*
 * Check a value sent in the listing finder (the account, or the fetch
 * prefix; what names it in messages): not empty, no ',' or ';' (the
 * finder's separators), no control characters, not the null marker #NULL.
 */
int cli_ucm_check_finder_value(const char *what, const char *value, char *err);
/*
 * Load "user:password" from file (refused unless no group or other
 * permission bits are set), or, with file NULL, from the environment
 * variables above.  Messages never contain the credentials.
 */
int cli_ucm_credentials(cli_ucm *u, const char *file, char *err);
/*
 * Upload the file open on fd (read-only, at offset 0; not closed) as name, a
 * document of the account; on success u->document_id is set.  Network
 * errors and 5xx answers are retried; before each retry the account is
 * listed by the file name so that a document stored despite a lost answer
 * is taken instead of uploading again.  On failure u->exit_status is set.
 */
int cli_ucm_upload(cli_ucm *u, int fd, const char *name, char *err);
/* cli_ucm_upload as an ohp_filesink_placed_fn (ud: the cli_ucm). */
int cli_ucm_sink_publish(void *ud, const char *path, int fd, char *message, size_t message_size);
/*
 * The fetch command: list the documents whose names start with prefix,
 * download those not recorded in state_path (NULL: none), check each ZIP,
 * save it atomically in outdir, print its path.  Returns the exit status.
 */
int cli_ucm_fetch(cli_ucm *u, const char *prefix, const char *outdir, const char *state_path);
/* Free everything, wiping the credentials. */
void cli_ucm_free(cli_ucm *u);

/* ---- the subcommands (cmd_*.c; main.c dispatches) ---- */

/* Exit statuses (docs/cli.md). */
enum { EXIT_OK = 0, EXIT_WARNINGS = 1, EXIT_USAGE = 2, EXIT_DENIED = 3, EXIT_FAILED = 4 };

/* Each takes the arguments after the subcommand's word and returns the exit status. */
int cmd_publish(int argc, char **argv);
int cmd_systems(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
/* The command's help on standard output (main.c). */
int cli_print_help(void);
/* The help of one command only (onhandpub help CMD, CMD --help). */
int cli_print_command_help(const char *cmd);
/* reconcile's own help (cmd_reconcile.c). */
int cli_print_reconcile_help(void);

/* ---- options (options.c) ---- */

enum opt_id {
    OPT_INPUT,
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
    OPT_SNAPSHOT,
    OPT_EXTERNAL,
    OPT_OUT,
    OPT_IGNORE,
    OPT_TOLERANCE,
    OPT_JSON,
    OPT_FORMAT,
    OPT_QUIET,
    OPT_PROGRESS,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT
};

/* Values of the one option a subcommand may repeat (reconcile's --snapshot), at most. */
#define CLI_MAX_LIST 256

typedef struct cli_opts {
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    const char *list[CLI_MAX_LIST]; /* the repeatable option's values, or the operands, in order */
    size_t nlist;
} cli_opts;

/* Reports a usage error (one line on standard error) and returns EXIT_USAGE. */
typedef int (*cli_usage_fn)(const char *fmt, ...);

/* What a subcommand accepts. */
typedef struct cli_command {
    const int *allowed; /* its options */
    size_t nallowed;
    int repeatable;     /* an option that may be given more than once, or -1 */
    int operands;       /* arguments that are no options are the command's operands (in list) */
    const char *see;    /* appended to "unknown option" and "unexpected argument" */
    cli_usage_fn usage; /* NULL: cli_usage_error */
} cli_command;

#define CLI_COMMAND(allowed)                                                                       \
    {                                                                                              \
        (allowed), sizeof(allowed) / sizeof((allowed)[0]), -1, 0, " (see onhandpub --help)", NULL  \
    }

/*
 * Parse argv (after the subcommand's word), accepting only cmd's options:
 * --name VALUE or --name=VALUE, -h for --help.  Returns 0, or the usage
 * error's status after printing a one-line reason.
 */
int cli_parse_options(int argc, char **argv, const cli_command *cmd, cli_opts *o);
/* An option's name, without the dashes. */
const char *cli_opt_name(int id);
/* "onhandpub: MESSAGE" on standard error; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* A date option into *out (OHP_TIME_NONE when not given). */
int cli_parse_date_opt(const cli_opts *o, int id, int64_t *out);
/* A whole number of seconds or a count in [lo, hi] into *out (unchanged when not given). */
int cli_parse_count_opt(const cli_opts *o, int id, long lo, long hi, long *out);
/*
 * The --ucm options into u (u->url stays NULL without --ucm).  Loads the
 * credentials; the caller frees u.  Returns 0 or EXIT_USAGE.
 */
int cli_parse_ucm_options(const cli_opts *o, cli_ucm *u);

/* ---- input files through read/seek callbacks (file_in.c) ---- */

typedef struct cli_file_in {
    const char *path;
    int fd;
    int seekable;
    uint64_t size, pos;
    char err[CLI_ERRSIZE];
    cli_progress *progress; /* bytes read are reported there, or NULL */
} cli_file_in;

/* An ohp_read_fn over a cli_file_in (f->err says why it failed). */
int cli_file_read(void *ud, void *buf, size_t cap, size_t *got);
/* An ohp_seek_fn over a cli_file_in. */
int cli_file_seek(void *ud, uint64_t off);
/* Open path ("-": standard input) into *f. */
int cli_file_open(cli_file_in *f, const char *path, char *err);
/* Is the file a ZIP (a local header signature at its start)? */
int cli_file_is_zip(cli_file_in *f);

/* ---- the lookups file (lookups.c) ---- */

/* Load the lookups file into a new registry (*reg; NULL lookups: the built-in one). */
int cli_load_registry(const char *lookups, ohp_registry **reg, char *err);

#endif /* ONHANDPUB_CLI_H */
