/*
 * local.h - the local directory backend: the S3 layout on a file system,
 * one file per object (key K is the file DIR/K).
 */
#ifndef S3BFS_LOCAL_H
#define S3BFS_LOCAL_H

#include "store.h"

/* dir must exist and be a directory; read_only skips the write checks and
 * refuses writes with -EROFS.  sync: fsync each object (and its directory)
 * before put/del return, so that "stored" survives a power cut as it would on
 * S3.  NULL + msg (one line) on error. */
struct store *local_store_create(const char *dir, int read_only, int sync, char *msg,
				 size_t msgsz);

#endif
