/*
 * PostgreSQL ends of the onhandpub command (docs/cli.md, "Databases"), over
 * libpq:
 *
 * - a source: the user's query, its named parameters (:organization_code
 *   ...) rewritten to $1..$6 with fixed types, prepared (so that its columns
 *   are checked before any row is read), run inside one REPEATABLE READ READ
 *   ONLY transaction for every pass, its rows streamed in single-row mode;
 * - a state store: the state file's tables in the database, a session
 *   advisory lock per (system, organization) held for the whole run (runs
 *   of other organizations go ahead in parallel), run ids taken from one
 *   counter row, atomically, so that they never repeat across hosts.
 *
 * The connection string is libpq's (a postgresql:// URI; its environment
 * variables and service file apply).  The session's time zone is UTC.
 */
#include "cli.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef ONHANDPUB_HAVE_PG
#include <libpq-fe.h>

/* The parameters a query may name, as $1..$6, and their types. */
enum { P_ORG, P_SYSTEM, P_ITEMS, P_MODE, P_WINDOW, P_SNAPSHOT, P_COUNT };
static const char *const param_names[P_COUNT] = {
    "organization_code", "system_code", "items", "mode", "window_start", "snapshot_date"};
/* text, text, text, text, timestamptz, timestamptz */
static const Oid param_types[P_COUNT] = {25, 25, 25, 25, 1184, 1184};

/* Type oids the values are converted from. */
#define OID_BYTEA 17
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_DATE 1082
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184

/* ---- the query text ---- */

static int is_ident(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '$'));
}

/* The end of a dollar-quoted string that starts at s ("$tag$"), or NULL if s starts none. */
static const char *dollar_end(const char *s)
{
    const char *t = s + 1;
    while (is_ident(*t, t == s + 1) && *t != '$')
        t++;
    if (*t != '$')
        return NULL;
    size_t taglen = (size_t)(t - s) + 1;
    const char *body = t + 1;
    for (const char *p = body; (p = strchr(p, '$')) != NULL; p++)
        if (strncmp(p, s, taglen) == 0)
            return p + taglen;
    return s + strlen(s); /* unterminated: the server will say so */
}

/*
 * The query with its named parameters as $1..$6.  Strings, quoted names,
 * comments and dollar-quoted bodies are copied as they are; "::" is a cast.
 */
static char *translate(const char *sql, const char *path, char *err)
{
    size_t n = strlen(sql);
    char *out = malloc(n + 1); /* ":x" (2+ bytes) becomes "$N" (2 bytes) */
    if (out == NULL) {
        cli_err(err, "out of memory");
        return NULL;
    }
    char *o = out;
    const char *p = sql;
    while (*p) {
        const char *start = p;
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            int backslash = q == '\'' && start > sql && (start[-1] == 'E' || start[-1] == 'e');
            while (*p && !(*p == q && p[1] != q)) {
                if (*p == q || (backslash && *p == '\\' && p[1]))
                    p++;
                p++;
            }
            if (*p)
                p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 1;
            p += 2;
            while (*p && depth) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p++;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p++;
                p++;
            }
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9' &&
                   !(start > sql && is_ident(start[-1], 0))) {
            cli_err(err,
                    "query '%s': positional parameters ($1 ...) are not supported; use "
                    ":organization_code, :system_code, :items, :mode, :window_start, "
                    ":snapshot_date",
                    path);
            free(out);
            return NULL;
        } else if (*p == '$' && !(start > sql && is_ident(start[-1], 0)) && dollar_end(p)) {
            p = dollar_end(p);
        } else if (p[0] == ':' && p[1] == ':') {
            p += 2;
        } else if (p[0] == ':' && is_ident(p[1], 1)) {
            const char *name = p + 1, *e = name;
            while (is_ident(*e, 0) && *e != '$')
                e++;
            int k = -1;
            for (int i = 0; i < P_COUNT; i++)
                if (strlen(param_names[i]) == (size_t)(e - name) &&
                    strncmp(name, param_names[i], (size_t)(e - name)) == 0)
                    k = i;
            if (k < 0) {
                cli_err(err,
                        "query '%s': unknown parameter :%.*s (known: :organization_code, "
                        ":system_code, :items, :mode, :window_start, :snapshot_date)",
                        path, (int)(e - name > 60 ? 60 : e - name), name);
                free(out);
                return NULL;
            }
            o += sprintf(o, "$%d", k + 1);
            p = e;
            continue;
        } else {
            p++;
        }
        memcpy(o, start, (size_t)(p - start));
        o += p - start;
    }
    *o = '\0';
    return out;
}

/* ---- the source ---- */

/* The server's notices: its warnings go to standard error, NOTICE and below are dropped
 * ("relation ... already exists, skipping" of every run's CREATE TABLE IF NOT EXISTS). */
static void on_notice(void *ud, const PGresult *res)
{
    (void)ud;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev != NULL && strcmp(sev, "WARNING") == 0) {
        char v[CLI_ERRSIZE];
        fprintf(stderr, "onhandpub: postgresql: %s\n",
                cli_visible(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), v, sizeof v));
    }
}

static int conn_open(PGconn **conn, const char *uri, const char *what, char *err)
{
    *conn = PQconnectdb(uri);
    if (*conn == NULL || PQstatus(*conn) != CONNECTION_OK) {
        cli_err(err, "%s: cannot connect: %s", what,
                *conn ? PQerrorMessage(*conn) : "out of memory");
        return -1;
    }
    PQsetNoticeReceiver(*conn, on_notice, NULL);
    PGresult *r = PQexec(*conn, "SET TIME ZONE 'UTC'");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        cli_err(err, "%s: %s", what, PQerrorMessage(*conn));
        return -1;
    }
    return 0;
}

/* The columns of the prepared statement, checked like the balances input's header. */
static int map_columns(cli_pg_source *s, PGresult *d, char *err)
{
    for (int i = 0; i < OHP_IN_NCOLS; i++)
        s->col[i] = -1;
    int ncol = PQnfields(d);
    if (ncol == 0) {
        cli_err(err, "query '%s': the statement returns no columns", s->query_path);
        return -1;
    }
    for (int c = 0; c < ncol; c++) {
        int i = cli_query_column(s->col, PQfname(d, c), c, s->query_path, err);
        if (i == -1)
            return -1;
        if (i >= 0)
            s->type[i] = PQftype(d, c);
    }
    return cli_query_columns_complete(s->col, s->query_path, err);
}

static int cli_pg_source_open(cli_pg_source *s, const char *uri, const char *query_path, char *err)
{
    s->uri = uri;
    s->query_path = query_path;
    char *sql = cli_read_query(query_path, err);
    if (sql == NULL)
        return -1;
    char *pg = translate(sql, query_path, err);
    free(sql);
    if (pg == NULL)
        return -1;
    int rc = conn_open(&s->conn, uri, "source", err);
    PGresult *r = NULL;
    if (rc == 0) {
        /* prepared, not run: its columns are known before anything is read */
        r = PQprepare(s->conn, "onhandpub_source", pg, P_COUNT, param_types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            cli_err(err, "query '%s': %s", query_path, PQerrorMessage(s->conn));
            rc = -1;
        }
        PQclear(r);
    }
    free(pg);
    if (rc == 0) {
        r = PQdescribePrepared(s->conn, "onhandpub_source");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            cli_err(err, "query '%s': %s", query_path, PQerrorMessage(s->conn));
            rc = -1;
        } else {
            rc = map_columns(s, r, err);
        }
        PQclear(r);
    }
    return rc;
}

static int fail_pg(cli_pg_source *s, const char *what)
{
    char err[CLI_ERRSIZE];
    cli_err(err, "source: %s: %s", what, PQerrorMessage(s->conn));
    ohp_job_set_callback_error(s->job, err);
    return -1;
}

/* A time as a timestamptz literal in UTC. */
static void pg_time(int64_t t, char buf[32])
{
    char d[OHP_DATE_BUFSIZE];
    ohp_date_format(t, 0, d);
    d[4] = d[7] = '-';
    snprintf(buf, 32, "%s+00", d);
}

static int cli_pg_open_pass(void *ud, const ohp_source_query *q)
{
    cli_pg_source *s = ud;
    if (!s->in_txn) {
        /* One snapshot for every pass, taken by the transaction's first query. */
        PGresult *r = PQexec(s->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            return fail_pg(s, "cannot start a read-only transaction");
        s->in_txn = 1;
    }
    static const char *const items[] = {"both", "serial", "nonserial"};
    char window[32], snap[32];
    pg_time(q->snapshot_date, snap);
    if (q->window_start != OHP_TIME_NONE)
        pg_time(q->window_start, window);
    const char *v[P_COUNT] = {q->organization_code,
                              q->system_code,
                              items[q->items >= 0 && q->items <= 2 ? q->items : 0],
                              q->mode == OHP_MODE_FULL ? "FULL" : "INCREMENTAL",
                              q->window_start != OHP_TIME_NONE ? window : NULL,
                              snap};
    if (!PQsendQueryPrepared(s->conn, "onhandpub_source", P_COUNT, v, NULL, NULL, 0) ||
        !PQsetSingleRowMode(s->conn))
        return fail_pg(s, "the query failed");
    s->running = 1;
    s->rows = 0;
    return 0;
}

/* A timestamp's text (UTC: the session's zone) as YYYY-MM-DD HH:MM:SS, fraction dropped. */
static int pg_timestamp(const char *v, char *buf, size_t size)
{
    size_t n = strlen(v);
    if (n < 19 || v[4] != '-' || v[10] != ' ' || v[13] != ':' || v[16] != ':')
        return -1; /* infinity, BC, a year past 9999 */
    const char *tail = v + 19;
    if (*tail == '.')
        for (tail++; *tail >= '0' && *tail <= '9'; tail++)
            ;
    if (*tail != '\0' && strcmp(tail, "+00") != 0)
        return -1;
    snprintf(buf, size, "%.19s", v);
    return 0;
}

static void take_value(cli_pg_source *s, ohp_record *rec, int i)
{
    int c = s->col[i];
    if (PQgetisnull(s->res, 0, c))
        return; /* absent */
    const char *v = PQgetvalue(s->res, 0, c), *why;
    switch (s->type[i]) {
    case OID_FLOAT4:
    case OID_FLOAT8:
        why = "is a floating-point column: exact values must come as numeric, an integer type or "
              "text";
        break;
    case OID_BYTEA:
        why = "is a bytea column: values must come as text or numbers";
        break;
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        if (pg_timestamp(v, s->dates[i], sizeof s->dates[i]) != 0)
            why = "holds a time outside years 1 to 9999";
        else
            why = cli_db_set_text(rec, i, s->dates[i], strlen(s->dates[i]));
        break;
    default: /* text, numbers, dates and booleans as their text */
        why = cli_db_set_text(rec, i, v, (size_t)PQgetlength(s->res, 0, c));
        break;
    }
    if (why != NULL)
        cli_db_bad_value(rec, i, why, s->row_error, sizeof s->row_error);
}

static int cli_pg_next(void *ud, ohp_record *rec)
{
    cli_pg_source *s = ud;
    PQclear(s->res); /* the previous row's values were valid until now */
    s->res = NULL;
    if (!s->running)
        return 0;
    s->res = PQgetResult(s->conn);
    ExecStatusType st = s->res ? PQresultStatus(s->res) : PGRES_FATAL_ERROR;
    if (st == PGRES_SINGLE_TUPLE) {
        s->rows++;
        for (int i = 0; i < OHP_IN_NCOLS; i++)
            if (s->col[i] >= 0)
                take_value(s, rec, i);
        return 1;
    }
    int ok = st == PGRES_TUPLES_OK;
    char err[CLI_ERRSIZE];
    if (!ok)
        cli_err(err, "source: the query failed: %s",
                s->res ? PQresultErrorMessage(s->res) : PQerrorMessage(s->conn));
    PQclear(s->res);
    s->res = NULL;
    while ((s->res = PQgetResult(s->conn)) != NULL) /* the end of the command */
        PQclear(s->res);
    s->running = 0;
    if (!ok) {
        ohp_job_set_callback_error(s->job, err);
        return -1;
    }
    return 0;
}

static void cli_pg_close_pass(void *ud)
{
    cli_pg_source *s = ud;
    PQclear(s->res);
    s->res = NULL;
    if (s->running) {
        /* The job stopped reading early: cancel the rest of the query. */
        PGcancel *c = PQgetCancel(s->conn);
        char buf[256];
        if (c) {
            (void)PQcancel(c, buf, sizeof buf);
            PQfreeCancel(c);
        }
        PGresult *r;
        while ((r = PQgetResult(s->conn)) != NULL)
            PQclear(r);
        s->running = 0;
    }
}

void cli_pg_source_close(cli_pg_source *s)
{
    cli_pg_close_pass(s);
    if (s->conn) {
        if (s->in_txn)
            PQclear(PQexec(s->conn, "ROLLBACK")); /* read only: nothing to keep */
        PQfinish(s->conn);
    }
    memset(s, 0, sizeof *s);
}

/* ---- the state store ---- */

static const char state_ddl[] =
    "SELECT pg_advisory_xact_lock(7238110442317771849);" /* one creator at a time */
    "CREATE TABLE IF NOT EXISTS onhandpub_state ("
    " system_code text NOT NULL,"
    " organization_code text NOT NULL,"
    " item_class text NOT NULL CHECK (item_class IN ('SERIAL', 'NONSERIAL')),"
    " watermark text,"
    " last_snapshot_date text,"
    " last_run_id bigint NOT NULL,"
    " PRIMARY KEY (system_code, organization_code, item_class));"
    "CREATE TABLE IF NOT EXISTS onhandpub_run_ids ("
    " id integer PRIMARY KEY CHECK (id = 1),"
    " last_run_id bigint NOT NULL CHECK (last_run_id >= 0));"
    "INSERT INTO onhandpub_run_ids (id, last_run_id) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;";

static const char *const class_names[2] = {"SERIAL", "NONSERIAL"};

static int st_fail(cli_pg_state *st, char *err, const char *what)
{
    cli_err(err, "state store: %s: %s", what, PQerrorMessage(st->conn));
    return -1;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType t = PQresultStatus(r);
    PQclear(r);
    return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
}

static int cli_pg_state_open(cli_pg_state *st, const char *uri, const char *system_code,
                             const char *organization_code, char *err)
{
    st->uri = uri;
    if (conn_open(&st->conn, uri, "state store", err) != 0)
        return -1;
    if (!exec_ok(st->conn, "BEGIN") || !exec_ok(st->conn, state_ddl) ||
        !exec_ok(st->conn, "COMMIT"))
        return st_fail(st, err, "cannot prepare its tables");
    /* One run per (system, organization) at a time, on every host: the first holds the
     * lock until its session ends, the others wait. */
    const char *key[2] = {system_code, organization_code};
    static const char lock_sql[] =
        "SELECT pg_%sadvisory_lock(hashtextextended('onhandpub|' || $1 || '|' || $2, 0))";
    char sql[160];
    snprintf(sql, sizeof sql, lock_sql, "try_");
    PGresult *r = PQexecParams(st->conn, sql, 2, NULL, key, NULL, NULL, 0);
    int got = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
    PQclear(r);
    if (failed)
        return st_fail(st, err, "cannot lock");
    if (!got) {
        char v1[CLI_ERRSIZE], v2[CLI_ERRSIZE];
        fprintf(stderr,
                "onhandpub: waiting for another run of system %s, organization %s to release "
                "the state store\n",
                cli_visible(system_code, v1, sizeof v1),
                cli_visible(organization_code, v2, sizeof v2));
        snprintf(sql, sizeof sql, lock_sql, "");
        r = PQexecParams(st->conn, sql, 2, NULL, key, NULL, NULL, 0);
        failed = PQresultStatus(r) != PGRES_TUPLES_OK;
        PQclear(r);
        if (failed)
            return st_fail(st, err, "cannot lock");
    }
    return 0;
}

void cli_pg_state_close(cli_pg_state *st)
{
    if (st->conn)
        PQfinish(st->conn); /* the session's lock goes with it */
    memset(st, 0, sizeof *st);
}

static int64_t text_time(const char *v)
{
    int64_t t = OHP_TIME_NONE;
    if (v == NULL || !v[0] || ohp_date_parse(v, &t) != OHP_OK)
        return OHP_TIME_NONE;
    return t;
}

static int st_callback_fail(cli_pg_state *st, const char *what)
{
    char err[CLI_ERRSIZE];
    st_fail(st, err, what);
    ohp_job_set_callback_error(st->job, err);
    return -1;
}

static int cli_pg_state_get(void *ud, const char *system_code, const char *organization_code,
                            ohp_class_state state[2])
{
    cli_pg_state *st = ud;
    for (int k = 0; k < 2; k++)
        state[k].watermark = state[k].last_snapshot = OHP_TIME_NONE;
    const char *v[2] = {system_code, organization_code};
    PGresult *r = PQexecParams(st->conn,
                               "SELECT item_class, watermark, last_snapshot_date FROM "
                               "onhandpub_state WHERE system_code = $1 AND organization_code = $2",
                               2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return st_callback_fail(st, "cannot read");
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int k = strcmp(PQgetvalue(r, i, 0), class_names[0]) == 0 ? 0 : 1;
        state[k].watermark = PQgetisnull(r, i, 1) ? OHP_TIME_NONE : text_time(PQgetvalue(r, i, 1));
        state[k].last_snapshot =
            PQgetisnull(r, i, 2) ? OHP_TIME_NONE : text_time(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;
}

static int cli_pg_state_reserve_run_id(void *ud, uint64_t requested, uint64_t *run_id)
{
    cli_pg_state *st = ud;
    char req[32];
    snprintf(req, sizeof req, "%llu", (unsigned long long)requested);
    const char *v[1] = {req};
    /* One statement, one row lock: ids never repeat, whatever runs at the same time. */
    PGresult *r = PQexecParams(
        st->conn,
        requested == 0
            ? "UPDATE onhandpub_run_ids SET last_run_id = last_run_id + 1 WHERE id = 1 AND "
              "last_run_id < 999999999999999999 AND $1::bigint = 0 RETURNING last_run_id"
            : "UPDATE onhandpub_run_ids SET last_run_id = GREATEST(last_run_id, $1::bigint) "
              "WHERE id = 1 RETURNING $1::bigint",
        1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return st_callback_fail(st, "cannot reserve a run id");
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        ohp_job_set_callback_error(st->job, "the run-id counter of the state store is at its "
                                            "end (18 digits): no run id is left");
        return -1;
    }
    *run_id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

static int cli_pg_state_commit(void *ud, const char *system_code, const char *organization_code,
                               int items, const ohp_class_state state[2], uint64_t run_id)
{
    cli_pg_state *st = ud;
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)run_id);
    bool ok = exec_ok(st->conn, "BEGIN");
    for (int k = 0; ok && k < 2; k++) {
        if (!cli_items_cover(items, k) || state[k].last_snapshot == OHP_TIME_NONE)
            continue;
        char w[OHP_DATE_BUFSIZE] = "", l[OHP_DATE_BUFSIZE];
        if (state[k].watermark != OHP_TIME_NONE)
            ohp_date_format(state[k].watermark, 0, w);
        ohp_date_format(state[k].last_snapshot, 0, l);
        const char *v[6] = {system_code, organization_code, class_names[k], w[0] ? w : NULL, l, id};
        PGresult *r = PQexecParams(
            st->conn,
            "INSERT INTO onhandpub_state (system_code, organization_code, item_class, watermark, "
            "last_snapshot_date, last_run_id) VALUES ($1, $2, $3, $4, $5, $6::bigint) "
            "ON CONFLICT (system_code, organization_code, item_class) DO UPDATE SET "
            "watermark = excluded.watermark, last_snapshot_date = excluded.last_snapshot_date, "
            "last_run_id = excluded.last_run_id",
            6, NULL, v, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (ok && exec_ok(st->conn, "COMMIT"))
        return 0;
    char err[CLI_ERRSIZE];
    st_fail(st, err, "cannot record the run");
    exec_ok(st->conn, "ROLLBACK");
    ohp_job_set_callback_error(st->job, err);
    return -1;
}

/* ---- what the command uses ---- */

int cli_pg_use_source(cli_pg_source *s, ohp_job *job, const char *uri, const char *query_path,
                      char *err)
{
    if (cli_pg_source_open(s, uri, query_path, err) != 0)
        return EXIT_USAGE; /* a query that cannot run here is a configuration error */
    s->job = job;
    ohp_job_set_source(job, cli_pg_open_pass, cli_pg_next, cli_pg_close_pass, s);
    return 0;
}

int cli_pg_use_state(cli_pg_state *st, ohp_job *job, const char *uri, const char *system_code,
                     const char *organization_code, char *err)
{
    if (cli_pg_state_open(st, uri, system_code, organization_code, err) != 0)
        return EXIT_FAILED;
    st->job = job;
    const ohp_state_store store = {OHP_STATE_STORE_VERSION, cli_pg_state_get,
                                   cli_pg_state_reserve_run_id, cli_pg_state_commit};
    ohp_job_set_state_store2(job, &store, st);
    return 0;
}

#else /* without it: the options say so */

#define NO_PG "this onhandpub was built without PostgreSQL (libpq-dev, meson option postgresql)"

int cli_pg_use_source(cli_pg_source *s, ohp_job *job, const char *uri, const char *query_path,
                      char *err)
{
    (void)s, (void)job, (void)uri, (void)query_path;
    cli_err(err, NO_PG);
    return EXIT_USAGE;
}

int cli_pg_use_state(cli_pg_state *st, ohp_job *job, const char *uri, const char *system_code,
                     const char *organization_code, char *err)
{
    (void)st, (void)job, (void)uri, (void)system_code, (void)organization_code;
    cli_err(err, NO_PG);
    return EXIT_USAGE;
}

void cli_pg_source_close(cli_pg_source *s)
{
    memset(s, 0, sizeof *s);
}

void cli_pg_state_close(cli_pg_state *st)
{
    memset(st, 0, sizeof *st);
}

#endif
