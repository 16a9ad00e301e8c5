/* A tiny blocking HTTP/1.1 client (one request per connection) for tools and tests. */
#ifndef MR_HTTP_CLIENT_H
#define MR_HTTP_CLIENT_H

#include <stddef.h>

typedef struct httpc_response {
  int status; /* e.g. 202 */
  char *body; /* malloc'd, NUL-terminated (chunked bodies decoded) */
  size_t len; /* body length without the NUL */
} httpc_response;

/* Sends `METHOD path` to url `http://host[:port][/path]` (port 80 by default) with body (may
 * be NULL) of content_type, `Connection: close`, and reads the whole response. timeout_ms
 * bounds the connect and then the whole exchange. MR_OK when a response arrived, whatever its
 * status (free it with httpc_response_free); MR_EIO when the server could not be reached or
 * the exchange failed or timed out; MR_EFORMAT for a response that is not HTTP/1.x; MR_EINVAL
 * for a bad URL. err (may be NULL) gets a one-line reason. */
int httpc_request(const char *method, const char *url, const char *content_type, const char *body,
                  size_t body_len, int timeout_ms, httpc_response *resp, char *err, size_t errlen);

/* httpc_request with extra request headers: `headers` (may be NULL) is zero or more complete
 * "Name: value\r\n" lines, sent as given (e.g. "Authorization: Bearer T\r\n"). */
int httpc_request_hdr(const char *method, const char *url, const char *headers,
                      const char *content_type, const char *body, size_t body_len, int timeout_ms,
                      httpc_response *resp, char *err, size_t errlen);

/* Frees the body; the struct itself is the caller's. NULL is fine. */
void httpc_response_free(httpc_response *r);

#endif
