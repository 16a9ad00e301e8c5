/* Status-code messages. */
#include "core/mr_error.h"

#include <errno.h>

const char *mr_strerror(int status) {
  switch (status) {
  case MR_OK:
    return "success";
#define MR_ERR_CASE(name, value, msg)                                                              \
  case value:                                                                                      \
    return msg;
    MR_ERRNO_MAP(MR_ERR_CASE)
#undef MR_ERR_CASE
  default:
    return "unknown error";
  }
}

int mr_from_errno(int err) {
  switch (err) {
  case ENOMEM:
    return MR_ENOMEM;
  case ENOENT:
    return MR_ENOTFOUND;
  case EINVAL:
    return MR_EINVAL;
  default:
    return MR_EIO;
  }
}
