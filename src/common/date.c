/* Dates: parsing the accepted formats, formatting layout v1's. */
#include "ohp_internal.h"

#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t ohp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    const unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

void ohp_civil_from_time(int64_t t, int *y, int *mo, int *d, int *h, int *mi, int *s)
{
    int64_t days = floor_div(t, 86400);
    int64_t rem = t - days * 86400;
    civil_from_days(days, y, mo, d);
    *h = (int)(rem / 3600);
    *mi = (int)(rem % 3600 / 60);
    *s = (int)(rem % 60);
}

int64_t ohp_day_start(int64_t t)
{
    return floor_div(t, 86400) * 86400;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Read exactly n digits. */
static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Earliest and latest representable instants: 0001-01-01 .. 9999-12-31. */
#define T_MIN (-62135596800LL)
#define T_MAX (253402300799LL)

OHP_EXPORT int ohp_date_parse(const char *text, int64_t *out)
{
    if (text == NULL || out == NULL)
        return OHP_EINVAL;
    /* The forms without a zone: YYYY/MM/DD, YYYY-MM-DD, either with " HH:MM:SS" (UTC). */
    ohp_day_cache none = {"", false, 0};
    int rc = ohp_date_parse_plain(&none, text, out);
    if (rc != OHP_EINVAL)
        return rc;
    /* ISO 8601 with a zone: YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS+HH:MM. */
    int y, mo, d, h, mi, s;
    if (strlen(text) < 20 || !digits(text, 4, &y) || text[4] != '-' || !digits(text + 5, 2, &mo) ||
        text[7] != '-' || !digits(text + 8, 2, &d) || text[10] != 'T' ||
        !digits(text + 11, 2, &h) || text[13] != ':' || !digits(text + 14, 2, &mi) ||
        text[16] != ':' || !digits(text + 17, 2, &s))
        return OHP_EPARSE;
    int64_t offset = 0;
    const char *z = text + 19;
    if (strcmp(z, "Z") != 0) {
        int oh, om;
        if ((z[0] != '+' && z[0] != '-') || strlen(z) != 6 || z[3] != ':' ||
            !digits(z + 1, 2, &oh) || !digits(z + 4, 2, &om) || oh > 23 || om > 59)
            return OHP_EPARSE;
        offset = (int64_t)oh * 3600 + (int64_t)om * 60;
        if (z[0] == '-')
            offset = -offset;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return OHP_EPARSE;
    int64_t t = ohp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)h * 3600 +
                (int64_t)mi * 60 + s - offset;
    if (t < T_MIN || t > T_MAX)
        return OHP_EPARSE;
    *out = t;
    return OHP_OK;
}

/* Two digits at s, or -1. */
static inline int two(const char *s)
{
    unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
    return a < 10 && b < 10 ? (int)(a * 10 + b) : -1;
}

int ohp_date_parse_plain(ohp_day_cache *dc, const char *text, int64_t *out)
{
    /* The shape first, reading no byte past the terminating NUL. */
    char sep = text[0] && text[1] && text[2] && text[3] ? text[4] : '\0';
    if ((sep != '/' && sep != '-') || !text[5] || !text[6] || text[7] != sep || !text[8] ||
        !text[9])
        return OHP_EINVAL;
    bool time = text[10] == ' ';
    if (time) {
        for (int i = 11; i < 19; i++)
            if (!text[i])
                return OHP_EINVAL;
        if (text[13] != ':' || text[16] != ':' || text[19] != '\0')
            return OHP_EINVAL;
    } else if (text[10] != '\0') {
        return OHP_EINVAL;
    }
    int64_t days;
    if (dc->valid && memcmp(dc->text, text, 10) == 0) {
        days = dc->days;
    } else {
        int y0 = two(text), y1 = two(text + 2), mo = two(text + 5), d = two(text + 8);
        if (y0 < 0 || y1 < 0 || mo < 0 || d < 0)
            return OHP_EPARSE;
        int y = y0 * 100 + y1;
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
            return OHP_EPARSE;
        days = ohp_days_from_civil(y, (unsigned)mo, (unsigned)d);
        memcpy(dc->text, text, 10);
        dc->days = days;
        dc->valid = true;
    }
    int h = 0, mi = 0, s = 0;
    if (time) {
        h = two(text + 11);
        mi = two(text + 14);
        s = two(text + 17);
        if (h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59)
            return OHP_EPARSE;
    }
    /* years 1 to 9999 without a zone: always within T_MIN .. T_MAX */
    *out = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s;
    return OHP_OK;
}

OHP_EXPORT int ohp_date_format(int64_t t, int date_only, char buf[OHP_DATE_BUFSIZE])
{
    if (buf == NULL)
        return OHP_EINVAL;
    if (t < T_MIN || t > T_MAX) {
        buf[0] = '\0';
        return OHP_EINVAL;
    }
    int y, mo, d, h, mi, s;
    ohp_civil_from_time(t, &y, &mo, &d, &h, &mi, &s);
    const int v[6] = {y, mo, d, h, mi, s};
    /* Hand-rolled for speed and to keep snprintf out of the hot path. */
    char *p = buf;
    p[0] = (char)('0' + v[0] / 1000);
    p[1] = (char)('0' + v[0] / 100 % 10);
    p[2] = (char)('0' + v[0] / 10 % 10);
    p[3] = (char)('0' + v[0] % 10);
    p[4] = '/';
    p[5] = (char)('0' + v[1] / 10);
    p[6] = (char)('0' + v[1] % 10);
    p[7] = '/';
    p[8] = (char)('0' + v[2] / 10);
    p[9] = (char)('0' + v[2] % 10);
    if (date_only) {
        p[10] = '\0';
        return OHP_OK;
    }
    p[10] = ' ';
    p[11] = (char)('0' + v[3] / 10);
    p[12] = (char)('0' + v[3] % 10);
    p[13] = ':';
    p[14] = (char)('0' + v[4] / 10);
    p[15] = (char)('0' + v[4] % 10);
    p[16] = ':';
    p[17] = (char)('0' + v[5] / 10);
    p[18] = (char)('0' + v[5] % 10);
    p[19] = '\0';
    return OHP_OK;
}
