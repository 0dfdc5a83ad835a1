/*
 * tools.h - the subcommands of the s3blockfs binary that need no mount:
 *
 *   s3blockfs stats  [--json|--prometheus] MOUNTPOINT
 *   s3blockfs import [options] FILE VOLUME
 *   s3blockfs export [options] VOLUME FILE
 *   s3blockfs fsck   [options] VOLUME
 *
 * VOLUME names one volume (one file of the layout): BUCKET:PREFIX/NAME,
 * s3://BUCKET/PREFIX/NAME, file:///DIR:NAME (DIR is the backend directory,
 * NAME the volume inside it) or file:///DIR/NAME.  Each subcommand has
 * --help; the exit codes are the TOOLS_EXIT_* below.
 */
#ifndef S3BFS_TOOLS_H
#define S3BFS_TOOLS_H

enum {
	TOOLS_EXIT_OK = 0,      /* done (fsck: nothing wrong, or all of it repaired) */
	TOOLS_EXIT_FAIL = 1,    /* failed: store, file or check error; said why */
	TOOLS_EXIT_USAGE = 2,   /* bad arguments, bad VOLUME or option */
	TOOLS_EXIT_REFUSED = 3, /* refused to overwrite, or a journal/WAL is in the way */
	TOOLS_EXIT_DAMAGED = 4, /* fsck: problems remain (not repaired or not repairable) */
};

/* Is argv[1] a subcommand ("stats", "import", "export", "fsck")? */
int tools_is_command(const char *arg);
/* Runs the subcommand argv[0] with its arguments; returns the exit status. */
int tools_main(int argc, char **argv);

#endif
