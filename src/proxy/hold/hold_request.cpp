#include "proxy/hold/hold_request.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "apps/app_key.hpp"
#include "apps/validation.hpp"

namespace berth::proxy::hold {
namespace {

bool sameHeaderName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trimmed(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls `header(name, value)` for each header line of `head` (the request line excluded).
template <typename Header>
void forEachHeader(std::string_view head, Header header) {
  auto lineEnd = head.find("\r\n");
  for (std::size_t at = lineEnd + 2; lineEnd != std::string_view::npos && at < head.size(); at = lineEnd + 2) {
    lineEnd = head.find("\r\n", at);
    const std::string_view line = head.substr(at, lineEnd - at);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) header(line.substr(0, colon), trimmed(line.substr(colon + 1)));
  }
}

}  // namespace

Result<std::optional<std::string>> appOfRequest(std::string_view received) {
  const auto end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (received.size() >= kMaxHeadBytes)
      return invalidField("request", "head must be at most " + std::to_string(kMaxHeadBytes) + " bytes");
    return std::optional<std::string>{};
  }
  if (end + 4 > kMaxHeadBytes)
    return invalidField("request", "head must be at most " + std::to_string(kMaxHeadBytes) + " bytes");
  std::string_view head = received.substr(0, end + 2);
  // What nginx never sends, and what the head rewrites and checks below would read otherwise than
  // an app's parser may: a bare LF, a folded line, a space before a header's colon.
  for (std::size_t at = head.find('\n'); at != std::string_view::npos; at = head.find('\n', at + 1)) {
    if (at == 0 || head[at - 1] != '\r') return invalidField("request", "head lines must end with CRLF");
    if (at + 1 < head.size() && (head[at + 1] == ' ' || head[at + 1] == '\t'))
      return invalidField("request", "head must not fold header lines");
  }
  std::optional<std::string> app;
  std::optional<Error> error;
  forEachHeader(head, [&](std::string_view name, std::string_view value) {
    if (!error && (name.empty() || name.back() == ' ' || name.back() == '\t'))
      error = invalidField("request", "header names must not end with whitespace");
    if (error || !sameHeaderName(name, kAppHeader)) return;
    if (app) {
      error = invalidField(kAppHeader, "must appear once");
      return;
    }
    app = std::string(value);
    if (auto valid = apps::validateAppKey(kAppHeader, *app); !valid) error = valid.error();
  });
  if (error) return *error;
  if (!app) return invalidField(kAppHeader, "is missing (only berth's proxy sends requests here)");
  return app;
}

bool canSendAgain(std::string_view request) {
  const auto end = request.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 != request.size()) return false;
  const std::string_view method = request.substr(0, request.find(' '));
  static constexpr std::string_view kIdempotent[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
  if (std::find(std::begin(kIdempotent), std::end(kIdempotent), method) == std::end(kIdempotent)) return false;
  bool bodyless = true;
  forEachHeader(request.substr(0, end + 2), [&](std::string_view name, std::string_view value) {
    if (sameHeaderName(name, "Transfer-Encoding") || (sameHeaderName(name, "Content-Length") && value != "0"))
      bodyless = false;
  });
  return bodyless;
}

bool asksForUpgrade(std::string_view request) {
  const auto end = request.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  bool upgrade = false;
  forEachHeader(request.substr(0, end + 2),
                [&](std::string_view name, std::string_view) { upgrade = upgrade || sameHeaderName(name, "Upgrade"); });
  return upgrade;
}

std::string withConnectionClose(std::string_view message) {
  const auto end = message.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::string(message);
  const std::string_view head = message.substr(0, end + 2);
  std::string out;
  out.reserve(message.size() + 19);
  std::size_t at = 0;
  for (std::size_t lineEnd; (lineEnd = head.find("\r\n", at)) != std::string_view::npos; at = lineEnd + 2) {
    const std::string_view line = head.substr(at, lineEnd + 2 - at);
    const auto colon = line.find(':');
    if (at != 0 && colon != std::string_view::npos && sameHeaderName(line.substr(0, colon), "Connection")) continue;
    out += line;
  }
  out += "Connection: close\r\n\r\n";
  out += message.substr(end + 4);
  return out;
}

std::string closingAfterAnswer(std::string_view received) {
  return asksForUpgrade(received) ? std::string(received) : withConnectionClose(received);
}

bool switchesProtocols(std::string_view response) { return response.starts_with("HTTP/1.1 101"); }

std::string unavailableResponse(int retry_after_s, const std::string& reason) {
  const std::string body = "503 Service Unavailable: " + reason + "\n";
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {}\r\nContent-Type: text/plain\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      retry_after_s, body.size(), body);
}

}  // namespace berth::proxy::hold
