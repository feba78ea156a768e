#include "server/command_batch.hpp"

#include <algorithm>

#include "common/ids.hpp"

namespace berth::server {
namespace {

constexpr std::size_t kMaxIdempotencyKey = 128;
constexpr const char* kBatchPrefix = "batch_";
constexpr std::size_t kBatchHexDigits = 32;

bool validIdempotencyKey(const std::string& key) {
  return !key.empty() && key.size() <= kMaxIdempotencyKey &&
         std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

Result<BatchRequest> parseBatchRequest(const nlohmann::json& body, const std::string& header_key) {
  if (!body.is_object()) return invalidField("body", "must be a JSON object");
  BatchRequest out;
  const bool hasSelector = body.contains("selector") && !body["selector"].is_null();
  const bool hasAll = body.contains("all") && !body["all"].is_null();
  if (hasAll && !body["all"].is_boolean()) return invalidField("all", "must be true or false");
  const bool all = hasAll && body["all"].get<bool>();
  if (hasSelector == all) return invalidField("selector", "give either a label selector key=value[,key=value] or \"all\": true");
  if (all) {
    out.target.all = true;
    out.target.text = "all";
  } else {
    if (!body["selector"].is_string()) return invalidField("selector", "must be a string key=value[,key=value]");
    auto selector = apps::parseLabelSelector("selector", body["selector"].get<std::string>());
    if (!selector) return selector.error();
    out.target.selector = std::move(*selector);
    out.target.text = apps::selectorText(out.target.selector);
  }
  for (const char* field : {"verb", "args", "ttl_s"}) {
    if (body.contains(field)) out.command[field] = body[field];
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    static const std::vector<std::string> kKnown = {"selector", "all", "verb", "args", "ttl_s", "idempotency_key"};
    if (std::find(kKnown.begin(), kKnown.end(), it.key()) == kKnown.end())
      return invalidField(it.key(), "is not a field of a batch (correlation ids are derived from the batch)");
  }
  std::string key = header_key;
  if (body.contains("idempotency_key") && !body["idempotency_key"].is_null()) {
    if (!body["idempotency_key"].is_string()) return invalidField("idempotency_key", "must be a string");
    const std::string fromBody = body["idempotency_key"];
    if (!key.empty() && key != fromBody)
      return invalidField("idempotency_key", "differs from the Idempotency-Key header");
    key = fromBody;
  }
  if (!key.empty() && !validIdempotencyKey(key))
    return invalidField("idempotency_key", "must be 1-128 printable ASCII characters without spaces");
  out.idempotency_key = std::move(key);
  return out;
}

Result<std::vector<std::string>> selectBatchNodes(const std::vector<BatchCandidate>& nodes, const BatchTarget& target,
                                                  const BatchScope& scope, std::size_t max) {
  std::vector<std::string> out;
  for (const auto& node : nodes) {
    if (node.revoked) continue;
    if (!scope.platform_admin && (node.org.empty() || node.org != scope.org)) continue;
    if (!target.all && !apps::selectorMatches(target.selector, node.labels)) continue;
    out.push_back(node.id);
  }
  const std::string where = scope.platform_admin ? "" : " of org " + scope.org;
  if (out.empty()) {
    return makeError("no_node", target.all ? "no node" + where + " to send to (selector 'all' matches none)"
                                           : "selector '" + target.text + "' matches no node" + where);
  }
  if (out.size() > max) {
    return invalidField("selector", "'" + target.text + "' matches " + std::to_string(out.size()) +
                                        " nodes; a batch holds at most " + std::to_string(max) +
                                        " (server setting command_batch_max)");
  }
  return out;
}

std::string batchId(const std::string& org, const std::string& idempotency_key, const std::string& random_hex) {
  // The org is part of the hash: two orgs using the same key get two batches.
  const std::string digits = idempotency_key.empty() ? random_hex : sha256Hex("berth-batch\n" + org + "\n" + idempotency_key);
  return kBatchPrefix + digits.substr(0, kBatchHexDigits);
}

std::string batchCorrelationId(const std::string& batch_id, const std::string& node_id) {
  return batch_id + ":" + node_id;
}

bool isBatchCorrelationId(const std::string& correlation_id) { return correlation_id.rfind(kBatchPrefix, 0) == 0; }

bool validBatchId(const std::string& id) {
  const std::size_t prefix = std::string(kBatchPrefix).size();
  return id.size() == prefix + kBatchHexDigits && id.rfind(kBatchPrefix, 0) == 0 &&
         std::all_of(id.begin() + static_cast<std::ptrdiff_t>(prefix), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace berth::server
