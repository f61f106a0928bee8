/* Serial-number lists: cutting a list into items, and the rules of a FROM..TO range. */
#include "serial_list.h"

#include <string.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Remove the blanks at the end of s (from before end) in place; the new end. */
static char *trim_end(char *s, char *end)
{
    while (end > s && blank(end[-1]))
        *--end = '\0';
    return end;
}

bool ohp_serial_list_next(char **cursor, char **from, char **to)
{
    char *s = *cursor;
    if (s == NULL)
        return false;
    char *comma = strchr(s, ',');
    if (comma != NULL)
        *comma = '\0';
    *cursor = comma ? comma + 1 : NULL;
    while (blank(*s))
        s++;
    trim_end(s, s + strlen(s));
    *from = s;
    *to = NULL;
    char *dots = strstr(s, "..");
    if (dots != NULL) {
        *dots = '\0';
        char *t = dots + 2;
        while (blank(*t))
            t++;
        *to = t;
        trim_end(s, dots);
    }
    return true;
}

bool ohp_serial_split(const char *s, size_t len, size_t *prefix_len, size_t *width, uint64_t *num)
{
    size_t d = len;
    while (d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9')
        d--;
    if (len - d > 18)
        d = len - 18;
    uint64_t v = 0;
    for (size_t i = d; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *prefix_len = d;
    *width = len - d;
    *num = v;
    return d < len;
}

int ohp_serial_range(const char *from, size_t from_len, const char *to, size_t to_len,
                     size_t *prefix_len, uint64_t *lo, uint64_t *hi)
{
    size_t fd = from_len, td = to_len;
    while (fd > 0 && from[fd - 1] >= '0' && from[fd - 1] <= '9')
        fd--;
    while (td > 0 && to[td - 1] >= '0' && to[td - 1] <= '9')
        td--;
    if (to_len != from_len || fd != td || fd == from_len || memcmp(from, to, fd) != 0)
        return OHP_RANGE_SHAPE;
    size_t width, tp, tw;
    ohp_serial_split(from, from_len, prefix_len, &width, lo);
    ohp_serial_split(to, to_len, &tp, &tw, hi);
    if (memcmp(from, to, *prefix_len) != 0)
        return OHP_RANGE_WIDE;
    return *hi < *lo ? OHP_RANGE_REVERSED : OHP_RANGE_OK;
}
