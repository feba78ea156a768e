// Fleet-wide commands: POST /commands/batch queues one command per matching
// node in the request's transaction; GET /commands/batch/{id} shows each
// node's entry and the totals. A batch belongs to the org that sent it, or to
// the platform admins when one of them sent it (it may reach every org's nodes).
#include <algorithm>

#include "common/ids.hpp"
#include "server/api_internal.hpp"
#include "server/command_batch.hpp"

namespace berth::server {

ApiResponse Api::submitBatch(Call& call) {
  auto request = parseBatchRequest(call.body, call.request.idempotency_key);
  if (!request) return errorResponse(request.error());
  const BatchScope scope{call.principal.platformAdmin() ? std::string() : call.org, call.principal.platformAdmin()};
  if (!scope.platform_admin && scope.org.empty())
    return errorResponse(makeError("forbidden", "a fleet-wide command needs an org to act in"));
  const std::string id = batchId(scope.org, request->idempotency_key, randomHex(16));
  call.audit_target = "nodes " + request->target.text;
  // A retry with the same key answers with the batch it made and queues nothing again.
  auto existing = d_.store.getCommandBatch(id);
  if (!existing) return errorResponse(existing.error());
  if (*existing) {
    const auto& batch = **existing;
    const auto& wanted = request->command;
    if (batch.org != scope.org || batch.selector != request->target.text || batch.verb != wanted.value("verb", std::string()) ||
        batch.args != wanted.value("args", nlohmann::json::object()))
      return errorResponse(
          makeError("conflict", "field 'idempotency_key': already used for a different batch (" + batch.id + ")"));
    call.audit_target += "; " + std::to_string(batch.node_count) + " nodes";
    call.audit_detail = "batch " + batch.id + " repeated, nothing queued";
    return batchResponse(200, batch);
  }
  auto nodes = d_.store.listNodes();
  if (!nodes) return errorResponse(nodes.error());
  std::vector<BatchCandidate> candidates;
  candidates.reserve(nodes->size());
  for (auto& node : *nodes) {
    BatchCandidate candidate{node.id, node.org, node.status == store::NodeStatus::Revoked, {}};
    if (node.labels.is_object())
      for (const auto& [key, value] : node.labels.items())
        if (value.is_string()) candidate.labels[key] = value.get<std::string>();
    candidates.push_back(std::move(candidate));
  }
  auto selected =
      selectBatchNodes(candidates, request->target, scope, static_cast<std::size_t>(d_.config.command_batch_max));
  if (!selected) return errorResponse(selected.error());
  store::CommandBatch batch;
  batch.id = id;
  batch.org = scope.org;
  batch.actor = call.actor;
  batch.idempotency_key = request->idempotency_key;
  batch.selector = request->target.text;
  auto outcome = d_.commands.submitBatch(batch, request->command, *selected);
  if (!outcome) return errorResponse(outcome.error());
  call.audit_target += "; " + std::to_string(selected->size()) + " nodes";
  call.audit_detail = "batch " + id + ", " + std::to_string(outcome->queued) + " queued, " +
                      std::to_string(outcome->refused) + " refused (queue full)";
  return batchResponse(202, outcome->batch);
}

ApiResponse Api::showBatch(Call& call, const std::string& id) {
  const Error missing = makeError("not_found", "command batch " + id + " does not exist");
  if (!validBatchId(id)) return errorResponse(missing);
  auto batch = d_.store.getCommandBatch(id);
  if (!batch) return errorResponse(batch.error());
  // Another org's batch reads as a missing one; platform admins see every batch.
  if (!*batch || !(call.principal.platformAdmin() || (!(*batch)->org.empty() && (*batch)->org == call.org)))
    return errorResponse(missing);
  return batchResponse(200, **batch);
}

ApiResponse Api::batchResponse(int status, const store::CommandBatch& batch) {
  auto commands = d_.store.listBatchCommands(batch.id);
  if (!commands) return errorResponse(commands.error());
  std::size_t succeeded = 0, failed = 0, pending = 0;
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& stored : *commands) {
    const auto live = d_.commands.openCommand(stored.id);  // dispatched and running live in memory
    const auto& c = live ? *live : stored;
    if (c.state == store::CommandState::Succeeded)
      ++succeeded;
    else if (store::isTerminal(c.state))
      ++failed;
    else
      ++pending;
    entries.push_back({{"node_id", c.node_id},
                       {"command_id", c.id},
                       {"correlation_id", c.correlation_id},
                       {"state", store::commandStateName(c.state)},
                       {"exit_code", c.exit_code},
                       {"error", c.error},
                       {"finished_at", c.finished_at}});
  }
  return json(status, {{"id", batch.id},
                       {"org", batch.org.empty() ? nlohmann::json() : nlohmann::json(batch.org)},
                       {"selector", batch.selector},
                       {"verb", batch.verb},
                       {"args", batch.args},
                       {"ttl_s", batch.ttl_s},
                       {"created_at", batch.created_at},
                       {"idempotency_key", batch.idempotency_key.empty() ? nlohmann::json() : nlohmann::json(batch.idempotency_key)},
                       {"totals",
                        {{"nodes", commands->size()},
                         {"succeeded", succeeded},
                         {"failed", failed},
                         {"pending", pending},
                         // Entries command_retention_days removed: the batch's count, less those left.
                         {"pruned", std::max<std::int64_t>(0, batch.node_count - static_cast<std::int64_t>(commands->size()))}}},
                       {"done", pending == 0},
                       {"entries", entries}});
}

}  // namespace berth::server
