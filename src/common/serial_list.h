/*
 * Serial-number lists, one set of rules for the publisher (a record's
 * SERIAL_NUMBERS) and the reconciler (the external side's): items separated
 * by commas, blanks around an item and around ".." not part of it, an item
 * either one serial number or a range FROM..TO.  A range's ends have the
 * same length and the same prefix and end in digits; it counts through its
 * last (up to 18) digits.
 */
#ifndef OHP_SERIAL_LIST_H
#define OHP_SERIAL_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Serial numbers in one record (publishing) or one range (reconciling) unless set otherwise. */
#define OHP_SERIALS_MAX_DEFAULT 1000000u

/*
 * The next item of a writable, NUL-terminated list, cut in place: *from is
 * the item, *to the end of a range (NULL for one serial number).  Start with
 * *cursor at the list; false once the item after the last comma was given.
 * Empty items are given too ("" in *from), for the caller to refuse or skip.
 */
bool ohp_serial_list_next(char **cursor, char **from, char **to);

/* What ohp_serial_range() finds. */
enum ohp_serial_range_check {
    OHP_RANGE_OK,
    OHP_RANGE_SHAPE,   /* not the same length, not the same prefix, or no digits at the end */
    OHP_RANGE_WIDE,    /* the ends differ above their last 18 digits: more than 10^18 serials */
    OHP_RANGE_REVERSED /* FROM is greater than TO */
};

/*
 * Check the range from..to (from_len and to_len bytes).  On OHP_RANGE_OK
 * (and OHP_RANGE_REVERSED) *lo and *hi are the counting digits of each end
 * and *prefix_len the length of the part before them.
 */
int ohp_serial_range(const char *from, size_t from_len, const char *to, size_t to_len,
                     size_t *prefix_len, uint64_t *lo, uint64_t *hi);

/*
 * s (len bytes) as a prefix and a number: the number is its trailing digits
 * (the last 18 when there are more), *width how many; false (and the whole
 * of s as the prefix) when it does not end in a digit.
 */
bool ohp_serial_split(const char *s, size_t len, size_t *prefix_len, size_t *width, uint64_t *num);

#endif
