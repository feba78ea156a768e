// One health probe against a container from the host: TCP connect, or an HTTP
// GET whose status must be 2xx or 3xx. Plain sockets with a deadline, so a
// probe never outlives its timeout.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace berth::agent {

// Fails "probe_failed" with what went wrong (refused, timeout, status 500, ...).
Result<void> probeTcp(const std::string& ip, std::uint16_t port, int timeout_ms);
Result<void> probeHttp(const std::string& ip, std::uint16_t port, const std::string& path, int timeout_ms);

// "HTTP/1.1 204 No Content\r\n..." -> 204; 0 when it is not a status line.
int httpStatusOf(const std::string& response_head);

}  // namespace berth::agent
