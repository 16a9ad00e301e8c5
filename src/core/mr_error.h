/* Project-wide status codes: 0 is success, errors are negative and listed once here. */
#ifndef MR_ERROR_H
#define MR_ERROR_H

/* X(name, value, message). Codes live in -1..-99 so they never collide with -errno
 * values converted at system-call boundaries (those are below -100 via mr_from_errno). */
#define MR_ERRNO_MAP(X)                                                                            \
  X(NOMEM, -1, "out of memory")                                                                    \
  X(IO, -2, "input/output error")                                                                  \
  X(INVAL, -3, "invalid argument")                                                                 \
  X(FORMAT, -4, "malformed input")                                                                 \
  X(CORRUPT, -5, "corrupt file (checksum or header mismatch)")                                     \
  X(NOTFOUND, -6, "not found")                                                                     \
  X(RANGE, -7, "value out of range")                                                               \
  X(NUMERIC, -8, "numerical failure (non-finite value)")                                           \
  X(VERSION, -9, "unsupported file version")                                                       \
  X(EMPTY, -10, "no data")                                                                         \
  X(UNSUPPORTED, -11, "unsupported operation")

typedef enum mr_status {
  MR_OK = 0,
#define MR_ERR_ENUM(name, value, msg) MR_E##name = (value),
  MR_ERRNO_MAP(MR_ERR_ENUM)
#undef MR_ERR_ENUM
} mr_status;

/* Returns a static, human-readable message for a status code (never NULL). */
const char *mr_strerror(int status);

/* Maps an errno value to a status (MR_ENOMEM for ENOMEM, MR_ENOTFOUND for ENOENT,
 * MR_EIO otherwise). */
int mr_from_errno(int err);

#endif
