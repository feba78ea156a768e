# Precompiled headers: the header-heavy third-party set (nlohmann/json, fmt,
# Boost.Asio/Beast with OpenSSL, gtest) is parsed once per build instead of once
# per source file. Applied here, by target name, so the target lists in
# src/, tests/ and bench/ stay as they are. Figures: docs/BENCHMARKS.md, "Build".
#
# Two precompiled headers for the libraries, one per compile-flag set (a PCH is
# only reused by targets compiled with the same flags and definitions):
#   berth_common  the pure libraries (no Boost): json, fmt and the standard library
#   berth_runtime everything that links Boost::system: the above plus Asio/Beast
# and one for the tests (the Boost set plus gtest), shared by both test binaries.
# New libraries join with a line in the matching REUSE_FROM list below.
option(BERTH_PCH "Precompile the header-heavy third-party headers" ON)
if(NOT BERTH_PCH)
  return()
endif()

set(BERTH_PCH_STD
  <algorithm> <chrono> <cstdint> <filesystem> <fstream> <functional> <map> <memory> <mutex>
  <optional> <set> <sstream> <string> <string_view> <thread> <unordered_map> <utility> <vector>)
set(BERTH_PCH_PURE ${BERTH_PCH_STD} <nlohmann/json.hpp> <fmt/format.h>)
set(BERTH_PCH_IO ${BERTH_PCH_PURE}
  <boost/asio/any_io_executor.hpp> <boost/asio/awaitable.hpp> <boost/asio/co_spawn.hpp>
  <boost/asio/detached.hpp> <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp>
  <boost/asio/local/stream_protocol.hpp> <boost/asio/post.hpp> <boost/asio/redirect_error.hpp>
  <boost/asio/steady_timer.hpp> <boost/asio/use_awaitable.hpp> <boost/asio/ssl/context.hpp>
  <boost/asio/ssl/stream.hpp> <boost/asio/ssl/host_name_verification.hpp>
  <boost/beast/core.hpp> <boost/beast/http.hpp> <boost/beast/ssl.hpp> <boost/beast/websocket.hpp>)

# Reuse is only safe between targets with the same flags; -Winvalid-pch makes
# g++ say so when it has to ignore a precompiled header instead of using it.
function(berth_pch_reuse donor)
  foreach(t ${ARGN})
    if(TARGET ${t})
      target_precompile_headers(${t} REUSE_FROM ${donor})
      target_compile_options(${t} PRIVATE -Winvalid-pch)
    endif()
  endforeach()
endfunction()

target_precompile_headers(berth_common PRIVATE ${BERTH_PCH_PURE})
target_compile_options(berth_common PRIVATE -Winvalid-pch)
berth_pch_reuse(berth_common berth_protocol berth_apps berth_proxy berth_pki berth_store)

target_precompile_headers(berth_runtime PRIVATE ${BERTH_PCH_IO})
target_compile_options(berth_runtime PRIVATE -Winvalid-pch)
berth_pch_reuse(berth_runtime berth_net berth_agent berth_server berth_cli berth berth_test_support)

if(TARGET unit_tests)
  target_precompile_headers(unit_tests PRIVATE ${BERTH_PCH_IO} <gtest/gtest.h>)
  target_compile_options(unit_tests PRIVATE -Winvalid-pch)
  berth_pch_reuse(unit_tests integration_tests)
endif()
if(TARGET fleet_sim)
  berth_pch_reuse(berth_runtime fleet_sim)
endif()
