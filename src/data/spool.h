/* The spool: hands complete data files to M-Lab's uploaders, exactly once. */
#ifndef NP_DATA_SPOOL_H
#define NP_DATA_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Files land in <datadir>/<datatype>/YYYY/MM/DD/<name> (UTC date), where
 * M-Lab's pusher and jostler watch for IN_CLOSE_WRITE and IN_MOVED_TO. Each
 * file must appear by a single event on its final name, complete, and never
 * be reopened or deleted by us. np_spool_write does that by writing an
 * O_TMPFILE in the day directory (its close event names "#<inode>", which
 * no uploader can open), linking it to a hidden staging name ".<name>.part"
 * only once it is fsynced, and renaming the staging name to the final one
 * (IN_MOVED_TO). A crash leaves either nothing or a complete ".part", which
 * np_spool_recover renames into place at the next start. See DESIGN.md,
 * "Data". */
typedef struct np_spool np_spool;

/* Opens a spool rooted at datadir, creating it (and its parents, mode 0755)
 * if needed. *ret is set on success only; free it with np_spool_close.
 * NP_E_BADARG for an empty path, -ENOTDIR, -EACCES, -ENOMEM, ... */
int np_spool_open(const char *datadir, np_spool **ret);

/* Frees the spool. NULL-safe. Every np_spool_write_async callback must have
 * run before this is called. Files are never touched. */
void np_spool_close(np_spool *s);

/* The datadir the spool was opened with (owned by the spool). */
const char *np_spool_datadir(const np_spool *s);

/* At start-up, before any write: walks <datadir>/<datatype>/ (no symlinks
 * followed) and renames every staging file ".<final>.part" to "<final>",
 * then fsyncs its directory. A staging file is only ever linked after its
 * content was fsynced, so it is complete. Nothing is deleted: a staging
 * file whose final name already exists is left alone and not counted.
 * A missing datatype directory is not an error. *ret_recovered (may be
 * NULL) gets the number of files renamed, on success only. NP_E_BADARG for
 * a bad datatype; a negative errno for the first failure, which stops the
 * walk (files renamed before it stay renamed). Not safe to run while a
 * writer on the same datatype is active. */
int np_spool_recover(np_spool *s, const char *datatype, size_t *ret_recovered);

/* Creates the day directories of wall_ns and of the day after (mode 0755)
 * for datatype. An uploader watching recursively only sees files in a
 * directory after it has added a watch for it, which it does when it sees
 * the directory appear; a file renamed into a brand-new directory at once
 * can slip past it (until its periodic scan, hours later). np_spool_write
 * calls this for the next day itself; call it once at start-up too.
 * Blocking. NP_E_BADARG or a negative errno. */
int np_spool_prepare(np_spool *s, const char *datatype, int64_t wall_ns);

/* Writes len bytes at data as <datadir>/<datatype>/YYYY/MM/DD/<name>, the
 * date being wall_ns (ns since the Unix epoch) in UTC. Synchronous and
 * blocking (mkdir, fsync): call it from a worker thread, never the loop
 * thread. Safe to call from several threads at once on one spool.
 *
 * datatype must match ^[a-z][a-z0-9]*$; name must match [A-Za-z0-9:._-]+,
 * not start with '.', and fit NAME_MAX with the staging affixes; otherwise
 * NP_E_BADARG. The file is never overwritten: -EEXIST if the final name (or
 * our staging name for it) exists already, leaving the existing file
 * untouched. On any failure no file of ours remains under the final or the
 * staging name. On success the final path is copied to ret_path (may be
 * NULL; NP_E_TOOBIG, before anything is written, if pathcap is too small).
 * On filesystems without O_TMPFILE a named ".<name>.<random>.tmp" is
 * written and renamed instead; its close raises IN_CLOSE_WRITE on that
 * hidden name. A partial one left by a crash is never published, removed
 * or reused, and does not stand in the way of a new write of the name.
 * If the last step, the directory fsync, fails, the error is returned but
 * the file has been handed over already: it is never taken back. */
int np_spool_write(np_spool *s, const char *datatype, int64_t wall_ns, const char *name,
                   const void *data, size_t len, char *ret_path, size_t pathcap);

/* How an async write ended. status is what np_spool_write returned (or
 * UV_ECANCELED); path the final path on success, NULL otherwise. On
 * failure, data/len are the file's bytes as they would have been written
 * (gzipped for a gzip job), so the caller can keep them and try again
 * (np_spool_write_async with them); ownership passes to the callback, which
 * must free(data). data is NULL when there is nothing to keep (success, or
 * compression failed). path is only valid during the call. */
typedef struct {
  int status;
  const char *path;
  uint8_t *data;
  size_t len;
} np_spool_result;

/* Runs on the loop thread when an async write ends. */
typedef void (*np_spool_done_cb)(void *ud, np_spool_result *res);

/* Queues np_spool_write on libuv's thread pool so the loop never blocks on
 * the disk. data must come from malloc; ownership passes to the spool in
 * every case: it is freed after writing, or at once if this returns an
 * error. Arguments are checked now (NP_E_BADARG, and then cb is not
 * called); on 0, cb is called exactly once, later, on the loop thread. */
int np_spool_write_async(uv_loop_t *loop, np_spool *s, const char *datatype, int64_t wall_ns,
                         const char *name, uint8_t *data, size_t len, np_spool_done_cb cb,
                         void *ud);

/* As np_spool_write_async, but data is first compressed into one gzip
 * member on the worker thread (the file gets data's gzip, not data). */
int np_spool_write_async_gzip(uv_loop_t *loop, np_spool *s, const char *datatype, int64_t wall_ns,
                              const char *name, uint8_t *data, size_t len, np_spool_done_cb cb,
                              void *ud);

/* Checks that a file could be written now in datatype's day directory of
 * wall_ns (creating it, as a write would): an anonymous O_TMPFILE there gets
 * NP_SPOOL_PROBE_BYTES written and fsynced, then vanishes on close, so no
 * uploader ever sees it. Catches a read-only or full filesystem, a removed
 * or unwritable directory. Blocking: call it from a worker thread. 0 or a
 * negative errno (NP_E_BADARG for bad arguments). */
#define NP_SPOOL_PROBE_BYTES 4096
int np_spool_probe(np_spool *s, const char *datatype, int64_t wall_ns);

/* 1 if datatype matches ^[a-z][a-z0-9]*$ (and is not absurdly long). */
int np_spool_datatype_ok(const char *datatype);

/* 1 if name is acceptable as a spool file name (see np_spool_write). */
int np_spool_name_ok(const char *name);

#endif
