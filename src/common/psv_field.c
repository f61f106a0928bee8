/* PSV field encoding, layout v1 (see psv_field.h). */
#include "psv_field.h"

#include <string.h>

bool ohp_psv_needs_quote(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '|' || c == '"' || c == '\r' || c == '\n')
            return true;
    }
    return false;
}

char *ohp_psv_put_field(char *o, const char *s, size_t len, bool quote)
{
    if (!quote) {
        if (len) /* s is NULL for an absent field */
            memcpy(o, s, len);
        return o + len;
    }
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            *o++ = '"';
        *o++ = s[i];
    }
    *o++ = '"';
    return o;
}
