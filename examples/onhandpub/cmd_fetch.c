/*
 * onhandpub fetch: the documents of the content server whose names start with
 * --prefix and were not fetched before, each downloaded, checked as a ZIP
 * and saved in --outdir.
 */
#include "ucm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zipread.h" /* the library's ZIP reader, compiled into the command */

#ifdef ONHANDPUB_HAVE_CURL

/* ---- fetch: download, check, save ---- */

typedef struct download {
    cli_atomic *file;
    b64_decoder dec;
    int have_content;
    int failed;
    unsigned char out[JSON_CHUNK / 4 * 3 + 8];
    char err[CLI_ERRSIZE];
} download;

static int on_download_event(void *ud, int ev, int depth, const char *key, const char *data,
                             size_t len)
{
    download *d = ud;
    if (depth != 1 || key == NULL || strcmp(key, "DocumentContent") != 0)
        return 0;
    if (ev == JEV_STR) {
        d->have_content = 1;
        /* The parser hands over at most JSON_CHUNK characters at a time. */
        long n = b64_decode(&d->dec, data, len, d->out);
        if (n < 0) {
            d->failed = 1;
            cli_err(d->err, "DocumentContent is not valid base64");
            return -1;
        }
        if (n > 0 && cli_atomic_write(d->file, d->out, (size_t)n, d->err) != 0) {
            d->failed = 1;
            return -1;
        }
    } else if (ev == JEV_STR_END) {
        d->have_content = 1;
    }
    return 0;
}

/* zipread.c over a file descriptor (with cli_fd_read). */
static int fd_seek(void *ud, uint64_t off)
{
    return off > (uint64_t)INT64_MAX || lseek(*(int *)ud, (off_t)off, SEEK_SET) < 0 ? -1 : 0;
}

/*
 * A valid ZIP with exactly one .psv entry whose data inflate to its size and
 * match its CRC-32, read as `reconcile` reads it (docs/psv-format.md, "Reading
 * an archive back").
 */
static int zip_check(int fd, char *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cli_err(err, "cannot read it back: %s", strerror(errno));
        return -1;
    }
    zr_io io = {0};
    io.read = cli_fd_read;
    io.seek = fd_seek;
    io.ud = &fd;
    io.size = (uint64_t)st.st_size;
    zipread z;
    zr_init(&z, &io);
    int ret = -1;
    unsigned char *buf = NULL;
    int rc = zr_open(&z);
    if (rc != ZR_OK) {
        cli_err(err, "%s", z.err);
        goto out;
    }
    if (z.name_len < 5 || strcmp(z.name + z.name_len - 4, ".psv") != 0 ||
        strchr(z.name, '/') != NULL) {
        cli_err(err, "the ZIP's entry '%.200s' is not a .psv file", z.name);
        goto out;
    }
    if ((buf = malloc(65536)) == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    size_t got;
    while ((rc = zr_read(&z, buf, 65536, &got)) == ZR_OK && got > 0)
        ;
    if (rc != ZR_OK) {
        cli_err(err, "the ZIP's entry '%.200s': %s", z.name, z.err);
        goto out;
    }
    ret = 0;
out:
    free(buf);
    zr_close(&z);
    return ret;
}

/* Download one document into a temporary file in outdir, check it, rename it. */
static int fetch_one(cli_ucm *u, const char *url, const char *outdir, const doc_entry *doc,
                     char *err)
{
    char *qid = json_quote(doc->id);
    size_t bl = (qid ? strlen(qid) : 0) + 80;
    char *body = ucm_xmalloc(bl);
    download *d = calloc(1, sizeof *d);
    json_parser *jp = malloc(sizeof *jp);
    answer *a = malloc(sizeof *a);
    cli_atomic file = CLI_ATOMIC_INIT;
    char what[256];
    int outcome = UR_FAILED;
    snprintf(what, sizeof what, "UCM download of document %s", doc->id);
    if (qid == NULL || body == NULL || d == NULL || jp == NULL || a == NULL) {
        cli_err(err, "out of memory");
        goto out;
    }
    snprintf(body, bl, "{\"OperationName\":\"getDocumentForDocumentId\",\"DocumentId\":%s}", qid);
    for (unsigned attempt = 0;; attempt++) {
        if (attempt > 0) {
            char how[128];
            double wait = ucm_retry_wait(u, attempt, how, sizeof how);
            fprintf(stderr, "onhandpub: %s; retrying in %.1f s%s\n", err, wait, how);
            ucm_sleep(wait);
        }
        if (cli_atomic_open(&file, outdir, doc->name, 1, err) != 0) {
            outcome = UR_FAILED;
            break;
        }
        memset(d, 0, sizeof *d);
        d->file = &file;
        json_init(jp, on_download_event, d);
        memset(a, 0, sizeof *a);
        a->jp = jp;
        outcome = ucm_request(u, what, url, body, NULL, a, err);
        if (outcome == UR_FAILED && d->failed)
            cli_err(err, "%s: %s", what, d->err);
        if (outcome == UR_OK && (!d->have_content || b64_finish(&d->dec) != 0)) {
            cli_err(err, "%s: %s", what,
                    d->have_content ? "DocumentContent is not valid base64"
                                    : "the answer has no DocumentContent");
            outcome = UR_FAILED;
        }
        if (outcome != UR_RETRY || attempt >= u->retries)
            break;
        cli_atomic_abort(&file);
    }
    if (outcome != UR_OK)
        goto out;
    /* Check the ZIP where it lies, as the temporary file (unnamed or named). */
    char zerr[CLI_ERRSIZE];
    int rfd = -1;
    if (cli_atomic_reader(&file, &rfd, err) != 0) {
        outcome = UR_FAILED;
        goto out;
    }
    int bad = zip_check(rfd, zerr);
    (void)close(rfd);
    if (bad != 0) {
        cli_err(err, "document %s (%s) refused: %s", doc->id, doc->name, zerr);
        outcome = UR_FAILED;
        goto out;
    }
    /* Put in place without replacing anything (linkat / RENAME_NOREPLACE). */
    if (cli_atomic_commit(&file, err) != 0) {
        outcome = UR_FAILED;
        goto out;
    }
out:
    cli_atomic_abort(&file);
    free(qid);
    free(body);
    free(d);
    free(jp);
    free(a);
    return outcome;
}

/* The listing of the documents by prefix, retried like any request: UR_OK or the failure. */
static int list_with_retries(cli_ucm *u, const char *prefix, listing *l, char *err)
{
    for (unsigned attempt = 0;; attempt++) {
        int lr = ucm_list_prefix(u, prefix, l, err);
        if (lr != UR_RETRY || attempt >= u->retries)
            return lr;
        char how[128];
        double wait = ucm_retry_wait(u, attempt + 1, how, sizeof how);
        fprintf(stderr, "onhandpub: %s; retrying in %.1f s%s\n", err, wait, how);
        ucm_sleep(wait);
    }
}

/* A listed document whose id and name can be used; says why not otherwise. */
static int usable_document(const doc_entry *doc)
{
    if (!doc->nul && ucm_valid_id(doc->id) && ucm_valid_name(doc->name))
        return 1;
    char idtxt[64], nametxt[128];
    ucm_excerpt(doc->id, strlen(doc->id), idtxt, sizeof idtxt);
    ucm_excerpt(doc->name, strlen(doc->name), nametxt, sizeof nametxt);
    fprintf(stderr, "onhandpub: document '%s' (%s) refused: unusable %s\n", idtxt, nametxt,
            doc->nul                 ? "document id or file name (it holds a NUL byte)"
            : !ucm_valid_id(doc->id) ? "document id"
                                     : "file name");
    return 0;
}

/* Record a saved document in the state file (with state_path). */
static int record_fetched(fetch_state *fs, const doc_entry *doc, char *err)
{
    int bad = fetch_add(fs, doc->id, doc->name, (int64_t)time(NULL));
    if (bad)
        cli_err(err, "out of memory");
    else
        bad = fetch_state_save(fs, err);
    if (bad)
        fprintf(stderr,
                "onhandpub: %s was saved but the fetch state file could not be "
                "written: %s; the next fetch will download it again\n",
                doc->name, err);
    return bad;
}

/* What one fetch did. */
typedef struct fetch_counts {
    size_t fetched, skipped, failed;
} fetch_counts;

/* Each listed document with the prefix not fetched before: downloaded, checked, saved. */
static int fetch_listed(cli_ucm *u, const char *url, int outfd, const char *outdir,
                        const char *prefix, const listing *l, fetch_state *fs, int with_state,
                        fetch_counts *n)
{
    char err[CLI_ERRSIZE];
    for (size_t i = 0; i < l->count; i++) {
        const doc_entry *doc = &l->docs[i];
        if (!usable_document(doc)) {
            n->failed++;
            continue;
        }
        /* Only names with the prefix (the service matches by prefix too). */
        if (strncmp(doc->name, prefix, strlen(prefix)) != 0)
            continue;
        if (fetch_find(fs, doc->id) != NULL) {
            n->skipped++;
            continue;
        }
        int rc = fetch_one(u, url, outdir, doc, err);
        if (rc != UR_OK) {
            fprintf(stderr, "onhandpub: %s\n", err);
            if (rc == UR_DENIED)
                return EXIT_DENIED_;
            n->failed++;
            continue;
        }
        char *path = cli_join(outdir, doc->name);
        printf("%s\n", path ? path : doc->name);
        free(path);
        n->fetched++;
        if (with_state && record_fetched(fs, doc, err) != 0)
            return EXIT_FAILED_;
    }
    return 0;
}

int cli_ucm_fetch(cli_ucm *u, const char *prefix, const char *outdir, const char *state_path)
{
    char err[CLI_ERRSIZE];
    fetch_state fs;
    memset(&fs, 0, sizeof fs);
    fs.dirfd = fs.lockfd = -1;
    int outfd = -1, status = 0;
    char *url = NULL;
    listing l;
    memset(&l, 0, sizeof l);
    if (cli_open_dir(outdir, &outfd, err) != 0) {
        fprintf(stderr, "onhandpub: option --outdir: %s\n", err);
        return EXIT_USAGE_;
    }
    if (state_path && fetch_state_open(&fs, state_path, err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        status = EXIT_FAILED_;
        goto out;
    }
    size_t ul = strlen(u->url) + sizeof RESOURCE;
    url = ucm_xmalloc(ul);
    if (url == NULL) {
        fprintf(stderr, "onhandpub: out of memory\n");
        status = EXIT_FAILED_;
        goto out;
    }
    snprintf(url, ul, "%s" RESOURCE, u->url);
    int lr = list_with_retries(u, prefix, &l, err);
    if (lr != UR_OK) {
        fprintf(stderr, "onhandpub: %s\n", err);
        status = lr == UR_DENIED ? EXIT_DENIED_ : EXIT_FAILED_;
        goto out;
    }
    fetch_counts n = {0, 0, 0};
    status = fetch_listed(u, url, outfd, outdir, prefix, &l, &fs, state_path != NULL, &n);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "onhandpub: cannot write standard output: %s\n", strerror(errno));
        status = EXIT_FAILED_;
    }
    fprintf(stderr,
            "onhandpub: fetched %zu document%s, %zu fetched before, %zu refused or failed "
            "(prefix %s, account %s)\n",
            n.fetched, n.fetched == 1 ? "" : "s", n.skipped, n.failed, prefix, u->account);
    if (status == 0 && n.failed > 0)
        status = EXIT_FAILED_;
out:
    ucm_listing_free(&l);
    free(url);
    fetch_state_close(&fs);
    if (outfd >= 0)
        (void)close(outfd);
    return status;
}

#endif /* ONHANDPUB_HAVE_CURL */

/* ---- fetch ---- */

int cmd_fetch(int argc, char **argv)
{
    static const int allowed[] = {OPT_UCM,
                                  OPT_UCM_ACCOUNT,
                                  OPT_UCM_CREDENTIALS,
                                  OPT_UCM_INSECURE,
                                  OPT_UCM_CONNECT_TIMEOUT,
                                  OPT_UCM_TIMEOUT,
                                  OPT_UCM_RETRIES,
                                  OPT_UCM_BACKOFF,
                                  OPT_UCM_CACERT,
                                  OPT_PREFIX,
                                  OPT_OUTDIR,
                                  OPT_STATE,
                                  OPT_HELP};
    cli_opts o;
    int rc = cli_parse_options(argc, argv, &(const cli_command)CLI_COMMAND(allowed), &o);
    if (rc)
        return rc;
    if (o.given[OPT_HELP])
        return cli_print_command_help("fetch");
    if (!o.given[OPT_UCM])
        return cli_usage_error("option --ucm is required for fetch");
    if (!o.given[OPT_PREFIX])
        return cli_usage_error("option --prefix is required for fetch");
    char perr[CLI_ERRSIZE];
    if (cli_ucm_check_finder_value("option --prefix", o.value[OPT_PREFIX], perr) != 0)
        return cli_usage_error("%s", perr);
    if (!cli_ucm_supported())
        return cli_usage_error("fetch: this onhandpub was built without content-server (UCM) "
                               "support: rebuild with libcurl (meson option ucm)");
    char err[CLI_ERRSIZE];
    if (cli_ucm_global_init(err) != 0) {
        fprintf(stderr, "onhandpub: %s\n", err);
        return EXIT_FAILED;
    }
    cli_ucm u;
    memset(&u, 0, sizeof u);
    rc = cli_parse_ucm_options(&o, &u);
    if (rc == 0)
        rc = cli_ucm_fetch(&u, o.value[OPT_PREFIX], o.given[OPT_OUTDIR] ? o.value[OPT_OUTDIR] : ".",
                           o.value[OPT_STATE]);
    cli_ucm_free(&u);
    cli_ucm_global_cleanup();
    return rc;
}
