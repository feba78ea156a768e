// Helpers the REST API's files share (api.cpp, api_nodes.cpp, api_access.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api.hpp"

namespace berth::server {

// A JSON answer; invalid UTF-8 echoed from a request becomes U+FFFD.
ApiResponse json(int status, const nlohmann::json& body);
// ?limit=: `fallback` when absent or not a number, else clamped to 1..max.
std::size_t limitParam(const std::map<std::string, std::string>& query, std::size_t fallback, std::size_t max);

}  // namespace berth::server
