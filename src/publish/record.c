/* Record rules and serial planning: everything is checked before a line is written. */
#include "publish.h"
#include "serial_list.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(int *rule, int r, char *msg, const char *fmt, ...) OHP_PRINTF(4, 5);
static int fail(int *rule, int r, char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(msg, fmt, ap);
    va_end(ap);
    *rule = r;
    return OHP_ERECORD;
}

/* Byte classes for the one scan every field gets (bits, but for C_END). */
enum { C_PLAIN = 0, C_QUOTE = 1, C_HIGH = 2, C_END = 4 };
static const unsigned char byte_class[256] = {
    [0] = C_END,     ['|'] = C_QUOTE, ['"'] = C_QUOTE, ['\r'] = C_QUOTE, ['\n'] = C_QUOTE,
    [0x80] = C_HIGH, [0x81] = C_HIGH, [0x82] = C_HIGH, [0x83] = C_HIGH,  [0x84] = C_HIGH,
    [0x85] = C_HIGH, [0x86] = C_HIGH, [0x87] = C_HIGH, [0x88] = C_HIGH,  [0x89] = C_HIGH,
    [0x8a] = C_HIGH, [0x8b] = C_HIGH, [0x8c] = C_HIGH, [0x8d] = C_HIGH,  [0x8e] = C_HIGH,
    [0x8f] = C_HIGH, [0x90] = C_HIGH, [0x91] = C_HIGH, [0x92] = C_HIGH,  [0x93] = C_HIGH,
    [0x94] = C_HIGH, [0x95] = C_HIGH, [0x96] = C_HIGH, [0x97] = C_HIGH,  [0x98] = C_HIGH,
    [0x99] = C_HIGH, [0x9a] = C_HIGH, [0x9b] = C_HIGH, [0x9c] = C_HIGH,  [0x9d] = C_HIGH,
    [0x9e] = C_HIGH, [0x9f] = C_HIGH, [0xa0] = C_HIGH, [0xa1] = C_HIGH,  [0xa2] = C_HIGH,
    [0xa3] = C_HIGH, [0xa4] = C_HIGH, [0xa5] = C_HIGH, [0xa6] = C_HIGH,  [0xa7] = C_HIGH,
    [0xa8] = C_HIGH, [0xa9] = C_HIGH, [0xaa] = C_HIGH, [0xab] = C_HIGH,  [0xac] = C_HIGH,
    [0xad] = C_HIGH, [0xae] = C_HIGH, [0xaf] = C_HIGH, [0xb0] = C_HIGH,  [0xb1] = C_HIGH,
    [0xb2] = C_HIGH, [0xb3] = C_HIGH, [0xb4] = C_HIGH, [0xb5] = C_HIGH,  [0xb6] = C_HIGH,
    [0xb7] = C_HIGH, [0xb8] = C_HIGH, [0xb9] = C_HIGH, [0xba] = C_HIGH,  [0xbb] = C_HIGH,
    [0xbc] = C_HIGH, [0xbd] = C_HIGH, [0xbe] = C_HIGH, [0xbf] = C_HIGH,  [0xc0] = C_HIGH,
    [0xc1] = C_HIGH, [0xc2] = C_HIGH, [0xc3] = C_HIGH, [0xc4] = C_HIGH,  [0xc5] = C_HIGH,
    [0xc6] = C_HIGH, [0xc7] = C_HIGH, [0xc8] = C_HIGH, [0xc9] = C_HIGH,  [0xca] = C_HIGH,
    [0xcb] = C_HIGH, [0xcc] = C_HIGH, [0xcd] = C_HIGH, [0xce] = C_HIGH,  [0xcf] = C_HIGH,
    [0xd0] = C_HIGH, [0xd1] = C_HIGH, [0xd2] = C_HIGH, [0xd3] = C_HIGH,  [0xd4] = C_HIGH,
    [0xd5] = C_HIGH, [0xd6] = C_HIGH, [0xd7] = C_HIGH, [0xd8] = C_HIGH,  [0xd9] = C_HIGH,
    [0xda] = C_HIGH, [0xdb] = C_HIGH, [0xdc] = C_HIGH, [0xdd] = C_HIGH,  [0xde] = C_HIGH,
    [0xdf] = C_HIGH, [0xe0] = C_HIGH, [0xe1] = C_HIGH, [0xe2] = C_HIGH,  [0xe3] = C_HIGH,
    [0xe4] = C_HIGH, [0xe5] = C_HIGH, [0xe6] = C_HIGH, [0xe7] = C_HIGH,  [0xe8] = C_HIGH,
    [0xe9] = C_HIGH, [0xea] = C_HIGH, [0xeb] = C_HIGH, [0xec] = C_HIGH,  [0xed] = C_HIGH,
    [0xee] = C_HIGH, [0xef] = C_HIGH, [0xf0] = C_HIGH, [0xf1] = C_HIGH,  [0xf2] = C_HIGH,
    [0xf3] = C_HIGH, [0xf4] = C_HIGH, [0xf5] = C_HIGH, [0xf6] = C_HIGH,  [0xf7] = C_HIGH,
    [0xf8] = C_HIGH, [0xf9] = C_HIGH, [0xfa] = C_HIGH, [0xfb] = C_HIGH,  [0xfc] = C_HIGH,
    [0xfd] = C_HIGH, [0xfe] = C_HIGH, [0xff] = C_HIGH,
};

/* The bytes of a field up to its NUL: their classes or'ed into *classes; returns the length. */
static inline size_t scan_bytes(const unsigned char *p, unsigned *classes)
{
    unsigned acc = 0, c;
    size_t i = 0;
    while ((c = byte_class[p[i]]) != C_END) {
        acc |= c;
        i++;
    }
    *classes = acc;
    return i;
}

/* One pass over a field: its length, whether it needs quoting, UTF-8 check. */
static inline int scan_text(const char *name, const char *s, const ohp_limits *lim, size_t *len,
                            bool *quote, int *rule, char *msg)
{
    *len = 0;
    *quote = false;
    if (s == NULL)
        return OHP_OK;
    unsigned classes;
    size_t n = scan_bytes((const unsigned char *)s, &classes);
    if (n > lim->max_field_length)
        return fail(rule, OHP_RULE_LIMIT, msg, "%s is longer than %zu bytes", name,
                    lim->max_field_length);
    if ((classes & C_HIGH) && !ohp_utf8_valid(s, n))
        return fail(rule, OHP_RULE_UTF8, msg, "%s is not valid UTF-8", name);
    *len = n;
    *quote = (classes & C_QUOTE) != 0;
    return OHP_OK;
}

void ohp_serial_plan_free(ohp_serial_plan *p, const ohp_alloc *a)
{
    ohp_free(a, p->items);
    ohp_free(a, p->sorted);
    ohp_buf_free(&p->list_copy, a);
    memset(p, 0, sizeof *p);
}

static int plan_push(ohp_serial_plan *p, const ohp_alloc *a, ohp_serial_item **out)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        ohp_serial_item *n = ohp_realloc(a, p->items, cap * sizeof *n);
        if (n == NULL)
            return OHP_ENOMEM;
        p->items = n;
        p->cap = cap;
    }
    *out = &p->items[p->count++];
    memset(*out, 0, sizeof **out);
    return OHP_OK;
}

static int add_item(ohp_serial_plan *p, const ohp_alloc *a, const char *from, const char *to,
                    size_t pos, const ohp_limits *lim, int *rule, char *msg)
{
    if (from == NULL || from[0] == '\0' || (to != NULL && to[0] == '\0'))
        return fail(rule, OHP_RULE_SERIAL_RANGE, msg, "serial number %zu is empty", pos + 1);
    size_t from_len, to_len = 0;
    bool from_quote, to_quote;
    int rc = scan_text("SERIAL_NUMBER", from, lim, &from_len, &from_quote, rule, msg);
    if (rc == OHP_OK && to)
        rc = scan_text("SERIAL_NUMBER", to, lim, &to_len, &to_quote, rule, msg);
    if (rc)
        return rc;
    if (to == NULL && p->total >= lim->max_serials_per_record) /* singles count too */
        return fail(rule, OHP_RULE_LIMIT, msg, "more than %zu serial numbers in one record",
                    lim->max_serials_per_record);
    ohp_serial_item *it;
    if ((rc = plan_push(p, a, &it)) != 0)
        return rc;
    it->from = from;
    it->from_len = from_len;
    it->quote = from_quote;
    it->order = pos;
    it->numeric = ohp_serial_split(from, it->from_len, &it->prefix_len, &it->width, &it->lo);
    it->hi = it->lo;
    if (to == NULL) {
        p->total++;
        return OHP_OK;
    }
    uint64_t tn;
    switch (ohp_serial_range(from, it->from_len, to, to_len, &it->prefix_len, &it->lo, &tn)) {
    case OHP_RANGE_SHAPE:
        return fail(rule, OHP_RULE_SERIAL_RANGE, msg,
                    "serial range %.60s..%.60s is invalid: both ends need the same length, the "
                    "same prefix and a numeric suffix",
                    from, to);
    case OHP_RANGE_WIDE:
        return fail(rule, OHP_RULE_LIMIT, msg,
                    "serial range %.60s..%.60s is longer than %zu serials", from, to,
                    lim->max_serials_per_record);
    case OHP_RANGE_REVERSED:
        return fail(rule, OHP_RULE_SERIAL_RANGE, msg,
                    "serial range %.60s..%.60s is invalid: FROM is greater than TO", from, to);
    default:
        break;
    }
    it->hi = tn;
    it->range = true;
    uint64_t n = tn - it->lo + 1;
    if (n > lim->max_serials_per_record || p->total + n > lim->max_serials_per_record)
        return fail(rule, OHP_RULE_LIMIT, msg, "more than %zu serial numbers in one record",
                    lim->max_serials_per_record);
    p->total += n;
    return OHP_OK;
}

static int item_cmp(const void *pa, const void *pb)
{
    const ohp_serial_item *a = pa, *b = pb;
    if (a->numeric != b->numeric)
        return a->numeric ? -1 : 1;
    if (!a->numeric) {
        size_t n = a->from_len < b->from_len ? a->from_len : b->from_len;
        int c = memcmp(a->from, b->from, n);
        if (c)
            return c;
        return a->from_len < b->from_len ? -1 : a->from_len > b->from_len;
    }
    if (a->prefix_len != b->prefix_len)
        return a->prefix_len < b->prefix_len ? -1 : 1;
    int c = memcmp(a->from, b->from, a->prefix_len);
    if (c)
        return c;
    if (a->width != b->width)
        return a->width < b->width ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static bool same_key(const ohp_serial_item *a, const ohp_serial_item *b)
{
    if (a->numeric != b->numeric)
        return false;
    if (!a->numeric)
        return a->from_len == b->from_len && memcmp(a->from, b->from, a->from_len) == 0;
    return a->prefix_len == b->prefix_len && a->width == b->width &&
           memcmp(a->from, b->from, a->prefix_len) == 0;
}

void ohp_serial_item_format(const ohp_serial_item *it, uint64_t value, char *buf)
{
    memcpy(buf, it->from, it->prefix_len);
    char *d = buf + it->prefix_len;
    for (size_t i = it->width; i-- > 0;) {
        d[i] = (char)('0' + value % 10);
        value /= 10;
    }
    d[it->width] = '\0';
}

/* Stable insertion sort: serial lists are short and usually in order already. */
static void sort_items(ohp_serial_item *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (item_cmp(&v[i - 1], &v[i]) <= 0)
            continue;
        ohp_serial_item x = v[i];
        size_t j = i;
        do {
            v[j] = v[j - 1];
            j--;
        } while (j > 0 && item_cmp(&v[j - 1], &x) > 0);
        v[j] = x;
    }
}

static int find_duplicates(ohp_serial_plan *p, const ohp_alloc *a, int *rule, char *msg)
{
    if (p->count < 2)
        return OHP_OK;
    /* In order already (the usual case): the items are their own sorted copy. */
    const ohp_serial_item *sorted = p->items;
    for (size_t i = 1; i < p->count; i++) {
        if (item_cmp(&p->items[i - 1], &p->items[i]) > 0) {
            sorted = NULL;
            break;
        }
    }
    if (sorted == NULL) {
        if (p->sorted_cap < p->count) {
            ohp_serial_item *n = ohp_realloc(a, p->sorted, p->count * sizeof *n);
            if (n == NULL)
                return OHP_ENOMEM;
            p->sorted = n;
            p->sorted_cap = p->count;
        }
        memcpy(p->sorted, p->items, p->count * sizeof *p->items);
        if (p->count <= 32)
            sort_items(p->sorted, p->count);
        else
            qsort(p->sorted, p->count, sizeof *p->sorted, item_cmp);
        sorted = p->sorted;
    }
    size_t run = 0; /* first item of the current key */
    uint64_t max_hi = sorted[0].hi;
    for (size_t i = 1; i < p->count; i++) {
        const ohp_serial_item *cur = &sorted[i];
        if (!same_key(&sorted[run], cur)) {
            run = i;
            max_hi = cur->hi;
            continue;
        }
        if (!cur->numeric || cur->lo <= max_hi) {
            char buf[128];
            if (!cur->numeric || cur->from_len >= sizeof buf) {
                snprintf(buf, sizeof buf, "%.100s", cur->from);
            } else {
                ohp_serial_item_format(cur, cur->lo, buf);
            }
            return fail(rule, OHP_RULE_SERIAL_DUPLICATE, msg, "serial %s appears more than once",
                        buf);
        }
        if (cur->hi > max_hi)
            max_hi = cur->hi;
    }
    return OHP_OK;
}

static int plan_serials(const ohp_record *rec, const ohp_limits *lim, ohp_serial_plan *p,
                        const ohp_alloc *a, int *rule, char *msg)
{
    int rc;
    p->count = 0;
    p->total = 0;
    if (rec->serials && rec->serial_count) {
        for (size_t i = 0; i < rec->serial_count; i++) {
            rc = add_item(p, a, rec->serials[i].from, rec->serials[i].to, i, lim, rule, msg);
            if (rc)
                return rc;
        }
    } else if (ohp_present(rec->serial_list)) {
        p->list_copy.len = 0;
        if ((rc = ohp_buf_append(&p->list_copy, a, rec->serial_list, strlen(rec->serial_list))) ||
            (rc = ohp_buf_terminate(&p->list_copy, a)))
            return rc;
        char *cur = p->list_copy.data, *from, *to;
        for (size_t pos = 0; ohp_serial_list_next(&cur, &from, &to); pos++)
            if ((rc = add_item(p, a, from, to, pos, lim, rule, msg)) != 0)
                return rc;
    }
    return OHP_OK;
}

void ohp_checked_init(ohp_checked *chk)
{
    memset(chk, 0, sizeof *chk);
}

int ohp_checked_date(ohp_checked *chk, const char *text, int64_t *out)
{
    chk->update_text = NULL;
    int rc = ohp_date_parse_plain(&chk->update_day, text, out);
    if (rc == OHP_EINVAL)
        return ohp_date_parse(text, out); /* another accepted form, or not a date */
    /* a valid YYYY/MM/DD HH:MM:SS is already layout v1's text */
    if (rc == OHP_OK && text[4] == '/' && text[10] == ' ')
        chk->update_text = text;
    return rc;
}

const char *ohp_checked_last_update_text(ohp_checked *chk)
{
    if (chk->update_text != NULL)
        return chk->update_text;
    if (!chk->formatted_ok || chk->formatted_value != chk->last_update) {
        ohp_date_format(chk->last_update, 0, chk->formatted);
        chk->formatted_value = chk->last_update;
        chk->formatted_ok = true;
    }
    return chk->formatted;
}

/* LOT_EXPIRATION_DATE through its day cache. */
static int lot_date(ohp_checked *chk, const char *text, int64_t *out)
{
    int rc = ohp_date_parse_plain(&chk->lot_day, text, out);
    return rc == OHP_EINVAL ? ohp_date_parse(text, out) : rc;
}

/* Input column `name` (layout.h). */
#define IN(name) (OHP_COL_##name - OHP_IN_FIRST)

/* The fields every record must have. */
static int check_required(const ohp_record *rec, int *rule, char *msg)
{
    static const int required[] = {IN(ORGANIZATION_CODE), IN(ITEM_NUMBER),
                                   IN(SUBINVENTORY_CODE), IN(PRIMARY_QUANTITY),
                                   IN(PRIMARY_UOM_CODE),  IN(LAST_UPDATE_DATE)};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!ohp_present(ohp_input_text(rec, required[i])))
            return fail(rule, OHP_RULE_REQUIRED, msg, "%s is required",
                        ohp_input_names[required[i]]);
    return OHP_OK;
}

/* The text fields' input columns, by enum ohp_text_field. */
static const int texts[OHP_TF_COUNT] = {
    IN(ORGANIZATION_ID),
    IN(ORGANIZATION_CODE),
    IN(INVENTORY_ITEM_ID),
    IN(ITEM_NUMBER),
    IN(REVISION),
    IN(SUBINVENTORY_CODE),
    IN(LOCATOR_ID),
    IN(LOCATOR_NAME),
    IN(LOT_NUMBER),
    IN(LOT_EXPIRATION_DATE),
    IN(PRIMARY_QUANTITY),
    IN(PRIMARY_UOM_CODE),
    IN(SECONDARY_QUANTITY),
    IN(SECONDARY_UOM_CODE),
    IN(OWNING_PARTY_ID),
    IN(PROJECT_ID),
    IN(TASK_ID),
    IN(MATERIAL_STATUS_CODE),
    IN(LAST_UPDATE_DATE),
};

/* One scan of every text field: lengths, quoting, UTF-8, limits, ids. */
static int check_texts(const ohp_record *rec, const ohp_limits *lim, ohp_checked *chk, int *rule,
                       char *msg)
{
    int rc;
    chk->text_total = 0;
    /* the first field that is not an id: its rule comes after every field's scan */
    int bad_id = -1;
    for (size_t i = 0; i < OHP_TF_COUNT; i++) {
        const char *v = ohp_input_text(rec, texts[i]);
        const char *name = ohp_input_names[texts[i]];
        chk->len[i] = 0;
        chk->quote[i] = false;
        if (v == NULL)
            continue;
        if (ohp_v1_kinds[texts[i] + OHP_IN_FIRST] == OHP_CK_ID) {
            size_t n = 0;
            bool ok = v[0] == '\0' || ohp_is_id(v, &n);
            if (ok && n <= lim->max_field_length) {
                /* digits only: no quoting, ASCII, no scan needed */
                chk->len[i] = n;
                chk->text_total += n;
                continue;
            }
            if (!ok && bad_id < 0)
                bad_id = (int)i;
        }
        if ((rc = scan_text(name, v, lim, &chk->len[i], &chk->quote[i], rule, msg)) != 0)
            return rc;
        chk->text_total += chk->len[i];
    }
    if (rec->serial_list) {
        size_t n = strlen(rec->serial_list);
        if (!ohp_utf8_valid(rec->serial_list, n))
            return fail(rule, OHP_RULE_UTF8, msg, "SERIAL_NUMBERS is not valid UTF-8");
    }
    if (bad_id >= 0)
        return fail(rule, OHP_RULE_ID, msg, "%s '%.40s' is not a whole number of at most 18 digits",
                    ohp_input_names[texts[bad_id]], ohp_input_text(rec, texts[bad_id]));
    return OHP_OK;
}

/* The quantities and the dates. */
static int check_values(const ohp_record *rec, ohp_checked *chk, int *rule, char *msg)
{
    int rc;
    rc = ohp_decimal_parse(rec->primary_quantity, &chk->primary);
    if (rc == OHP_ELIMIT)
        return fail(rule, OHP_RULE_LIMIT, msg,
                    "PRIMARY_QUANTITY '%.60s' has more than %d integer or %d fraction digits",
                    rec->primary_quantity, OHP_QTY_MAX_INT_DIGITS, OHP_QTY_MAX_FRAC_DIGITS);
    if (rc)
        return fail(rule, OHP_RULE_QUANTITY, msg,
                    "PRIMARY_QUANTITY '%.60s' is not a decimal number (-?digits[.digits])",
                    rec->primary_quantity);
    chk->has_secondary = ohp_present(rec->secondary_quantity);
    if (chk->has_secondary) {
        rc = ohp_decimal_parse(rec->secondary_quantity, &chk->secondary);
        if (rc == OHP_ELIMIT)
            return fail(rule, OHP_RULE_LIMIT, msg,
                        "SECONDARY_QUANTITY '%.60s' has more than %d integer or %d fraction "
                        "digits",
                        rec->secondary_quantity, OHP_QTY_MAX_INT_DIGITS, OHP_QTY_MAX_FRAC_DIGITS);
        if (rc)
            return fail(rule, OHP_RULE_QUANTITY, msg,
                        "SECONDARY_QUANTITY '%.60s' is not a decimal number (-?digits[.digits])",
                        rec->secondary_quantity);
        if (!ohp_present(rec->secondary_uom_code))
            return fail(rule, OHP_RULE_UOM, msg,
                        "SECONDARY_QUANTITY is given without SECONDARY_UOM_CODE");
    }
    if (ohp_checked_date(chk, rec->last_update_date, &chk->last_update))
        return fail(rule, OHP_RULE_DATE, msg,
                    "LAST_UPDATE_DATE '%.40s' is not a valid date (accepted: " OHP_DATE_FORMATS ")",
                    rec->last_update_date);
    chk->lot_expiration = OHP_TIME_NONE;
    if (ohp_present(rec->lot_expiration_date) &&
        lot_date(chk, rec->lot_expiration_date, &chk->lot_expiration))
        return fail(rule, OHP_RULE_DATE, msg,
                    "LOT_EXPIRATION_DATE '%.40s' is not a valid date (accepted: " OHP_DATE_FORMATS
                    ")",
                    rec->lot_expiration_date);

    return OHP_OK;
}

/* The serial numbers of a serial-controlled record, planned (or refused on another). */
static int check_serials(const ohp_record *rec, const ohp_limits *lim, ohp_checked *chk,
                         ohp_serial_plan *plan, const ohp_alloc *a, int *rule, char *msg)
{
    int rc;
    bool has_serials = (rec->serials && rec->serial_count) || ohp_present(rec->serial_list);
    if (!rec->serial_controlled) {
        if (has_serials)
            return fail(rule, OHP_RULE_SERIAL_NOT_ALLOWED, msg,
                        "serial numbers given for an item that is not serial-controlled");
        return OHP_OK;
    }
    if (rec->serials && rec->serial_count && ohp_present(rec->serial_list))
        return fail(rule, OHP_RULE_SOURCE, msg,
                    "serial numbers given both as an array and as a list");
    uint64_t qty;
    if (!ohp_decimal_to_count(&chk->primary, &qty))
        return fail(rule, OHP_RULE_SERIAL_QUANTITY, msg,
                    "PRIMARY_QUANTITY %s of a serial-controlled item is not a whole number >= 0",
                    chk->primary.text);
    if ((rc = plan_serials(rec, lim, plan, a, rule, msg)) != 0)
        return rc;
    if (plan->total != qty)
        return fail(rule, OHP_RULE_SERIAL_COUNT, msg,
                    "serial count %llu does not match quantity %s", (unsigned long long)plan->total,
                    chk->primary.text);
    return find_duplicates(plan, a, rule, msg);
}

int ohp_record_check(const ohp_record *rec, const ohp_limits *lim, ohp_checked *chk,
                     ohp_serial_plan *plan, const ohp_alloc *a, int *rule, char *msg)
{
    int rc;
    *rule = OHP_RULE_NONE;
    plan->count = 0;
    plan->total = 0;
    if (rec->source_error)
        return fail(rule, OHP_RULE_SOURCE, msg, "%s", rec->source_error);
    if ((rc = check_required(rec, rule, msg)) || (rc = check_texts(rec, lim, chk, rule, msg)) ||
        (rc = check_values(rec, chk, rule, msg)))
        return rc;
    return check_serials(rec, lim, chk, plan, a, rule, msg);
}

const char *ohp_record_error_column(int rule, const char *message)
{
    if (rule == OHP_RULE_NONE || rule == OHP_RULE_SOURCE || message == NULL)
        return NULL;
    if (rule == OHP_RULE_UOM)
        return "SECONDARY_UOM_CODE"; /* given a secondary quantity, it is the one missing */
    /* The messages above start with the column they concern, when there is one. */
    size_t n = 0;
    while ((message[n] >= 'A' && message[n] <= 'Z') || message[n] == '_')
        n++;
    if (n == strlen("SERIAL_NUMBER") && strncmp(message, "SERIAL_NUMBER", n) == 0)
        return "SERIAL_NUMBERS"; /* one serial of the list */
    for (int i = 0; n > 0 && i < OHP_IN_NCOLS; i++)
        if (strlen(ohp_input_names[i]) == n && strncmp(message, ohp_input_names[i], n) == 0)
            return ohp_input_names[i];
    /* the serial rules without a column in front: the serial numbers */
    switch (rule) {
    case OHP_RULE_SERIAL_COUNT:
    case OHP_RULE_SERIAL_DUPLICATE:
    case OHP_RULE_SERIAL_NOT_ALLOWED:
    case OHP_RULE_SERIAL_RANGE:
    case OHP_RULE_LIMIT: /* the only limits without a column in front are serial ones */
        return "SERIAL_NUMBERS";
    default:
        return NULL;
    }
}
