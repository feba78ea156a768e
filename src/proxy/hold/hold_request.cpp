#include "proxy/hold/hold_request.hpp"

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
  std::optional<std::string> app;
  // The request line first, then one header per line.
  auto lineEnd = head.find("\r\n");
  for (std::size_t at = lineEnd + 2; at < head.size(); at = lineEnd + 2) {
    lineEnd = head.find("\r\n", at);
    const std::string_view line = head.substr(at, lineEnd - at);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !sameHeaderName(line.substr(0, colon), kAppHeader)) continue;
    if (app) return invalidField(kAppHeader, "must appear once");
    app = std::string(trimmed(line.substr(colon + 1)));
    if (auto valid = apps::validateAppKey(kAppHeader, *app); !valid) return valid.error();
  }
  if (!app) return invalidField(kAppHeader, "is missing (only berth's proxy sends requests here)");
  return app;
}

std::string unavailableResponse(int retry_after_s, const std::string& reason) {
  const std::string body = "503 Service Unavailable: " + reason + "\n";
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {}\r\nContent-Type: text/plain\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      retry_after_s, body.size(), body);
}

}  // namespace berth::proxy::hold
