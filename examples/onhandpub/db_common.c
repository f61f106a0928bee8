/*
 * What the database ends share (db_sqlite.c, db_pg.c): the query file, the
 * result columns matched against the balances input's, a value's text into
 * the record, and which item classes a run covers.
 */
#include "cli.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUERY_MAX ((size_t)1024 * 1024)

_Static_assert(OHP_IN_NCOLS <= CLI_SQL_COLUMNS, "room for every input column");

char *cli_read_query(const char *path, char *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cli_err(err, "option --query: cannot open '%s'", path);
        return NULL;
    }
    char *sql = malloc(QUERY_MAX + 1);
    size_t n = sql ? fread(sql, 1, QUERY_MAX + 1, f) : 0;
    int bad = sql == NULL || ferror(f);
    fclose(f);
    if (bad || n > QUERY_MAX) {
        free(sql);
        cli_err(err, "option --query: cannot read '%s'%s", path,
                n > QUERY_MAX ? " (more than 1 MiB)" : "");
        return NULL;
    }
    sql[n] = '\0';
    if (strlen(sql) != n) {
        free(sql);
        cli_err(err, "option --query: '%s' holds a NUL byte", path);
        return NULL;
    }
    return sql;
}

int cli_query_column(int col[CLI_SQL_COLUMNS], const char *name, int c, const char *query_path,
                     char *err)
{
    for (int i = 0; i < OHP_IN_NCOLS; i++) {
        if (strcasecmp(name, ohp_input_names[i]) != 0)
            continue;
        if (col[i] >= 0) {
            cli_err(err, "query '%s': column %s is returned twice", query_path, ohp_input_names[i]);
            return -1;
        }
        col[i] = c;
        return i;
    }
    return -2; /* a column the balances input does not have: ignored */
}

int cli_query_columns_complete(const int col[CLI_SQL_COLUMNS], const char *query_path, char *err)
{
    char missing[512] = "";
    for (int i = 0; i < OHP_IN_NCOLS; i++)
        if (ohp_input_required(i) && col[i] < 0)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                     missing[0] ? ", " : "", ohp_input_names[i]);
    if (missing[0]) {
        cli_err(err, "query '%s': missing required column(s): %s", query_path, missing);
        return -1;
    }
    return 0;
}

void cli_db_bad_value(ohp_record *rec, int i, const char *why, char *buf, size_t size)
{
    if (rec->source_error != NULL)
        return; /* the first reason of the row */
    snprintf(buf, size, "column %s %s", ohp_input_names[i], why);
    rec->source_error = buf;
}

int cli_db_is_time(int i)
{
    return i + OHP_IN_FIRST == OHP_COL_LOT_EXPIRATION_DATE ||
           i + OHP_IN_FIRST == OHP_COL_LAST_UPDATE_DATE;
}

const char *cli_db_set_text(ohp_record *rec, int i, const char *v, size_t len)
{
    if (len != strlen(v))
        return "holds a NUL byte";
    int col = i + OHP_IN_FIRST;
    if (col != OHP_COL_SERIAL_CONTROLLED && col != OHP_COL_CONSIGNED_FLAG) {
        *(const char **)((char *)rec + ohp_input_member[i]) = v;
        return NULL;
    }
    /* a flag: Y or N, 1 or 0, or a boolean's text (t, f) */
    int on =
        strcmp(v, "Y") == 0 || strcmp(v, "y") == 0 || strcmp(v, "1") == 0 || strcmp(v, "t") == 0;
    int off = strcmp(v, "N") == 0 || strcmp(v, "n") == 0 || strcmp(v, "0") == 0 ||
              strcmp(v, "f") == 0 || v[0] == '\0';
    if (!on && !off)
        return "must be Y or N (or 1 or 0, or a boolean)";
    if (col == OHP_COL_SERIAL_CONTROLLED)
        rec->serial_controlled = on;
    else
        rec->consigned = on;
    return NULL;
}

int cli_items_cover(int items, int k)
{
    return items == OHP_ITEMS_BOTH || (items == OHP_ITEMS_SERIAL) == (k == OHP_CLASS_SERIAL);
}
