#include "agent/telemetry_sequence.hpp"

#include <algorithm>
#include <charconv>

#include "common/logging.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {

BlockFloor telemetryBlockFloor(std::optional<std::string_view> file_text, std::int64_t current, std::int64_t now_ms) {
  const std::int64_t floor = std::clamp<std::int64_t>(current, 0, kMaxTelemetrySeq);
  if (!file_text) return {floor, false};
  std::string_view text = *file_text;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::int64_t stored = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), stored);
  if (ec != std::errc() || end != text.data() + text.size() || stored < 0 || stored > kMaxTelemetrySeq) {
    return {std::max(floor, std::clamp<std::int64_t>(now_ms, 0, kMaxTelemetrySeq / 1000) * 1000), true};
  }
  return {std::max(floor, stored), false};
}

std::int64_t TelemetrySequence::next() {
  if (current_ >= limit_) {
    auto text = pki::readFile(path_);
    const auto [floor, damaged] =
        telemetryBlockFloor(text ? std::optional<std::string_view>(*text) : std::nullopt, current_, clock_());
    if (damaged) log::warn("telemetry.seq unreadable; starting above the clock", {{"path", path_}});
    limit_ = std::min(floor + kBlock, kMaxTelemetrySeq);
    if (auto r = pki::writePrivateFile(path_, std::to_string(limit_)); !r)
      log::error("telemetry sequence not reserved", {{"error", r.error().message}});
    current_ = floor;
  }
  current_ = std::min(current_ + 1, kMaxTelemetrySeq);
  return current_;
}

void TelemetrySequence::resumeAbove(std::int64_t stored) {
  stored = std::clamp<std::int64_t>(stored, 0, kMaxTelemetrySeq - 1);
  if (stored <= current_) return;
  current_ = stored;
  // The reserved block is behind the server: reserve a new one above it on the next number.
  if (current_ >= limit_) limit_ = current_;
}

}  // namespace berth::agent
