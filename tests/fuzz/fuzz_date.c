/*
 * Fuzz target: the date parser.  Whatever it accepts must format and parse
 * back to the same instant; the date-only form must parse to the start of
 * that UTC day.
 */
#include "fuzz.h"

#include <onhandpub.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    int64_t t = 0;
    int rc = ohp_date_parse(text, &t);
    FUZZ_CHECK(rc == OHP_OK || rc == OHP_EPARSE);
    if (rc == OHP_OK) {
        FUZZ_CHECK(t != OHP_TIME_NONE);
        char buf[OHP_DATE_BUFSIZE];
        /* An offset may move the instant just outside years 1-9999. */
        if (ohp_date_format(t, 0, buf) == OHP_OK) {
            FUZZ_CHECK(strlen(buf) == 19);
            int64_t back = 0;
            FUZZ_CHECK(ohp_date_parse(buf, &back) == OHP_OK);
            FUZZ_CHECK(back == t);
            FUZZ_CHECK(ohp_date_format(t, 1, buf) == OHP_OK);
            FUZZ_CHECK(strlen(buf) == 10);
            FUZZ_CHECK(ohp_date_parse(buf, &back) == OHP_OK);
            FUZZ_CHECK(back <= t && t - back < 86400);
            FUZZ_CHECK(back % 86400 == 0);
        }
    }
    free(text);
    return 0;
}
