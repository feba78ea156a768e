#include "agent/command_runner.hpp"

namespace berth::agent {

ResultCache::Status ResultCache::status(const std::string& correlation_id) const {
  auto it = entries_.find(correlation_id);
  return it == entries_.end() ? Status::New : it->second.status;
}

void ResultCache::markRunning(const std::string& correlation_id) {
  if (entries_.emplace(correlation_id, Entry{Status::Running, {}}).second) order_.push_back(correlation_id);
  // Forget the oldest finished entries; running ones are kept until they finish.
  while (order_.size() > capacity_) {
    auto oldest = entries_.find(order_.front());
    if (oldest != entries_.end() && oldest->second.status == Status::Running) break;
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

void ResultCache::finish(const std::string& correlation_id, const VerbOutcome& outcome) {
  auto& entry = entries_[correlation_id];
  if (entry.status == Status::New) order_.push_back(correlation_id);
  entry.status = Status::Done;
  entry.outcome = outcome;
}

const VerbOutcome* ResultCache::result(const std::string& correlation_id) const {
  auto it = entries_.find(correlation_id);
  return (it == entries_.end() || it->second.status != Status::Done) ? nullptr : &it->second.outcome;
}

protocol::Envelope resultFrame(const std::string& agent_id, const std::string& correlation_id,
                               const VerbOutcome& outcome, bool replayed, std::int64_t now_ms) {
  protocol::Envelope e = protocol::newEnvelope(protocol::FrameType::Result, agent_id, now_ms, 60'000);
  e.correlation_id = correlation_id;
  e.data = {{"status", outcome.ok ? "succeeded" : "failed"},
            {"exit_code", outcome.exit_code},
            {"output", outcome.output},
            {"replayed", replayed}};
  if (!outcome.ok) e.error = protocol::ErrorInfo{outcome.error_code, outcome.error_message};
  return e;
}

protocol::ValidationPolicy agentPolicy(const std::string& node_id, const std::string& signing_public_key,
                                       const std::set<std::string>& verbs, std::int64_t max_clock_skew_ms,
                                       std::size_t max_frame_bytes, std::int64_t max_lifetime_ms) {
  protocol::ValidationPolicy p;
  p.max_frame_bytes = max_frame_bytes;
  p.max_clock_skew_ms = max_clock_skew_ms;
  p.accepted_types = {protocol::FrameType::Welcome, protocol::FrameType::Heartbeat, protocol::FrameType::Command,
                      protocol::FrameType::Event, protocol::FrameType::Error};
  p.allowed_verbs = verbs;
  p.command_public_key = signing_public_key;
  p.signed_types = {protocol::FrameType::Welcome, protocol::FrameType::Command, protocol::FrameType::Event};
  p.expected_agent_id = node_id;
  p.max_lifetime_ms = max_lifetime_ms;
  return p;
}

}  // namespace berth::agent
