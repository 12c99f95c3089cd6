# SPDX-License-Identifier: MIT
# build.find_package: install this build into a scratch prefix, then configure a consumer
# with find_package(mproc CONFIG REQUIRED) against that prefix only, build it and run it.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

set(prefix ${WORK_DIR}/prefix)
install_mproc(${prefix})

consumer_configure_args(args)
run(configure ${CMAKE_COMMAND} -S ${CONSUMERS_DIR}/find_package -B ${WORK_DIR}/build
    ${args} -DCMAKE_PREFIX_PATH=${prefix} -DMPROC_PREFIX=${prefix}
    -DMPROC_EXPECTED_VERSION=${MPROC_VERSION})
run(build ${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG})
find_consumer(program ${WORK_DIR}/build/bin)
if(WIN32 AND BUILD_SHARED_LIBS)
  # The program finds mproc.dll through PATH, as it would for a user.
  file(TO_NATIVE_PATH "${prefix}/${CMAKE_INSTALL_BINDIR}" dll_dir)
  set(ENV{PATH} "${dll_dir};$ENV{PATH}")
endif()
run(run ${program})
