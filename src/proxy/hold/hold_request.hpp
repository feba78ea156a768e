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

// Whether `request` (all the proxy sent so far) may go to another upstream when the
// one it went to closed without answering: one whole head of an idempotent method
// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, as nginx counts them) with no body. The
// upstream may have acted on it, which an idempotent request allows; a body could
// be partly gone, which nothing allows.
bool canSendAgain(std::string_view request);

// Whether the request's head carries an Upgrade header.
bool asksForUpgrade(std::string_view request);
// `message` (a request or response: a whole head, perhaps some body) with its head
// asking for the connection to close after this message (Connection headers replaced).
std::string withConnectionClose(std::string_view message);
// `received` with Connection: close unless it asks for an upgrade. A connection
// through the hold server is a tunnel to one upstream: kept alive, the proxy would
// reuse it for a later request when that upstream is long gone (stopped by the next
// update) and answer 502, having no next server. An upgrade request's answer gets
// Connection: close instead when it is not 101 (switchesProtocols), for the same reason.
std::string closingAfterAnswer(std::string_view received);
// Whether a response head is "101 Switching Protocols".
bool switchesProtocols(std::string_view response);

// 503 with Retry-After and Connection: close, saying why.
std::string unavailableResponse(int retry_after_s, const std::string& reason);

}  // namespace berth::proxy::hold
