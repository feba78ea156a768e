// Planning a fleet-wide command (POST /api/v1/commands/batch): the request
// body, which nodes it reaches, the batch id and each node's correlation id.
// Pure: no store, no sockets; CommandService::submitBatch writes the plan.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/label_selector.hpp"
#include "common/result.hpp"

namespace berth::server {

// Which nodes: every node the caller manages (`all`) or those whose labels match.
struct BatchTarget {
  bool all = false;
  apps::LabelSelector selector;
  std::string text;  // "all" or the selector as selectorText() writes it
};

struct BatchRequest {
  BatchTarget target;
  // {verb, args?, ttl_s?}: validated by CommandService as a single command's body is.
  nlohmann::json command = nlohmann::json::object();
  std::string idempotency_key;  // "" = none
};

// Parses {"selector": "k=v,k=v"} or {"all": true} (exactly one), plus verb,
// args, ttl_s and an optional idempotency_key. `header_key` is the
// Idempotency-Key header ("" when absent); given both, they must agree.
// A key is 1-128 printable ASCII characters. Errors: "invalid_argument" naming the field.
Result<BatchRequest> parseBatchRequest(const nlohmann::json& body, const std::string& header_key);

struct BatchCandidate {
  std::string id;
  std::string org;  // "" = a platform node
  bool revoked = false;
  std::map<std::string, std::string> labels;
};

// Who sends the batch: a platform admin reaches every node, anyone else only
// the nodes of `org` (platform nodes belong to the platform admins).
struct BatchScope {
  std::string org;
  bool platform_admin = false;
};

// The ids of the matching nodes the scope manages, revoked ones left out, in
// the order given. Errors: "no_node" naming the selector when none matches;
// "invalid_argument" naming the setting command_batch_max when more than `max` do.
Result<std::vector<std::string>> selectBatchNodes(const std::vector<BatchCandidate>& nodes, const BatchTarget& target,
                                                  const BatchScope& scope, std::size_t max);

// A batch's id. With an idempotency key it is derived from (org, key), so a
// retry of the same request names the same batch; without one it is random
// (`random_hex`, e.g. randomHex(16)). Always "batch_" and 32 hex digits.
std::string batchId(const std::string& org, const std::string& idempotency_key, const std::string& random_hex);
// The correlation id of the batch's command for one node: "<batch id>:<node id>".
std::string batchCorrelationId(const std::string& batch_id, const std::string& node_id);
// Whether a correlation id is one of a batch's (single commands may not use that form).
bool isBatchCorrelationId(const std::string& correlation_id);
// Whether `id` has the form batchId() returns (checked before any lookup).
bool validBatchId(const std::string& id);

}  // namespace berth::server
