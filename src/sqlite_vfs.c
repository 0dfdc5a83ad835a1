/*
 * sqlite_vfs.c - the "s3blockfs" SQLite VFS shim, built as the loadable
 * extension s3blockfs_vfs.so.
 *
 * The shim wraps the VFS that is the default when it is loaded (normally
 * "unix").  A main database file that lives on an s3blockfs mount gets its
 * methods; every other file (databases elsewhere, journals, WAL files, temp
 * files) is opened by the lower VFS directly into SQLite's buffer, so SQLite
 * talks to the lower VFS without the shim in between: same code, same
 * behaviour, same bytes.
 *
 * COMPILING
 *
 *   `make` builds .libs/s3blockfs_vfs.so (libtool -module -avoid-version);
 *   `make install` puts it in $(pkglibdir), by default
 *   /usr/local/lib/s3blockfs/s3blockfs_vfs.so.  By hand:
 *
 *     gcc -std=gnu11 -O2 -fPIC -shared src/sqlite_vfs.c -o s3blockfs_vfs.so
 *
 *   It includes sqlite3ext.h and never links libsqlite3: every SQLite call
 *   goes through the routines table of the process that loads it.  With
 *   -DS3BFS_VFS_STATIC the same file compiles into a program that links
 *   SQLite (the unit test does); register with s3bfs_vfs_register() then.
 *
 * LOADING
 *
 *   The stock shell:   .load /usr/local/lib/s3blockfs/s3blockfs_vfs
 *   C:                 sqlite3_enable_load_extension(db, 1);
 *                      sqlite3_load_extension(db, ".../s3blockfs_vfs", 0, &err);
 *   Python:            conn.enable_load_extension(True)
 *                      conn.load_extension(".../s3blockfs_vfs")
 *
 *   SQLite adds ".so" itself and derives the entry point from the file
 *   name's letters after the last '/' and a leading "lib", up to the first
 *   '.': "s3blockfs_vfs" -> sqlite3_sblockfsvfs_init (the digit and the '_'
 *   are dropped).  sqlite3_s3blockfsvfs_init is the same function, for
 *   callers that spell the entry point out.  The entry point returns
 *   SQLITE_OK_LOAD_PERMANENTLY: the VFS stays registered after the
 *   connection used to load it closes; loading again is harmless.
 *
 * USING
 *
 *   The VFS is named "s3blockfs" and is not the default.  Choose it per
 *   database with a URI ("file:/mnt/db/app.db?vfs=s3blockfs"), the vfs
 *   argument of sqlite3_open_v2(), or make it the process default by
 *   setting S3BLOCKFS_VFS_DEFAULT=1 in the environment before the extension
 *   is loaded (files off the mount are unaffected, so that is safe).
 *
 *   PRAGMA s3blockfs_info;   -- on a database the shim handles, one row:
 *     "vfs=s3blockfs block_size=4096 sector_size=4096 locking=posix shm=file"
 *   It returns no row for a file the shim passed through (not on a mount),
 *   and the shell's ".vfsname" prints "s3blockfs/unix" instead of "unix".
 *
 *   URI parameters: nolock=1 (no OS locks for this connection; SQLite itself
 *   then refuses WAL), psow=0 (do not claim power-safe overwrite).
 *
 * WHAT THE SHIM CHANGES FOR A DATABASE ON THE MOUNT
 *
 *   Recognition: the daemon answers getxattr("user.s3blockfs.block_size")
 *   with the volume's block size in decimal ASCII, on a volume and on a
 *   directory of the mount (the default block size); a database that does
 *   not exist yet is recognised through its directory.  ENODATA/ENOTSUP
 *   (any other file system) means "not ours"; so does a value that is not
 *   a decimal number (logged).
 *
 *   xSectorSize: the block size, rounded up to a power of two and clamped
 *   to 512..65536 (SQLite's own limits; its journal code assumes powers
 *   of two).
 *
 *   xDeviceCharacteristics: SQLITE_IOCAP_POWERSAFE_OVERWRITE only; the
 *   reasons for each flag are at vfs_device_characteristics().
 *
 *   Locking: passed through (POSIX locks of one host work on a FUSE mount).
 *   When the kernel refuses a lock as unsupported (ENOLCK, EOPNOTSUPP,
 *   ENOSYS), the database switches to in-process locking for the rest of
 *   the process's life (remembered after the last close for up to
 *   VFS_MAX_RETAINED databases), logged once with sqlite3_log(SQLITE_WARNING).
 *   In-process locking keeps the connections of this process apart exactly
 *   as the unix VFS does, but nothing keeps other processes out: the user
 *   must use such a database from one process at a time.
 *
 *   WAL: the -shm file is used as usual.  With in-process locking the WAL
 *   index lives in heap memory shared by the process's connections (the
 *   -shm file and its locks are never touched).  If mapping the -shm file
 *   fails while locks work, the connection takes and holds an EXCLUSIVE
 *   lock on the database and keeps the WAL index in heap memory, as
 *   SQLite's locking_mode=EXCLUSIVE does; other connections get
 *   SQLITE_BUSY until it leaves WAL mode or closes.
 *
 * IMPLEMENTATION NOTES
 *
 *   Layout as in SQLite's ext/misc/cksumvfs.c: struct vfs_file starts with
 *   the sqlite3_file SQLite sees; the lower VFS's file follows it
 *   (ORIGFILE()).  The per-database state that connections of one process
 *   share (in-process lock levels, the heap WAL index, "locks refused")
 *   lives in a struct vfs_node keyed by st_dev/st_ino, like the unix VFS's
 *   unixInodeInfo; nodes are listed in the one registered VFS object and
 *   guarded by its mutex.  A file's own fields are touched only by calls on
 *   that file, which SQLite serialises.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifdef S3BFS_VFS_STATIC
#include <sqlite3.h>
#else
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#endif

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>

#define VFS_NAME            "s3blockfs"
#define VFS_XATTR           "user.s3blockfs.block_size"
#define VFS_ENV_DEFAULT     "S3BLOCKFS_VFS_DEFAULT"
#define VFS_PRAGMA          "s3blockfs_info"
#define VFS_MAX_BLOCK_SIZE  (1 << 30)
#define VFS_MIN_SECTOR_SIZE 512
#define VFS_MAX_SECTOR_SIZE 65536
/* Heap WAL index ceiling: 16384 regions of 32 KiB index 64M frames. */
#define VFS_MAX_SHM_REGIONS 16384
/* Nodes kept after their last close only to remember "locks refused". */
#define VFS_MAX_RETAINED    64

#define ORIGFILE(p) ((sqlite3_file *)(((struct vfs_file *)(p)) + 1))

/* How a main-database file's xLock/xUnlock/xCheckReservedLock work. */
enum vfs_lockmode {
	VFS_LOCK_POSIX,  /* the lower VFS's POSIX locks */
	VFS_LOCK_INPROC, /* no OS lock; the node's in-process lock table only */
	VFS_LOCK_EXCL,   /* lower EXCLUSIVE held for a heap WAL index; levels tracked */
};

/* Where a file's WAL index (the xShm* methods) lives. */
enum vfs_shmmode {
	VFS_SHM_NONE, /* not mapped yet, or unmapped again */
	VFS_SHM_FILE, /* the lower VFS's -shm file */
	VFS_SHM_HEAP, /* the node's heap regions */
};

/* One database file as seen by all connections of this process. */
struct vfs_node {
	struct vfs_node *next; /* in vfs_state.nodes */
	dev_t dev;
	ino_t ino;
	int nref;                       /* open struct vfs_file */
	int retained;                   /* nref==0, kept for lock_refused; counted in nretained */
	int lock_refused;               /* the kernel refused a lock: every file goes INPROC */
	int warned_locks;               /* sqlite3_log() told about lock_refused */
	int lock;                       /* strongest SQLITE_LOCK_* of the INPROC files */
	int nshared;                    /* INPROC files holding SHARED or more */
	int shm_nref;                   /* files in VFS_SHM_HEAP */
	int szregion;                   /* bytes per heap region, fixed by the first map */
	int nregion;                    /* entries in regions */
	char **regions;                 /* heap WAL index */
	int shm_lock[SQLITE_SHM_NLOCK]; /* 0 free, >0 readers, -1 one writer */
};

/*
 * The registered VFS.  SQLite keeps the pointer given to sqlite3_vfs_register()
 * for the life of the process, so this one object is static; it is written
 * only under SQLITE_MUTEX_STATIC_VFS2 while it is not yet registered.
 */
struct vfs_state {
	sqlite3_vfs base;     /* pAppData points back here */
	sqlite3_vfs *lower;   /* the default VFS at registration */
	sqlite3_mutex *mutex; /* guards nodes and every node field */
	struct vfs_node *nodes;
	int nretained;
};

/* An open main database on the mount; the lower file follows it. */
struct vfs_file {
	sqlite3_file base;
	struct vfs_state *st;
	struct vfs_node *node;
	const char *path; /* SQLite's name; valid until xClose */
	int block_size;
	int sector_size;
	int devchar;
	int lockmode;        /* enum vfs_lockmode */
	int lock;            /* SQLITE_LOCK_* SQLite holds through this file */
	int shmmode;         /* enum vfs_shmmode */
	int shm_file_mapped; /* VFS_SHM_FILE gave a region: no fallback any more */
	uint16_t shm_shared; /* shm locks SQLite holds, one bit per slot */
	uint16_t shm_excl;
};

static struct vfs_state vfs_state;

#ifdef S3BFS_VFS_STATIC
int s3bfs_vfs_register(int make_default);
int s3bfs_vfs_unregister(void);
#else
int sqlite3_sblockfsvfs_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);
int sqlite3_s3blockfsvfs_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);
#endif

static const char *
errno_name(int err)
{
	switch (err) {
	case ENOLCK:
		return "ENOLCK";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case ENOSYS:
		return "ENOSYS";
	default:
		return "errno";
	}
}

/* ------------------------------------------------------------ recognition */

/*
 * Returns the block size in the attribute of path, 0 if path has no such
 * attribute (not on a mount), -ENOENT if path does not exist.
 */
static int
xattr_block_size(const char *path)
{
	char val[24];
	ssize_t n, i;
	long long v = 0;

	n = getxattr(path, VFS_XATTR, val, sizeof(val) - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : 0;
	/* Decimal digits, optionally ended by a NUL or a newline. */
	for (i = 0; i < n && val[i] != '\0' && val[i] != '\n'; i++) {
		if (val[i] < '0' || val[i] > '9')
			goto bad;
		v = v * 10 + (val[i] - '0');
		if (v > VFS_MAX_BLOCK_SIZE)
			goto bad;
	}
	if (v <= 0)
		goto bad;
	return (int)v;
bad:
	/* Not the daemon's contract: behave as stock SQLite would. */
	sqlite3_log(SQLITE_WARNING,
	            "s3blockfs: %s: %s is not a block size; passing the file through", path,
	            VFS_XATTR);
	return 0;
}

/*
 * Returns the block size of the mount holding path (or, when path does not
 * exist yet, path's directory), or 0 when it is not on an s3blockfs mount.
 */
static int
vfs_block_size(const char *path)
{
	char dir[PATH_MAX];
	const char *slash;
	size_t len;
	int bs;

	bs = xattr_block_size(path);
	if (bs != -ENOENT)
		return bs;
	slash = strrchr(path, '/');
	if (slash == NULL)
		return 0; /* xFullPathname always gives an absolute path */
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof(dir))
		return 0;
	memcpy(dir, path, len);
	dir[len] = '\0';
	bs = xattr_block_size(dir);
	return bs > 0 ? bs : 0;
}

/* The block size as a sector size SQLite can use: a power of two in 512..65536. */
static int
vfs_sector_size(int block_size)
{
	int s = VFS_MIN_SECTOR_SIZE;

	while (s < block_size && s < VFS_MAX_SECTOR_SIZE)
		s <<= 1;
	return s;
}

/* ------------------------------------------------------------------ nodes */

/* Finds or creates the node of dev/ino, with a reference; NULL if out of memory. */
static struct vfs_node *
node_acquire(struct vfs_state *st, dev_t dev, ino_t ino)
{
	struct vfs_node *n;

	sqlite3_mutex_enter(st->mutex);
	for (n = st->nodes; n != NULL; n = n->next) {
		if (n->dev == dev && n->ino == ino)
			break;
	}
	if (n == NULL) {
		n = sqlite3_malloc64(sizeof(*n));
		if (n == NULL)
			goto out;
		memset(n, 0, sizeof(*n));
		n->dev = dev;
		n->ino = ino;
		n->next = st->nodes;
		st->nodes = n;
	}
	if (n->retained) {
		n->retained = 0;
		st->nretained--;
	}
	n->nref++;
out:
	sqlite3_mutex_leave(st->mutex);
	return n;
}

static void
node_free_regions(struct vfs_node *n)
{
	int i;

	for (i = 0; i < n->nregion; i++)
		sqlite3_free(n->regions[i]);
	sqlite3_free(n->regions);
	n->regions = NULL;
	n->nregion = 0;
	n->szregion = 0;
	memset(n->shm_lock, 0, sizeof(n->shm_lock));
}

/* Drops a reference; st->mutex held.  A node that saw refused locks is kept. */
static void
node_release_locked(struct vfs_state *st, struct vfs_node *n)
{
	struct vfs_node **pp;

	if (--n->nref > 0 || n->shm_nref > 0)
		return;
	if (n->lock_refused && st->nretained < VFS_MAX_RETAINED) {
		n->retained = 1;
		st->nretained++;
		return;
	}
	for (pp = &st->nodes; *pp != n; pp = &(*pp)->next)
		;
	*pp = n->next;
	node_free_regions(n);
	sqlite3_free(n);
}

/* ---------------------------------------------------------------- locking */

/*
 * In-process locks, the part of the unix VFS's unixLock()/posixUnlock() that
 * arbitrates between connections of one process, without the fcntl() calls.
 * st->mutex held.
 */
static int
inproc_lock(struct vfs_file *f, int level)
{
	struct vfs_node *n = f->node;

	if (f->lock >= level)
		return SQLITE_OK;
	/* Another connection of this process holds a lock that precludes it. */
	if (f->lock != n->lock && (n->lock >= SQLITE_LOCK_PENDING || level > SQLITE_LOCK_SHARED))
		return SQLITE_BUSY;
	if (level == SQLITE_LOCK_SHARED) {
		if (n->lock == SQLITE_LOCK_NONE)
			n->lock = SQLITE_LOCK_SHARED;
		n->nshared++;
		f->lock = SQLITE_LOCK_SHARED;
		return SQLITE_OK;
	}
	if (level == SQLITE_LOCK_EXCLUSIVE && n->nshared > 1) {
		/* Readers remain: PENDING keeps new ones out meanwhile. */
		f->lock = n->lock = SQLITE_LOCK_PENDING;
		return SQLITE_BUSY;
	}
	f->lock = n->lock = level;
	return SQLITE_OK;
}

/* st->mutex held. */
static void
inproc_unlock(struct vfs_file *f, int level)
{
	struct vfs_node *n = f->node;

	if (f->lock <= level)
		return;
	if (f->lock > SQLITE_LOCK_SHARED)
		n->lock = SQLITE_LOCK_SHARED;
	if (level == SQLITE_LOCK_NONE && --n->nshared == 0)
		n->lock = SQLITE_LOCK_NONE;
	f->lock = level;
}

/*
 * Moves a POSIX or EXCL file to in-process locking, carrying the level SQLite
 * holds into the node's table.  st->mutex held.
 */
static void
file_go_inproc(struct vfs_file *f)
{
	sqlite3_file *lo = ORIGFILE(f);
	struct vfs_node *n = f->node;

	if (f->lockmode == VFS_LOCK_INPROC)
		return;
	/* Best effort: what the kernel refused is not held anyway. */
	(void)lo->pMethods->xUnlock(lo, SQLITE_LOCK_NONE);
	f->lockmode = VFS_LOCK_INPROC;
	if (f->lock >= SQLITE_LOCK_SHARED) {
		n->nshared++;
		if (f->lock > n->lock)
			n->lock = f->lock;
	}
}

/* The file's lock mode, after following a switch of its node.  Takes st->mutex. */
static int
file_lockmode(struct vfs_file *f)
{
	sqlite3_mutex_enter(f->st->mutex);
	if (f->node->lock_refused)
		file_go_inproc(f);
	sqlite3_mutex_leave(f->st->mutex);
	return f->lockmode;
}

/*
 * True when rc/err from the lower VFS mean "this file system has no POSIX
 * locks" rather than "somebody holds the lock".  The unix VFS maps fcntl()'s
 * ENOLCK to SQLITE_BUSY without keeping the errno (sqliteErrorFromPosixError()
 * in os_unix.c treats it as an NFS retry error), and EOPNOTSUPP/ENOSYS to
 * SQLITE_IOERR_LOCK/RDLOCK/UNLOCK/CHECKRESERVEDLOCK, keeping it as the file's
 * last errno.  A genuine conflict gives SQLITE_BUSY with EAGAIN/EACCES, or
 * no system call at all (errno stays the 0 the caller stored).
 */
static int
lock_unsupported(sqlite3_file *lo, int rc, int err)
{
	int prim = rc & 0xff;

	if (prim != SQLITE_BUSY && prim != SQLITE_IOERR)
		return 0;
	if (err == 0 && prim == SQLITE_IOERR &&
	    lo->pMethods->xFileControl(lo, SQLITE_FCNTL_LAST_ERRNO, &err) != SQLITE_OK)
		err = 0;
	return err == ENOLCK || err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS;
}

/* The lower VFS refused a lock as unsupported: the whole database goes in-process. */
static void
file_locks_refused(struct vfs_file *f, const char *op, int rc, int err)
{
	struct vfs_node *n = f->node;

	sqlite3_mutex_enter(f->st->mutex);
	n->lock_refused = 1;
	if (!n->warned_locks) {
		n->warned_locks = 1;
		sqlite3_log(
		    SQLITE_WARNING,
		    "s3blockfs: %s: %s failed (SQLite code %d, %s %d): the file system "
		    "refuses POSIX locks; locking this database in-process only from now on. "
		    "Use it from one process at a time.",
		    f->path, op, rc, errno_name(err), err);
	}
	file_go_inproc(f);
	sqlite3_mutex_leave(f->st->mutex);
}

static int
vfs_lock(sqlite3_file *pf, int level)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	int rc, err;

	if (file_lockmode(f) == VFS_LOCK_POSIX) {
		errno = 0;
		rc = lo->pMethods->xLock(lo, level);
		err = errno;
		if (rc == SQLITE_OK) {
			f->lock = level;
			return rc;
		}
		if (!lock_unsupported(lo, rc, err))
			return rc;
		file_locks_refused(f, "xLock", rc, err);
	}
	sqlite3_mutex_enter(f->st->mutex);
	if (f->lockmode == VFS_LOCK_EXCL) {
		/* The lower EXCLUSIVE lock covers every level. */
		if (level > f->lock)
			f->lock = level;
		rc = SQLITE_OK;
	} else {
		rc = inproc_lock(f, level);
	}
	sqlite3_mutex_leave(f->st->mutex);
	return rc;
}

static int
vfs_unlock(sqlite3_file *pf, int level)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	int rc, err;

	if (file_lockmode(f) == VFS_LOCK_POSIX) {
		errno = 0;
		rc = lo->pMethods->xUnlock(lo, level);
		err = errno;
		if (rc == SQLITE_OK) {
			if (level < f->lock)
				f->lock = level;
			return rc;
		}
		if (!lock_unsupported(lo, rc, err))
			return rc;
		file_locks_refused(f, "xUnlock", rc, err);
	}
	sqlite3_mutex_enter(f->st->mutex);
	if (f->lockmode == VFS_LOCK_EXCL) {
		if (level < f->lock)
			f->lock = level;
	} else {
		inproc_unlock(f, level);
	}
	sqlite3_mutex_leave(f->st->mutex);
	return SQLITE_OK;
}

static int
vfs_check_reserved_lock(sqlite3_file *pf, int *res)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	int rc, err;

	if (file_lockmode(f) == VFS_LOCK_POSIX) {
		errno = 0;
		rc = lo->pMethods->xCheckReservedLock(lo, res);
		err = errno;
		if (rc == SQLITE_OK || !lock_unsupported(lo, rc, err))
			return rc;
		file_locks_refused(f, "xCheckReservedLock", rc, err);
	}
	sqlite3_mutex_enter(f->st->mutex);
	/* EXCL: nobody else can hold RESERVED while we hold EXCLUSIVE. */
	*res = f->lockmode == VFS_LOCK_INPROC && f->node->lock > SQLITE_LOCK_SHARED;
	sqlite3_mutex_leave(f->st->mutex);
	return SQLITE_OK;
}

/* ------------------------------------------------------------ shared memory */

/*
 * True when a failed first lower xShmMap means "the -shm file cannot be used
 * here" (open, size, map, or its lock probe failed) rather than a transient
 * or read-only condition that SQLite handles itself.
 */
static int
shm_fallback_ok(int rc)
{
	return (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN;
}

/*
 * Locks work but the -shm file does not: hold EXCLUSIVE on the database in the
 * lower VFS, so that no other connection (of any process) can read the WAL
 * without our heap index.  SQLite does the same for locking_mode=EXCLUSIVE.
 */
/*
 * Puts the lower file back at the level SQLite holds (the unix VFS unlocks only
 * to SHARED or NONE).  Best effort: used on paths that already degrade.
 */
static void
lower_set_level(sqlite3_file *lo, int level)
{
	(void)lo->pMethods->xUnlock(lo, level >= SQLITE_LOCK_SHARED ? SQLITE_LOCK_SHARED
	                                                            : SQLITE_LOCK_NONE);
	if (level == SQLITE_LOCK_RESERVED)
		(void)lo->pMethods->xLock(lo, SQLITE_LOCK_RESERVED);
}

/*
 * Locks work but the -shm file does not: hold EXCLUSIVE on the database in the
 * lower VFS, so that no other connection (of any process) can read the WAL
 * without our heap index.  SQLite does the same for locking_mode=EXCLUSIVE.
 * SQLite maps the index in a read transaction, so f->lock is SHARED here.
 */
static int
file_go_excl(struct vfs_file *f, int why)
{
	sqlite3_file *lo = ORIGFILE(f);
	int rc = SQLITE_OK;

	if (f->lock < SQLITE_LOCK_SHARED)
		rc = lo->pMethods->xLock(lo, SQLITE_LOCK_SHARED);
	if (rc == SQLITE_OK && f->lock < SQLITE_LOCK_EXCLUSIVE)
		rc = lo->pMethods->xLock(lo, SQLITE_LOCK_EXCLUSIVE);
	if (rc != SQLITE_OK) {
		/* SQLite sees SQLITE_BUSY ("database is locked") and may retry. */
		lower_set_level(lo, f->lock);
		return rc;
	}
	f->lockmode = VFS_LOCK_EXCL;
	sqlite3_log(
	    SQLITE_WARNING,
	    "s3blockfs: %s: cannot use the -shm file (SQLite code %d); keeping the WAL index "
	    "in heap memory and holding an exclusive lock on the database while in WAL mode, "
	    "as locking_mode=EXCLUSIVE does",
	    f->path, why);
	return SQLITE_OK;
}

/* Back from EXCL to POSIX once the heap index is gone. */
static void
file_leave_excl(struct vfs_file *f)
{
	if (f->lockmode != VFS_LOCK_EXCL)
		return;
	f->lockmode = VFS_LOCK_POSIX;
	/* Holding EXCLUSIVE (closing the WAL after a checkpoint): the lower
	 * EXCLUSIVE is what SQLite holds; its next xUnlock goes down. */
	if (f->lock < SQLITE_LOCK_EXCLUSIVE)
		lower_set_level(ORIGFILE(f), f->lock);
}

static int
heap_map(struct vfs_file *f, int region, int szregion, void volatile **pp)
{
	struct vfs_node *n = f->node;
	char **regions;
	int i, rc = SQLITE_OK;

	*pp = NULL;
	sqlite3_mutex_enter(f->st->mutex);
	if (f->shmmode != VFS_SHM_HEAP) {
		f->shmmode = VFS_SHM_HEAP;
		n->shm_nref++;
		/* Locks SQLite took on the -shm file before it failed carry over
		 * (WAL recovery locks, then extends the index). */
		for (i = 0; i < SQLITE_SHM_NLOCK; i++) {
			if (f->shm_excl & (1u << i))
				n->shm_lock[i] = -1;
			else if (f->shm_shared & (1u << i))
				n->shm_lock[i]++;
		}
	}
	if (n->szregion == 0)
		n->szregion = szregion;
	if (n->szregion != szregion || region < 0 || region >= VFS_MAX_SHM_REGIONS) {
		rc = SQLITE_IOERR_SHMSIZE;
		goto out;
	}
	if (region >= n->nregion) {
		regions =
		    sqlite3_realloc64(n->regions, (sqlite3_uint64)(region + 1) * sizeof(*regions));
		if (regions == NULL) {
			rc = SQLITE_IOERR_NOMEM;
			goto out;
		}
		n->regions = regions;
		/* As the unix VFS's heap mode: allocate even without bExtend. */
		while (n->nregion <= region) {
			n->regions[n->nregion] = sqlite3_malloc64((sqlite3_uint64)szregion);
			if (n->regions[n->nregion] == NULL) {
				rc = SQLITE_IOERR_NOMEM;
				goto out;
			}
			memset(n->regions[n->nregion], 0, (size_t)szregion);
			n->nregion++;
		}
	}
	*pp = n->regions[region];
out:
	sqlite3_mutex_leave(f->st->mutex);
	return rc;
}

/* Drops the file's heap shm locks and reference.  st->mutex held. */
static void
heap_detach_locked(struct vfs_file *f)
{
	struct vfs_node *n = f->node;
	int i;

	if (f->shmmode != VFS_SHM_HEAP)
		return;
	for (i = 0; i < SQLITE_SHM_NLOCK; i++) {
		if (f->shm_excl & (1u << i))
			n->shm_lock[i] = 0;
		else if (f->shm_shared & (1u << i))
			n->shm_lock[i]--;
	}
	f->shm_excl = f->shm_shared = 0;
	f->shmmode = VFS_SHM_NONE;
	if (--n->shm_nref == 0)
		node_free_regions(n);
}

/* The in-process part of unixShmLock(), with a counter per slot. */
static int
heap_lock(struct vfs_file *f, int ofst, int cnt, int flags)
{
	struct vfs_node *n = f->node;
	unsigned int mask;
	int i, rc = SQLITE_OK;

	if (ofst < 0 || cnt < 1 || ofst + cnt > SQLITE_SHM_NLOCK)
		return SQLITE_IOERR_SHMLOCK;
	mask = (1u << (ofst + cnt)) - (1u << ofst);
	sqlite3_mutex_enter(f->st->mutex);
	if (flags & SQLITE_SHM_UNLOCK) {
		for (i = ofst; i < ofst + cnt; i++) {
			if (f->shm_excl & (1u << i))
				n->shm_lock[i] = 0;
			else if (f->shm_shared & (1u << i))
				n->shm_lock[i]--;
		}
		f->shm_excl &= (uint16_t)~mask;
		f->shm_shared &= (uint16_t)~mask;
	} else if (flags & SQLITE_SHM_SHARED) {
		/* SQLite takes shared locks one slot at a time. */
		if ((f->shm_shared & mask) == 0) {
			if (n->shm_lock[ofst] < 0) {
				rc = SQLITE_BUSY;
			} else {
				n->shm_lock[ofst]++;
				f->shm_shared |= (uint16_t)mask;
			}
		}
	} else {
		for (i = ofst; i < ofst + cnt; i++) {
			if (!(f->shm_excl & (1u << i)) && n->shm_lock[i] != 0)
				rc = SQLITE_BUSY;
		}
		if (rc == SQLITE_OK) {
			for (i = ofst; i < ofst + cnt; i++)
				n->shm_lock[i] = -1;
			f->shm_excl |= (uint16_t)mask;
		}
	}
	sqlite3_mutex_leave(f->st->mutex);
	return rc;
}

/* Records in f the shm locks SQLite holds after a successful xShmLock. */
static void
shm_track(struct vfs_file *f, int ofst, int cnt, int flags)
{
	uint16_t mask = (uint16_t)((1u << (ofst + cnt)) - (1u << ofst));

	if (flags & SQLITE_SHM_UNLOCK) {
		f->shm_shared &= (uint16_t)~mask;
		f->shm_excl &= (uint16_t)~mask;
	} else if (flags & SQLITE_SHM_SHARED) {
		f->shm_shared |= mask;
	} else {
		f->shm_excl |= mask;
	}
}

static int
vfs_shm_map(sqlite3_file *pf, int region, int szregion, int extend, void volatile **pp)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	const sqlite3_io_methods *m = lo->pMethods;
	int rc;

	if (f->shmmode == VFS_SHM_HEAP ||
	    (f->shmmode == VFS_SHM_NONE && file_lockmode(f) != VFS_LOCK_POSIX))
		return heap_map(f, region, szregion, pp);
	/* The -shm file, as long as it works.  The first map (bExtend=0 of an
	 * empty file) succeeds without mapping anything, so a failure counts as
	 * "cannot use the file" until a region was actually mapped. */
	if (m->iVersion >= 2 && m->xShmMap != NULL) {
		rc = m->xShmMap(lo, region, szregion, extend, pp);
		if (rc == SQLITE_OK) {
			f->shmmode = VFS_SHM_FILE;
			if (*pp != NULL)
				f->shm_file_mapped = 1;
			return rc;
		}
		if (f->shm_file_mapped || !shm_fallback_ok(rc))
			return rc;
		/* Close what the failed attempt opened; keep the file. */
		(void)m->xShmUnmap(lo, 0);
	} else {
		rc = SQLITE_IOERR_SHMMAP;
	}
	f->shmmode = VFS_SHM_NONE;
	rc = file_go_excl(f, rc);
	if (rc != SQLITE_OK) {
		/* The -shm file's locks went with it; SQLite's unlocks are no-ops. */
		f->shm_shared = f->shm_excl = 0;
		return rc;
	}
	return heap_map(f, region, szregion, pp);
}

static int
vfs_shm_lock(sqlite3_file *pf, int ofst, int cnt, int flags)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	int rc;

	if (f->shmmode != VFS_SHM_FILE)
		return heap_lock(f, ofst, cnt, flags);
	rc = lo->pMethods->xShmLock(lo, ofst, cnt, flags);
	if (rc == SQLITE_OK && ofst >= 0 && cnt >= 1 && ofst + cnt <= SQLITE_SHM_NLOCK)
		shm_track(f, ofst, cnt, flags);
	return rc;
}

static void
vfs_shm_barrier(sqlite3_file *pf)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);

	if (f->shmmode == VFS_SHM_FILE) {
		lo->pMethods->xShmBarrier(lo);
		return;
	}
	/* As unixShmBarrier(): a full fence, then the mutex for good measure. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	sqlite3_mutex_enter(f->st->mutex);
	sqlite3_mutex_leave(f->st->mutex);
}

static int
vfs_shm_unmap(sqlite3_file *pf, int delete_flag)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	const sqlite3_io_methods *m = lo->pMethods;

	if (f->shmmode == VFS_SHM_HEAP) {
		sqlite3_mutex_enter(f->st->mutex);
		heap_detach_locked(f);
		if (f->lockmode == VFS_LOCK_EXCL)
			file_leave_excl(f);
		sqlite3_mutex_leave(f->st->mutex);
		return SQLITE_OK;
	}
	f->shmmode = VFS_SHM_NONE;
	f->shm_file_mapped = 0;
	f->shm_shared = f->shm_excl = 0;
	if (m->iVersion >= 2 && m->xShmUnmap != NULL)
		return m->xShmUnmap(lo, delete_flag);
	return SQLITE_OK;
}

/* ------------------------------------------------------------ file methods */

static int
vfs_close(sqlite3_file *pf)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	int rc;

	sqlite3_mutex_enter(f->st->mutex);
	heap_detach_locked(f);
	if (f->lockmode == VFS_LOCK_INPROC)
		inproc_unlock(f, SQLITE_LOCK_NONE);
	sqlite3_mutex_leave(f->st->mutex);
	/* The lower close drops the lower locks, EXCL's included. */
	rc = lo->pMethods->xClose(lo);
	sqlite3_mutex_enter(f->st->mutex);
	node_release_locked(f->st, f->node);
	sqlite3_mutex_leave(f->st->mutex);
	f->node = NULL;
	return rc;
}

static int
vfs_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
	sqlite3_file *lo = ORIGFILE(pf);

	return lo->pMethods->xRead(lo, buf, amt, off);
}

static int
vfs_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
	sqlite3_file *lo = ORIGFILE(pf);

	return lo->pMethods->xWrite(lo, buf, amt, off);
}

static int
vfs_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	sqlite3_file *lo = ORIGFILE(pf);

	return lo->pMethods->xTruncate(lo, size);
}

static int
vfs_sync(sqlite3_file *pf, int flags)
{
	sqlite3_file *lo = ORIGFILE(pf);

	return lo->pMethods->xSync(lo, flags);
}

static int
vfs_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	sqlite3_file *lo = ORIGFILE(pf);

	return lo->pMethods->xFileSize(lo, size);
}

static const char *
lockmode_name(int mode)
{
	switch (mode) {
	case VFS_LOCK_POSIX:
		return "posix";
	case VFS_LOCK_INPROC:
		return "none";
	default:
		return "exclusive";
	}
}

static const char *
shmmode_name(int mode)
{
	switch (mode) {
	case VFS_SHM_FILE:
		return "file";
	case VFS_SHM_HEAP:
		return "heap";
	default:
		return "none";
	}
}

static int
vfs_file_control(sqlite3_file *pf, int op, void *arg)
{
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	char **azarg;
	int rc;

	if (op == SQLITE_FCNTL_PRAGMA) {
		azarg = arg;
		if (azarg[1] != NULL && sqlite3_stricmp(azarg[1], VFS_PRAGMA) == 0) {
			azarg[0] = sqlite3_mprintf("vfs=%s block_size=%d sector_size=%d locking=%s "
			                           "shm=%s",
			                           VFS_NAME, f->block_size, f->sector_size,
			                           lockmode_name(file_lockmode(f)),
			                           shmmode_name(f->shmmode));
			return azarg[0] != NULL ? SQLITE_OK : SQLITE_NOMEM;
		}
	}
	rc = lo->pMethods->xFileControl(lo, op, arg);
	if (rc == SQLITE_OK && op == SQLITE_FCNTL_VFSNAME)
		*(char **)arg = sqlite3_mprintf("%s/%z", VFS_NAME, *(char **)arg);
	return rc;
}

static int
vfs_sector_size_method(sqlite3_file *pf)
{
	return ((struct vfs_file *)pf)->sector_size;
}

/*
 * What the mount can promise SQLite, flag by flag:
 *
 * POWERSAFE_OVERWRITE - claimed.  A write changes only the bytes it names:
 *   the daemon merges a partial block into the whole block (read-modify-
 *   write under a per-block lock) and stores it as one new object, and an
 *   object is replaced atomically (S3 PUT; the local backend writes whole
 *   block files), so a crash never garbles bytes around a write.  SQLite
 *   then need not journal a page's neighbours in the same block.  psow=0
 *   in the URI turns it off.
 * ATOMIC, ATOMIC512..64K - not claimed.  A block object is replaced
 *   atomically, but a write reaches it through the kernel (which may split
 *   it), the write-back cache and parallel uploads; nothing makes a write
 *   of N bytes all-or-nothing after a crash.  A false claim lets SQLite
 *   skip journaling: corruption.
 * SAFE_APPEND - not claimed.  Blocks of an append are uploaded in
 *   parallel, in any order: after a crash block K+1 may exist while block
 *   K holds old data or is missing, and the size (computed from the
 *   objects) can cover bytes never written, which is exactly what the flag
 *   denies.
 * SEQUENTIAL - not claimed: write-back reorders writes.
 * BATCH_ATOMIC - not claimed: no atomic multi-write (no
 *   SQLITE_FCNTL_BEGIN_ATOMIC_WRITE support).
 * UNDELETABLE_WHEN_OPEN - not claimed: unlink works while open.
 * IMMUTABLE - not claimed: the file changes.
 */
static int
vfs_device_characteristics(sqlite3_file *pf)
{
	return ((struct vfs_file *)pf)->devchar;
}

static int
vfs_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
	sqlite3_file *lo = ORIGFILE(pf);

	if (lo->pMethods->iVersion >= 3 && lo->pMethods->xFetch != NULL)
		return lo->pMethods->xFetch(lo, off, amt, pp);
	*pp = NULL;
	return SQLITE_OK;
}

static int
vfs_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	sqlite3_file *lo = ORIGFILE(pf);

	if (lo->pMethods->iVersion >= 3 && lo->pMethods->xUnfetch != NULL)
		return lo->pMethods->xUnfetch(lo, off, p);
	return SQLITE_OK;
}

static const sqlite3_io_methods vfs_io_methods = {
    .iVersion = 3,
    .xClose = vfs_close,
    .xRead = vfs_read,
    .xWrite = vfs_write,
    .xTruncate = vfs_truncate,
    .xSync = vfs_sync,
    .xFileSize = vfs_file_size,
    .xLock = vfs_lock,
    .xUnlock = vfs_unlock,
    .xCheckReservedLock = vfs_check_reserved_lock,
    .xFileControl = vfs_file_control,
    .xSectorSize = vfs_sector_size_method,
    .xDeviceCharacteristics = vfs_device_characteristics,
    .xShmMap = vfs_shm_map,
    .xShmLock = vfs_shm_lock,
    .xShmBarrier = vfs_shm_barrier,
    .xShmUnmap = vfs_shm_unmap,
    .xFetch = vfs_fetch,
    .xUnfetch = vfs_unfetch,
};

/* ------------------------------------------------------------- VFS methods */

static int
vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *outflags)
{
	struct vfs_state *st = vfs->pAppData;
	sqlite3_vfs *lower = st->lower;
	struct vfs_file *f = (struct vfs_file *)pf;
	sqlite3_file *lo = ORIGFILE(pf);
	struct stat sb;
	int bs, rc;

	/* Journals, WAL files, temp files and files off the mount: the lower VFS
	 * opens them straight into SQLite's buffer and the shim is out of the way
	 * (the WAL index belongs to the main database's methods). */
	if (!(flags & SQLITE_OPEN_MAIN_DB) || name == NULL || (bs = vfs_block_size(name)) == 0)
		return lower->xOpen(lower, name, pf, flags, outflags);

	memset(f, 0, sizeof(*f));
	rc = lower->xOpen(lower, name, lo, flags, outflags);
	if (rc != SQLITE_OK)
		goto fail0;
	if (stat(name, &sb) != 0) {
		sqlite3_log(SQLITE_CANTOPEN, "s3blockfs: %s: stat failed (errno %d)", name, errno);
		rc = SQLITE_CANTOPEN;
		goto fail0;
	}
	f->st = st;
	f->path = name;
	f->block_size = bs;
	f->sector_size = vfs_sector_size(bs);
	f->devchar = sqlite3_uri_boolean(name, "psow", 1) ? SQLITE_IOCAP_POWERSAFE_OVERWRITE : 0;
	f->node = node_acquire(st, sb.st_dev, sb.st_ino);
	if (f->node == NULL) {
		rc = SQLITE_NOMEM;
		goto fail0;
	}
	f->lockmode = VFS_LOCK_POSIX;
	if (sqlite3_uri_boolean(name, "nolock", 0))
		f->lockmode = VFS_LOCK_INPROC;
	pf->pMethods = &vfs_io_methods;
	return SQLITE_OK;

fail0:
	/* A lower file with methods set must be closed even after an error. */
	if (lo->pMethods != NULL)
		(void)lo->pMethods->xClose(lo);
	pf->pMethods = NULL;
	return rc;
}

#define LOWER(vfs) (((struct vfs_state *)(vfs)->pAppData)->lower)

static int
vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return LOWER(vfs)->xDelete(LOWER(vfs), name, sync_dir);
}

static int
vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *res)
{
	return LOWER(vfs)->xAccess(LOWER(vfs), name, flags, res);
}

static int
vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int nout, char *out)
{
	return LOWER(vfs)->xFullPathname(LOWER(vfs), name, nout, out);
}

static void *
vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return LOWER(vfs)->xDlOpen(LOWER(vfs), name);
}

static void
vfs_dl_error(sqlite3_vfs *vfs, int nbyte, char *msg)
{
	LOWER(vfs)->xDlError(LOWER(vfs), nbyte, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return LOWER(vfs)->xDlSym(LOWER(vfs), h, sym);
}

static void
vfs_dl_close(sqlite3_vfs *vfs, void *h)
{
	LOWER(vfs)->xDlClose(LOWER(vfs), h);
}

static int
vfs_randomness(sqlite3_vfs *vfs, int nbyte, char *out)
{
	return LOWER(vfs)->xRandomness(LOWER(vfs), nbyte, out);
}

static int
vfs_sleep(sqlite3_vfs *vfs, int usec)
{
	return LOWER(vfs)->xSleep(LOWER(vfs), usec);
}

static int
vfs_current_time(sqlite3_vfs *vfs, double *t)
{
	return LOWER(vfs)->xCurrentTime(LOWER(vfs), t);
}

static int
vfs_get_last_error(sqlite3_vfs *vfs, int nbyte, char *msg)
{
	return LOWER(vfs)->xGetLastError(LOWER(vfs), nbyte, msg);
}

static int
vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	sqlite3_vfs *lower = LOWER(vfs);
	double d;
	int rc;

	if (lower->iVersion >= 2 && lower->xCurrentTimeInt64 != NULL)
		return lower->xCurrentTimeInt64(lower, t);
	rc = lower->xCurrentTime(lower, &d);
	*t = (sqlite3_int64)(d * 86400000.0);
	return rc;
}

static int
vfs_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr call)
{
	return LOWER(vfs)->xSetSystemCall(LOWER(vfs), name, call);
}

static sqlite3_syscall_ptr
vfs_get_system_call(sqlite3_vfs *vfs, const char *name)
{
	return LOWER(vfs)->xGetSystemCall(LOWER(vfs), name);
}

static const char *
vfs_next_system_call(sqlite3_vfs *vfs, const char *name)
{
	return LOWER(vfs)->xNextSystemCall(LOWER(vfs), name);
}

/* ----------------------------------------------------------- registration */

/*
 * Registers the VFS over the current default VFS, once per process; a second
 * call only honours make_default.  Returns an SQLite result code.
 */
static int
vfs_register(int make_default)
{
	sqlite3_mutex *reg = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS2);
	struct vfs_state *st = &vfs_state;
	sqlite3_vfs *lower, *mine;
	int rc = SQLITE_OK;

	sqlite3_mutex_enter(reg);
	mine = sqlite3_vfs_find(VFS_NAME);
	if (mine != NULL) {
		if (make_default)
			rc = sqlite3_vfs_register(mine, 1);
		goto out;
	}
	lower = sqlite3_vfs_find(NULL);
	if (lower == NULL) {
		rc = SQLITE_ERROR;
		goto out;
	}
	memset(st, 0, sizeof(*st));
	st->lower = lower;
	st->mutex = sqlite3_mutex_alloc(SQLITE_MUTEX_FAST);
	if (st->mutex == NULL && sqlite3_threadsafe()) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	st->base.iVersion = lower->iVersion < 3 ? lower->iVersion : 3;
	st->base.szOsFile = lower->szOsFile + (int)sizeof(struct vfs_file);
	st->base.mxPathname = lower->mxPathname;
	st->base.zName = VFS_NAME;
	st->base.pAppData = st;
	st->base.xOpen = vfs_open;
	st->base.xDelete = vfs_delete;
	st->base.xAccess = vfs_access;
	st->base.xFullPathname = vfs_full_pathname;
	st->base.xDlOpen = vfs_dl_open;
	st->base.xDlError = vfs_dl_error;
	st->base.xDlSym = vfs_dl_sym;
	st->base.xDlClose = vfs_dl_close;
	st->base.xRandomness = vfs_randomness;
	st->base.xSleep = vfs_sleep;
	st->base.xCurrentTime = vfs_current_time;
	st->base.xGetLastError = vfs_get_last_error;
	st->base.xCurrentTimeInt64 = vfs_current_time_int64;
	st->base.xSetSystemCall = vfs_set_system_call;
	st->base.xGetSystemCall = vfs_get_system_call;
	st->base.xNextSystemCall = vfs_next_system_call;
	rc = sqlite3_vfs_register(&st->base, make_default);
	if (rc != SQLITE_OK) {
		sqlite3_mutex_free(st->mutex);
		st->mutex = NULL;
	}
out:
	sqlite3_mutex_leave(reg);
	return rc;
}

#ifdef S3BFS_VFS_STATIC
/* Registers "s3blockfs" (as the default VFS if make_default); idempotent. */
int
s3bfs_vfs_register(int make_default)
{
	return vfs_register(make_default);
}

/*
 * Unregisters the VFS and frees the retained nodes.  Only with no file open
 * through it (SQLITE_BUSY otherwise).
 */
int
s3bfs_vfs_unregister(void)
{
	sqlite3_mutex *reg = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS2);
	struct vfs_state *st = &vfs_state;
	struct vfs_node *n;
	int rc = SQLITE_OK;

	sqlite3_mutex_enter(reg);
	if (sqlite3_vfs_find(VFS_NAME) != &st->base)
		goto out;
	for (n = st->nodes; n != NULL; n = n->next) {
		if (n->nref > 0 || n->shm_nref > 0) {
			rc = SQLITE_BUSY;
			goto out;
		}
	}
	rc = sqlite3_vfs_unregister(&st->base);
	if (rc != SQLITE_OK)
		goto out;
	while ((n = st->nodes) != NULL) {
		st->nodes = n->next;
		node_free_regions(n);
		sqlite3_free(n);
	}
	sqlite3_mutex_free(st->mutex);
	memset(st, 0, sizeof(*st));
out:
	sqlite3_mutex_leave(reg);
	return rc;
}

#else  /* !S3BFS_VFS_STATIC */

/* S3BLOCKFS_VFS_DEFAULT=1 (or yes/true/on) makes the shim the default VFS. */
static int
env_make_default(void)
{
	/* Read once per load, before any connection uses the VFS. */
	const char *v = getenv(VFS_ENV_DEFAULT); // NOLINT(concurrency-mt-unsafe)

	return v != NULL && (strcmp(v, "1") == 0 || sqlite3_stricmp(v, "yes") == 0 ||
	                     sqlite3_stricmp(v, "true") == 0 || sqlite3_stricmp(v, "on") == 0);
}

/* The entry point SQLite derives from "s3blockfs_vfs.so". */
int
sqlite3_sblockfsvfs_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	int rc;

	SQLITE_EXTENSION_INIT2(api);
	rc = vfs_register(env_make_default());
	if (rc != SQLITE_OK) {
		if (errmsg != NULL)
			*errmsg = sqlite3_mprintf("s3blockfs: cannot register the VFS: %s",
			                          sqlite3_errstr(rc));
		return rc;
	}
	return SQLITE_OK_LOAD_PERMANENTLY;
}

/* The same, under the name with the digit, for callers naming the entry point. */
int
sqlite3_s3blockfsvfs_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	return sqlite3_sblockfsvfs_init(db, errmsg, api);
}
#endif /* S3BFS_VFS_STATIC */
