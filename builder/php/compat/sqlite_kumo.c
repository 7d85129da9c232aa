/* SQLite for PHP's pdo_sqlite on wasm32-wasip1: the amalgamation, plus a
 * start-up hook (SQLITE_EXTRA_INIT) that makes "unix-dotfile" the default
 * VFS. WASI has no fcntl() record locks, which the default "unix" VFS needs;
 * unix-dotfile locks a database by creating "<db>.lock" (a directory) beside
 * it, which WASI can do, and still keeps two dynos' writers apart. */
#include "sqlite3.c"

int kumo_sqlite_init(const char *unused)
{
	sqlite3_vfs *vfs = sqlite3_vfs_find("unix-dotfile");
	return vfs ? sqlite3_vfs_register(vfs, 1) : SQLITE_ERROR;
}
