# SPDX-License-Identifier: MIT
# build.pkg_config: install this build into a scratch prefix, then compile consumer.c with the
# bare compiler and nothing but `pkg-config --cflags --libs mproc` (plus --static for a static
# library), and run the program.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

if(NOT MPROC_PKG_CONFIG)
  message(FATAL_ERROR "pkg-config was not found when the build was configured")
endif()

set(prefix ${WORK_DIR}/prefix)
install_mproc(${prefix})

# Only the install under test: PKG_CONFIG_LIBDIR replaces the default search path.
set(pc_dir ${prefix}/${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(NOT EXISTS ${pc_dir}/mproc.pc)
  message(FATAL_ERROR "mproc.pc was not installed to ${pc_dir}")
endif()
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
set(ENV{PKG_CONFIG_LIBDIR} "${pc_dir}")
# pkg-config drops -I/usr/include and -L/usr/lib by default; keep everything visible.
set(ENV{PKG_CONFIG_ALLOW_SYSTEM_CFLAGS} 1)
set(ENV{PKG_CONFIG_ALLOW_SYSTEM_LIBS} 1)

# A user who ran `cmake --install build --prefix P` expects mproc.pc to point into P.
execute_process(COMMAND ${MPROC_PKG_CONFIG} --variable=prefix mproc
  RESULT_VARIABLE rc OUTPUT_VARIABLE pc_prefix ERROR_VARIABLE err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config cannot read mproc.pc:\n${err}")
endif()
file(REAL_PATH "${prefix}" prefix_real)
if(EXISTS "${pc_prefix}")
  file(REAL_PATH "${pc_prefix}" pc_prefix_real)
else()
  set(pc_prefix_real "${pc_prefix}")
endif()
if(NOT pc_prefix_real STREQUAL prefix_real)
  message(FATAL_ERROR "mproc.pc is not relocatable: installed with --prefix ${prefix}, but it "
                      "says prefix=${pc_prefix}")
endif()

set(query --cflags --libs)
if(NOT BUILD_SHARED_LIBS)
  list(PREPEND query --static)
endif()
execute_process(COMMAND ${MPROC_PKG_CONFIG} ${query} mproc
  RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config ${query} mproc failed:\n${err}")
endif()
message(STATUS "pkg-config ${query} mproc: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(c_flags UNIX_COMMAND "${CMAKE_C_FLAGS}")
separate_arguments(ld_flags UNIX_COMMAND "${CMAKE_EXE_LINKER_FLAGS}")

set(program ${WORK_DIR}/consumer)
if(WIN32)
  string(APPEND program .exe)
elseif(BUILD_SHARED_LIBS)
  # Find the installed shared library at run time without touching the environment.
  list(APPEND ld_flags "-Wl,-rpath,${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
run(compile ${CMAKE_C_COMPILER} ${c_flags} -o ${program} ${CONSUMERS_DIR}/consumer.c ${flags}
    ${ld_flags})
if(WIN32 AND BUILD_SHARED_LIBS)
  file(TO_NATIVE_PATH "${prefix}/${CMAKE_INSTALL_BINDIR}" dll_dir)
  set(ENV{PATH} "${dll_dir};$ENV{PATH}")
endif()
run(run ${program})
