/*
 * What kind of file a mode is, for messages ("a FIFO", "a directory").
 * Self-contained (POSIX only): compiled into the onhandpub command too, so
 * the command's messages name kinds as the library's do.
 */
#ifndef OHP_FILE_FILEKIND_H
#define OHP_FILE_FILEKIND_H

#include <sys/types.h>

const char *ohp_file_kind(mode_t mode);

#endif
