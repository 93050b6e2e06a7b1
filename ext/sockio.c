/* Blocking gather-sends (see sockio.h). No Python here. */
#include "sockio.h"
#include "errors.h"

#include <errno.h>
#include <sys/socket.h>

struct iovec *ss_advance_iov(struct iovec *iov, int *n, size_t sent)
{
    while (*n > 0 && sent >= iov->iov_len) {
        sent -= iov->iov_len;
        iov++;
        (*n)--;
    }
    if (*n > 0) {
        iov->iov_base = (char *)iov->iov_base + sent;
        iov->iov_len -= sent;
    }
    return iov;
}

int ss_send_iov(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            /* SO_SNDTIMEO expiring shows up as EAGAIN on a blocking socket. */
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        }
        iov = ss_advance_iov(iov, &n, (size_t)sent);
    }
    return SS_OK;
}
