// The durable command queue. A command is written to the store as queued
// before the API answers, and again when it reaches a final state. Dispatched
// and running are session-bound, so they live only in memory (openCommand()
// shows them): after a crash every unfinished command is queued again anyway,
// and skipping those writes halves the store traffic per command.
// Single-threaded: used from the server's I/O thread.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

// Verbs the server will queue (the agent keeps its own allowlist too).
const std::set<std::string>& serverVerbAllowlist();

struct SubmitRequest {
  std::string node_id;
  nlohmann::json body;  // {verb, args, ttl_s, correlation_id?} as received
  bool internal = false;  // from the server itself: app verbs are allowed too
};

struct SubmitOutcome {
  store::Command command;
  bool created = false;  // false when correlation_id matched an existing command
};

struct BatchOutcome {
  store::CommandBatch batch;  // as stored
  std::size_t queued = 0;     // entries queued
  std::size_t refused = 0;    // entries failed at once (the node's queue was full)
};

class CommandService {
 public:
  CommandService(store::Store& store, Metrics& metrics, Clock clock, const ServerConfig& config);

  Result<void> load();

  // Writes the command; it joins the in-memory queue only when that write
  // commits (see Store::afterCommit), so a rolled-back request sends nothing.
  // Errors: "invalid_argument" (names the field), "queue_full", "store_error".
  Result<SubmitOutcome> submit(const SubmitRequest& request);
  // A fleet-wide command: validates `body` ({verb, args, ttl_s}) once, then
  // writes `batch` and one command per node of `node_ids` (correlation id
  // batchCorrelationId(batch.id, node)) in the caller's transaction. A node
  // whose queue is full gets a failed entry saying queue_full; the rest are
  // queued, in memory once the rows commit (one afterCommit for them all).
  // Errors: "invalid_argument", "queue_full" (every node's queue was full),
  // "conflict" (the batch id exists), "store_error".
  Result<BatchOutcome> submitBatch(const store::CommandBatch& batch, const nlohmann::json& body,
                                   const std::vector<std::string>& node_ids);
  // Marks up to (max_in_flight - in flight) queued commands dispatched and returns them.
  std::vector<store::Command> takeForDispatch(const std::string& node_id);
  void markRunning(const std::string& node_id, const std::string& correlation_id);
  // Records a RESULT. nullopt when the correlation id is not in flight (late or duplicate).
  std::optional<store::Command> complete(const std::string& node_id, const std::string& correlation_id,
                                         const nlohmann::json& data, const std::string& error);
  // The node's session ended: its in-flight commands go back to the queue front.
  void requeueInFlight(const std::string& node_id);
  // Queued commands past their TTL become expired; in-flight ones past TTL +
  // command timeout become failed. Returns how many changed.
  std::size_t expireDue();
  Result<store::Command> cancel(const std::string& command_id);

  // Called with the node of every command that became queued, after its row
  // was committed (the gateway sends it from there).
  void onQueued(std::function<void(const std::string& node_id)> listener) { on_queued_ = std::move(listener); }
  // Called with every command that reaches a final state (after it is saved).
  void onFinished(std::function<void(const store::Command&)> listener) { on_finished_ = std::move(listener); }

  // Writes the queued/in-flight gauges into Metrics (O(nodes); call before rendering).
  void publishGauges();

  // A command that is still queued or in flight, as the queue sees it now.
  std::optional<store::Command> openCommand(const std::string& command_id) const;
  std::size_t queuedCount(const std::string& node_id) const;
  std::size_t inFlightCount(const std::string& node_id) const;

 private:
  struct NodeQueue {
    std::deque<std::string> queued;                // command ids, oldest first
    std::map<std::string, std::string> in_flight;  // correlation_id -> command id
  };

  struct Draft {
    std::string verb;
    nlohmann::json args = nlohmann::json::object();
    int ttl_s = 300;  // when the body gives none
  };
  // A command body's verb, args and TTL, each checked (the allowlist and the verb's typed args).
  Result<Draft> parseBody(const nlohmann::json& body, bool internal) const;
  store::Command makeCommand(const Draft& draft, const std::string& node_id, const std::string& correlation_id) const;
  // queue_full when the node's queue is at max_queue.
  std::optional<Error> queueFull(const std::string& node_id) const;
  // A committed queued command joins the node's in-memory queue.
  void enqueueCommitted(const store::Command& command);
  Result<void> save(const store::Command& command);
  // Records the outcome; with an `actor` ("node:<id>", "server") also an audit
  // record in the same transaction (a cancel is audited by its API call).
  void finish(store::Command& command, store::CommandState state, const std::string& actor = "");

  store::Store& store_;
  Metrics& metrics_;
  Clock clock_;
  const ServerConfig& config_;
  std::unordered_map<std::string, NodeQueue> nodes_;
  std::unordered_map<std::string, store::Command> open_;  // non-terminal commands by id
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> sent_at_;
  std::function<void(const store::Command&)> on_finished_;
  std::function<void(const std::string&)> on_queued_;
};

}  // namespace berth::server
