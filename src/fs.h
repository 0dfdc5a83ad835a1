/*
 * fs.h - the FUSE operations (high-level, path-based API: a path is a key
 * prefix, so the kernel's paths map straight onto the namespace).
 */
#ifndef S3BFS_FS_H
#define S3BFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse.h>

#include "stack.h"

/* The extended attribute that marks a file of an s3blockfs mount; its value
 * is the volume's block size in decimal (the default block size on a
 * directory).  The SQLite shim reads it. */
#define FS_XATTR_BLOCK_SIZE "user.s3blockfs.block_size"
/* The mount's statistics as JSON, on the root directory. */
#define FS_XATTR_STATS "user.s3blockfs.stats"

/* The operations; refuse_locks adds lock handlers that fail with ENOLCK. */
void fs_operations(struct fuse_operations *ops, int refuse_locks);
/* Closes the files the kernel never released (an unmount can come first);
 * before the stack is torn down. */
void fs_release_all(struct s3bfs *fs);
/* Formats the statistics as JSON into buf; returns the length or -errno. */
int fs_stats_json(struct s3bfs *fs, char *buf, size_t size);

#endif
