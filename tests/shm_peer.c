/* SPDX-License-Identifier: MIT */
/* A program unrelated to the test: never started through mproc (the test runs it with
 * posix_spawn / CreateProcess), it opens a named SharedMemory the test created, or creates one.
 *
 *   mproc_shm_peer check NAME SIZE      attach with mproc, expect pattern A, write pattern B
 *   mproc_shm_peer rawcheck NAME SIZE   the same through the OS alone (shm_open /dev/shm/NAME;
 *                                       OpenFileMapping NAME), as any other program would
 *   mproc_shm_peer create NAME SIZE     create NAME with mproc, write pattern A, close without
 *                                       unlinking, exit
 *
 * Pattern A: byte i = i * 7 + 1; pattern B: byte i = i * 13 + 5 (mod 256). Exit codes: 0 done,
 * 2 usage, 3 open/attach failed, 4 wrong size, 5 wrong contents, 6 create failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

static unsigned char pattern_a(size_t i) { return (unsigned char)(i * 7 + 1); }
static unsigned char pattern_b(size_t i) { return (unsigned char)(i * 13 + 5); }

/* Windows sections are whole pages: a size read back from one is rounded up. */
static int size_ok(size_t got, size_t want) {
#ifdef _WIN32
  return got >= want;
#else
  return got == want;
#endif
}

static int check_and_write(unsigned char *buf, size_t size) {
  for (size_t i = 0; i < size; i++)
    if (buf[i] != pattern_a(i)) {
      fprintf(stderr, "shm_peer: byte %u is %u, want %u\n", (unsigned)i, buf[i], pattern_a(i));
      return 5;
    }
  for (size_t i = 0; i < size; i++)
    buf[i] = pattern_b(i);
  return 0;
}

static int raw_check(const char *name, size_t size) {
#ifdef _WIN32
  HANDLE m = OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, name);
  if (m == NULL) {
    fprintf(stderr, "shm_peer: OpenFileMapping(%s): error %lu\n", name, GetLastError());
    return 3;
  }
  unsigned char *p = MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0);
  MEMORY_BASIC_INFORMATION mbi;
  if (p == NULL || VirtualQuery(p, &mbi, sizeof mbi) == 0) {
    fprintf(stderr, "shm_peer: MapViewOfFile: error %lu\n", GetLastError());
    return 3;
  }
  int rc = size_ok(mbi.RegionSize, size) ? check_and_write(p, size) : 4;
  UnmapViewOfFile(p);
  CloseHandle(m);
  return rc;
#else
  char path[256];
  snprintf(path, sizeof path, "/%s", name);
  int fd = shm_open(path, O_RDWR, 0);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror("shm_peer: shm_open");
    return 3;
  }
  if (!size_ok((size_t)st.st_size, size)) {
    fprintf(stderr, "shm_peer: size %lld, want %u\n", (long long)st.st_size, (unsigned)size);
    close(fd);
    return 4;
  }
  unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    perror("shm_peer: mmap");
    return 3;
  }
  int rc = check_and_write(p, size);
  munmap(p, size);
  return rc;
#endif
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (argc != 4)
    return 2;
  const char *mode = argv[1], *name = argv[2];
  size_t size = (size_t)strtoull(argv[3], NULL, 10);
  if (strcmp(mode, "rawcheck") == 0)
    return raw_check(name, size);
  mproc_shared_memory_t *s;
  if (strcmp(mode, "create") == 0) {
    int rc = mproc_shared_memory_create(&s, name, size);
    if (rc != 0) {
      fprintf(stderr, "shm_peer: create %s: %s\n", name, mproc_errname(rc));
      return 6;
    }
    unsigned char *p = mproc_shared_memory_buf(s);
    for (size_t i = 0; i < size; i++)
      p[i] = pattern_a(i);
    mproc_shared_memory_free(s); /* no unlink: the name stays (POSIX) */
    return 0;
  }
  if (strcmp(mode, "check") != 0)
    return 2;
  int rc = mproc_shared_memory_attach(&s, name);
  if (rc != 0) {
    fprintf(stderr, "shm_peer: attach %s: %s\n", name, mproc_errname(rc));
    return 3;
  }
  if (!size_ok(mproc_shared_memory_size(s), size)) {
    fprintf(stderr, "shm_peer: size %u, want %u\n", (unsigned)mproc_shared_memory_size(s),
            (unsigned)size);
    rc = 4;
  } else {
    rc = check_and_write(mproc_shared_memory_buf(s), size);
  }
  mproc_shared_memory_free(s);
  return rc;
}
