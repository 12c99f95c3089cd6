/* SPDX-License-Identifier: MIT */
/* macOS: locating a function in a loaded Mach-O image and finding it again in another process
 * (sym.c does the same for ELF with dl_iterate_phdr, which macOS lacks). Images are listed by
 * dyld (_dyld_image_count(3), _dyld_get_image_header, _dyld_get_image_vmaddr_slide); image 0
 * is the main executable, named "" as in sym.c. Offsets are from the image's Mach header,
 * which absorbs ASLR; a shared library is named by its real path and dlopen()ed if needed. */
#include <dlfcn.h>
#include <limits.h>
#include <mach-o/dyld.h>
#include <mach-o/loader.h>
#include <stdlib.h>
#include <string.h>

#include "posix.h"

/* The image whose header is hdr: its index, or -1. */
static int image_of(const void *hdr) {
  uint32_t n = _dyld_image_count();
  for (uint32_t i = 0; i < n; i++)
    if ((const void *)_dyld_get_image_header(i) == hdr)
      return (int)i;
  return -1;
}

/* The segment of image i holding addr: 1 and its end (and whether it is executable), or 0. */
static int segment_of(int i, uintptr_t addr, uintptr_t *end, int *exec) {
  const struct mach_header_64 *h = (const struct mach_header_64 *)_dyld_get_image_header(i);
  uintptr_t slide = (uintptr_t)_dyld_get_image_vmaddr_slide(i);
  const unsigned char *lc = (const unsigned char *)(h + 1);
  for (uint32_t k = 0; k < h->ncmds; k++) {
    const struct load_command *c = (const struct load_command *)lc;
    if (c->cmd == LC_SEGMENT_64) {
      const struct segment_command_64 *s = (const struct segment_command_64 *)lc;
      uintptr_t start = (uintptr_t)s->vmaddr + slide;
      if (s->vmsize != 0 && addr >= start && addr < start + s->vmsize) {
        *end = start + (uintptr_t)s->vmsize;
        *exec = (s->initprot & 4) != 0; /* VM_PROT_EXECUTE */
        return 1;
      }
    }
    lc += c->cmdsize;
  }
  return 0;
}

int mproc__os_sym_locate(const void *addr, char *module, size_t cap, uint64_t *offset,
                         size_t *avail) {
  Dl_info info;
  uintptr_t a = (uintptr_t)addr, end = 0;
  int exec = 0;
  if (dladdr(addr, &info) == 0 || info.dli_fbase == NULL)
    return MPROC_ENOTARGET;
  int i = image_of(info.dli_fbase);
  if (i < 0 || !segment_of(i, a, &end, &exec))
    return MPROC_ENOTARGET;
  if (i == 0) {
    module[0] = '\0';
  } else {
    char path[PATH_MAX];
    const char *abs = realpath(info.dli_fname, path) ? path : info.dli_fname;
    if (strlen(abs) >= cap)
      return MPROC_ERANGE;
    strcpy(module, abs);
  }
  *offset = (uint64_t)(a - (uintptr_t)info.dli_fbase);
  *avail = end - a;
  return 0;
}

/* The index of the image loaded from module (a real path), loading it if needed; -1 if none. */
static int image_named(const char *module) {
  if (module[0] == '\0')
    return 0;
  if (dlopen(module, RTLD_NOW | RTLD_NOLOAD) == NULL && dlopen(module, RTLD_NOW) == NULL)
    return -1; /* loaded at run time in the parent: loaded here too, for good */
  uint32_t n = _dyld_image_count();
  for (uint32_t i = 1; i < n; i++) {
    char path[PATH_MAX];
    const char *name = _dyld_get_image_name(i);
    if (name != NULL && realpath(name, path) != NULL && strcmp(path, module) == 0)
      return (int)i;
  }
  return -1;
}

int mproc__os_sym_resolve(const char *module, uint64_t offset, void **addr) {
  int i = image_named(module), exec = 0;
  if (i < 0)
    return MPROC_ENOTARGET;
  uintptr_t a = (uintptr_t)_dyld_get_image_header((uint32_t)i) + (uintptr_t)offset, end = 0;
  /* Only inside executable code of that image: a bad offset is an error, not a crash. */
  if (!segment_of(i, a, &end, &exec) || !exec)
    return MPROC_ENOTARGET;
  *addr = (void *)a;
  return 0;
}
