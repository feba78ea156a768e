// What the agent must remember across its own restarts so that a genuine
// COMMAND captured on the wire cannot be run twice: the nonces of commands it
// admitted (until they expire) and the results of the ones it finished
// (answered again, not re-run, when the same correlation id comes back).
// Bounded; kept in <state_dir>/commands.json (0600, replaced atomically)
// and written before a command runs. Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/verbs.hpp"
#include "common/result.hpp"

namespace berth::agent {

class CommandJournal {
 public:
  static constexpr std::size_t kMaxResults = 512;
  static constexpr std::size_t kMaxNonces = 8192;

  // Starts from the file at `path` when there is one; a damaged file is an
  // error (refusing to start beats forgetting what ran).
  static Result<CommandJournal> load(const std::string& path);
  // Pure: the journal as stored and back.
  nlohmann::json toJson() const;
  static Result<CommandJournal> fromJson(const nlohmann::json& j, std::string path);

  // Records a COMMAND's nonce; false when it was admitted before (a replay).
  // Expired nonces are forgotten first (the frame check refuses them anyway).
  bool admit(const std::string& nonce, std::int64_t expires_at_ms, std::int64_t now_ms);
  void finish(const std::string& correlation_id, const VerbOutcome& outcome);
  std::optional<VerbOutcome> result(const std::string& correlation_id) const;
  Result<void> save() const;

 private:
  std::string path_;
  std::map<std::string, std::int64_t> nonces_;  // nonce -> expires_at
  std::map<std::string, VerbOutcome> results_;
  std::deque<std::string> result_order_;  // oldest first
};

}  // namespace berth::agent
