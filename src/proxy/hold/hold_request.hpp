// The pure half of the hold server: which app a request the proxy sent to it
// is for (the proxy names it in X-Berth-App, overwriting anything a client
// sent), and the answer when the hold ends without an upstream.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::proxy::hold {

inline constexpr const char* kAppHeader = "X-Berth-App";
// A request head longer than this is refused (nginx sends at most its own buffers' worth).
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;

// From the bytes received so far: nothing while the head is incomplete, else
// the app named by the one X-Berth-App header. Errors: the head is too long,
// the header is missing, repeated or not an app name.
Result<std::optional<std::string>> appOfRequest(std::string_view received);

// 503 with Retry-After and Connection: close, saying why.
std::string unavailableResponse(int retry_after_s, const std::string& reason);

}  // namespace berth::proxy::hold
