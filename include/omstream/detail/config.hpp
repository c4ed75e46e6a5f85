// Language and compiler checks. Included first by omstream/stream.hpp, so that an
// unsupported setup gets one clear message instead of pages of template errors.
// Defines OMSTREAM_CONFIG_UNSUPPORTED to 1 after reporting the problem with #error
// (GCC goes on compiling after #error: stream.hpp then includes nothing else), else 0.
#pragma once

#if __cplusplus < 202002L
#define OMSTREAM_CONFIG_UNSUPPORTED 1
#error "omstream needs C++20 (-std=c++20)"
#elif defined(__clang__) && !defined(__apple_build_version__) && __clang_major__ < 16
#define OMSTREAM_CONFIG_UNSUPPORTED 1
#error "omstream needs Clang 16 or later (or GCC 12+): Clang 14 cannot compile libstdc++ 12's <ranges>"
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__INTEL_COMPILER) && __GNUC__ < 12
#define OMSTREAM_CONFIG_UNSUPPORTED 1
#error "omstream needs GCC 12 or later (or Clang 16+)"
#else
#define OMSTREAM_CONFIG_UNSUPPORTED 0
#endif
