/*
 * SQLite ends of the onhandpub command (docs/cli.md, "Databases"):
 *
 * - a source: the user's query over their own schema, its result columns
 *   named like the balances input, its named parameters bound from the
 *   job's source query, its rows streamed one at a time (the strings of a
 *   row stay valid until the next, as the library's source contract asks),
 *   both passes of an incremental run inside one read transaction;
 * - a state store: watermarks per (system, organization, item class) and
 *   the run-id counter in two tables the command creates, the database
 *   locked for the whole run (SQLite's exclusive locking mode: another run
 *   waits), each reservation and commit durable when its transaction ends.
 */
#include "cli.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifdef ONHANDPUB_HAVE_SQLITE
#include <sqlite3.h>

/* The named parameters a query may use, by name without its prefix. */
enum { P_ORG, P_SYSTEM, P_ITEMS, P_MODE, P_WINDOW, P_SNAPSHOT, P_COUNT };
static const char *const param_names[P_COUNT] = {
    "organization_code", "system_code", "items", "mode", "window_start", "snapshot_date"};

/* Map the statement's result columns and check its parameters. */
static int check_statement(cli_sql_source *s, const char *tail, char *err)
{
    sqlite3_stmt *st = s->st;
    for (const char *p = tail; *p; p++)
        if (*p != ';' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cli_err(err, "query '%s': one statement is allowed, more follow: '%.40s'",
                    s->query_path, p);
            return -1;
        }
    if (!sqlite3_stmt_readonly(st)) {
        cli_err(err, "query '%s': the statement would write to the database; a source only reads",
                s->query_path);
        return -1;
    }
    for (int i = 0; i < OHP_IN_NCOLS; i++)
        s->col[i] = -1;
    int ncol = sqlite3_column_count(st);
    if (ncol == 0) {
        cli_err(err, "query '%s': the statement returns no columns", s->query_path);
        return -1;
    }
    for (int c = 0; c < ncol; c++) {
        const char *name = sqlite3_column_name(st, c);
        if (name && cli_query_column(s->col, name, c, s->query_path, err) == -1)
            return -1;
    }
    if (cli_query_columns_complete(s->col, s->query_path, err) != 0)
        return -1;
    for (int k = 1; k <= sqlite3_bind_parameter_count(st); k++) {
        const char *name = sqlite3_bind_parameter_name(st, k);
        int known = -1;
        for (int p = 0; name && p < P_COUNT; p++)
            if (strcmp(name + 1, param_names[p]) == 0)
                known = p;
        if (known < 0) {
            cli_err(err,
                    "query '%s': unknown parameter %s (known: :organization_code, :system_code, "
                    ":items, :mode, :window_start, :snapshot_date)",
                    s->query_path, name ? name : "? (positional)");
            return -1;
        }
    }
    return 0;
}

static int cli_sql_source_open(cli_sql_source *s, const char *path, const char *query_path,
                               char *err)
{
    s->path = path;
    s->query_path = query_path;
    if ((s->sql = cli_read_query(query_path, err)) == NULL)
        return -1;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cli_err(err, "source sqlite:%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(s->db, 60000);
    const char *tail = NULL;
    if (sqlite3_prepare_v2(s->db, s->sql, -1, &s->st, &tail) != SQLITE_OK || s->st == NULL) {
        cli_err(err, "query '%s': %s", query_path,
                s->st == NULL && sqlite3_errcode(s->db) == SQLITE_OK ? "no statement"
                                                                     : sqlite3_errmsg(s->db));
        return -1;
    }
    return check_statement(s, tail ? tail : "", err);
}

static int bind_text(cli_sql_source *s, int p, const char *v)
{
    static const char prefixes[] = ":@$";
    for (int k = 0; prefixes[k]; k++) {
        char name[64];
        snprintf(name, sizeof name, "%c%s", prefixes[k], param_names[p]);
        int idx = sqlite3_bind_parameter_index(s->st, name);
        if (idx > 0 && (v ? sqlite3_bind_text(s->st, idx, v, -1, SQLITE_TRANSIENT)
                          : sqlite3_bind_null(s->st, idx)) != SQLITE_OK)
            return -1;
    }
    return 0;
}

/* A time as SQLite's own text form, "YYYY-MM-DD HH:MM:SS" (UTC). */
static void iso_time(int64_t t, char buf[OHP_DATE_BUFSIZE])
{
    ohp_date_format(t, 0, buf);
    buf[4] = buf[7] = '-';
}

static int fail_db(cli_sql_source *s, const char *what)
{
    char err[CLI_ERRSIZE];
    cli_err(err, "source sqlite:%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    ohp_job_set_callback_error(s->job, err);
    return -1;
}

static int cli_sql_open_pass(void *ud, const ohp_source_query *q)
{
    cli_sql_source *s = ud;
    if (!s->in_txn) {
        /* One read transaction for every pass: its snapshot is taken by the first read. */
        if (sqlite3_exec(s->db, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) !=
            SQLITE_OK)
            return fail_db(s, "cannot start a read transaction");
        s->in_txn = 1;
    }
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    static const char *const items[] = {"both", "serial", "nonserial"};
    char window[OHP_DATE_BUFSIZE], snap[OHP_DATE_BUFSIZE];
    iso_time(q->snapshot_date, snap);
    if (q->window_start != OHP_TIME_NONE)
        iso_time(q->window_start, window);
    if (bind_text(s, P_ORG, q->organization_code) || bind_text(s, P_SYSTEM, q->system_code) ||
        bind_text(s, P_ITEMS, items[q->items >= 0 && q->items <= 2 ? q->items : 0]) ||
        bind_text(s, P_MODE, q->mode == OHP_MODE_FULL ? "FULL" : "INCREMENTAL") ||
        bind_text(s, P_WINDOW, q->window_start != OHP_TIME_NONE ? window : NULL) ||
        bind_text(s, P_SNAPSHOT, snap))
        return fail_db(s, "cannot bind the query's parameters");
    return 0;
}

/* Column i of the current row into rec. */
static void take_value(cli_sql_source *s, ohp_record *rec, int i)
{
    int c = s->col[i];
    const char *why = NULL;
    switch (sqlite3_column_type(s->st, c)) {
    case SQLITE_NULL:
        return; /* absent */
    case SQLITE_FLOAT:
        why = "holds a floating-point value: exact values must come as TEXT or INTEGER (store "
              "decimals as text)";
        break;
    case SQLITE_BLOB:
        why = "holds a BLOB: values must come as TEXT or INTEGER";
        break;
    case SQLITE_INTEGER:
        if (cli_db_is_time(i)) { /* seconds since 1970-01-01 UTC */
            if (ohp_date_format(sqlite3_column_int64(s->st, c), 0, s->dates[i]) != OHP_OK)
                why = "holds a time outside years 1 to 9999";
            else
                why = cli_db_set_text(rec, i, s->dates[i], strlen(s->dates[i]));
            break;
        }
        /* fall through - an integer as its decimal digits */
    default: {
        const char *v = (const char *)sqlite3_column_text(s->st, c);
        if (v != NULL)
            why = cli_db_set_text(rec, i, v, (size_t)sqlite3_column_bytes(s->st, c));
        break;
    }
    }
    if (why != NULL)
        cli_db_bad_value(rec, i, why, s->row_error, sizeof s->row_error);
}

static int cli_sql_next(void *ud, ohp_record *rec)
{
    cli_sql_source *s = ud;
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return fail_db(s, "the query failed");
    s->rows++;
    for (int i = 0; i < OHP_IN_NCOLS; i++)
        if (s->col[i] >= 0)
            take_value(s, rec, i);
    return 1;
}

static void cli_sql_close_pass(void *ud)
{
    cli_sql_source *s = ud;
    sqlite3_reset(s->st);
    s->rows = 0;
}

void cli_sql_source_close(cli_sql_source *s)
{
    if (s->st)
        sqlite3_finalize(s->st);
    if (s->db) {
        if (s->in_txn)
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    free(s->sql);
    memset(s, 0, sizeof *s);
}

/* ---- the state store ---- */

static const char state_ddl[] =
    "CREATE TABLE IF NOT EXISTS onhandpub_state ("
    " system_code TEXT NOT NULL,"
    " organization_code TEXT NOT NULL,"
    " item_class TEXT NOT NULL CHECK (item_class IN ('SERIAL', 'NONSERIAL')),"
    " watermark TEXT,"
    " last_snapshot_date TEXT,"
    " last_run_id INTEGER NOT NULL,"
    " PRIMARY KEY (system_code, organization_code, item_class));"
    "CREATE TABLE IF NOT EXISTS onhandpub_run_ids ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " last_run_id INTEGER NOT NULL CHECK (last_run_id >= 0));"
    "INSERT OR IGNORE INTO onhandpub_run_ids (id, last_run_id) VALUES (1, 0);"
    /* a write, so that the exclusive lock is taken now and held until the end */
    "UPDATE onhandpub_run_ids SET last_run_id = last_run_id WHERE id = 1;";

static const char *const class_names[2] = {"SERIAL", "NONSERIAL"};

static int busy_wait(void *ud, int count)
{
    cli_sql_state *st = ud;
    if (count == 0)
        fprintf(stderr, "onhandpub: waiting for another run to release state store sqlite:%s\n",
                st->path);
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
    return 1;
}

static int state_fail(cli_sql_state *st, char *err, const char *what)
{
    cli_err(err, "state store sqlite:%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
    return -1;
}

static int cli_sql_state_open(cli_sql_state *st, const char *path, char *err)
{
    st->path = path;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cli_err(err, "state store sqlite:%s: %s", path,
                st->db ? sqlite3_errmsg(st->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_handler(st->db, busy_wait, st);
    sqlite3_stmt *q = NULL;
    /*
     * The write lock first, in the normal locking mode: a run that waits for
     * it holds no lock meanwhile.  Then the exclusive mode, so that the lock
     * this transaction's write takes is kept until the store is closed.
     */
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE; PRAGMA locking_mode = EXCLUSIVE;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(st->db, state_ddl, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "SELECT last_run_id FROM onhandpub_run_ids WHERE id = 1", -1, &q,
                           NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return state_fail(st, err, "cannot prepare its tables");
    }
    sqlite3_int64 last = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (last < 0 || (uint64_t)last > CLI_MAX_RUN_ID) {
        cli_err(err, "state store sqlite:%s: its run-id counter %lld is not a run id", path,
                (long long)last);
        return -1;
    }
    st->last_run_id = (uint64_t)last;
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return state_fail(st, err, "cannot commit");
    return 0;
}

void cli_sql_state_close(cli_sql_state *st)
{
    if (st->db)
        sqlite3_close(st->db);
    memset(st, 0, sizeof *st);
}

static int64_t column_time(sqlite3_stmt *q, int c)
{
    const char *v = (const char *)sqlite3_column_text(q, c);
    int64_t t = OHP_TIME_NONE;
    if (v == NULL || ohp_date_parse(v, &t) != OHP_OK)
        return OHP_TIME_NONE;
    return t;
}

static int cli_sql_state_get(void *ud, const char *system_code, const char *organization_code,
                             ohp_class_state state[2])
{
    cli_sql_state *st = ud;
    for (int k = 0; k < 2; k++)
        state[k].watermark = state[k].last_snapshot = OHP_TIME_NONE;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT item_class, watermark, last_snapshot_date FROM onhandpub_state "
                           "WHERE system_code = ?1 AND organization_code = ?2",
                           -1, &q, NULL) != SQLITE_OK) {
        char err[CLI_ERRSIZE];
        state_fail(st, err, "cannot read");
        ohp_job_set_callback_error(st->job, err);
        return -1;
    }
    sqlite3_bind_text(q, 1, system_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, organization_code, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *cls = (const char *)sqlite3_column_text(q, 0);
        int k = cls && strcmp(cls, class_names[0]) == 0 ? 0 : 1;
        state[k].watermark = column_time(q, 1);
        state[k].last_snapshot = column_time(q, 2);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        char err[CLI_ERRSIZE];
        state_fail(st, err, "cannot read");
        ohp_job_set_callback_error(st->job, err);
        return -1;
    }
    return 0;
}

/* Set the run-id counter to id (autocommit: durable when it returns). */
static int save_counter(cli_sql_state *st, uint64_t id)
{
    sqlite3_stmt *q = NULL;
    int ok =
        sqlite3_prepare_v2(st->db, "UPDATE onhandpub_run_ids SET last_run_id = ?1 WHERE id = 1", -1,
                           &q, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(q, 1, (sqlite3_int64)id) == SQLITE_OK && sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    return ok ? 0 : -1;
}

static int cli_sql_state_reserve_run_id(void *ud, uint64_t requested, uint64_t *run_id)
{
    cli_sql_state *st = ud;
    char err[CLI_ERRSIZE];
    uint64_t id = requested;
    if (id == 0) {
        if (st->last_run_id >= CLI_MAX_RUN_ID) {
            cli_err(err,
                    "the run-id counter of state store sqlite:%s is at %llu, the most a snapshot "
                    "can carry (18 digits): no run id is left",
                    st->path, (unsigned long long)st->last_run_id);
            ohp_job_set_callback_error(st->job, err);
            return -1;
        }
        id = st->last_run_id + 1;
    }
    if (id > st->last_run_id) {
        if (save_counter(st, id) != 0) {
            state_fail(st, err, "cannot reserve a run id");
            ohp_job_set_callback_error(st->job, err);
            return -1;
        }
        st->last_run_id = id;
    }
    *run_id = id;
    return 0;
}

static int cli_sql_state_commit(void *ud, const char *system_code, const char *organization_code,
                                int items, const ohp_class_state state[2], uint64_t run_id)
{
    cli_sql_state *st = ud;
    char err[CLI_ERRSIZE];
    sqlite3_stmt *q = NULL;
    bool ok = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_prepare_v2(st->db,
                                 "INSERT INTO onhandpub_state (system_code, organization_code, "
                                 "item_class, watermark, last_snapshot_date, last_run_id) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                 "ON CONFLICT (system_code, organization_code, item_class) DO "
                                 "UPDATE SET watermark = excluded.watermark, last_snapshot_date = "
                                 "excluded.last_snapshot_date, last_run_id = excluded.last_run_id",
                                 -1, &q, NULL) == SQLITE_OK;
    for (int k = 0; ok && k < 2; k++) {
        /* only the classes the run covered: a row keeps the last run that covered it */
        if (!cli_items_cover(items, k) || state[k].last_snapshot == OHP_TIME_NONE)
            continue;
        char w[OHP_DATE_BUFSIZE] = "", l[OHP_DATE_BUFSIZE];
        if (state[k].watermark != OHP_TIME_NONE)
            ohp_date_format(state[k].watermark, 0, w);
        ohp_date_format(state[k].last_snapshot, 0, l);
        sqlite3_reset(q);
        ok = sqlite3_bind_text(q, 1, system_code, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(q, 2, organization_code, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(q, 3, class_names[k], -1, SQLITE_STATIC) == SQLITE_OK &&
             (w[0] ? sqlite3_bind_text(q, 4, w, -1, SQLITE_STATIC) : sqlite3_bind_null(q, 4)) ==
                 SQLITE_OK &&
             sqlite3_bind_text(q, 5, l, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_int64(q, 6, (sqlite3_int64)run_id) == SQLITE_OK &&
             sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    if (ok && run_id > st->last_run_id)
        ok = save_counter(st, run_id) == 0;
    if (ok && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        if (run_id > st->last_run_id)
            st->last_run_id = run_id;
        return 0;
    }
    state_fail(st, err, "cannot record the run");
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    ohp_job_set_callback_error(st->job, err);
    return -1;
}

/* ---- what the command uses ---- */

int cli_sql_use_source(cli_sql_source *s, ohp_job *job, const char *path, const char *query_path,
                       char *err)
{
    if (cli_sql_source_open(s, path, query_path, err) != 0)
        return EXIT_USAGE; /* a query that cannot run here is a configuration error */
    s->job = job;
    ohp_job_set_source(job, cli_sql_open_pass, cli_sql_next, cli_sql_close_pass, s);
    return 0;
}

int cli_sql_use_state(cli_sql_state *st, ohp_job *job, const char *path, char *err)
{
    if (cli_sql_state_open(st, path, err) != 0)
        return EXIT_FAILED;
    st->job = job;
    const ohp_state_store store = {OHP_STATE_STORE_VERSION, cli_sql_state_get,
                                   cli_sql_state_reserve_run_id, cli_sql_state_commit};
    ohp_job_set_state_store2(job, &store, st);
    return 0;
}

#else /* without it: the options say so */

#define NO_SQLITE "this onhandpub was built without SQLite (libsqlite3-dev, meson option sqlite)"

int cli_sql_use_source(cli_sql_source *s, ohp_job *job, const char *path, const char *query_path,
                       char *err)
{
    (void)s, (void)job, (void)path, (void)query_path;
    cli_err(err, NO_SQLITE);
    return EXIT_USAGE;
}

int cli_sql_use_state(cli_sql_state *st, ohp_job *job, const char *path, char *err)
{
    (void)st, (void)job, (void)path;
    cli_err(err, NO_SQLITE);
    return EXIT_USAGE;
}

void cli_sql_source_close(cli_sql_source *s)
{
    memset(s, 0, sizeof *s);
}

void cli_sql_state_close(cli_sql_state *st)
{
    memset(st, 0, sizeof *st);
}

#endif
