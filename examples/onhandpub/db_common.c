/*
 * What the database sources share (db_sqlite.c, db_pg.c): the query file,
 * and the result columns matched against the balances input's.
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
