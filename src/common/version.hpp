// berth's version, from CMake's project(VERSION): the one place it is spelled.
#pragma once

#ifndef BERTH_VERSION
#error "BERTH_VERSION is set by CMake (src/CMakeLists.txt)"
#endif

namespace berth {

inline constexpr const char* kVersion = BERTH_VERSION;

}  // namespace berth
