#include "runtime/docker/json_messages.hpp"

#include <fmt/format.h>

#include "common/json.hpp"

namespace berth::runtime::docker {
namespace {

std::string text(const nlohmann::json& message, const char* key) {
  auto it = message.find(key);
  return it != message.end() && it->is_string() ? it->get<std::string>() : "";
}

std::int64_t number(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? std::max<std::int64_t>(0, it->get<std::int64_t>()) : 0;
}

// The error a message carries, if any (`error`, else `errorDetail.message`).
std::optional<std::string> messageError(const nlohmann::json& message) {
  if (auto e = text(message, "error"); !e.empty()) return e;
  auto detail = message.find("errorDetail");
  if (detail != message.end() && detail->is_object()) {
    auto e = text(*detail, "message");
    return e.empty() ? "the daemon reported an error" : e;
  }
  return std::nullopt;
}

}  // namespace

std::vector<nlohmann::json> JsonMessageSplitter::feed(std::string_view bytes) {
  std::vector<nlohmann::json> out;
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    const auto piece = bytes.substr(0, newline);
    if (!skipping_) partial_.append(piece);
    if (partial_.size() > kMaxMessage) {
      partial_.clear();
      skipping_ = true;
    }
    if (newline == std::string_view::npos) break;
    bytes.remove_prefix(newline + 1);
    if (!skipping_) {
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      if (auto j = parseJsonOrDiscarded(partial_); j.is_object()) out.push_back(std::move(j));
    }
    partial_.clear();
    skipping_ = false;
  }
  return out;
}

bool PullProgress::apply(const nlohmann::json& message) {
  if (auto e = messageError(message)) {
    error_ = *e;
    return true;
  }
  const auto status = text(message, "status");
  const auto id = text(message, "id");
  if (id.empty() || status.empty()) {
    if (status.rfind("Digest: ", 0) == 0) digest_ = status.substr(8);
    return false;  // "Pulling from library/node", "Status: ..." name the image, not a layer
  }
  // Docker says "Pulling from x" with the tag as its id: that is no layer.
  if (status.rfind("Pulling from", 0) == 0) return false;
  auto& layer = layers_[id];
  layer.state = status;
  auto detail = message.find("progressDetail");
  if (status == "Downloading" && detail != message.end() && detail->is_object()) {
    layer.current = number(*detail, "current");
    layer.total = std::max(layer.total, number(*detail, "total"));
  } else if (status == "Download complete" || status == "Verifying Checksum") {
    layer.current = layer.total;
  }
  layer.done = status == "Pull complete" || status == "Already exists";
  if (layer.done) layer.current = layer.total;
  return true;
}

std::size_t PullProgress::layersDone() const {
  std::size_t done = 0;
  for (const auto& [id, layer] : layers_) done += layer.done ? 1 : 0;
  return done;
}

std::int64_t PullProgress::bytesCurrent() const {
  std::int64_t sum = 0;
  for (const auto& [id, layer] : layers_) sum += std::min(layer.current, layer.total);
  return sum;
}

std::int64_t PullProgress::bytesTotal() const {
  std::int64_t sum = 0;
  for (const auto& [id, layer] : layers_) sum += layer.total;
  return sum;
}

std::string PullProgress::summary() const {
  std::string out = fmt::format("{}/{} layers", layersDone(), layers_.size());
  if (bytesTotal() > 0) out += ", " + humanBytes(bytesCurrent()) + " of " + humanBytes(bytesTotal());
  return out;
}

nlohmann::json PullProgress::toJson() const {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& [id, layer] : layers_)
    layers.push_back({{"id", id}, {"state", layer.state}, {"current", layer.current}, {"total", layer.total}});
  return {{"layers", layers},
          {"layers_done", layersDone()},
          {"bytes_current", bytesCurrent()},
          {"bytes_total", bytesTotal()}};
}

std::vector<std::string> BuildOutput::apply(const nlohmann::json& message) {
  std::vector<std::string> lines;
  if (auto e = messageError(message)) {
    error_ = *e;
    return lines;
  }
  if (auto aux = message.find("aux"); aux != message.end() && aux->is_object()) {
    if (auto id = text(*aux, "ID"); !id.empty()) image_id_ = id;
  }
  partial_ += text(message, "stream");
  std::size_t newline;
  while ((newline = partial_.find('\n')) != std::string::npos) {
    std::string line = partial_.substr(0, newline);
    partial_.erase(0, newline + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("Step ", 0) == 0 && line.find(" : ") != std::string::npos) step_ = line;
    tail_.push_back(line);
    if (tail_.size() > kTailLines) tail_.pop_front();
    lines.push_back(std::move(line));
  }
  if (partial_.size() > 64 * 1024) partial_.clear();  // a "line" that never ends is noise, not log
  return lines;
}

std::string BuildOutput::failureReport() const {
  std::string out = step_.empty() ? "the build failed" : "the build failed at " + step_;
  if (error_) out += ": " + *error_;
  if (!tail_.empty()) {
    out += "\nlast lines:";
    for (const auto& line : tail_) out += "\n  " + line;
  }
  return out;
}

std::string humanBytes(std::int64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  const char* units[] = {"kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes) / 1000;
  int unit = 0;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace berth::runtime::docker
