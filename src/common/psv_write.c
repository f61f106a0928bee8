/* One PSV field appended to a growable buffer, quoted by the rules of psv_field.h. */
#include "ohp_internal.h"

#include <string.h>

int ohp_psv_append_field(ohp_buf *b, const ohp_alloc *a, const char *s, size_t len)
{
    bool quote = ohp_psv_needs_quote(s, len);
    /* Worst case every byte is a quote. */
    int rc = ohp_buf_reserve(b, a, OHP_PSV_FIELD_ROOM(len, quote));
    if (rc)
        return rc;
    b->len = (size_t)(ohp_psv_put_field(b->data + b->len, s, len, quote) - b->data);
    return OHP_OK;
}
