# SPDX-License-Identifier: MIT
# Functions shared by the consumer test drivers (run with cmake -P).
#   -DSETTINGS=<consumer-settings.cmake>  written by tests/consumers/CMakeLists.txt
#   -DWORK_DIR=<scratch directory>         emptied first, so nothing stale can mask a failure
#   -DCONFIG=<configuration>               the configuration under test (multi-config tools)
cmake_minimum_required(VERSION 3.20)

foreach(arg SETTINGS WORK_DIR)
  if(NOT DEFINED ${arg})
    message(FATAL_ERROR "missing -D${arg}=...")
  endif()
endforeach()
include(${SETTINGS})

if(NOT CONFIG OR CONFIG STREQUAL "NoConfig")
  set(CONFIG "${CMAKE_BUILD_TYPE}")
endif()
if(NOT CONFIG) # a single-config build with no build type: build as CMake's default would
  set(CONFIG "Debug")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# run(<step> <command...>): runs the command, echoes it, fails the test with its output.
function(run step)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "[${step}] ${shown}")
  execute_process(COMMAND ${ARGN}
    WORKING_DIRECTORY ${WORK_DIR}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${step}] failed (${rc}):\n${out}")
  endif()
  if(step STREQUAL "run")
    string(STRIP "${out}" out)
    message(STATUS "[${step}] ok: ${out}")
  else()
    message(STATUS "[${step}] ok")
  endif()
endfunction()

# Arguments that make a nested configure use this build's generator, compiler and flags.
function(consumer_configure_args out_var)
  set(args -G "${CMAKE_GENERATOR}")
  if(CMAKE_GENERATOR_PLATFORM)
    list(APPEND args -A "${CMAKE_GENERATOR_PLATFORM}")
  endif()
  if(CMAKE_GENERATOR_TOOLSET)
    list(APPEND args -T "${CMAKE_GENERATOR_TOOLSET}")
  endif()
  if(CMAKE_TOOLCHAIN_FILE)
    list(APPEND args "-DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE}")
  endif()
  # Visual Studio and Xcode choose the compiler themselves.
  if(NOT CMAKE_GENERATOR MATCHES "Visual Studio|Xcode")
    list(APPEND args "-DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}")
    if(CMAKE_MAKE_PROGRAM)
      list(APPEND args "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")
    endif()
  endif()
  if(NOT MPROC_MULTI_CONFIG)
    list(APPEND args "-DCMAKE_BUILD_TYPE=${CONFIG}")
  endif()
  list(APPEND args
    "-DCMAKE_C_FLAGS=${CMAKE_C_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
    "-DBUILD_SHARED_LIBS=${BUILD_SHARED_LIBS}"
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
  set(${out_var} "${args}" PARENT_SCOPE)
endfunction()

# install_mproc(<prefix>): installs the build under test, as a user would.
function(install_mproc prefix)
  set(args --install ${MPROC_BINARY_DIR} --prefix ${prefix})
  if(MPROC_MULTI_CONFIG)
    list(APPEND args --config ${CONFIG})
  endif()
  run(install ${CMAKE_COMMAND} ${args})
endfunction()

# find_consumer(<var> <build dir>): the built consumer program.
function(find_consumer out_var dir)
  file(GLOB_RECURSE found LIST_DIRECTORIES false ${dir}/consumer ${dir}/consumer.exe)
  if(NOT found)
    message(FATAL_ERROR "no consumer program was built under ${dir}")
  endif()
  list(GET found 0 program)
  set(${out_var} "${program}" PARENT_SCOPE)
endfunction()
