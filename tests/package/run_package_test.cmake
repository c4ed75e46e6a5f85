# Package consumer test, run by ctest:
#   cmake -DMODE=find|subdir -DOMSTREAM_SOURCE_DIR=... -DCONSUMER_DIR=... -DWORK_DIR=...
#         [-DGENERATOR=...] [-DCXX_COMPILER=...] -P run_package_test.cmake
# find:   build + install omstream into WORK_DIR/prefix, check its layout and that it
#         refuses find_package(omstream 0.2) and (omstream 0.0), then find_package it.
# subdir: the consumer add_subdirectory()s the omstream source tree.
cmake_minimum_required(VERSION 3.21)

foreach(var MODE OMSTREAM_SOURCE_DIR CONSUMER_DIR WORK_DIR)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_package_test.cmake: ${var} not set")
    endif()
endforeach()

set(common_args -DCMAKE_BUILD_TYPE=Release)
if(GENERATOR)
    list(APPEND common_args -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
    list(APPEND common_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

function(run what)
    string(JOIN " " command_line ${ARGN})
    message(STATUS "[${what}] ${command_line}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "[${what}] failed (${rc}): ${command_line}")
    endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(consumer_build "${WORK_DIR}/consumer-build")

if(MODE STREQUAL "find")
    set(omstream_build "${WORK_DIR}/omstream-build")
    set(prefix "${WORK_DIR}/prefix")
    run("configure omstream" "${CMAKE_COMMAND}" -S "${OMSTREAM_SOURCE_DIR}" -B "${omstream_build}"
        ${common_args}
        -DOMSTREAM_BUILD_TESTS=OFF -DOMSTREAM_BUILD_BENCH=OFF -DOMSTREAM_BUILD_EXAMPLES=OFF
        -DOMSTREAM_INSTALL=ON)
    run("build omstream" "${CMAKE_COMMAND}" --build "${omstream_build}")
    run("install omstream" "${CMAKE_COMMAND}" --install "${omstream_build}" --prefix "${prefix}")
    # Default GNUInstallDirs layout; the package files are arch-independent (share/).
    foreach(file include/omstream/stream.hpp include/omstream/detail/config.hpp
                 share/cmake/omstream/omstream-config.cmake
                 share/cmake/omstream/omstream-config-version.cmake
                 share/cmake/omstream/omstream-targets.cmake
                 share/doc/omstream/README.md)
        if(NOT EXISTS "${prefix}/${file}")
            message(FATAL_ERROR "install did not create ${prefix}/${file}")
        endif()
    endforeach()
    file(READ "${prefix}/share/cmake/omstream/omstream-targets.cmake" targets)
    if(NOT targets MATCHES "PLATFORM_ID:Linux>:rt>")
        message(FATAL_ERROR "the exported omstream::omstream does not link rt on Linux")
    endif()
    # 0.x: find_package(omstream 0.1) is the consumer's; 0.2 and 0.0 must be refused.
    foreach(request 0.2 0.0)
        run("refuse ${request}" "${CMAKE_COMMAND}"
            -S "${CMAKE_CURRENT_LIST_DIR}/version_request" -B "${WORK_DIR}/version-${request}"
            "-DOMSTREAM_REQUEST=${request}"
            "-DCMAKE_PREFIX_PATH=${prefix}"
            -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
    endforeach()
    # Only the installed copy may satisfy find_package: no package registry.
    run("configure consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${consumer_build}"
        ${common_args}
        -DOMSTREAM_CONSUME=find
        "-DCMAKE_PREFIX_PATH=${prefix}"
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
    file(STRINGS "${consumer_build}/CMakeCache.txt" found_dir REGEX "^omstream_DIR:")
    string(FIND "${found_dir}" "${prefix}/share/cmake/omstream" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "consumer did not find omstream in ${prefix}/share/cmake/omstream: "
                            "${found_dir}")
    endif()
elseif(MODE STREQUAL "subdir")
    run("configure consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${consumer_build}"
        ${common_args}
        -DOMSTREAM_CONSUME=subdir
        "-DOMSTREAM_SOURCE_DIR=${OMSTREAM_SOURCE_DIR}")
else()
    message(FATAL_ERROR "MODE must be find or subdir, not '${MODE}'")
endif()

run("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}")

find_program(app NAMES app PATHS "${consumer_build}" "${consumer_build}/Release"
             NO_DEFAULT_PATH NO_CACHE)
if(NOT app)
    message(FATAL_ERROR "consumer executable 'app' not found under ${consumer_build}")
endif()
run("run consumer" "${app}")
message(STATUS "package test (${MODE}) passed")
