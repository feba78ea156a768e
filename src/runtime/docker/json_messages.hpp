// The Engine API's JSON-message streams (image pulls and builds), read as
// they arrive (issue 11). Pure: the runtime feeds the bytes it reads.
//  - JsonMessageSplitter: bytes split anywhere -> one JSON object per message.
//  - PullProgress: per-layer state and bytes of a pull, summed for a display.
//  - BuildOutput: a build's log lines, its current step, the image it made or
//    its error with the failing step and the last lines before it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::runtime::docker {

class JsonMessageSplitter {
 public:
  static constexpr std::size_t kMaxMessage = 1 << 20;  // a longer message is dropped, not buffered
  // Complete messages in `bytes` (with what earlier calls left over). Lines that
  // are not JSON objects are skipped.
  std::vector<nlohmann::json> feed(std::string_view bytes);

 private:
  std::string partial_;
  bool skipping_ = false;  // inside an over-long message: drop up to its end
};

struct LayerProgress {
  std::string state;  // Docker's words: "Waiting", "Downloading", "Extracting", "Pull complete", "Already exists"...
  std::int64_t current = 0;
  std::int64_t total = 0;
  bool done = false;
};

class PullProgress {
 public:
  // Applies one message; returns true when the summary changed.
  bool apply(const nlohmann::json& message);
  const std::map<std::string, LayerProgress>& layers() const { return layers_; }
  std::size_t layersDone() const;
  std::int64_t bytesCurrent() const;  // downloaded so far, over layers whose size is known
  std::int64_t bytesTotal() const;
  const std::optional<std::string>& error() const { return error_; }
  const std::string& digest() const { return digest_; }
  // "3/5 layers, 12.3 MB of 45.6 MB" (one line, for plain output and logs).
  std::string summary() const;
  nlohmann::json toJson() const;

 private:
  std::map<std::string, LayerProgress> layers_;
  std::optional<std::string> error_;
  std::string digest_;
};

class BuildOutput {
 public:
  static constexpr std::size_t kTailLines = 20;
  // Applies one message; returns the log lines it carried (complete lines; a
  // line split over messages is joined).
  std::vector<std::string> apply(const nlohmann::json& message);
  const std::string& step() const { return step_; }  // "Step 3/7 : RUN [\"npm\",\"ci\"]"
  const std::string& imageId() const { return image_id_; }
  const std::optional<std::string>& error() const { return error_; }
  // The failing step, the error and the last lines before it, for the deployment's reason.
  std::string failureReport() const;

 private:
  std::string partial_;
  std::string step_;
  std::string image_id_;
  std::optional<std::string> error_;
  std::deque<std::string> tail_;
};

// Bytes as "12.3 MB" (decimal units, as Docker prints them).
std::string humanBytes(std::int64_t bytes);

}  // namespace berth::runtime::docker
