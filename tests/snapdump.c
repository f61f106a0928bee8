/*
 * snapdump: read a snapshot ZIP with the library's reader
 * (ohp_snapshot_reader_open_zip over the file, read in pieces of at most
 * 4093 bytes) and print it, for tests/interop.py and tests/large_zip64.py.
 *
 *   snapdump FILE      the entry name and a newline, then each record: its 26
 *                      fields in layout v1 column order, as the PSV writes
 *                      them, separated by 0x1f, each record ended by 0x1e
 *   snapdump -c FILE   only "records N"
 *
 * Exit 0 when the whole snapshot reads back, 1 with the reader's message
 * on standard error otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <onhandpub.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_read(void *ud, void *buf, size_t cap, size_t *got)
{
    int fd = *(int *)ud;
    if (cap > 4093)
        cap = 4093;
    ssize_t n;
    do
        n = read(fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    *got = (size_t)n;
    return 0;
}

static int fd_seek(void *ud, uint64_t off)
{
    return lseek(*(int *)ud, (off_t)off, SEEK_SET) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    int count_only = argc == 3 && strcmp(argv[1], "-c") == 0;
    if (argc != 2 && !count_only) {
        fprintf(stderr, "usage: snapdump [-c] FILE\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "snapdump: %s: %s\n", path, strerror(errno));
        return 1;
    }
    ohp_snapshot_reader *r;
    if (ohp_snapshot_reader_open_zip(&r, fd_read, fd_seek, &fd, (uint64_t)st.st_size, NULL) !=
        OHP_OK) {
        fprintf(stderr, "snapdump: cannot open a reader\n");
        return 1;
    }
    ohp_snapshot_info info;
    memset(&info, 0, sizeof info);
    info.version = OHP_SNAPSHOT_INFO_VERSION;
    int rc = ohp_snapshot_reader_info(r, &info);
    if (rc == OHP_OK && !count_only)
        printf("%s\n", info.entry_name);
    const ohp_snapshot_record *rec;
    uint64_t n = 0;
    while (rc == OHP_OK && (rc = ohp_snapshot_reader_next(r, &rec)) == 1) {
        n++;
        if (count_only) {
            rc = OHP_OK;
            continue;
        }
        char snap[OHP_DATE_BUFSIZE], lot_exp[OHP_DATE_BUFSIZE] = "", lud[OHP_DATE_BUFSIZE];
        ohp_date_format(rec->snapshot_date, 0, snap);
        if (rec->lot_expiration_date != OHP_TIME_NONE)
            ohp_date_format(rec->lot_expiration_date, 1, lot_exp);
        ohp_date_format(rec->last_update_date, 0, lud);
        const char *f[26] = {rec->external_system_code,
                             NULL,
                             rec->mode == OHP_MODE_FULL ? "FULL" : "INCREMENTAL",
                             snap,
                             rec->organization_id,
                             rec->organization_code,
                             rec->inventory_item_id,
                             rec->item_number,
                             rec->revision,
                             rec->subinventory_code,
                             rec->locator_id,
                             rec->locator_name,
                             rec->lot_number,
                             lot_exp,
                             rec->serial_controlled ? "Y" : "N",
                             rec->serial_number,
                             rec->primary_quantity,
                             rec->primary_uom_code,
                             rec->secondary_quantity,
                             rec->secondary_uom_code,
                             rec->consigned ? "Y" : "N",
                             rec->owning_party_id,
                             rec->project_id,
                             rec->task_id,
                             rec->material_status_code,
                             lud};
        char run[24];
        snprintf(run, sizeof run, "%" PRIu64, rec->publish_run_id);
        f[1] = run;
        for (int i = 0; i < 26; i++)
            printf("%s%s", i ? "\x1f" : "", f[i]);
        putchar('\x1e');
        rc = OHP_OK;
    }
    if (rc < 0) {
        fprintf(stderr, "snapdump: %s: %s\n", path, ohp_snapshot_reader_errmsg(r));
        ohp_snapshot_reader_free(r);
        close(fd);
        return 1;
    }
    if (count_only)
        printf("records %" PRIu64 "\n", n);
    ohp_snapshot_reader_free(r);
    close(fd);
    return fflush(stdout) == 0 ? 0 : 1;
}
