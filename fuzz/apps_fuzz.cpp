// libFuzzer target over the pure code an app deployment passes through: the
// deployment spec parser (what the API and the agent accept), the Docker log
// stream demuxer and its timestamp parser. The first byte picks the target.
// Invariants: nothing crashes or leaks; an accepted spec is within its
// documented ranges; demuxed lines are never longer than the cut.
#include <cstdint>
#include <string_view>

#include "apps/spec.hpp"
#include "common/json.hpp"
#include "runtime/docker/log_stream.hpp"

namespace {

void checkSpec(std::string_view text) {
  auto body = berth::parseJsonOrDiscarded(text);
  if (body.is_discarded()) return;
  auto spec = berth::apps::parseDeploymentSpec(body);
  if (!spec) {
    if (spec.error().code != "invalid_argument" || spec.error().message.rfind("field '", 0) != 0) __builtin_trap();
    return;
  }
  const auto& l = spec->limits;
  if (spec->replicas < 0 || spec->replicas > 100) __builtin_trap();
  if (l.cpu_millicores < 0 || l.memory_bytes < 0 || l.pids < 8 || l.net_in_bps < 0 || l.net_out_bps < 0) __builtin_trap();
  if (spec->publish && !spec->port) __builtin_trap();
  if (spec->health && spec->health->timeout_ms > spec->health->interval_ms) __builtin_trap();
  // What the server shows never carries a secret value.
  const auto shown = berth::apps::toJson(*spec, false);
  if (shown.contains("secrets") || shown.contains("registry_auth")) __builtin_trap();
}

void checkLogs(std::string_view bytes) {
  berth::runtime::docker::LogDemuxer demuxer;
  // Feed in uneven pieces so frame headers and lines split at every kind of boundary.
  std::size_t step = 1;
  while (!bytes.empty()) {
    const auto piece = bytes.substr(0, step);
    bytes.remove_prefix(piece.size());
    for (const auto& line : demuxer.feed(piece)) {
      if (line.text.size() > berth::runtime::docker::LogDemuxer::kMaxLine) __builtin_trap();
      if (line.stream != "stdout" && line.stream != "stderr") __builtin_trap();
    }
    step = step % 7 + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      checkSpec(rest);
      break;
    case 1:
      checkLogs(rest);
      break;
    default:
      (void)berth::runtime::docker::parseTimestampMs(rest);
      break;
  }
  return 0;
}
