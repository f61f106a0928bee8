/*
 * Messages stay one line: input text reaches the terminal only as visible
 * escapes (docs/cli.md, "Messages"), by the library's own escaper
 * (src/common/escape.c, compiled into the command).
 */
#include "cli.h"

#include <string.h>

const char *cli_visible(const char *s, char *buf, size_t size)
{
    if (s == NULL)
        s = "";
    ohp_escape_text(buf, size, s, strlen(s));
    return buf;
}
