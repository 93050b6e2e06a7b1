/* Blocking gather-sends on a socket, advancing past partial writes. No Python
 * here: module.c calls send_iov with the GIL released. */
#ifndef SUBSERVE_SOCKIO_H
#define SUBSERVE_SOCKIO_H

#include <sys/uio.h>

/* Advance iov[0..*n) past `sent` bytes; returns the new start. */
struct iovec *ss_advance_iov(struct iovec *iov, int *n, size_t sent);

/* Send every byte of iov[0..n) (MSG_NOSIGNAL); 0, -ETIMEDOUT when the
 * socket's SO_SNDTIMEO expires, or another -errno. */
int ss_send_iov(int fd, struct iovec *iov, int n);

#endif
