/*
 * PSV field encoding of layout v1 (docs/psv-format.md): the one field
 * writer of the project.  The library's PSV writer uses it, and the
 * onhandpub command compiles this file in for every PSV it writes (the
 * discrepancy report, the rejects file, the state files), so that every
 * PSV the project writes is quoted the same way.  Not part of the public
 * API: these symbols are hidden in the library.
 */
#ifndef OHP_PSV_FIELD_H
#define OHP_PSV_FIELD_H

#include <stdbool.h>
#include <stddef.h>

/* Does the field need quoting in layout v1 (it holds |, ", CR or LF)? */
bool ohp_psv_needs_quote(const char *s, size_t len);
/* Write the field at o (room for 2 * len + 2 bytes), quoted if `quote`;
 * returns the new end.  s may be NULL when len is 0. */
char *ohp_psv_put_field(char *o, const char *s, size_t len, bool quote);
/* The room ohp_psv_put_field needs for a field of len bytes. */
#define OHP_PSV_FIELD_ROOM(len, quote) ((quote) ? 2 * (size_t)(len) + 2 : (size_t)(len))

#endif /* OHP_PSV_FIELD_H */
