# Compile-fail check, run by ctest as: cmake -DCOMPILER=... -DSOURCE=... -P compile_fail.cmake
# SOURCE must fail to compile, and every "// expect: <regex>" line in it (CMake regex
# syntax) must match the compiler's diagnostics. INCLUDE_DIRS, IMPLICIT_DIRS and
# DEFINITIONS are '|'-separated lists.
cmake_minimum_required(VERSION 3.21)

foreach(var COMPILER SOURCE)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "compile_fail.cmake: ${var} not set")
    endif()
endforeach()

string(REPLACE "|" ";" include_dirs "${INCLUDE_DIRS}")
string(REPLACE "|" ";" implicit_dirs "${IMPLICIT_DIRS}")
string(REPLACE "|" ";" definitions "${DEFINITIONS}")

file(STRINGS "${SOURCE}" expect_lines REGEX "^[ \t]*//[ \t]*expect:")
if(NOT expect_lines)
    message(FATAL_ERROR "${SOURCE}: no '// expect: <regex>' line")
endif()

set(args -std=c++20 -fsyntax-only -fdiagnostics-color=never)
list(REMOVE_DUPLICATES include_dirs)
foreach(dir IN LISTS include_dirs)
    # -I on a system directory (/usr/include) breaks libstdc++'s #include_next.
    if(dir AND NOT dir IN_LIST implicit_dirs)
        list(APPEND args "-I${dir}")
    endif()
endforeach()
foreach(def IN LISTS definitions)
    if(def)
        list(APPEND args "-D${def}")
    endif()
endforeach()

# ASCII quotes and untranslated messages, so expectations are stable.
set(ENV{LC_ALL} C)
set(ENV{LANG} C)
execute_process(
    COMMAND "${COMPILER}" ${args} "${SOURCE}"
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
set(output "${out}${err}")
string(JOIN " " command_line "${COMPILER}" ${args} "${SOURCE}")

if(rc EQUAL 0)
    message(NOTICE "command: ${command_line}\n${output}")
    message(FATAL_ERROR "${SOURCE} compiled, but it must not.")
endif()

set(missing "")
foreach(line IN LISTS expect_lines)
    string(REGEX REPLACE "^[ \t]*//[ \t]*expect:[ \t]*" "" regex "${line}")
    string(STRIP "${regex}" regex)
    if(NOT output MATCHES "${regex}")
        string(APPEND missing "  ${regex}\n")
    endif()
endforeach()
if(missing)
    # NOTICE prints verbatim; FATAL_ERROR would re-wrap the compiler output.
    message(NOTICE "command: ${command_line}\n--- compiler output ---\n${output}"
                   "--- end of compiler output ---\nunmatched expectations:\n${missing}")
    message(FATAL_ERROR "${SOURCE} failed to compile (as it should), but the diagnostics "
                        "do not match the '// expect:' regex(es) above.")
endif()
message(STATUS "${SOURCE}: rejected as expected")
