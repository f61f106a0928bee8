/*
 * Text made safe for a terminal, the one escaper of the project: the
 * library's messages and the onhandpub command's (which compiles
 * escape.c in) pass through it.  Not part of the public API: these symbols
 * are hidden in the library.
 */
#ifndef OHP_ESCAPE_H
#define OHP_ESCAPE_H

#include <stddef.h>

/*
 * The length of the valid UTF-8 sequence at p (avail bytes there), its code
 * point in *cp; 0 when the bytes at p do not start one (overlong forms,
 * surrogates and code points past U+10FFFF included).
 */
size_t ohp_utf8_char(const unsigned char *p, size_t avail, unsigned *cp);
/*
 * Copy len bytes of text into out (size bytes, always terminated) with what must not reach a
 * terminal raw written as visible escapes: LF, CR and TAB as \n \r \t, other C0 controls,
 * DEL and bytes that are not UTF-8 as \xHH, C1 controls (U+0080-U+009F) as \u0080-\u009f.
 * A backslash is copied as is, so escaping twice changes nothing.  Stops before a character
 * or an escape that would not fit.  Returns the length written.  ohp_errmsg_vset passes every
 * message through it.
 */
size_t ohp_escape_text(char *out, size_t size, const char *in, size_t len);

#endif /* OHP_ESCAPE_H */
