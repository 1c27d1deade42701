/*
 * cnmctl-shim: the monitor of one container (see cnmctl/runtime/process.py).
 *
 * Written by hand because no packaged monitor does what is needed here:
 * conmon (Podman's) reads stdout and stderr from two pipes and so cannot keep
 * them in the order written, and a Python monitor costs 3-4 MB of private
 * memory per container where this one costs a few hundred KB.
 *
 * usage: cnmctl-shim ID FLAGS REPORT_FD DIR PYTHON -- COMMAND...
 *   FLAGS  "-", or letters: t = a terminal, i = stdin kept open
 *   DIR    the container's folder: container.log, log.sock, attach.sock
 *
 * It clones COMMAND (runtime/enter.py, held at its gate) as PID 1 of a new PID
 * namespace, writes its pid to REPORT_FD, then:
 *  - logs: each line as "SECONDS.MICROS STREAM F|P DATA" in DIR/container.log
 *    (format in runtime/logs.py). Without a terminal, enter.py connects the
 *    command's stdout and stderr to DIR/log.sock, one datagram socket: writes
 *    to both arrive in one queue, in the order they were made (two pipes
 *    cannot tell which came first). Its stderr socket is bound (autobind), its
 *    stdout socket is not: the sender's address says the stream.
 *  - terminal: holds the pty's master; the command gets the slave.
 *  - attach: DIR/attach.sock (SOCK_SEQPACKET). Client to shim: 'i' DATA
 *    (stdin), 'e' (close stdin), 'w' ROWS COLS (u16 each, host order).
 *    Shim to client: 'o' DATA (stdout or terminal), 'r' DATA (stderr),
 *    'x' CODE (i32: the exit status, once all output is sent), or 'f' alone
 *    (refused: MAX_CLIENTS are attached already). A client that cannot keep up
 *    holds the output back (as a full pipe would), up to QUEUE_MAX bytes.
 *  - at the exit: exec PYTHON -m cnmctl internal exited ID CODE PID, which
 *    records it (same pid, same session: liveness checks see one process).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define MAX_INHERITED 64
#define CHUNK 32768            /* one read of output, one message to a client */
#define LINE_MAX_BYTES 16384   /* a longer line is logged in P records */

enum { OUT, ERR };
static const char *stream_names[] = {"stdout", "stderr"};

#define QUEUE_MAX (16 << 20)  /* a client that falls this far behind is dropped */

struct client {
    int fd;
    char *queue;  /* messages its socket had no room for yet: (u32 length, bytes)... */
    size_t queued, capacity;
};

static int log_fd = -1, master_fd = -1, stdin_fd = -1, listen_fd = -1, sock_fd = -1;
static struct client clients[MAX_CLIENTS];
static char line[2][LINE_MAX_BYTES];
static size_t line_len[2];
static char in_pending[CHUNK];
static size_t in_pending_len;
static int draining;      /* the command has exited: sends to clients may block */
static int output_closed; /* the terminal's last holder closed it */

static void die(const char *what)
{
    fprintf(stderr, "cnmctl-shim: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void log_record(int stream, char flag, const char *data, size_t len)
{
    struct timespec now;
    char head[64];
    clock_gettime(CLOCK_REALTIME, &now);
    int n = snprintf(head, sizeof head, "%lld.%06ld %s %c ", (long long)now.tv_sec,
                     now.tv_nsec / 1000, stream_names[stream], flag);
    struct iovec iov[3] = {{head, (size_t)n}, {(void *)data, len}, {"\n", 1}};
    /* One writev per record: the file is O_APPEND and has no other writer. */
    if (writev(log_fd, iov, 3) < 0 && errno != EINTR)
        perror("cnmctl-shim: log");
}

/* Split output into lines: a full line is an F record; a line that grows past
 * LINE_MAX_BYTES, or is left unfinished at the exit, goes out as P records. */
static void log_output(int stream, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        size_t room = LINE_MAX_BYTES - line_len[stream];
        if (take > room)
            take = room;
        memcpy(line[stream] + line_len[stream], data, take);
        line_len[stream] += take;
        data += take;
        len -= take;
        if (len > 0 && *data == '\n') {
            log_record(stream, 'F', line[stream], line_len[stream]);
            line_len[stream] = 0;
            data++;
            len--;
        } else if (line_len[stream] == LINE_MAX_BYTES) {
            log_record(stream, 'P', line[stream], line_len[stream]);
            line_len[stream] = 0;
        }
    }
}

static void drop_client(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    free(c->queue);
    c->queue = NULL;
    c->queued = c->capacity = 0;
}

/* Keep a message for a client whose socket is full, behind those already kept. */
static void enqueue(struct client *c, const char *msg, size_t len)
{
    uint32_t len32 = (uint32_t)len;
    if (c->queued + sizeof len32 + len > QUEUE_MAX) {
        drop_client(c);
        return;
    }
    if (c->queued + sizeof len32 + len > c->capacity) {
        size_t capacity = (c->queued + sizeof len32 + len) * 2;
        char *grown = realloc(c->queue, capacity);
        if (!grown) {
            drop_client(c);
            return;
        }
        c->queue = grown;
        c->capacity = capacity;
    }
    memcpy(c->queue + c->queued, &len32, sizeof len32);
    memcpy(c->queue + c->queued + sizeof len32, msg, len);
    c->queued += sizeof len32 + len;
}

/* Send what is kept for a client, in order, as far as its socket takes it. */
static void flush_client(struct client *c)
{
    size_t done = 0;
    while (c->fd >= 0 && done < c->queued) {
        uint32_t len32;
        memcpy(&len32, c->queue + done, sizeof len32);
        ssize_t n = send(c->fd, c->queue + done + sizeof len32, len32,
                         MSG_NOSIGNAL | (draining ? 0 : MSG_DONTWAIT));
        if (n < 0) {
            if (!draining && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            drop_client(c);
            return;
        }
        done += sizeof len32 + len32;
    }
    memmove(c->queue, c->queue + done, c->queued - done);
    c->queued -= done;
}

static void send_to(struct client *c, char type, const char *data, size_t len)
{
    static char msg[CHUNK + 1];
    if (c->fd < 0)
        return;
    msg[0] = type;
    memcpy(msg + 1, data, len);
    if (c->queued) {  /* behind what is already waiting: in order */
        enqueue(c, msg, len + 1);
        return;
    }
    ssize_t n = send(c->fd, msg, len + 1, MSG_NOSIGNAL | (draining ? 0 : MSG_DONTWAIT));
    if (n >= 0)
        return;
    if (!draining && (errno == EAGAIN || errno == EWOULDBLOCK))
        enqueue(c, msg, len + 1);  /* output stops until this client takes it */
    else
        drop_client(c);
}

static void broadcast(char type, const char *data, size_t len)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        send_to(&clients[i], type, data, len);
}

static int clients_blocked(void)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0 && clients[i].queued)
            return 1;
    return 0;
}

/* Log output and pass it on to the attached clients, a message at most CHUNK long. */
static void deliver(int stream, const char *data, size_t len)
{
    log_output(stream, data, len);
    for (size_t done = 0; done < len; done += CHUNK) {
        size_t part = len - done < CHUNK ? len - done : CHUNK;
        broadcast(stream == ERR ? 'r' : 'o', data + done, part);
    }
}

/* Read what the command wrote (the pty's master, or the datagram socket);
 * 0 once nothing more is waiting, -1 when the terminal is closed for good. */
static int read_output(void)
{
    static char buf[CHUNK];
    if (master_fd >= 0) {
        ssize_t n = read(master_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) {
            output_closed = 1;  /* EIO: no process holds the terminal any more */
            return -1;
        }
        deliver(OUT, buf, (size_t)n);
        return 1;
    }
    /* A datagram is one write of the command's, up to its socket's send buffer
     * (4 MiB): a bigger one is read into memory taken for it alone. */
    ssize_t size = recv(sock_fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (size < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    char *into = (size_t)size > sizeof buf ? malloc((size_t)size) : buf;
    if (!into)
        into = buf;  /* no memory: the datagram is cut to what fits */
    size_t room = into == buf ? sizeof buf : (size_t)size;
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sock_fd, into, room, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n >= 0)
        deliver(fromlen > sizeof(sa_family_t) ? ERR : OUT, into, (size_t)n);
    if (into != buf)
        free(into);
    if (n < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    return 1;
}

static void write_stdin(void)
{
    int fd = master_fd >= 0 ? master_fd : stdin_fd;
    if (fd < 0) {
        in_pending_len = 0;
        return;
    }
    ssize_t n = write(fd, in_pending, in_pending_len);
    if (n > 0) {
        memmove(in_pending, in_pending + n, in_pending_len - (size_t)n);
        in_pending_len -= (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        in_pending_len = 0;  /* the command closed its stdin */
    }
}

static void client_message(struct client *c)
{
    char buf[CHUNK + 1];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client(c);
        return;
    }
    if (buf[0] == 'i' && n > 1) {
        memcpy(in_pending, buf + 1, (size_t)n - 1);
        in_pending_len = (size_t)n - 1;
        write_stdin();
    } else if (buf[0] == 'e' && stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
    } else if (buf[0] == 'w' && n == 5 && master_fd >= 0) {
        uint16_t size[2];
        memcpy(size, buf + 1, sizeof size);
        struct winsize ws = {.ws_row = size[0], .ws_col = size[1]};
        ioctl(master_fd, TIOCSWINSZ, &ws);
    }
}

static void accept_client(void)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            int size = 4 * CHUNK;
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
            clients[i].fd = fd;
            return;
        }
    }
    send(fd, "f", 1, MSG_NOSIGNAL | MSG_DONTWAIT);  /* too many attached already: say so */
    close(fd);
}

/* "/proc/self/fd/N/NAME" for a file in DIR: short enough for a socket address
 * however deep DIR is (sun_path holds 108 bytes). */
static int dir_fd = -1;

static struct sockaddr_un socket_address(const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir_fd, name);
    return addr;
}

static int bind_socket(const char *name, int type)
{
    struct sockaddr_un addr = socket_address(name);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    unlinkat(dir_fd, name, 0);  /* left by an earlier start of this container */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die(name);
    fchmodat(dir_fd, name, 0600, 0);
    return fd;
}

/* The fds above 2 this process was given for the command (its gate and status
 * pipes): the child keeps them, this process closes them once it has forked. */
static int inherited_fds(int *fds, int report_fd)
{
    int count = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        die("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)) && count < MAX_INHERITED) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != report_fd && fd != dirfd(d) && e->d_name[0] != '.')
            fds[count++] = fd;
    }
    closedir(d);
    return count;
}

static pid_t start_command(char **argv, int tty, int keep_stdin, int report_fd, int *slave_out)
{
    int slave = -1, stdin_r = -1;
    if (tty) {
        master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master_fd < 0 || grantpt(master_fd) < 0 || unlockpt(master_fd) < 0)
            die("pty");
        slave = open(ptsname(master_fd), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
            die("pty slave");
        struct winsize ws = {.ws_row = 24, .ws_col = 80};
        ioctl(master_fd, TIOCSWINSZ, &ws);
    } else if (keep_stdin) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            die("pipe");
        stdin_r = p[0];
        stdin_fd = p[1];
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* fork() in a new PID namespace: the child is its PID 1. */
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        die("clone");
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        close(report_fd);  /* its reader waits for this pipe's end */
        if (tty) {
            setsid();  /* its own session, so that the terminal can be its controlling one */
            ioctl(slave, TIOCSCTTY, 0);
            dup2(slave, 0);
            dup2(slave, 1);
            dup2(slave, 2);
        } else {
            /* stdout and stderr become log.sock's senders in enter.py */
            dup2(stdin_r >= 0 ? stdin_r : null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(null);
    if (stdin_r >= 0)
        close(stdin_r);
    *slave_out = slave;
    return pid;
}

static void run_hook(const char *python, const char *id, int code, pid_t pid)
{
    char code_s[16], pid_s[16];
    snprintf(code_s, sizeof code_s, "%d", code);
    snprintf(pid_s, sizeof pid_s, "%d", (int)pid);
    execl(python, python, "-m", "cnmctl", "internal", "exited", id, code_s, pid_s, (char *)NULL);
    die(python);
}

int main(int argc, char **argv)
{
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: cnmctl-shim ID FLAGS REPORT_FD DIR PYTHON -- COMMAND...\n");
        return 125;
    }
    const char *id = argv[1], *flags = argv[2], *dir = argv[4], *python = argv[5];
    /* errors before the report go to the caller (a pipe); afterwards nowhere */
    int report_fd = atoi(argv[3]);
    int tty = strchr(flags, 't') != NULL, keep_stdin = strchr(flags, 'i') != NULL;
    int given[MAX_INHERITED];
    int given_count = inherited_fds(given, report_fd);

    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        die(dir);
    log_fd = openat(dir_fd, "container.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log_fd < 0)
        die("container.log");
    listen_fd = bind_socket("attach.sock", SOCK_SEQPACKET);
    if (listen(listen_fd, MAX_CLIENTS) < 0)
        die("listen");
    if (!tty)
        sock_fd = bind_socket("log.sock", SOCK_DGRAM);

    int slave = -1;
    pid_t pid = start_command(argv + 7, tty, keep_stdin, report_fd, &slave);
    if (slave >= 0)
        close(slave);
    for (int i = 0; i < given_count; i++)
        close(given[i]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        kill(pid, SIGKILL);  /* unwatched, it must not pass its gate */
        die("pidfd_open");
    }
    dprintf(report_fd, "%d", (int)pid);
    close(report_fd);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    dup2(null, 2);  /* the caller's pipe, read only if the report never came */
    close(null);
    if (master_fd >= 0)
        fcntl(master_fd, F_SETFL, O_NONBLOCK);
    if (stdin_fd >= 0)
        fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
    int status = 0, exited = 0;
    while (!exited) {
        /* Input held back first, so that the clients are read again once it is gone. */
        if (in_pending_len)
            write_stdin();
        struct pollfd fds[4 + MAX_CLIENTS];
        int n = 0, out_idx = -1, blocked = clients_blocked();
        fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        if (!blocked && !output_closed) {
            out_idx = n;
            fds[n++] = (struct pollfd){.fd = master_fd >= 0 ? master_fd : sock_fd,
                                       .events = POLLIN};
        }
        if (in_pending_len)  /* the command's stdin is full: wait until it reads */
            fds[n++] = (struct pollfd){.fd = master_fd >= 0 ? master_fd : stdin_fd,
                                       .events = POLLOUT};
        int first_client = n;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            short ev = clients[i].queued ? POLLOUT : 0;
            if (!in_pending_len)
                ev |= POLLIN;
            fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = ev};
        }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (out_idx >= 0 && fds[out_idx].revents)
            for (int i = 0; i < 64 && !clients_blocked() && read_output() > 0; i++)
                ;
        if (fds[1].revents & POLLIN)
            accept_client();
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &clients[i];
            short rev = fds[first_client + i].revents;
            if (c->fd < 0 || !rev)
                continue;
            if ((rev & POLLOUT) && c->queued)
                flush_client(c);
            if (c->fd >= 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
                client_message(c);
        }
        if (fds[0].revents & POLLIN)
            exited = waitpid(pid, &status, WNOHANG) == pid;
    }

    /* The namespace's PID 1 is gone, and every process in it with it: what is
     * queued is all there will be. Send it to the clients (blocking now, but a
     * client that takes nothing for 5 s is dropped), and log it. */
    draining = 1;
    struct timeval patience = {.tv_sec = 5};
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0) {
            fcntl(clients[i].fd, F_SETFL, 0);
            setsockopt(clients[i].fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
            flush_client(&clients[i]);
        }
    while (!output_closed && read_output() > 0)
        ;
    for (int s = OUT; s <= ERR; s++)
        if (line_len[s])
            log_record(s, 'P', line[s], line_len[s]);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int32_t code32 = code;
    broadcast('x', (const char *)&code32, sizeof code32);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0)
            drop_client(&clients[i]);
    unlinkat(dir_fd, "attach.sock", 0);
    close(listen_fd);
    if (sock_fd >= 0) {
        unlinkat(dir_fd, "log.sock", 0);
        close(sock_fd);
    }
    close(log_fd);
    run_hook(python, id, code, pid);
    return 125;
}
