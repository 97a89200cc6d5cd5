/* TCP listeners on libuv: address parsing ("host:port", ":port", "[v6]:port")
 * and an accept loop that hands connected fds to the owner. */
#ifndef NP_NET_LISTENER_H
#define NP_NET_LISTENER_H

#include <sys/socket.h>

#include <uv.h>

typedef struct np_listener np_listener;

/* Called for each accepted socket (non-blocking, close-on-exec). The owner
 * takes the fd. */
typedef void (*np_accept_cb)(np_listener *l, void *ud, int fd);

/* Parses a numeric listen address. ":80" and "[::]:80" mean all addresses
 * (IPv6 socket accepting IPv4 too); "0.0.0.0:80" IPv4 only; a host name is
 * accepted only as "localhost". Returns 0 or NP_E_BADARG. */
int np_addr_parse(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len);

/* Formats addr as "ip:port" ("[ip]:port" for IPv6). */
int np_addr_format(const struct sockaddr *addr, char *out, size_t cap);

/* Binds and listens (backlog 512, SO_REUSEADDR). */
int np_listener_open(uv_loop_t *loop, const char *addr, np_accept_cb cb, void *ud,
                     np_listener **ret_l);

/* The bound port (useful with port 0). */
int np_listener_port(const np_listener *l);

/* Stops accepting and closes the socket; frees the listener later. */
void np_listener_close(np_listener *l);

#endif
