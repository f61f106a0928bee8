/* The external-system registry: lookup ORA_INV_BALANCES_INV_EXTERNAL. */
#include "ohp_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MEANING 80
#define MAX_DESCRIPTION 240
#define MAX_TAG 150
#define MAX_CODE_DIGITS 18

typedef struct entry {
    char *code;
    uint64_t code_num;
    char *meaning;
    char *description;
    char *tag;
    int enabled;
    int64_t start_date;
    int64_t end_date;
    int has_seq;
    int64_t seq;
} entry;

struct ohp_registry {
    ohp_alloc alloc;
    entry *entries;
    size_t count;
    size_t cap;
    /* Index by code: open addressing over code_num, slot = entry index + 1, 0 = free. */
    size_t *slots;
    size_t nslots; /* a power of two, more than twice count; 0 before the first use */
    char errmsg[OHP_ERRMSG_SIZE];
};

static void entry_free(const ohp_alloc *a, entry *e)
{
    ohp_free(a, e->code);
    ohp_free(a, e->meaning);
    ohp_free(a, e->description);
    ohp_free(a, e->tag);
    memset(e, 0, sizeof *e);
}

/* Length in characters of UTF-8 text (assumed valid). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

OHP_EXPORT int ohp_lookup_value_init(ohp_lookup_value *v, unsigned int version)
{
    if (v == NULL)
        return OHP_EINVAL;
    if (version < 1 || version > OHP_LOOKUP_VALUE_VERSION)
        return OHP_EVERSION;
    /* Later versions append fields; write only the caller's version. */
    static const size_t size_of_version[] = {0, sizeof(ohp_lookup_value)};
    ohp_lookup_value init = OHP_LOOKUP_VALUE_INIT;
    init.version = version;
    memcpy(v, &init, size_of_version[version]);
    return OHP_OK;
}

static int set_err(ohp_registry *reg, int rc, const char *fmt, ...) OHP_PRINTF(3, 4);
static int set_err(ohp_registry *reg, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(reg->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* Validate a user code: a positive integer, <= 18 digits, no leading zeros. */
static int check_code(const char *code, uint64_t *num, char *msg)
{
    if (code == NULL || code[0] == '\0') {
        ohp_errmsg_set(msg, "lookup code is empty: codes are positive whole numbers (1, 2, ...)");
        return OHP_EINVAL;
    }
    if (strcmp(code, "0") == 0) {
        ohp_errmsg_set(msg, "lookup code 0 is reserved for Oracle WMS and is already present");
        return OHP_EEXISTS;
    }
    size_t n = strlen(code);
    for (size_t i = 0; i < n; i++) {
        if (code[i] < '0' || code[i] > '9') {
            ohp_errmsg_set(msg,
                           "lookup code '%.40s' is not numeric: codes are positive whole numbers "
                           "(1, 2, ...) without sign, spaces or decimal point",
                           code);
            return OHP_EINVAL;
        }
    }
    if (code[0] == '0') {
        ohp_errmsg_set(msg, "lookup code '%.40s' has leading zeros: write it without them", code);
        return OHP_EINVAL;
    }
    if (n > MAX_CODE_DIGITS) {
        ohp_errmsg_set(msg, "lookup code '%.40s' is longer than %d digits", code, MAX_CODE_DIGITS);
        return OHP_EINVAL;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(code[i] - '0');
    *num = v;
    return OHP_OK;
}

/* Checks common to add and update, other than the code. */
static int check_fields(const ohp_lookup_value *v, char *msg)
{
    const char *code = v->code ? v->code : "";
    if (!ohp_present(v->meaning)) {
        ohp_errmsg_set(msg, "lookup code %.40s: meaning is required", code);
        return OHP_EINVAL;
    }
    const char *texts[3] = {v->meaning, v->description, v->tag};
    const char *names[3] = {"meaning", "description", "tag"};
    const size_t limits[3] = {MAX_MEANING, MAX_DESCRIPTION, MAX_TAG};
    for (int i = 0; i < 3; i++) {
        if (texts[i] == NULL)
            continue;
        if (!ohp_utf8_valid(texts[i], strlen(texts[i]))) {
            ohp_errmsg_set(msg, "lookup code %.40s: %s is not valid UTF-8", code, names[i]);
            return OHP_EINVAL;
        }
        if (utf8_chars(texts[i]) > limits[i]) {
            ohp_errmsg_set(msg, "lookup code %.40s: %s is longer than %zu characters", code,
                           names[i], limits[i]);
            return OHP_EINVAL;
        }
    }
    if (v->start_date != OHP_TIME_NONE && v->end_date != OHP_TIME_NONE &&
        ohp_day_start(v->start_date) > ohp_day_start(v->end_date)) {
        ohp_errmsg_set(msg, "lookup code %.40s: start date active is after end date active", code);
        return OHP_EINVAL;
    }
    return OHP_OK;
}

static int check_seeded(const ohp_lookup_value *v, char *msg)
{
    if (!v->enabled) {
        ohp_errmsg_set(msg, "lookup code 0 (Oracle WMS) is seeded and cannot be disabled");
        return OHP_EINVAL;
    }
    if (v->end_date != OHP_TIME_NONE) {
        ohp_errmsg_set(msg, "lookup code 0 (Oracle WMS) is seeded and cannot be end-dated");
        return OHP_EINVAL;
    }
    if (v->start_date != OHP_TIME_NONE) {
        ohp_errmsg_set(msg, "lookup code 0 (Oracle WMS) is seeded and cannot be given a start "
                            "date");
        return OHP_EINVAL;
    }
    return OHP_OK;
}

static int entry_fill(const ohp_alloc *a, entry *e, const ohp_lookup_value *v, uint64_t num)
{
    memset(e, 0, sizeof *e);
    e->code = ohp_strdup(a, v->code);
    e->meaning = ohp_strdup(a, v->meaning);
    e->description = ohp_present(v->description) ? ohp_strdup(a, v->description) : NULL;
    e->tag = ohp_present(v->tag) ? ohp_strdup(a, v->tag) : NULL;
    if (!e->code || !e->meaning || (ohp_present(v->description) && !e->description) ||
        (ohp_present(v->tag) && !e->tag)) {
        entry_free(a, e);
        return OHP_ENOMEM;
    }
    e->code_num = num;
    e->enabled = v->enabled != 0;
    e->start_date = v->start_date == OHP_TIME_NONE ? OHP_TIME_NONE : ohp_day_start(v->start_date);
    e->end_date = v->end_date == OHP_TIME_NONE ? OHP_TIME_NONE : ohp_day_start(v->end_date);
    e->has_seq = v->has_display_sequence != 0;
    e->seq = v->display_sequence;
    return OHP_OK;
}

static size_t slot_of(uint64_t num, size_t nslots)
{
    num ^= num >> 33;
    num *= UINT64_C(0xff51afd7ed558ccd);
    num ^= num >> 33;
    return (size_t)num & (nslots - 1);
}

/* The number of a canonical code ("0" or digits without leading zeros, <= 18), else false. */
static bool code_number(const char *code, uint64_t *num)
{
    size_t n = 0;
    uint64_t v = 0;
    while (code[n] >= '0' && code[n] <= '9' && n <= MAX_CODE_DIGITS)
        v = v * 10 + (uint64_t)(code[n++] - '0');
    if (n == 0 || code[n] != '\0' || n > MAX_CODE_DIGITS || (code[0] == '0' && n > 1))
        return false;
    *num = v;
    return true;
}

static void index_put(ohp_registry *reg, size_t i)
{
    size_t k = slot_of(reg->entries[i].code_num, reg->nslots);
    while (reg->slots[k] != 0)
        k = (k + 1) & (reg->nslots - 1);
    reg->slots[k] = i + 1;
}

/* Rebuild the index for `count` entries (after a removal, or to grow it). */
static int index_rebuild(ohp_registry *reg, size_t count)
{
    size_t n = 16;
    while (n < 2 * count + 2)
        n *= 2;
    if (n != reg->nslots) {
        size_t *p = ohp_malloc(&reg->alloc, n * sizeof *p);
        if (p == NULL)
            return OHP_ENOMEM;
        ohp_free(&reg->alloc, reg->slots);
        reg->slots = p;
        reg->nslots = n;
    }
    memset(reg->slots, 0, reg->nslots * sizeof *reg->slots);
    for (size_t i = 0; i < reg->count; i++)
        index_put(reg, i);
    return OHP_OK;
}

static entry *find(const ohp_registry *reg, const char *code)
{
    uint64_t num;
    if (reg->nslots == 0 || !code_number(code, &num))
        return NULL;
    for (size_t k = slot_of(num, reg->nslots); reg->slots[k] != 0;
         k = (k + 1) & (reg->nslots - 1)) {
        entry *e = &reg->entries[reg->slots[k] - 1];
        if (e->code_num == num)
            return e;
    }
    return NULL;
}

/* Room for `extra` more entries, in the array and in the index. */
static int grow(ohp_registry *reg, size_t extra)
{
    if (2 * (reg->count + extra) + 2 > reg->nslots &&
        index_rebuild(reg, reg->count + extra) != OHP_OK)
        return OHP_ENOMEM;
    if (reg->count + extra <= reg->cap)
        return OHP_OK;
    size_t cap = reg->cap ? reg->cap : 8;
    while (cap < reg->count + extra)
        cap *= 2;
    entry *p = ohp_realloc(&reg->alloc, reg->entries, cap * sizeof *p);
    if (p == NULL)
        return OHP_ENOMEM;
    reg->entries = p;
    reg->cap = cap;
    return OHP_OK;
}

OHP_EXPORT int ohp_registry_new(ohp_registry **out, const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    ohp_registry *reg = ohp_calloc(&a, 1, sizeof *reg);
    if (reg == NULL)
        return OHP_ENOMEM;
    reg->alloc = a;
    ohp_lookup_value seed = OHP_LOOKUP_VALUE_INIT;
    seed.code = "0";
    seed.meaning = "Oracle WMS";
    seed.description = "Oracle Warehouse Management";
    if (grow(reg, 1) || entry_fill(&a, &reg->entries[0], &seed, 0)) {
        ohp_free(&a, reg->entries);
        ohp_free(&a, reg->slots);
        ohp_free(&a, reg);
        return OHP_ENOMEM;
    }
    reg->count = 1;
    index_put(reg, 0);
    *out = reg;
    return OHP_OK;
}

OHP_EXPORT void ohp_registry_free(ohp_registry *reg)
{
    if (reg == NULL)
        return;
    ohp_alloc a = reg->alloc;
    for (size_t i = 0; i < reg->count; i++)
        entry_free(&a, &reg->entries[i]);
    ohp_free(&a, reg->entries);
    ohp_free(&a, reg->slots);
    ohp_free(&a, reg);
}

OHP_EXPORT int ohp_registry_add(ohp_registry *reg, const ohp_lookup_value *v)
{
    if (reg == NULL || v == NULL)
        return OHP_EINVAL;
    if (v->version < 1)
        return set_err(reg, OHP_EVERSION, "unsupported ohp_lookup_value version %u", v->version);
    uint64_t num = 0;
    int rc = check_code(v->code, &num, reg->errmsg);
    if (rc)
        return rc;
    rc = check_fields(v, reg->errmsg);
    if (rc)
        return rc;
    if (find(reg, v->code))
        return set_err(reg, OHP_EEXISTS, "lookup code %s is already present", v->code);
    if (grow(reg, 1))
        return set_err(reg, OHP_ENOMEM, "out of memory");
    rc = entry_fill(&reg->alloc, &reg->entries[reg->count], v, num);
    if (rc)
        return set_err(reg, rc, "out of memory");
    index_put(reg, reg->count++);
    reg->errmsg[0] = '\0';
    return OHP_OK;
}

OHP_EXPORT int ohp_registry_update(ohp_registry *reg, const ohp_lookup_value *v)
{
    if (reg == NULL || v == NULL || v->code == NULL)
        return OHP_EINVAL;
    if (v->version < 1)
        return set_err(reg, OHP_EVERSION, "unsupported ohp_lookup_value version %u", v->version);
    entry *e = find(reg, v->code);
    if (e == NULL)
        return set_err(reg, OHP_ENOTFOUND, "lookup code %.40s is not present", v->code);
    int rc = check_fields(v, reg->errmsg);
    if (rc)
        return rc;
    if (e->code_num == 0 && (rc = check_seeded(v, reg->errmsg)) != 0)
        return rc;
    entry fresh;
    rc = entry_fill(&reg->alloc, &fresh, v, e->code_num);
    if (rc)
        return set_err(reg, rc, "out of memory");
    entry_free(&reg->alloc, e);
    *e = fresh;
    reg->errmsg[0] = '\0';
    return OHP_OK;
}

OHP_EXPORT int ohp_registry_remove(ohp_registry *reg, const char *code)
{
    if (reg == NULL || code == NULL)
        return OHP_EINVAL;
    if (strcmp(code, "0") == 0)
        return set_err(reg, OHP_EINVAL,
                       "lookup code 0 (Oracle WMS) is seeded and cannot be removed");
    entry *e = find(reg, code);
    if (e == NULL)
        return set_err(reg, OHP_ENOTFOUND, "lookup code %.40s is not present", code);
    size_t i = (size_t)(e - reg->entries);
    entry_free(&reg->alloc, e);
    memmove(&reg->entries[i], &reg->entries[i + 1], (reg->count - i - 1) * sizeof *e);
    reg->count--;
    /* The indexes moved: rebuild (same size, no allocation). */
    memset(reg->slots, 0, reg->nslots * sizeof *reg->slots);
    for (size_t k = 0; k < reg->count; k++)
        index_put(reg, k);
    return OHP_OK;
}

OHP_EXPORT size_t ohp_registry_count(const ohp_registry *reg)
{
    return reg ? reg->count : 0;
}

static void to_value(const entry *e, ohp_lookup_value *out)
{
    out->version = OHP_LOOKUP_VALUE_VERSION;
    out->code = e->code;
    out->meaning = e->meaning;
    out->description = e->description;
    out->enabled = e->enabled;
    out->start_date = e->start_date;
    out->end_date = e->end_date;
    out->has_display_sequence = e->has_seq;
    out->display_sequence = e->seq;
    out->tag = e->tag;
}

OHP_EXPORT int ohp_registry_find(const ohp_registry *reg, const char *code, ohp_lookup_value *out)
{
    if (reg == NULL || code == NULL || out == NULL)
        return OHP_EINVAL;
    const entry *e = find(reg, code);
    if (e == NULL)
        return OHP_ENOTFOUND;
    to_value(e, out);
    return OHP_OK;
}

static bool usable(const entry *e, int64_t date)
{
    int64_t day = ohp_day_start(date);
    return e->enabled && (e->start_date == OHP_TIME_NONE || e->start_date <= day) &&
           (e->end_date == OHP_TIME_NONE || day <= e->end_date);
}

int ohp_registry_check_msg(const ohp_registry *reg, const char *code, int64_t date, char *msg)
{
    const entry *e = find(reg, code);
    if (e == NULL) {
        ohp_errmsg_set(msg, "external system %.40s is not in lookup %s", code, OHP_LOOKUP_TYPE);
        return OHP_ENOTFOUND;
    }
    if (!e->enabled) {
        ohp_errmsg_set(msg, "external system %.40s (%.80s) is disabled in lookup %s", code,
                       e->meaning, OHP_LOOKUP_TYPE);
        return OHP_EINACTIVE;
    }
    if (!usable(e, date)) {
        char d[OHP_DATE_BUFSIZE] = "", s[OHP_DATE_BUFSIZE] = "-", en[OHP_DATE_BUFSIZE] = "-";
        ohp_date_format(date, 1, d);
        if (e->start_date != OHP_TIME_NONE)
            ohp_date_format(e->start_date, 1, s);
        if (e->end_date != OHP_TIME_NONE)
            ohp_date_format(e->end_date, 1, en);
        ohp_errmsg_set(msg,
                       "external system %.40s (%.80s) is not active on %s (active from %s to %s)",
                       code, e->meaning, d, s, en);
        return OHP_EINACTIVE;
    }
    return OHP_OK;
}

OHP_EXPORT int ohp_registry_check(ohp_registry *reg, const char *code, int64_t date)
{
    if (reg == NULL || code == NULL)
        return OHP_EINVAL;
    int rc = ohp_registry_check_msg(reg, code, date, reg->errmsg);
    if (rc == OHP_OK)
        reg->errmsg[0] = '\0';
    return rc;
}

static int order_cmp(const void *pa, const void *pb)
{
    const entry *a = *(const entry *const *)pa, *b = *(const entry *const *)pb;
    if (a->has_seq != b->has_seq)
        return a->has_seq ? -1 : 1;
    if (a->has_seq && a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->code_num != b->code_num)
        return a->code_num < b->code_num ? -1 : 1;
    return 0;
}

static int visit_sorted(const ohp_registry *reg, bool only_usable, int64_t date,
                        ohp_lookup_visit_fn visit, void *ud)
{
    if (reg == NULL || visit == NULL)
        return OHP_EINVAL;
    const entry **order = ohp_malloc(&reg->alloc, reg->count * sizeof(const entry *));
    if (order == NULL)
        return OHP_ENOMEM;
    for (size_t i = 0; i < reg->count; i++)
        order[i] = &reg->entries[i];
    qsort((void *)order, reg->count, sizeof(const entry *), order_cmp);
    int rc = OHP_OK;
    for (size_t i = 0; i < reg->count && rc == OHP_OK; i++) {
        if (only_usable && !usable(order[i], date))
            continue;
        ohp_lookup_value v;
        to_value(order[i], &v);
        rc = visit(ud, &v);
    }
    ohp_free(&reg->alloc, order);
    return rc;
}

OHP_EXPORT int ohp_registry_foreach(const ohp_registry *reg, ohp_lookup_visit_fn visit,
                                    void *user_data)
{
    return visit_sorted(reg, false, 0, visit, user_data);
}

OHP_EXPORT int ohp_registry_foreach_usable(const ohp_registry *reg, int64_t date,
                                           ohp_lookup_visit_fn visit, void *user_data)
{
    return visit_sorted(reg, true, date, visit, user_data);
}

OHP_EXPORT const char *ohp_registry_errmsg(const ohp_registry *reg)
{
    return reg ? reg->errmsg : "";
}

/* ---- loading from PSV ---- */

static const char *const lookup_columns[8] = {
    "LOOKUP_CODE",       "MEANING",         "DESCRIPTION",      "ENABLED_FLAG",
    "START_DATE_ACTIVE", "END_DATE_ACTIVE", "DISPLAY_SEQUENCE", "TAG"};

static int parse_opt_date(const char *s, int64_t *out)
{
    if (!ohp_present(s)) {
        *out = OHP_TIME_NONE;
        return OHP_OK;
    }
    return ohp_date_parse(s, out);
}

static int parse_seq(const char *s, int *has, int64_t *out)
{
    *has = 0;
    *out = 0;
    if (!ohp_present(s))
        return OHP_OK;
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (*p == '\0' || strlen(p) > 18)
        return OHP_EPARSE;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return OHP_EPARSE;
        v = v * 10 + (*p - '0');
    }
    *has = 1;
    *out = neg ? -v : v;
    return OHP_OK;
}

/* A scratch registry holding reg's current values: a load is all or nothing. */
static int scratch_copy(ohp_registry *reg, const ohp_allocator *pub, ohp_registry **out)
{
    ohp_registry *tmp = NULL;
    int rc = ohp_registry_new(&tmp, pub);
    for (size_t i = 0; i < reg->count && rc == OHP_OK; i++) {
        ohp_lookup_value v;
        to_value(&reg->entries[i], &v);
        rc = reg->entries[i].code_num == 0 ? ohp_registry_update(tmp, &v)
                                           : ohp_registry_add(tmp, &v);
    }
    if (rc) {
        ohp_registry_free(tmp);
        return set_err(reg, rc, "out of memory");
    }
    *out = tmp;
    return OHP_OK;
}

static int read_header(ohp_registry *reg, ohp_psv_reader *r)
{
    const char *const *f;
    size_t nf;
    int got = ohp_psv_reader_next(r, &f, &nf);
    if (got < 0)
        return set_err(reg, got, "lookups: %s", ohp_psv_reader_errmsg(r));
    if (got == 0)
        return set_err(reg, OHP_EPARSE, "lookups: line 1: missing header");
    bool header_ok = nf == 8;
    for (size_t i = 0; header_ok && i < 8; i++)
        header_ok = strcmp(f[i], lookup_columns[i]) == 0;
    if (!header_ok)
        return set_err(reg, OHP_EPARSE,
                       "lookups: line 1: header must be LOOKUP_CODE|MEANING|DESCRIPTION|"
                       "ENABLED_FLAG|START_DATE_ACTIVE|END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG");
    return OHP_OK;
}

/* One row of 8 fields into *v (borrowing the fields). */
static int parse_row(ohp_registry *reg, const char *const *f, uint64_t line, ohp_lookup_value *v)
{
    v->code = f[0];
    v->meaning = f[1];
    v->description = f[2];
    v->tag = f[7];
    if (strcmp(f[3], "Y") == 0)
        v->enabled = 1;
    else if (strcmp(f[3], "N") == 0)
        v->enabled = 0;
    else
        return set_err(reg, OHP_EPARSE, "lookups: line %llu: ENABLED_FLAG must be Y or N",
                       (unsigned long long)line);
    bool bad_start = parse_opt_date(f[4], &v->start_date) != OHP_OK;
    if (bad_start || parse_opt_date(f[5], &v->end_date) != OHP_OK)
        return set_err(reg, OHP_EPARSE,
                       "lookups: line %llu, column %d (%s): '%.40s' is not a date "
                       "(accepted: " OHP_DATE_FORMATS ")",
                       (unsigned long long)line, bad_start ? 5 : 6,
                       bad_start ? "START_DATE_ACTIVE" : "END_DATE_ACTIVE",
                       bad_start ? f[4] : f[5]);
    if (parse_seq(f[6], &v->has_display_sequence, &v->display_sequence))
        return set_err(reg, OHP_EPARSE,
                       "lookups: line %llu: DISPLAY_SEQUENCE must be a whole number",
                       (unsigned long long)line);
    return OHP_OK;
}

/* Add the row's value to tmp; code 0 updates the seeded value, once. */
static int apply_row(ohp_registry *reg, ohp_registry *tmp, const ohp_lookup_value *v, uint64_t line,
                     uint64_t *zero_line)
{
    int rc;
    if (strcmp(v->code, "0") == 0) {
        /* a second row for code 0 is a duplicate code */
        if (*zero_line != 0)
            return set_err(reg, OHP_EEXISTS,
                           "lookups: line %llu: lookup code 0 appears twice (first on line "
                           "%llu)",
                           (unsigned long long)line, (unsigned long long)*zero_line);
        *zero_line = line;
        rc = ohp_registry_update(tmp, v);
    } else {
        rc = ohp_registry_add(tmp, v);
    }
    if (rc)
        return set_err(reg, rc, "lookups: line %llu: %s", (unsigned long long)line, tmp->errmsg);
    return OHP_OK;
}

/* Every row after the header into tmp. */
static int read_rows(ohp_registry *reg, ohp_registry *tmp, ohp_psv_reader *r)
{
    const char *const *f;
    size_t nf;
    int got, rc;
    uint64_t zero_line = 0; /* the line of the row for code 0, once seen */
    while ((got = ohp_psv_reader_next(r, &f, &nf)) == 1) {
        uint64_t line = ohp_psv_reader_line(r);
        if (nf == 1 && f[0][0] == '\0')
            continue; /* blank line */
        if (nf != 8)
            return set_err(reg, OHP_EPARSE, "lookups: line %llu: expected 8 fields, found %zu",
                           (unsigned long long)line, nf);
        ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
        if ((rc = parse_row(reg, f, line, &v)) || (rc = apply_row(reg, tmp, &v, line, &zero_line)))
            return rc;
    }
    if (got < 0)
        return set_err(reg, got, "lookups: %s", ohp_psv_reader_errmsg(r));
    return OHP_OK;
}

/* Exchange the contents of the two registries. */
static void swap_contents(ohp_registry *a, ohp_registry *b)
{
    entry *e = a->entries;
    size_t c = a->count, cap = a->cap, *slots = a->slots, nslots = a->nslots;
    a->entries = b->entries;
    a->count = b->count;
    a->cap = b->cap;
    a->slots = b->slots;
    a->nslots = b->nslots;
    b->entries = e;
    b->count = c;
    b->cap = cap;
    b->slots = slots;
    b->nslots = nslots;
}

OHP_EXPORT int ohp_registry_load_psv(ohp_registry *reg, const char *buf, size_t len)
{
    if (reg == NULL || (buf == NULL && len > 0))
        return OHP_EINVAL;
    ohp_allocator pub;
    ohp_registry *tmp = NULL;
    int rc = scratch_copy(reg, ohp_alloc_public(&reg->alloc, &pub), &tmp);
    if (rc)
        return rc;
    ohp_psv_reader *r = NULL;
    rc = ohp_psv_reader_new_memory(&r, buf ? buf : "", len, &pub);
    if (rc)
        rc = set_err(reg, rc, "out of memory");
    else if ((rc = read_header(reg, r)) == OHP_OK && (rc = read_rows(reg, tmp, r)) == OHP_OK) {
        swap_contents(reg, tmp);
        reg->errmsg[0] = '\0';
    }
    ohp_psv_reader_free(r);
    ohp_registry_free(tmp);
    return rc;
}
