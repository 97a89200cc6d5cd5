/* The front door's route table: test types and pages register a method,
 * a path (or prefix) and a handler; the front door parses a request head
 * and calls what matches. */
#ifndef NP_SERVER_ROUTE_H
#define NP_SERVER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "http/request.h"
#include "net/conn.h"

struct np_server;

/* A request the front door routes, valid during the handler only. */
typedef struct {
  struct np_server *srv;
  np_conn *conn;
  const char *uuid;
  int tls;
  const np_http_request *req;
  uint8_t *data; /* the bytes buffered: the head (head_len bytes), then more */
  size_t len;
  size_t head_len;
  size_t consumed; /* out: bytes of data the handler used (head_len unless
                      it says otherwise) */
} np_route_req;

/* What a handler did with the connection. */
typedef enum {
  NP_ROUTE_CLOSING, /* answered (or refused) and closing it: the front door
                       still sees its close */
  NP_ROUTE_TAKEN,   /* handed it to a session that owns it now; the
                       session reads what follows data[0..consumed) */
  NP_ROUTE_KEEP,    /* answered; the next request head may follow */
} np_route_result;

typedef np_route_result (*np_route_fn)(np_route_req *r);

typedef struct {
  const char *method; /* "GET", ...; NULL: any (the handler decides) */
  const char *path;   /* exact path, or a prefix when prefix is set */
  int prefix;
  np_route_fn fn;
} np_route;

#define NP_ROUTES_MAX 16

typedef struct {
  np_route r[NP_ROUTES_MAX];
  size_t n;
} np_routes;

/* Registers a route. 0, or NP_E_TOOBIG when the table is full. */
int np_routes_add(np_routes *t, const char *method, const char *path, int prefix, np_route_fn fn);

/* The route for a request: an exact path first, then the longest prefix;
 * among those, one whose method matches. NULL when none does, with
 * *ret_status 404 (no path matched) or 405 (only other methods did). */
const np_route *np_routes_find(const np_routes *t, np_slice method, np_slice path, int *ret_status);

/* The methods path's routes take, as a 405's Allow header wants them
 * ("GET, POST"), into out. Empty when any method is routed or none. */
void np_routes_allow(const np_routes *t, np_slice path, char *out, size_t cap);

#endif
