#include "server/command_service.hpp"

#include <algorithm>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "protocol/agent_frames.hpp"
#include "protocol/verb_args.hpp"
#include "server/audit_log.hpp"
#include "server/command_batch.hpp"

namespace berth::server {
namespace {

constexpr int kMaxTtlS = 7 * 86400;

bool validCorrelationId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
  });
}

std::string truncate(std::string text, std::size_t limit, bool& truncated) {
  if (text.size() > limit) {
    text.resize(limit);
    truncated = true;
  }
  return text;
}

}  // namespace

const std::set<std::string>& serverVerbAllowlist() {
  static const std::set<std::string> verbs = {"ping", "host.info", "host.metrics"};
  return verbs;
}

CommandService::CommandService(store::Store& store, Metrics& metrics, Clock clock, const ServerConfig& config)
    : store_(store), metrics_(metrics), clock_(std::move(clock)), config_(config) {}

Result<void> CommandService::load() {
  auto open = store_.listOpenCommands();
  if (!open) return open.error();
  for (auto& command : *open) {
    if (command.state != store::CommandState::Queued) {
      command.state = store::CommandState::Queued;  // its session died with the old process
      if (auto r = save(command); !r) return r;
    }
    nodes_[command.node_id].queued.push_back(command.id);
    open_[command.id] = std::move(command);
  }
  return Ok{};
}

Result<CommandService::Draft> CommandService::parseBody(const nlohmann::json& body, bool internal) const {
  if (!body.is_object()) return invalidField("body", "must be a JSON object");
  if (!body.contains("verb") || !body["verb"].is_string()) return invalidField("verb", "is required and must be a string");
  Draft draft;
  draft.verb = body["verb"];
  const bool appVerb = draft.verb.rfind("app.", 0) == 0;
  if (!serverVerbAllowlist().count(draft.verb) && !(internal && appVerb))
    return invalidField("verb", "'" + draft.verb + "' is not an allowed verb" + (appVerb ? " here (use /api/v1/apps)" : ""));
  if (body.contains("args")) {
    if (!body["args"].is_object()) return invalidField("args", "must be a JSON object");
    draft.args = body["args"];
  }
  // Each verb declares its arguments; anything else is refused before it is stored.
  if (auto checked = protocol::checkVerbArgs(draft.verb, draft.args); !checked)
    return makeError("invalid_argument", checked.error().message);
  if (body.contains("ttl_s")) {
    if (!body["ttl_s"].is_number_integer()) return invalidField("ttl_s", "must be an integer number of seconds");
    auto value = body["ttl_s"].get<std::int64_t>();
    if (value < 1 || value > kMaxTtlS) return invalidField("ttl_s", "must be between 1 and " + std::to_string(kMaxTtlS));
    draft.ttl_s = static_cast<int>(value);
  }
  return draft;
}

store::Command CommandService::makeCommand(const Draft& draft, const std::string& node_id,
                                           const std::string& correlation_id) const {
  store::Command command;
  command.created_at = clock_();
  // Time-ordered: each new row appends to the commands table's id index.
  command.id = newTimeOrderedId("cmd", command.created_at);
  command.node_id = node_id;
  command.correlation_id = correlation_id;
  command.verb = draft.verb;
  command.args = draft.args;
  command.expires_at = command.created_at + static_cast<std::int64_t>(draft.ttl_s) * 1000;
  return command;
}

std::optional<Error> CommandService::queueFull(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  const std::size_t queued = it == nodes_.end() ? 0 : it->second.queued.size();
  if (queued < static_cast<std::size_t>(config_.max_queue)) return std::nullopt;
  return makeError("queue_full", "the node's command queue holds " + std::to_string(queued) + " commands (limit " +
                                     std::to_string(config_.max_queue) + ")");
}

void CommandService::enqueueCommitted(const store::Command& command) {
  nodes_[command.node_id].queued.push_back(command.id);
  open_[command.id] = command;
  ++metrics_.commands_submitted_total;
}

Result<SubmitOutcome> CommandService::submit(const SubmitRequest& request) {
  auto draft = parseBody(request.body, request.internal);
  if (!draft) return draft.error();
  const auto& body = request.body;
  // Time-ordered too: within a node, the (node_id, correlation_id) index appends.
  std::string correlation = newTimeOrderedId("corr", clock_());
  if (body.contains("correlation_id")) {
    if (!body["correlation_id"].is_string() || !validCorrelationId(body["correlation_id"])) {
      return invalidField("correlation_id", "must be 1-128 characters of letters, digits, '-', '_', '.', ':'");
    }
    correlation = body["correlation_id"];
    // The batch form is reserved: a command sent on its own must not take a batch's place.
    if (isBatchCorrelationId(correlation))
      return invalidField("correlation_id", "must not start with 'batch_' (reserved for fleet-wide commands)");
    auto existing = store_.findCommandByCorrelation(request.node_id, correlation);
    if (!existing) return existing.error();
    if (*existing) {
      if ((*existing)->verb != draft->verb || (*existing)->args != draft->args) {
        return makeError("conflict", "field 'correlation_id': already used for a different command");
      }
      return SubmitOutcome{**existing, false};
    }
  }
  if (auto full = queueFull(request.node_id)) return *full;
  store::Command command = makeCommand(*draft, request.node_id, correlation);
  if (auto r = store_.insertCommand(command); !r) return r.error();
  // Queued in memory (and so sent) only once the row is committed.
  store_.afterCommit([this, command] {
    enqueueCommitted(command);
    if (on_queued_) on_queued_(command.node_id);
  });
  return SubmitOutcome{std::move(command), true};
}

Result<BatchOutcome> CommandService::submitBatch(const store::CommandBatch& batch, const nlohmann::json& body,
                                                 const std::vector<std::string>& node_ids) {
  auto draft = parseBody(body, false);
  if (!draft) return draft.error();
  store::CommandBatch stored = batch;
  stored.verb = draft->verb;
  stored.args = draft->args;
  stored.ttl_s = draft->ttl_s;
  stored.node_count = static_cast<std::int64_t>(node_ids.size());
  stored.created_at = clock_();
  if (auto r = store_.insertCommandBatch(stored); !r) return r.error();
  BatchOutcome outcome;
  outcome.batch = stored;
  auto queued = std::make_shared<std::vector<store::Command>>();
  queued->reserve(node_ids.size());
  for (const auto& node_id : node_ids) {
    store::Command command = makeCommand(*draft, node_id, batchCorrelationId(stored.id, node_id));
    command.batch_id = stored.id;
    // Backpressure per node: a full queue fails this node's entry; the others go ahead.
    if (auto full = queueFull(node_id)) {
      command.state = store::CommandState::Failed;
      command.finished_at = command.created_at;
      command.exit_code = 1;
      command.error = full->code + ": " + full->message;
      ++outcome.refused;
    } else {
      ++outcome.queued;
    }
    if (auto r = store_.insertCommand(command); !r) return r.error();
    if (command.state == store::CommandState::Queued) queued->push_back(std::move(command));
  }
  if (outcome.queued == 0) {
    return makeError("queue_full", "every selected node's command queue is full (limit " +
                                       std::to_string(config_.max_queue) + "); nothing was queued");
  }
  const auto refused = outcome.refused;
  // One callback for the whole batch, after the one commit that holds every row.
  store_.afterCommit([this, queued, refused] {
    for (const auto& command : *queued) enqueueCommitted(command);
    metrics_.commands_finished_total[store::commandStateName(store::CommandState::Failed)] += refused;
    if (on_queued_)
      for (const auto& command : *queued) on_queued_(command.node_id);
  });
  return outcome;
}

std::vector<store::Command> CommandService::takeForDispatch(const std::string& node_id) {
  std::vector<store::Command> out;
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return out;
  auto& queue = it->second;
  const auto now = clock_();
  while (!queue.queued.empty() && queue.in_flight.size() < static_cast<std::size_t>(config_.max_in_flight)) {
    auto& command = open_.at(queue.queued.front());
    queue.queued.pop_front();
    if (command.expires_at <= now) {
      finish(command, store::CommandState::Expired);
      continue;
    }
    command.state = store::CommandState::Dispatched;
    command.dispatched_at = now;
    ++command.attempts;
    queue.in_flight[command.correlation_id] = command.id;
    sent_at_[command.id] = std::chrono::steady_clock::now();
    out.push_back(command);
  }
  return out;
}

void CommandService::markRunning(const std::string& node_id, const std::string& correlation_id) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return;
  auto flight = it->second.in_flight.find(correlation_id);
  if (flight == it->second.in_flight.end()) return;
  auto& command = open_.at(flight->second);
  if (command.state != store::CommandState::Dispatched) return;
  command.state = store::CommandState::Running;
}

std::optional<store::Command> CommandService::complete(const std::string& node_id, const std::string& correlation_id,
                                                       const nlohmann::json& data, const std::string& error) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  auto flight = it->second.in_flight.find(correlation_id);
  if (flight == it->second.in_flight.end()) return std::nullopt;
  const std::string id = flight->second;
  it->second.in_flight.erase(flight);
  auto& command = open_.at(id);

  const std::size_t limit = static_cast<std::size_t>(config_.max_output_bytes);
  bool truncated = false;
  // Typed first: a RESULT with a field of the wrong type fails the command, it does not throw.
  auto parsed = protocol::parseResultFrame(data);
  protocol::ResultFrame result;
  if (parsed) result = std::move(*parsed);
  command.exit_code = data.contains("exit_code") && parsed ? result.exit_code : (error.empty() && parsed ? 0 : 1);
  command.stdout_text = truncate(std::move(result.stdout_text), limit, truncated);
  command.stderr_text = truncate(std::move(result.stderr_text), limit, truncated);
  command.result = std::move(result.output);
  if (truncated) command.result["output_truncated"] = true;
  command.error = parsed ? error : "malformed RESULT: " + parsed.error().message;
  const bool ok = command.error.empty() && result.succeeded;
  if (auto sent = sent_at_.find(id); sent != sent_at_.end()) {
    metrics_.dispatch_latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sent->second).count());
    sent_at_.erase(sent);
  }
  finish(command, ok ? store::CommandState::Succeeded : store::CommandState::Failed, "node:" + node_id);
  store::Command done = std::move(command);
  open_.erase(id);
  return done;
}

void CommandService::requeueInFlight(const std::string& node_id) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return;
  auto& queue = it->second;
  // Put them back at the front in their original order.
  std::vector<std::string> ids;
  for (const auto& [corr, id] : queue.in_flight) ids.push_back(id);
  std::sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
    return open_.at(a).created_at > open_.at(b).created_at;
  });
  for (const auto& id : ids) {
    auto& command = open_.at(id);
    command.state = store::CommandState::Queued;
    queue.queued.push_front(id);
    sent_at_.erase(id);
  }
  queue.in_flight.clear();
}

std::size_t CommandService::expireDue() {
  const auto now = clock_();
  const std::int64_t timeoutMs = static_cast<std::int64_t>(config_.command_timeout_s) * 1000;
  std::size_t changed = 0;
  for (auto& [node_id, queue] : nodes_) {
    for (auto qit = queue.queued.begin(); qit != queue.queued.end();) {
      auto& command = open_.at(*qit);
      if (command.expires_at <= now) {
        finish(command, store::CommandState::Expired, "server");
        open_.erase(*qit);
        qit = queue.queued.erase(qit);
        ++changed;
      } else {
        ++qit;
      }
    }
    for (auto fit = queue.in_flight.begin(); fit != queue.in_flight.end();) {
      auto& command = open_.at(fit->second);
      if (command.expires_at + timeoutMs <= now) {
        command.error = "no RESULT within the command timeout";
        finish(command, store::CommandState::Failed, "server");
        sent_at_.erase(fit->second);
        open_.erase(fit->second);
        fit = queue.in_flight.erase(fit);
        ++changed;
      } else {
        ++fit;
      }
    }
  }
  return changed;
}

Result<store::Command> CommandService::cancel(const std::string& command_id) {
  auto it = open_.find(command_id);
  if (it == open_.end()) {
    auto stored = store_.getCommand(command_id);
    if (!stored) return stored.error();
    if (!*stored) return makeError("not_found", "command " + command_id + " does not exist");
    return makeError("conflict", "command " + command_id + " is already " + store::commandStateName((*stored)->state));
  }
  auto& command = it->second;
  if (command.state != store::CommandState::Queued) {
    return makeError("conflict", "command " + command_id + " was already sent to the agent");
  }
  auto& queued = nodes_[command.node_id].queued;
  queued.erase(std::remove(queued.begin(), queued.end(), command_id), queued.end());
  finish(command, store::CommandState::Cancelled);
  store::Command done = std::move(command);
  open_.erase(it);
  return done;
}

std::optional<store::Command> CommandService::openCommand(const std::string& command_id) const {
  auto it = open_.find(command_id);
  if (it == open_.end()) return std::nullopt;
  return it->second;
}

std::size_t CommandService::queuedCount(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? 0 : it->second.queued.size();
}

std::size_t CommandService::inFlightCount(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? 0 : it->second.in_flight.size();
}

Result<void> CommandService::save(const store::Command& command) { return store_.updateCommand(command); }

void CommandService::finish(store::Command& command, store::CommandState state, const std::string& actor) {
  command.state = state;
  command.finished_at = clock_();
  // A transaction so that, under group commit, outcomes share the next COMMIT.
  auto saved = store_.transaction([&]() -> Result<void> {
    if (auto r = save(command); !r) return r;
    if (actor.empty()) return Ok{};
    store::AuditRecord record;
    record.at = command.finished_at;
    record.actor = actor;
    record.action = "command " + command.verb + " " + store::commandStateName(state);
    record.target = command.id;
    record.request_id = command.correlation_id;
    record.outcome = state == store::CommandState::Succeeded ? "ok" : "failed";
    record.detail = "node " + command.node_id + ", exit code " + std::to_string(command.exit_code);
    auto appended = appendAudit(store_, std::move(record));
    if (!appended) return appended.error();
    return Ok{};
  });
  if (auto r = saved; !r) {
    log::error("could not record command outcome", {{"command_id", command.id}, {"error", r.error().message}});
  }
  ++metrics_.commands_finished_total[store::commandStateName(state)];
  if (log::enabled(log::Level::Info))
    log::info("command finished", {{"command_id", command.id},
                                   {"correlation_id", command.correlation_id},
                                   {"node_id", command.node_id},
                                   {"state", store::commandStateName(state)}});
  if (on_finished_) on_finished_(command);
}

void CommandService::publishGauges() {
  std::int64_t queued = 0, inFlight = 0;
  for (const auto& [id, q] : nodes_) {
    queued += static_cast<std::int64_t>(q.queued.size());
    inFlight += static_cast<std::int64_t>(q.in_flight.size());
  }
  metrics_.commands_queued = queued;
  metrics_.commands_in_flight = inFlight;
}

}  // namespace berth::server
