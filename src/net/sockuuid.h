/* M-Lab socket UUIDs: "<prefix>_<SO_COOKIE as %016X>" (m-lab/uuid). */
#ifndef NP_NET_SOCKUUID_H
#define NP_NET_SOCKUUID_H

#include <stddef.h>
#include <stdint.h>

/* Longest prefix accepted, in bytes (M-Lab's are ~30: pod name + boot). */
#define NP_UUID_PREFIX_MAX 200
/* A buffer that holds any prefix, and any full UUID, with the NUL. */
#define NP_UUID_PREFIX_BUFSZ (NP_UUID_PREFIX_MAX + 1)
#define NP_UUID_BUFSZ (NP_UUID_PREFIX_MAX + 1 + 16 + 1)

/* The default prefix file written by M-Lab's init container. */
#define NP_UUID_PREFIX_FILE_DEFAULT "/var/local/uuid/prefix"

/* Loads the UUID prefix into out[cap] (NUL-terminated).
 * If prefix_file exists: its bytes, with one trailing newline stripped.
 * Since UUIDs end up in spool file names, the content must be 1 to
 * NP_UUID_PREFIX_MAX bytes of [A-Za-z0-9._:-]; otherwise NP_E_BADARG
 * (empty, control or other bytes) or NP_E_TOOBIG (too long). Returns 0.
 * If it does not exist (or prefix_file is NULL): the fallback
 * "<$POD_NAME or hostname>_<boot unix seconds>_unsafe" (see
 * np_uuid_prefix_fallback), and returns 1 so the caller can warn.
 * Other errors: negative errno; -ENOSPC if cap is too small. */
int np_uuid_prefix_load(const char *prefix_file, char *out, size_t cap);

/* Pure part of the fallback: writes "<host>_<boot>_unsafe" into out[cap],
 * where boot = wall_sec - (integer part of the first field of uptime, the
 * text of /proc/uptime). Bytes of host outside [A-Za-z0-9.-] become '-' so
 * the prefix stays one '_'-free, file-name-safe token; an empty host reads
 * "localhost". Returns the length, NP_E_BADARG if uptime does not start with
 * a number, -ENOSPC if cap is too small. */
int np_uuid_prefix_fallback(const char *host, int64_t wall_sec, const char *uptime, char *out,
                            size_t cap);

/* Writes "<prefix>_<cookie as 16 upper-case hex digits>" into out[cap].
 * Returns the length or -ENOSPC. */
int np_uuid_format(const char *prefix, uint64_t cookie, char *out, size_t cap);

/* np_uuid_format with fd's SO_COOKIE. Returns the length or a negative errno. */
int np_uuid_for_fd(const char *prefix, int fd, char *out, size_t cap);

#endif
