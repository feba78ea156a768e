// Exactly-once execution on the agent side: a bounded memory of correlation
// ids already started or finished, so a COMMAND redelivered after a dropped
// session is answered from the stored result instead of running again.
// Pure and single-threaded.
#pragma once

#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "agent/verbs.hpp"
#include "protocol/envelope.hpp"
#include "protocol/validator.hpp"

namespace berth::agent {

class ResultCache {
 public:
  enum class Status { New, Running, Done };
  explicit ResultCache(std::size_t capacity) : capacity_(capacity) {}

  Status status(const std::string& correlation_id) const;
  void markRunning(const std::string& correlation_id);
  void finish(const std::string& correlation_id, const VerbOutcome& outcome);
  const VerbOutcome* result(const std::string& correlation_id) const;

 private:
  struct Entry {
    Status status = Status::New;
    VerbOutcome outcome;
  };
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;
};

// The RESULT frame for `outcome`; `replayed` marks an answer from the cache.
protocol::Envelope resultFrame(const std::string& agent_id, const std::string& correlation_id,
                               const VerbOutcome& outcome, bool replayed, std::int64_t now_ms);

// What the agent `node_id` accepts from the server: WELCOME, HEARTBEAT,
// COMMAND (verb in `verbs`), EVENT and ERROR, all addressed to it; WELCOME,
// COMMAND and EVENT (they change what the agent does) signed by
// `signing_public_key`, refused when it is empty.
protocol::ValidationPolicy agentPolicy(const std::string& node_id, const std::string& signing_public_key,
                                       const std::set<std::string>& verbs, std::int64_t max_clock_skew_ms,
                                       std::size_t max_frame_bytes, std::int64_t max_lifetime_ms = 600'000);

}  // namespace berth::agent
