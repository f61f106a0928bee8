/*
 * The ready-made file ends (onhandpub.h, "File sink" and "File state
 * store"): a ZIP put in place whole or not at all, whatever fails or kills
 * the writer, with both kinds of temporary (O_TMPFILE and the named one of
 * ONHANDPUB_NO_TMPFILE); a state file read back, refused when corrupt,
 * locked between runs and never half-written.
 */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

static char *make_dir(void)
{
    char *d = strdup("/tmp/ohp-files-XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void remove_dir(char *d)
{
    DIR *dp = opendir(d);
    ck_assert_ptr_nonnull(dp);
    const struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        ck_assert_int_eq(unlink(p), 0);
    }
    closedir(dp);
    ck_assert_int_eq(rmdir(d), 0);
    free(d);
}

/* The entries of d (without . and ..), '|'-joined in name order into out. */
static int listing(const char *d, char *out, size_t size)
{
    struct dirent **names = NULL;
    int n = scandir(d, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    int count = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
            if (count++)
                strncat(out, "|", size - strlen(out) - 1);
            strncat(out, names[i]->d_name, size - strlen(out) - 1);
        }
        free(names[i]);
    }
    free(names);
    return count;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 65536 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *grown = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(grown);
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static char *slurp_fd(int fd, size_t *len)
{
    char *buf = malloc(1 << 22);
    ck_assert_ptr_nonnull(buf);
    *len = 0;
    ssize_t n;
    while ((n = read(fd, buf + *len, (1 << 22) - *len)) > 0)
        *len += (size_t)n;
    ck_assert_int_eq(n, 0);
    return buf;
}

static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Named temporaries instead of O_TMPFILE for the rest of this test process. */
static void named_temporaries(int on)
{
    if (on)
        ck_assert_int_eq(setenv("ONHANDPUB_NO_TMPFILE", "1", 1), 0);
    else
        ck_assert_int_eq(unsetenv("ONHANDPUB_NO_TMPFILE"), 0);
}

/* ---- a job over n generated records ---- */

typedef struct gen {
    size_t n, next, fail_at;
    char item[32], qty[32];
} gen;

static int gen_next(void *ud, ohp_record *rec)
{
    gen *g = ud;
    if (g->fail_at && g->next + 1 == g->fail_at)
        return -1;
    if (g->next >= g->n)
        return 0;
    size_t i = g->next++;
    snprintf(g->item, sizeof g->item, "ITEM-%06zu", i);
    snprintf(g->qty, sizeof g->qty, "%zu.%03zu", i % 977 + 1, i % 1000);
    rec->organization_code = "M1";
    rec->item_number = g->item;
    rec->subinventory_code = i % 3 ? "FGI" : "RAW|MAT";
    rec->primary_quantity = g->qty;
    rec->primary_uom_code = "Ea";
    rec->last_update_date = "2026/11/01 08:00:00";
    return 1;
}

static int gen_open(void *ud, const ohp_source_query *q)
{
    (void)q;
    ((gen *)ud)->next = 0;
    return 0;
}

static ohp_params params(void)
{
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:07:08");
    p.run_id = 42;
    p.user = "tester";
    p.caller_authorized = 1;
    return p;
}

static ohp_job *gen_job(gen *g)
{
    ohp_job *job = NULL;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_source(job, gen_open, gen_next, NULL, g), OHP_OK);
    return job;
}

/* The ZIP of n records as the memory sink receives it. */
static unsigned char *memsink_zip(size_t n, size_t *len, char *name, size_t name_size)
{
    gen g = {.n = n};
    ohp_job *job = gen_job(&g);
    ohp_memsink *ms = NULL;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    ohp_params p = params();
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    const void *data = ohp_memsink_data(ms, len);
    unsigned char *copy = malloc(*len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, *len);
    snprintf(name, name_size, "%s", ohp_memsink_file_name(ms));
    ohp_memsink_free(ms);
    ohp_job_free(job);
    return copy;
}

/* ---- the file sink ---- */

static void check_folder_publish(int named)
{
    named_temporaries(named);
    char *d = make_dir();
    size_t want_len;
    char want_name[256], path[512], list[1024];
    unsigned char *want = memsink_zip(3000, &want_len, want_name, sizeof want_name);

    gen g = {.n = 3000};
    ohp_job *job = gen_job(&g);
    ohp_filesink *fs = NULL;
    ck_assert_int_eq(ohp_filesink_new(&fs, d, 0, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filesink(job, fs), OHP_OK);
    ohp_params p = params();
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    snprintf(path, sizeof path, "%s/%s", d, want_name);
    ck_assert_str_eq(ohp_filesink_path(fs), path);
    ck_assert_str_eq(ohp_job_summary(job)->file_name, want_name);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    ck_assert_str_eq(list, want_name);
    size_t got_len;
    char *got = slurp(path, &got_len);
    ck_assert_uint_eq(got_len, want_len);
    ck_assert(memcmp(got, want, want_len) == 0);
    /* Read back: one PSV entry of 3000 data lines and a header. */
    char *psv = NULL, entry[256];
    size_t psv_len = 0;
    ck_assert_int_eq(tu_unzip_single(got, got_len, &psv, &psv_len, entry, sizeof entry), 0);
    size_t lines = psv_len > 0 && psv[psv_len - 1] != '\n';
    for (size_t i = 0; i < psv_len; i++)
        lines += psv[i] == '\n';
    ck_assert_uint_eq(lines, 3001);
    ck_assert_ptr_nonnull(strstr(psv, "|ITEM-002999|"));
    ck_assert(ohp_job_summary(job)->zip_bytes == got_len);
    free(psv);
    free(got);

    /* The same name again: never replaced, and nothing else left. */
    put_text(path, "OLD");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_ESINK);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), "never replaced"));
    ck_assert_int_eq(ohp_filesink_error(fs), OHP_EEXISTS);
    ck_assert_ptr_null(ohp_filesink_path(fs));
    got = slurp(path, &got_len);
    ck_assert_str_eq(got, "OLD");
    free(got);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);

    ohp_filesink_free(fs);
    ohp_job_free(job);
    free(want);
    remove_dir(d);
}

START_TEST(test_folder_publish)
{
    check_folder_publish(0);
}
END_TEST

START_TEST(test_folder_publish_named)
{
    check_folder_publish(1);
}
END_TEST

static void check_failures_leave_nothing(int named)
{
    named_temporaries(named);
    char *d = make_dir();
    char list[1024];
    gen g = {.n = 20000, .fail_at = 15000};
    ohp_job *job = gen_job(&g);
    ohp_filesink *fs = NULL;
    ck_assert_int_eq(ohp_filesink_new(&fs, d, 0, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filesink(job, fs), OHP_OK);
    ohp_params p = params();
    /* The source fails after the sink wrote blocks. */
    p.compression_level = 0;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_ESOURCE);
    ck_assert_int_eq(ohp_filesink_error(fs), OHP_OK); /* the sink did not fail */
    ck_assert(ohp_job_summary(job)->zip_bytes > UINT64_C(131072));
    ck_assert_int_eq(listing(d, list, sizeof list), 0);

    /* A write fails: the file size limit (EFBIG). */
    g.fail_at = 0;
    struct rlimit old, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old; /* the soft limit only: it can be raised again */
    small.rlim_cur = 200000;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = ohp_job_run(job, &p);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(rc, OHP_ESINK);
    ck_assert_int_eq(ohp_filesink_error(fs), OHP_EFILE);
    ck_assert_msg(strstr(ohp_job_errmsg(job), strerror(EFBIG)) != NULL, "%s", ohp_job_errmsg(job));
    ck_assert_int_eq(listing(d, list, sizeof list), 0);

    /* And then a run that works. */
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    ohp_filesink_free(fs);
    ohp_job_free(job);
    remove_dir(d);
}

START_TEST(test_failures_leave_nothing)
{
    check_failures_leave_nothing(0);
}
END_TEST

START_TEST(test_failures_leave_nothing_named)
{
    check_failures_leave_nothing(1);
}
END_TEST

/* A child that dies by SIGKILL in the middle of writing X.zip. */
static void killed_writer(const char *d)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ohp_filesink *fs = NULL;
        static char block[100000];
        if (ohp_filesink_new(&fs, d, 0, NULL, NULL) != OHP_OK ||
            ohp_filesink_open(fs, "X.zip") != OHP_OK ||
            ohp_filesink_write(fs, block, sizeof block) != OHP_OK)
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(4); /* not reached */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

START_TEST(test_killed_writer_unnamed)
{
    named_temporaries(0);
    char *d = make_dir();
    char list[1024];
    killed_writer(d);
    ck_assert_int_eq(listing(d, list, sizeof list), 0);
    remove_dir(d);
}
END_TEST

START_TEST(test_killed_writer_named)
{
    named_temporaries(1);
    char *d = make_dir();
    char list[1024];
    killed_writer(d);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    ck_assert_msg(strncmp(list, ".X.zip.tmp.", 11) == 0, "%s", list);
    /* A temporary whose process lives (pid 1) is kept. */
    char live[512];
    snprintf(live, sizeof live, "%s/.Y.zip.tmp.1.0123456789abcdef", d);
    put_text(live, "live");
    /* The next open in the folder removes the dead one. */
    ohp_filesink *fs = NULL;
    ck_assert_int_eq(ohp_filesink_new(&fs, d, 0, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, "Z.zip"), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "zz", 2), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_OK);
    ck_assert_int_eq(listing(d, list, sizeof list), 2);
    ck_assert_str_eq(list, ".Y.zip.tmp.1.0123456789abcdef|Z.zip");
    ohp_filesink_free(fs);
    remove_dir(d);
}
END_TEST

/* ---- the placed callback ---- */

typedef struct placed {
    int calls;
    int refuse;
    char path[512];
    char *bytes;
    size_t len;
} placed;

static int on_placed(void *ud, const char *path, int fd, char *message, size_t size)
{
    placed *pl = ud;
    pl->calls++;
    snprintf(pl->path, sizeof pl->path, "%s", path);
    ck_assert_int_ge(fd, 0);
    free(pl->bytes);
    pl->bytes = slurp_fd(fd, &pl->len);
    if (pl->refuse) {
        snprintf(message, size, "upload refused: HTTP 503");
        return 1;
    }
    return 0;
}

START_TEST(test_placed_callback)
{
    char *d = make_dir();
    char list[1024], state_path[512];
    snprintf(state_path, sizeof state_path, "%s/state.psv", d);
    gen g = {.n = 500};
    ohp_job *job = gen_job(&g);
    ohp_filesink *fs = NULL;
    ohp_filestate *st = NULL;
    placed pl = {0};
    ck_assert_int_eq(ohp_filesink_new(&fs, d, 0, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_set_placed_callback(fs, on_placed, &pl), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filesink(job, fs), OHP_OK);
    ck_assert_int_eq(ohp_filestate_open(&st, state_path, 0, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filestate(job, st), OHP_OK);
    ohp_params p = params();
    p.run_id = 0;
    pl.refuse = 1;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_ESINK);
    ck_assert_int_eq(pl.calls, 1);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), "upload refused: HTTP 503"));
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), "was removed"));
    ck_assert_int_eq(ohp_filesink_error(fs), OHP_ESINK);
    /* Only the state file (run id 1 reserved, nothing published) and its lock. */
    ck_assert_int_eq(listing(d, list, sizeof list), 2);
    ck_assert_str_eq(list, "state.psv|state.psv.lock");
    ohp_class_state cs[2];
    uint64_t last = 9;
    ck_assert_int_eq(ohp_filestate_get(st, "0", "M1", cs, &last), OHP_OK);
    ck_assert(cs[0].last_snapshot == OHP_TIME_NONE && cs[1].last_snapshot == OHP_TIME_NONE);
    ck_assert_uint_eq(last, 0);
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 1);

    // cppcheck-suppress redundantAssignment ; the placed callback read it
    pl.refuse = 0;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_int_eq(ohp_filesink_error(fs), OHP_OK);
    ck_assert_int_eq(pl.calls, 2);
    ck_assert_str_eq(pl.path, ohp_filesink_path(fs));
    size_t len;
    char *file = slurp(pl.path, &len);
    ck_assert_uint_eq(len, pl.len);
    ck_assert(memcmp(file, pl.bytes, len) == 0);
    free(file);
    ck_assert_int_eq(ohp_filestate_get(st, "0", "M1", cs, &last), OHP_OK);
    ck_assert_uint_eq(last, 2);
    ck_assert(cs[0].last_snapshot == p.snapshot_date && cs[1].last_snapshot == p.snapshot_date);
    free(pl.bytes);
    ohp_filestate_close(st);
    ohp_filesink_free(fs);
    ohp_job_free(job);
    remove_dir(d);
}
END_TEST

/* ---- file targets ---- */

START_TEST(test_file_targets)
{
    char *d = make_dir();
    char path[512], link_path[512], other[512], fifo[512], list[1024], msg[OHP_FILESINK_MSGSIZE];
    snprintf(path, sizeof path, "%s/out.zip", d);
    snprintf(other, sizeof other, "%s/other.txt", d);
    snprintf(link_path, sizeof link_path, "%s/link.zip", d);
    snprintf(fifo, sizeof fifo, "%s/pipe", d);
    ohp_filesink *fs = NULL;
    size_t len;
    char *got;

    /* A regular file is replaced whole. */
    put_text(path, "OLD CONTENT");
    ck_assert_int_eq(ohp_filesink_new(&fs, path, OHP_FILESINK_FILE, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, "ignored.zip"), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "new", 3), OHP_OK);
    got = slurp(path, &len);
    ck_assert_str_eq(got, "OLD CONTENT"); /* untouched until the commit */
    free(got);
    int rfd = -1;
    ck_assert_int_eq(ohp_filesink_pending_fd(fs, &rfd), OHP_OK);
    got = slurp_fd(rfd, &len);
    close(rfd);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(got, "new", 3) == 0);
    free(got);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_OK);
    ck_assert_str_eq(ohp_filesink_path(fs), path);
    got = slurp(path, &len);
    ck_assert_str_eq(got, "new");
    free(got);
    /* Discarded: the file stays as it was. */
    ck_assert_int_eq(ohp_filesink_open(fs, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "xyz", 3), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 0), OHP_OK);
    got = slurp(path, &len);
    ck_assert_str_eq(got, "new");
    free(got);
    ohp_filesink_free(fs);

    /* A symbolic link is replaced, never followed. */
    put_text(other, "KEEP");
    ck_assert_int_eq(symlink(other, link_path), 0);
    ck_assert_int_eq(ohp_filesink_new(&fs, link_path, OHP_FILESINK_FILE, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "L", 1), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_OK);
    ohp_filesink_free(fs);
    struct stat sb;
    ck_assert_int_eq(lstat(link_path, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    got = slurp(other, &len);
    ck_assert_str_eq(got, "KEEP");
    free(got);

    /* A FIFO is written straight into. */
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int reader = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(reader, 0);
    ck_assert_int_eq(ohp_filesink_new(&fs, fifo, OHP_FILESINK_FILE, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_pending_fd(fs, &rfd), OHP_ESTATE);
    ck_assert_int_eq(ohp_filesink_write(fs, "through the pipe", 16), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_OK);
    ck_assert_str_eq(ohp_filesink_path(fs), fifo);
    ohp_filesink_free(fs);
    char buf[64] = "";
    ck_assert_int_eq(read(reader, buf, sizeof buf), 16);
    ck_assert(memcmp(buf, "through the pipe", 16) == 0);
    close(reader);

    /* A descriptor named by /dev/fd/N. */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    char dev[64];
    snprintf(dev, sizeof dev, "/dev/fd/%d", pfd[1]);
    ck_assert_int_eq(ohp_filesink_new(&fs, dev, OHP_FILESINK_FILE, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, NULL), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "fd", 2), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_OK);
    ohp_filesink_free(fs);
    close(pfd[1]);
    ck_assert_int_eq(read(pfd[0], buf, sizeof buf), 2);
    close(pfd[0]);

    /* Refused when the sink is made: a folder as a file, a missing folder. */
    ck_assert_int_eq(ohp_filesink_new(&fs, d, OHP_FILESINK_FILE, NULL, msg), OHP_EINVAL);
    ck_assert_ptr_null(fs);
    ck_assert_ptr_nonnull(strstr(msg, "is a directory"));
    snprintf(path, sizeof path, "%s/missing/out.zip", d);
    ck_assert_int_eq(ohp_filesink_new(&fs, path, OHP_FILESINK_FILE, NULL, msg), OHP_EFILE);
    ck_assert_ptr_nonnull(strstr(msg, "cannot open directory"));
    snprintf(path, sizeof path, "%s/missing", d);
    ck_assert_int_eq(ohp_filesink_new(&fs, path, 0, NULL, msg), OHP_EFILE);
    ck_assert_int_eq(ohp_filesink_new(&fs, path, 0x80, NULL, msg), OHP_EINVAL);
    ck_assert_int_eq(ohp_filesink_new(&fs, "", 0, NULL, msg), OHP_EINVAL);
    ck_assert_int_eq(ohp_filesink_new(NULL, d, 0, NULL, NULL), OHP_EINVAL);

    ck_assert_int_eq(listing(d, list, sizeof list), 4);
    ck_assert_str_eq(list, "link.zip|other.txt|out.zip|pipe");
    remove_dir(d);
}
END_TEST

START_TEST(test_names_and_states)
{
    char *d = make_dir();
    char list[1024];
    ohp_filesink *fs = NULL;
    ck_assert_int_eq(ohp_filesink_new(&fs, d, 0, NULL, NULL), OHP_OK);
    const char *bad[] = {"", ".hidden.zip", "../up.zip", "a/b.zip", "..", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ohp_filesink_open(fs, bad[i]), OHP_EINVAL);
        ck_assert_ptr_nonnull(strstr(ohp_filesink_errmsg(fs), "not a plain file name"));
    }
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(ohp_filesink_open(fs, longname), OHP_EINVAL);
    ck_assert_int_eq(ohp_filesink_write(fs, "x", 1), OHP_ESTATE);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_ESTATE);
    int fd;
    ck_assert_int_eq(ohp_filesink_pending_fd(fs, &fd), OHP_ESTATE);
    ck_assert_int_eq(ohp_filesink_open(fs, "a.zip"), OHP_OK);
    ck_assert_int_eq(ohp_filesink_open(fs, "b.zip"), OHP_ESTATE);
    ck_assert_int_eq(ohp_filesink_set_placed_callback(fs, on_placed, NULL), OHP_ESTATE);
    /* A name taken while the file is written: the commit does not replace it. */
    char taken[512];
    snprintf(taken, sizeof taken, "%s/a.zip", d);
    put_text(taken, "FIRST");
    ck_assert_int_eq(ohp_filesink_write(fs, "second", 6), OHP_OK);
    ck_assert_int_eq(ohp_filesink_close(fs, 1), OHP_EEXISTS);
    ck_assert_ptr_nonnull(strstr(ohp_filesink_errmsg(fs), "never replaced"));
    size_t len;
    char *got = slurp(taken, &len);
    ck_assert_str_eq(got, "FIRST");
    free(got);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    /* Freed with a file open: discarded. */
    ck_assert_int_eq(ohp_filesink_open(fs, "c.zip"), OHP_OK);
    ck_assert_int_eq(ohp_filesink_write(fs, "c", 1), OHP_OK);
    ohp_filesink_free(fs);
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    ck_assert_str_eq(ohp_filesink_errmsg(NULL), "");
    ck_assert_ptr_null(ohp_filesink_path(NULL));
    remove_dir(d);
}
END_TEST

START_TEST(test_sink_allocation_failures)
{
    char *d = make_dir();
    char list[1024];
    int succeeded = 0;
    for (long at = 1; at < 200 && !succeeded; at++) {
        tu_alloc a;
        tu_alloc_init(&a);
        a.fail_at = at;
        ohp_filesink *fs = NULL;
        int rc = ohp_filesink_new(&fs, d, 0, &a.pub, NULL);
        if (rc == OHP_OK) {
            rc = ohp_filesink_open(fs, "m.zip");
            if (rc == OHP_OK)
                rc = ohp_filesink_write(fs, "data", 4);
            if (rc == OHP_OK)
                rc = ohp_filesink_close(fs, 1);
            else
                (void)ohp_filesink_close(fs, 0);
            ohp_filesink_free(fs);
        }
        ck_assert_msg(rc == OHP_OK || rc == OHP_ENOMEM, "at %ld: %d", at, rc);
        ck_assert_int_eq(a.blocks, 0);
        if (rc == OHP_OK) {
            succeeded = a.calls < at; /* no allocation failed */
            char p[512];
            snprintf(p, sizeof p, "%s/m.zip", d);
            ck_assert_int_eq(unlink(p), 0);
        }
        ck_assert_int_eq(listing(d, list, sizeof list), 0);
    }
    ck_assert(succeeded);
    remove_dir(d);
}
END_TEST

/* ---- the file state store ---- */

static const char state_header[] =
    "ONHANDPUB_STATE|2\nLAST_RUN_ID|%s\n"
    "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|LAST_RUN_ID\n";

START_TEST(test_state_round_trip)
{
    char *d = make_dir();
    char path[512], msg[OHP_FILESINK_MSGSIZE], want[2048], list[1024];
    snprintf(path, sizeof path, "%s/state.psv", d);
    ohp_filestate *st = NULL;
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_OK);
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 0);
    /* Opening writes nothing but the lock. */
    ck_assert_int_eq(listing(d, list, sizeof list), 1);
    uint64_t id = 0;
    ck_assert_int_eq(ohp_filestate_reserve_run_id(st, 0, &id), OHP_OK);
    ck_assert_uint_eq(id, 1);
    ck_assert_int_eq(ohp_filestate_reserve_run_id(st, 7, &id), OHP_OK);
    ck_assert_uint_eq(id, 7);
    ck_assert_int_eq(ohp_filestate_reserve_run_id(st, 3, &id), OHP_OK); /* given again */
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 7);
    ck_assert_int_eq(ohp_filestate_reserve_run_id(st, UINT64_C(1000000000000000000), &id),
                     OHP_EINVAL);

    /* Codes that need quoting, and a class each. */
    ohp_class_state cs[2] = {{tu_date("2026/11/01 00:00:00"), tu_date("2026/11/02 00:00:00")},
                             {OHP_TIME_NONE, OHP_TIME_NONE}};
    ck_assert_int_eq(ohp_filestate_put(st, "7", "M|1 \"Nord\"\r\n\xc3\xa9", cs, 5), OHP_OK);
    ohp_class_state both[2] = {{tu_date("2026/10/01 00:00:00"), tu_date("2026/10/01 00:00:00")},
                               {tu_date("2026/09/30 23:00:00"), tu_date("2026/10/01 00:00:00")}};
    ck_assert_int_eq(ohp_filestate_put(st, "0", "M2", both, 9), OHP_OK);
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 9);
    ohp_class_state late[2] = {{tu_date("2026/11/03 00:00:00"), tu_date("2026/11/02 00:00:00")},
                               {OHP_TIME_NONE, OHP_TIME_NONE}};
    ck_assert_int_eq(ohp_filestate_put(st, "7", "M3", late, 2), OHP_EINVAL);
    ck_assert_int_eq(ohp_filestate_put(st, "", "M3", cs, 2), OHP_EINVAL);
    ck_assert_int_eq(ohp_filestate_save(st), OHP_OK);
    ohp_filestate_close(st);

    size_t len;
    char *got = slurp(path, &len);
    snprintf(want, sizeof want, state_header, "9");
    strncat(want,
            "7|\"M|1 \"\"Nord\"\"\r\n\xc3\xa9\"|SERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|5\n"
            "0|M2|SERIAL|2026/10/01 00:00:00|2026/10/01 00:00:00|9\n"
            "0|M2|NONSERIAL|2026/09/30 23:00:00|2026/10/01 00:00:00|9\n",
            sizeof want - strlen(want) - 1);
    ck_assert_str_eq(got, want);
    free(got);

    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_OK);
    ohp_class_state back[2];
    uint64_t last = 0;
    ck_assert_int_eq(ohp_filestate_get(st, "7", "M|1 \"Nord\"\r\n\xc3\xa9", back, &last), OHP_OK);
    ck_assert_uint_eq(last, 5);
    ck_assert(back[0].watermark == cs[0].watermark && back[0].last_snapshot == cs[0].last_snapshot);
    ck_assert(back[1].watermark == OHP_TIME_NONE && back[1].last_snapshot == OHP_TIME_NONE);
    ck_assert_int_eq(ohp_filestate_get(st, "0", "M2", back, &last), OHP_OK);
    ck_assert(back[1].watermark == both[1].watermark);
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 9);
    ohp_filestate_close(st);

    /* TRUNCATE starts empty; the file changes only at the next save. */
    ck_assert_int_eq(ohp_filestate_open(&st, path, OHP_FILESTATE_TRUNCATE, NULL, msg), OHP_OK);
    ck_assert_uint_eq(ohp_filestate_last_run_id(st), 0);
    got = slurp(path, &len);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_eq(ohp_filestate_save(st), OHP_OK);
    ohp_filestate_close(st);
    got = slurp(path, &len);
    snprintf(want, sizeof want, state_header, "0");
    ck_assert_str_eq(got, want);
    free(got);
    remove_dir(d);
}
END_TEST

START_TEST(test_state_with_job)
{
    char *d = make_dir();
    char path[512], msg[OHP_FILESINK_MSGSIZE];
    snprintf(path, sizeof path, "%s/state.psv", d);
    gen g = {.n = 100};
    ohp_job *job = gen_job(&g);
    ohp_memsink *ms = NULL;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    ohp_filestate *st = NULL;
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filestate(job, st), OHP_OK);
    ohp_params p = params();
    p.run_id = 0;
    p.items = OHP_ITEMS_NONSERIAL;
    p.full_publish = 1;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(job)->run_id, 1);
    /* An incremental run starts at the watermark the full run left. */
    p.full_publish = 0;
    p.snapshot_date = tu_date("2026/11/03 06:07:08");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert(ohp_job_summary(job)->window_start == tu_date("2026/11/02 06:07:08"));
    ck_assert_uint_eq(ohp_job_summary(job)->run_id, 2);
    ohp_filestate_close(st);

    size_t len;
    char *got = slurp(path, &len), want[1024];
    snprintf(want, sizeof want, state_header, "2");
    strncat(want, "0|M1|NONSERIAL|2026/11/03 06:07:08|2026/11/03 06:07:08|2\n",
            sizeof want - strlen(want) - 1);
    ck_assert_str_eq(got, want);
    free(got);

    /* A state that cannot be written fails the run and keeps the file. */
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_job_set_filestate(job, st), OHP_OK);
    p.snapshot_date = tu_date("2026/11/04 06:07:08");
    struct rlimit old, tiny;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    tiny = old;
    tiny.rlim_cur = 16;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    int rc = ohp_job_run(job, &p);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(rc, OHP_ESTORE);
    ck_assert_msg(strstr(ohp_job_errmsg(job), "state.psv") != NULL, "%s", ohp_job_errmsg(job));
    ohp_filestate_close(st);
    got = slurp(path, &len);
    ck_assert_str_eq(got, want);
    free(got);
    char list[1024];
    ck_assert_int_eq(listing(d, list, sizeof list), 2);

    ohp_memsink_free(ms);
    ohp_job_free(job);
    remove_dir(d);
}
END_TEST

START_TEST(test_state_refusals)
{
    char *d = make_dir();
    char path[512], msg[OHP_FILESINK_MSGSIZE], text[1024];
    snprintf(path, sizeof path, "%s/state.psv", d);
    ohp_filestate *st = NULL;
    struct {
        const char *body;
        const char *says;
    } bad[] = {
        {"", "ends before its header"},
        {"ONHANDPUB_STATE|3\n", "line 1 must be"},
        {"ONHANDPUB_STATE|2\nLAST_RUN_ID|x\n", "line 2 must be"},
        {"ONHANDPUB_STATE|2\nLAST_RUN_ID|1\nSYSTEM_CODE|ORGANIZATION_CODE\n", "line 3 must be"},
        {"0|M1|SERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|2\n",
         "line 4: LAST_RUN_ID greater than the run-id counter"},
        {"0|M1|BOTH|2026/11/01 00:00:00|2026/11/02 00:00:00|1\n", "line 4: ITEM_CLASS"},
        {"0|M1|SERIAL|2026/11/03 00:00:00|2026/11/02 00:00:00|1\n", "WATERMARK later"},
        {"0|M1|SERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|1\n"
         "0|M1|SERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|1\n",
         "line 5: system, organization and item class repeated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (i >= 4)
            snprintf(text, sizeof text, state_header, "1");
        else
            text[0] = '\0';
        strncat(text, bad[i].body, sizeof text - strlen(text) - 1);
        put_text(path, text);
        ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_EPARSE);
        ck_assert_ptr_null(st);
        ck_assert_msg(strstr(msg, bad[i].says) != NULL, "%zu: %s", i, msg);
        ck_assert_ptr_nonnull(strstr(msg, "state.psv"));
    }

    /* Version 1: one date for both classes, written back as version 2. */
    put_text(path, "ONHANDPUB_STATE|1\nLAST_RUN_ID|4\n"
                   "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID\n"
                   "0|M1|2026/11/02 00:00:00|4\n");
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_OK);
    ohp_class_state cs[2];
    ck_assert_int_eq(ohp_filestate_get(st, "0", "M1", cs, NULL), OHP_OK);
    ck_assert(cs[0].watermark == tu_date("2026/11/02 00:00:00") &&
              cs[1].last_snapshot == tu_date("2026/11/02 00:00:00"));
    ck_assert_int_eq(ohp_filestate_save(st), OHP_OK);
    ohp_filestate_close(st);
    size_t len;
    char *got = slurp(path, &len);
    ck_assert_ptr_nonnull(
        strstr(got, "0|M1|NONSERIAL|2026/11/02 00:00:00|2026/11/02 00:00:00|4\n"));
    free(got);

    /* Not regular files: refused before any waiting. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_EFILE);
    ck_assert_ptr_nonnull(strstr(msg, "is not a regular file (it is a FIFO)"));
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(symlink("/tmp", path), 0);
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0, NULL, msg), OHP_EFILE);
    ck_assert_ptr_nonnull(strstr(msg, "symbolic link"));
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(ohp_filestate_open(&st, path, 0x40, NULL, msg), OHP_EINVAL);
    ck_assert_int_eq(ohp_filestate_open(&st, "", 0, NULL, msg), OHP_EINVAL);
    remove_dir(d);
}
END_TEST

START_TEST(test_state_lock)
{
    char *d = make_dir();
    char path[512], msg[OHP_FILESINK_MSGSIZE];
    snprintf(path, sizeof path, "%s/state.psv", d);
    ohp_filestate *a = NULL, *b = NULL;
    ck_assert_int_eq(ohp_filestate_open(&a, path, 0, NULL, msg), OHP_OK);
    ck_assert_int_eq(ohp_filestate_open(&b, path, OHP_FILESTATE_NOWAIT, NULL, msg), OHP_EBUSY);
    ck_assert_ptr_nonnull(strstr(msg, "in use by another run"));
    ohp_filestate_close(a);
    ck_assert_int_eq(ohp_filestate_open(&b, path, OHP_FILESTATE_NOWAIT, NULL, msg), OHP_OK);
    ohp_filestate_close(b);

    /* Without NOWAIT: waits for the holder, then reads what it saved. */
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ohp_filestate *c = NULL;
        uint64_t id;
        if (ohp_filestate_open(&c, path, 0, NULL, NULL) != OHP_OK)
            _exit(3);
        if (write(go[1], "x", 1) != 1)
            _exit(4);
        usleep(300000);
        if (ohp_filestate_reserve_run_id(c, 0, &id) != OHP_OK)
            _exit(5);
        ohp_filestate_close(c);
        _exit(0);
    }
    char x;
    ck_assert_int_eq(read(go[0], &x, 1), 1);
    ck_assert_int_eq(ohp_filestate_open(&b, path, 0, NULL, msg), OHP_OK);
    ck_assert_uint_eq(ohp_filestate_last_run_id(b), 1);
    ohp_filestate_close(b);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(go[0]);
    close(go[1]);
    remove_dir(d);
}
END_TEST

START_TEST(test_state_allocation_failures)
{
    char *d = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/state.psv", d);
    put_text(path, "ONHANDPUB_STATE|2\nLAST_RUN_ID|3\n"
                   "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|"
                   "LAST_RUN_ID\n"
                   "0|M1|SERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|3\n"
                   "0|M2|NONSERIAL|2026/11/01 00:00:00|2026/11/02 00:00:00|2\n");
    size_t len0;
    char *before = slurp(path, &len0);
    int succeeded = 0;
    for (long at = 1; at < 400 && !succeeded; at++) {
        tu_alloc a;
        tu_alloc_init(&a);
        a.fail_at = at;
        ohp_filestate *st = NULL;
        int rc = ohp_filestate_open(&st, path, 0, &a.pub, NULL);
        uint64_t id = 0;
        if (rc == OHP_OK) {
            rc = ohp_filestate_reserve_run_id(st, 0, &id);
            ohp_filestate_close(st);
        }
        ck_assert_msg(rc == OHP_OK || rc == OHP_ENOMEM, "at %ld: %d", at, rc);
        ck_assert_int_eq(a.blocks, 0);
        size_t len;
        char *now = slurp(path, &len);
        if (rc == OHP_OK) {
            succeeded = a.calls < at;
            ck_assert_uint_eq(id, 4);
            ck_assert_ptr_nonnull(strstr(now, "LAST_RUN_ID|4\n"));
            put_text(path, before); /* back to 3 for the next round */
        } else {
            ck_assert_str_eq(now, before); /* unchanged */
        }
        free(now);
    }
    ck_assert(succeeded);
    free(before);
    remove_dir(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("sink");
    tcase_add_test(tc, test_folder_publish);
    tcase_add_test(tc, test_folder_publish_named);
    tcase_add_test(tc, test_failures_leave_nothing);
    tcase_add_test(tc, test_failures_leave_nothing_named);
    tcase_add_test(tc, test_killed_writer_unnamed);
    tcase_add_test(tc, test_killed_writer_named);
    tcase_add_test(tc, test_placed_callback);
    tcase_add_test(tc, test_file_targets);
    tcase_add_test(tc, test_names_and_states);
    tcase_add_test(tc, test_sink_allocation_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_add_test(tc, test_state_round_trip);
    tcase_add_test(tc, test_state_with_job);
    tcase_add_test(tc, test_state_refusals);
    tcase_add_test(tc, test_state_lock);
    tcase_add_test(tc, test_state_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
