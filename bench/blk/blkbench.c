/* blkbench: sequential write, sequential read and 4 KiB random reads on a block device with O_DIRECT, so the guest's
   page cache is out of the way. Built static on the host by bench/blk/run and put on a tools disk for the guest.
   Usage: blkbench seqwrite|seqread DEVICE MIB      (1 MiB requests)
          blkbench randread DEVICE SECONDS           (4 KiB requests at random 4 KiB-aligned offsets, queue depth 1)
   Prints one line: "blkbench MODE bytes=N seconds=S MBps=X iops=Y" (MB = 10^6 bytes), timed with CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* xorshift64*: reproducible offsets without libc's rand state */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: blkbench seqwrite|seqread|randread DEVICE MIB|SECONDS\n"); return 2; }
    const char *mode = argv[1], *path = argv[2];
    long amount = atol(argv[3]);
    int writing = strcmp(mode, "seqwrite") == 0;
    int fd = open(path, (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
    if (fd < 0) { perror(path); return 1; }
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) { perror("BLKGETSIZE64"); return 1; }
    size_t block = strcmp(mode, "randread") == 0 ? 4096 : 1 << 20;
    void *buffer;
    if (posix_memalign(&buffer, 4096, block) != 0) return 1;
    memset(buffer, 0x5A, block);
    uint64_t bytes = 0, ops = 0;
    double start = now(), elapsed;
    if (strcmp(mode, "randread") == 0) {
        uint64_t state = 0x9E3779B97F4A7C15ULL, blocks = size / 4096;
        do {
            for (int i = 0; i < 64; i++) {
                off_t at = (off_t)(next_random(&state) % blocks) * 4096;
                if (pread(fd, buffer, 4096, at) != 4096) { perror("pread"); return 1; }
                bytes += 4096; ops++;
            }
            elapsed = now() - start;
        } while (elapsed < amount);
    } else {
        uint64_t total = (uint64_t)amount << 20;
        if (total > size) total = size - size % block;
        for (uint64_t at = 0; at < total; at += block) {
            ssize_t done = writing ? pwrite(fd, buffer, block, at) : pread(fd, buffer, block, at);
            if (done != (ssize_t)block) { perror(writing ? "pwrite" : "pread"); return 1; }
            bytes += block; ops++;
        }
        if (writing && fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
        elapsed = now() - start;
    }
    printf("blkbench %s bytes=%llu seconds=%.3f MBps=%.2f iops=%.1f\n", mode, (unsigned long long)bytes, elapsed,
           bytes / elapsed / 1e6, ops / elapsed);
    return 0;
}
