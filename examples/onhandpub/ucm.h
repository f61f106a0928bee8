/*
 * The content-server client's private interface: its parts are
 *
 *   ucm_config.c     the service's address, the credentials, the finder values
 *   ucm_transport.c  one HTTP request with retries (libcurl), bodies streamed both ways
 *   json.c           a streaming JSON event parser, and JSON string quoting
 *   base64.c         base64 encoding and streaming decoding
 *   ucm_list.c       the listing of documents by file name prefix
 *   ucm_upload.c     publish --ucm: the upload and its document id
 *   fetch_state.c    fetch's state file: the documents fetched so far
 *   cmd_fetch.c      onhandpub fetch
 *   ucm_nocurl.c     without libcurl: every entry point says so
 *
 * The public side (cli_ucm_*) is declared in cli.h.
 */
#ifndef ONHANDPUB_UCM_H
#define ONHANDPUB_UCM_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

/* ---- always built (ucm_config.c) ---- */

/* Wipe a secret (the compiler may not drop these stores). */
void ucm_wipe(char *s);
void ucm_free_common(cli_ucm *u);

/* ---- JSON (json.c) ---- */

#define JSON_DEPTH 64
#define JSON_CHUNK 16384

/* ---- a streaming JSON parser ---- */

enum {
    JEV_STR,       /* a chunk of a string value (data, len) */
    JEV_STR_END,   /* the end of a string value */
    JEV_SCALAR,    /* a number, true, false or null (data, len) */
    JEV_OBJ_OPEN,  /* { */
    JEV_OBJ_CLOSE, /* } */
    JEV_ARR_OPEN,  /* [ */
    JEV_ARR_CLOSE  /* ] */
};

/*
 * Event handler: depth is the value's depth (the top-level value is 0),
 * key its key in the enclosing object, NULL inside an array or at the
 * top.  Non-zero stops the parser.
 */
typedef int (*json_event_fn)(void *ud, int ev, int depth, const char *key, const char *data,
                             size_t len);

enum {
    JS_VALUE, /* expecting a value */
    JS_VALUE_OR_CLOSE_ARR,
    JS_KEY, /* expecting a key string */
    JS_KEY_OR_CLOSE_OBJ,
    JS_COLON,
    JS_COMMA_OR_CLOSE,
    JS_STRING,
    JS_SCALAR,
    JS_DONE
};

typedef struct json_parser {
    int state;
    int depth;              /* open containers */
    char stack[JSON_DEPTH]; /* 'o' or 'a' */
    int in_key;             /* the string being read is a key */
    char key[256];          /* current key (of the value being read) */
    size_t keylen;
    int esc;                /* 0, 1 after '\\', 2..5 reading \\u digits */
    unsigned u, hi;         /* \\u value, pending high surrogate */
    char chunk[JSON_CHUNK]; /* decoded string bytes not yet delivered */
    size_t chunklen;
    char scalar[64];
    size_t scalarlen;
    json_event_fn fn;
    void *ud;
    char err[160];
} json_parser;

void json_init(json_parser *j, json_event_fn fn, void *ud);
int json_feed(json_parser *j, const char *p, size_t n);
int json_finish(json_parser *j);
/* JSON string literal of s (quotes included), malloc'ed. */
char *json_quote(const char *s);

/* ---- base64 (base64.c) ---- */

/* Streaming decoder: strict alphabet, padding only at the end, line breaks ignored. */
typedef struct b64_decoder {
    uint32_t acc;
    int nacc; /* characters in acc */
    int pad;  /* '=' seen */
    int bad;
} b64_decoder;

/* Encode n bytes; out holds 4 * ceil(n / 3) characters. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);
/* Decode n characters into out (room for 3 * n / 4 + 3 bytes); returns bytes or -1. */
long b64_decode(b64_decoder *d, const char *in, size_t n, unsigned char *out);
int b64_finish(const b64_decoder *d);

#ifdef ONHANDPUB_HAVE_CURL

#include <curl/curl.h>

#define RESOURCE "/fscmRestApi/resources/11.13.18.05/erpintegrations"
#define CRED_MAX 4096
#define ID_MAX 128
#define SMALL_MAX 1024         /* names and ids kept from answers */
#define ANSWER_MAX (64u << 20) /* bytes of a listing answer (an upload's answer: any) */
#define RETRY_AFTER_MAX 300.0  /* seconds: the longest Retry-After waited for */
#define ERRBODY_MAX 2048       /* bytes of an error answer kept for the message */
#define LIST_PAGE 500
#define LIST_MAX 100000     /* documents in one listing */
#define B64_RAW (3 * 16384) /* file bytes encoded per step */

enum { EXIT_USAGE_ = 2, EXIT_DENIED_ = 3, EXIT_FAILED_ = 4 };

/* Outcome of one request. */
enum { UR_OK, UR_RETRY, UR_DENIED, UR_FAILED };

/* ---- helpers (ucm_util.c) ---- */

void *ucm_xmalloc(size_t n);
char *ucm_xstrdup(const char *s);
/* No credentials ever leave the program, whatever the text came from. */
void ucm_scrub(const cli_ucm *u, char *msg, size_t size);
/* Printable one-line excerpt of a service's answer (blanks folded, "..." when cut). */
void ucm_excerpt(const char *body, size_t len, char *out, size_t size);
void ucm_sleep(double s);
/* A document id: 1 to ID_MAX characters of A-Z a-z 0-9 _ . - */
int ucm_valid_id(const char *s);
/* A file name to save under: plain, not hidden, printable, no quoting needed. */
int ucm_valid_name(const char *s);

/* ---- one request (ucm_transport.c) ---- */

/* The answer of one request. */
typedef struct answer {
    CURL *curl;
    long status;
    int json;               /* 2xx: fed to the parser */
    json_parser *jp;        /* NULL: the body is ignored */
    size_t total, limit;    /* body bytes seen, and the most accepted (0: any) */
    char body[ERRBODY_MAX]; /* the beginning of a non-2xx answer */
    size_t bodylen;
    int failed; /* the handler refused the answer */
    char err[CLI_ERRSIZE];
} answer;

/* The streamed upload body: JSON prefix, base64 of the file, JSON suffix. */
typedef struct upload_body {
    const char *prefix, *suffix;
    size_t prefix_len, suffix_len;
    int fd;
    uint64_t size, off; /* file size and bytes read */
    int phase;          /* 0 prefix, 1 content, 2 suffix, 3 done */
    size_t pos;         /* within the prefix, the encoded chunk or the suffix */
    unsigned char raw[B64_RAW];
    char enc[B64_RAW / 3 * 4];
    size_t enclen;
    int failed;
    char err[CLI_ERRSIZE];
} upload_body;

int ucm_on_seek(void *ud, curl_off_t offset, int origin);
/*
 * One request: GET url, or POST the small JSON text post, or POST the
 * streamed body up.  Returns UR_OK (2xx, answer parsed), UR_RETRY,
 * UR_DENIED or UR_FAILED with a message in err (scrubbed).
 */
int ucm_request(cli_ucm *u, const char *what, const char *url, const char *post, upload_body *up,
                answer *a, char *err);
/*
 * The wait before retry number attempt: the last answer's Retry-After
 * (429 or 503) when it gave one, at most RETRY_AFTER_MAX seconds, else the
 * backoff.  how (size bytes) says which, for the message.
 */
double ucm_retry_wait(const cli_ucm *u, unsigned attempt, char *how, size_t size);

/* ---- listing (ucm_list.c) ---- */

typedef struct doc_entry {
    char *id, *name;
    int nul; /* the id or the file name holds a NUL byte (kept up to it only) */
} doc_entry;

typedef struct listing {
    int in_items;
    char id[SMALL_MAX], name[SMALL_MAX];
    size_t idlen, namelen;
    int have_id, have_name, id_long, name_long, nul;
    int field; /* 1 collecting DocumentId, 2 FileName */
    doc_entry *docs;
    size_t count, cap;
    int oom, too_many;
    int has_more; /* the page says more follow ("hasMore": true) */
    size_t seen;  /* item objects read, usable or not */
} listing;

void ucm_listing_free(listing *l);
void ucm_list_collect(char *buf, size_t *len, int *too_long, int *nul, const char *data, size_t n);
/* List the account's documents whose names start with prefix. */
int ucm_list_prefix(cli_ucm *u, const char *prefix, listing *l, char *err);

/* ---- fetch's state file (fetch_state.c) ---- */

typedef struct fetch_row {
    char *id, *name;
    int64_t when;
} fetch_row;

typedef struct fetch_state {
    const char *path;
    char *dir, *base;
    int dirfd, lockfd;
    fetch_row *rows;
    size_t count, cap;
} fetch_state;

const fetch_row *fetch_find(const fetch_state *fs, const char *id);
int fetch_add(fetch_state *fs, const char *id, const char *name, int64_t when);
void fetch_state_close(fetch_state *fs);
/* Lock "<path>.lock" and load path (missing: nothing fetched yet). */
int fetch_state_open(fetch_state *fs, const char *path, char *err);
int fetch_state_save(fetch_state *fs, char *err);

#endif /* ONHANDPUB_HAVE_CURL */

#endif
