// The one way berth parses JSON that came from outside: nesting is bounded
// before nlohmann builds a value, because copying or destroying a value nested
// hundreds of thousands deep recurses until the stack runs out.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

inline constexpr std::size_t kMaxJsonDepth = 64;

// Deepest nesting of arrays and objects in `text`, counted outside strings;
// stops counting (and returns a value > `limit`) as soon as `limit` is passed.
std::size_t jsonNestingDepth(std::string_view text, std::size_t limit);

// Errors: "malformed_json" (not JSON), "too_deep" (nesting above `max_depth`).
Result<nlohmann::json> parseJson(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// The same, for callers that only need to know it failed: a discarded value
// (is_discarded()) on any error.
nlohmann::json parseJsonOrDiscarded(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// Compact JSON text that never throws: a string holding invalid UTF-8 (a
// container's output, a subprocess's error text) has those bytes replaced by
// U+FFFD, where json::dump() would throw and end whatever was sending it.
std::string dumpJson(const nlohmann::json& value);

// `text` cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string truncateUtf8(std::string text, std::size_t max_bytes);

}  // namespace berth
