# SPDX-License-Identifier: MIT
# Cross-build for 64-bit Windows with Debian/Ubuntu's mingw-w64 and run tests under Wine:
#   cmake -S . -B build-mingw -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#   cmake --build build-mingw && (cd build-mingw && ctest)
# MINGW_PREFIX overrides the triplet (e.g. x86_64-w64-mingw32ucrt on some distributions).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

if(NOT MINGW_PREFIX)
  set(MINGW_PREFIX x86_64-w64-mingw32)
endif()

# Debian ships both -win32 and -posix thread models; the plain name follows the alternative.
find_program(CMAKE_C_COMPILER NAMES ${MINGW_PREFIX}-gcc ${MINGW_PREFIX}-gcc-win32
                                     ${MINGW_PREFIX}-gcc-posix REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${MINGW_PREFIX}-g++ ${MINGW_PREFIX}-g++-win32
                                       ${MINGW_PREFIX}-g++-posix)
find_program(CMAKE_RC_COMPILER NAMES ${MINGW_PREFIX}-windres windres)
find_program(CMAKE_AR NAMES ${MINGW_PREFIX}-gcc-ar ${MINGW_PREFIX}-ar)
find_program(CMAKE_RANLIB NAMES ${MINGW_PREFIX}-gcc-ranlib ${MINGW_PREFIX}-ranlib)

set(CMAKE_FIND_ROOT_PATH /usr/${MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static runtime: Wine (and a bare Windows box) then needs no libgcc/libwinpthread DLLs next
# to each test binary.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc")

# ctest runs every test binary through Wine. WINEDEBUG=-all keeps Wine's fixme lines out of
# the test output; set it in the environment (ci/ does) since the emulator takes no env.
find_program(MPROC_WINE NAMES wine wine64)
if(MPROC_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MPROC_WINE})
endif()
