/* SPDX-License-Identifier: MIT */
/* Locating a function in a loaded ELF module and finding it again in another process.
 * A module is named "" for the main executable (its path may differ between processes, e.g.
 * /proc/self/exe) and by absolute path for shared objects, which the child dlopen()s if the
 * program had loaded them at run time (plugins). Offsets are from the module's load bias, which
 * absorbs ASLR. */
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

typedef struct locate_ctx {
  uintptr_t addr;
  int index; /* dl_iterate_phdr visits the main program first */
  int found, is_main;
  const char *name;
  uintptr_t bias, seg_end;
} locate_ctx;

static int locate_cb(struct dl_phdr_info *info, size_t size, void *data) {
  locate_ctx *c = data;
  (void)size;
  int index = c->index++;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
    if (c->addr >= start && c->addr < end) {
      c->found = 1;
      c->is_main = index == 0;
      c->name = info->dlpi_name;
      c->bias = info->dlpi_addr;
      c->seg_end = end;
      return 1;
    }
  }
  return 0;
}

int mproc__os_sym_locate(const void *addr, char *module, size_t cap, uint64_t *offset,
                         size_t *avail) {
  locate_ctx c = {(uintptr_t)addr, 0, 0, 0, NULL, 0, 0};
  dl_iterate_phdr(locate_cb, &c);
  if (!c.found || (!c.is_main && (c.name == NULL || c.name[0] == '\0')))
    return MPROC_ENOTARGET; /* the vDSO, or memory that is not in any module */
  if (c.is_main) {
    module[0] = '\0';
  } else {
    char path[PATH_MAX];
    const char *abs = realpath(c.name, path) ? path : c.name;
    if (strlen(abs) >= cap)
      return MPROC_ERANGE;
    strcpy(module, abs);
  }
  *offset = (uint64_t)(c.addr - c.bias);
  *avail = c.seg_end - c.addr;
  return 0;
}

static int main_bias_cb(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  *(uintptr_t *)data = info->dlpi_addr;
  return 1; /* the main program comes first */
}

/* The load bias of a module. The main program's comes from dl_iterate_phdr, which also works in
 * statically linked binaries where dlopen does not. */
static int module_bias(const char *module, uintptr_t *bias) {
  if (module[0] == '\0') {
    *bias = 0;
    dl_iterate_phdr(main_bias_cb, bias);
    return 0;
  }
  void *h = dlopen(module, RTLD_NOW | RTLD_NOLOAD);
  if (h == NULL)
    h = dlopen(module, RTLD_NOW); /* loaded at run time in the parent: load it here too;
                                     the handle is kept for the life of the process */
  if (h == NULL)
    return MPROC_ENOTARGET;
  struct link_map *lm = NULL;
  int rc = dlinfo(h, RTLD_DI_LINKMAP, &lm);
  if (rc != 0 || lm == NULL)
    return MPROC_ENOTARGET;
  *bias = (uintptr_t)lm->l_addr;
  return 0;
}

typedef struct range_ctx {
  uintptr_t addr;
  int ok;
} range_ctx;

static int range_cb(struct dl_phdr_info *info, size_t size, void *data) {
  range_ctx *c = data;
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && c->addr >= start &&
        c->addr < start + ph->p_memsz)
      return c->ok = 1;
  }
  return 0;
}

int mproc__os_sym_resolve(const char *module, uint64_t offset, void **addr) {
  uintptr_t bias = 0;
  int rc = module_bias(module, &bias);
  if (rc != 0)
    return rc;
  /* Only accept an address inside executable code of some loaded module, so a bad offset is
   * an error here rather than a crash when the fingerprint is read. */
  range_ctx c = {bias + (uintptr_t)offset, 0};
  dl_iterate_phdr(range_cb, &c);
  if (!c.ok)
    return MPROC_ENOTARGET;
  *addr = (void *)c.addr;
  return 0;
}
