/* dirlock.c - one writer per output directory (see dirlock.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The locks this process holds: a directory is known by its device and
 * inode, so two spellings of one path are one lock. Process state by nature
 * (a flock belongs to an open file; opening the lock file twice in one
 * process would make the process its own competitor). */
#define MAX_LOCKS 64
static struct {
    dev_t dev;
    ino_t ino;
    pid_t pid; /* the holder: a forked child inherits the table, not the lock */
    int fd;    /* -1: free slot */
    int count; /* holds */
} held[MAX_LOCKS];
static int held_init;

static void init_held(void) {
    if (held_init) return;
    for (int i = 0; i < MAX_LOCKS; i++) held[i].fd = -1;
    held_init = 1;
}

/* The PID written in a lock file, or 0 if none can be read. */
static long read_holder(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == 0) ? pid : 0;
}

int dir_lock(const char *dir, Err *e) {
    init_held();
    if (!dir || !*dir) return err_set(e, "--out: empty directory name");
    if (mkdir_p(dir, e)) return -1;
    struct stat st;
    if (stat(dir, &st) != 0) return err_set(e, "%s: cannot access: %s", dir, strerror(errno));
    for (int i = 0; i < MAX_LOCKS; i++)
        if (held[i].fd >= 0 && held[i].pid == getpid() && held[i].dev == st.st_dev &&
            held[i].ino == st.st_ino) {
            held[i].count++;
            return i;
        }
    int slot = -1;
    for (int i = 0; i < MAX_LOCKS && slot < 0; i++)
        if (held[i].fd < 0 || held[i].pid != getpid()) slot = i; /* a parent's: not ours */
    if (slot < 0) return err_set(e, "%s: too many directories locked at once", dir);
    char *path = path_join(dir, DIRLOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        int r = err_set(e, "%s: directory is not writable: cannot create %s: %s", dir,
                        DIRLOCK_FILE, strerror(errno));
        free(path);
        return r;
    }
    free(path);
    int r;
    while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r != 0) {
        int err = errno;
        long pid = err == EWOULDBLOCK ? read_holder(fd) : 0;
        close(fd);
        if (err != EWOULDBLOCK)
            return err_set(e, "%s: cannot lock %s: %s", dir, DIRLOCK_FILE, strerror(err));
        if (pid)
            return err_set(e, "%s: in use by another augprobe (pid %ld): wait for it to finish "
                              "or use another --out", dir, pid);
        return err_set(e, "%s: in use by another augprobe (pid not yet recorded): wait for it "
                          "to finish or use another --out", dir);
    }
    /* Ours: record the PID for whoever is refused next. */
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        int r2 = err_set(e, "%s: cannot write %s: %s", dir, DIRLOCK_FILE, strerror(errno));
        close(fd);
        return r2;
    }
    held[slot].dev = st.st_dev;
    held[slot].ino = st.st_ino;
    held[slot].fd = fd;
    held[slot].pid = getpid();
    held[slot].count = 1;
    /* Nobody else writes here now: a temp file whose writer is dead is a
     * leftover of a kill or a crash. */
    temp_files_clean(dir, 2, NULL);
    return slot;
}

void dir_unlock(int handle) {
    if (handle < 0 || handle >= MAX_LOCKS || held[handle].fd < 0 || held[handle].pid != getpid())
        return;
    if (--held[handle].count > 0) return;
    close(held[handle].fd); /* drops the flock; the file stays, harmlessly */
    held[handle].fd = -1;
}
