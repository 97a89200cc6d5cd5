/* TCP listeners on libuv: address parsing ("host:port", ":port", "[v6]:port")
 * and an accept loop that hands connected fds to the owner. */
#ifndef NP_NET_LISTENER_H
#define NP_NET_LISTENER_H

#include <sys/socket.h>

#include <uv.h>

typedef struct np_listener np_listener;

/* Called for each accepted socket (non-blocking, close-on-exec); the owner
 * takes the fd. fd < 0 reports that accept failed for lack of resources
 * (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM): the listener has paused itself
 * (the pending connection stays in the backlog) and accepts again only
 * after np_listener_resume. */
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

/* Stops watching the socket: new connections wait in the kernel's backlog
 * (and are refused by it once that is full). Idempotent. */
void np_listener_pause(np_listener *l);

/* Watches the socket again (idempotent). 0 or a negative libuv error. */
int np_listener_resume(np_listener *l);

/* 1 while paused. */
int np_listener_paused(const np_listener *l);

/* The bound port (useful with port 0). */
int np_listener_port(const np_listener *l);

/* Stops accepting and closes the socket; frees the listener later. */
void np_listener_close(np_listener *l);

#endif
