# SPDX-License-Identifier: MIT
# build.add_subdirectory: configure and build consumers/add_subdirectory, which vendors this
# source tree, then run the program it built.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

consumer_configure_args(args)
run(configure ${CMAKE_COMMAND} -S ${CONSUMERS_DIR}/add_subdirectory -B ${WORK_DIR}/build
    ${args} -DMPROC_SOURCE_DIR=${MPROC_SOURCE_DIR})
run(build ${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG})
find_consumer(program ${WORK_DIR}/build/bin)
run(run ${program})
