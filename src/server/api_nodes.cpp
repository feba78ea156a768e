// The node, command and join-token routes of the REST API. Nodes are platform
// nodes (seen by every org, managed by platform admins) or one org's own;
// commands and tokens follow the node they are for.
#include "apps/app_key.hpp"
#include "common/encoding.hpp"
#include "common/logging.hpp"
#include "server/api_internal.hpp"

namespace berth::server {
namespace {
constexpr int kDefaultTokenTtlS = 3600;
constexpr int kMaxTokenTtlS = 30 * 86400;
}  // namespace

nlohmann::json Api::nodeJson(const store::Node& n) {
  return {{"id", n.id},
          {"hostname", n.hostname},
          {"org", n.org.empty() ? nlohmann::json() : nlohmann::json(n.org)},
          {"site", n.site},
          {"labels", n.labels},
          {"version", n.version},
          {"capabilities", n.capabilities},
          {"verbs", n.verbs},
          {"capacity", n.capacity},
          {"status", store::nodeStatusName(n.status)},
          {"connected", d_.gateway.online(n.id)},
          {"session_id", d_.gateway.sessionId(n.id)},
          {"cert_not_after", n.cert_not_after},
          {"created_at", n.created_at},
          {"last_seen_at", d_.gateway.online(n.id) ? d_.gateway.lastSeenMs(n.id) : n.last_seen_at},
          {"clock_skew_ms", n.clock_skew_ms},
          {"last_refusal", n.last_refusal},
          {"last_refusal_at", n.last_refusal_at},
          {"commands_queued", d_.commands.queuedCount(n.id)},
          {"commands_in_flight", d_.commands.inFlightCount(n.id)}};
}

ApiResponse Api::listNodes(Call& call) {
  auto nodes = d_.store.listNodes();
  if (!nodes) return errorResponse(nodes.error());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& node : *nodes)
    if (nodeVisible(call, node)) out.push_back(nodeJson(node));
  return json(200, {{"nodes", out}});
}

Result<store::Node> Api::findNode(const std::string& id) {
  auto node = d_.store.getNode(id);
  if (!node) return node.error();
  if (!*node) return makeError("not_found", "node " + id + " does not exist");
  return **node;
}

bool Api::nodeVisible(const Call& call, const store::Node& node) {
  return node.org.empty() || node.org == call.org || call.principal.platform_role != auth::PlatformRole::None;
}

bool Api::nodeManaged(const Call& call, const store::Node& node) {
  return call.principal.platformAdmin() || (!node.org.empty() && node.org == call.org);
}

Result<store::Node> Api::visibleNode(const Call& call, const std::string& id) {
  auto node = findNode(id);
  if (!node) return node;
  if (!nodeVisible(call, *node)) return makeError("not_found", "node " + id + " does not exist");
  return node;
}

ApiResponse Api::showNode(Call& call, const std::string& id) {
  auto node = visibleNode(call, id);
  if (!node) return errorResponse(node.error());
  return json(200, nodeJson(*node));
}

ApiResponse Api::revokeNode(Call& call, const std::string& id) {
  auto node = visibleNode(call, id);
  if (!node) return errorResponse(node.error());
  if (!nodeManaged(call, *node)) return errorResponse(makeError("forbidden", "node " + id + " is a platform node; only a platform admin revokes it"));
  store::Node updated = *node;
  updated.status = store::NodeStatus::Revoked;
  if (auto r = d_.store.upsertNode(updated); !r) return errorResponse(r.error());
  d_.certificates.revoke(id);
  d_.gateway.disconnect(id, "node revoked");
  log::warn("node revoked", {{"node_id", id}});
  return json(200, nodeJson(updated));
}

ApiResponse Api::telemetry(Call& call, const std::string& id) {
  if (auto node = visibleNode(call, id); !node) return errorResponse(node.error());
  const auto limit = limitParam(call.query, 60, 10000);
  auto history = d_.store.telemetryHistory(id, limit + 1);
  if (!history) return errorResponse(history.error());
  const bool more = history->size() > limit;
  if (more) history->pop_back();
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& s : *history) samples.push_back({{"at", s.at}, {"data", s.data}});
  return json(200, {{"node_id", id},
                    {"latest", samples.empty() ? nlohmann::json() : samples.front()},
                    {"history", samples},
                    {"more", more}});
}

ApiResponse Api::submitCommand(Call& call, const std::string& node_id) {
  auto node = visibleNode(call, node_id);
  if (!node) return errorResponse(node.error());
  // A raw command runs as the agent on the node: for those who own the node.
  if (!nodeManaged(call, *node))
    return errorResponse(makeError("forbidden", "node " + node_id + " is a platform node; only a platform admin sends it commands"));
  if (node->status == store::NodeStatus::Revoked) {
    return errorResponse(makeError("conflict", "node " + node_id + " is revoked"));
  }
  auto outcome = d_.commands.submit(SubmitRequest{node_id, call.body});
  if (!outcome) return errorResponse(outcome.error());
  // A new command is sent once committed; a repeated one shows where it is now.
  const auto current = d_.commands.openCommand(outcome->command.id);
  return json(outcome->created ? 202 : 200, commandJson(current ? *current : outcome->command));
}

ApiResponse Api::listCommands(Call& call, const std::string& node_id) {
  // Commands carry what runs on a node: only a node's managers see them.
  std::set<std::string> managed;
  const bool everything = call.principal.platformAdmin();
  if (!node_id.empty()) {
    auto node = visibleNode(call, node_id);
    if (!node) return errorResponse(node.error());
    if (!nodeManaged(call, *node)) return json(200, {{"commands", nlohmann::json::array()}, {"more", false}});
  } else if (!everything) {
    auto nodes = d_.store.listNodes();
    if (!nodes) return errorResponse(nodes.error());
    for (const auto& n : *nodes)
      if (nodeManaged(call, n)) managed.insert(n.id);
    if (managed.empty()) return json(200, {{"commands", nlohmann::json::array()}, {"more", false}});
  }
  // limit + 1 rows: "more" says the page is not the whole list.
  const auto limit = limitParam(call.query, 50, 1000);
  const bool filter = node_id.empty() && !everything;
  auto commands = d_.store.listCommands(node_id, filter ? 100000 : limit + 1);
  if (!commands) return errorResponse(commands.error());
  if (filter) {
    std::vector<store::Command> mine;
    for (auto& c : *commands) {
      if (!managed.count(c.node_id)) continue;
      mine.push_back(std::move(c));
      if (mine.size() > limit) break;
    }
    *commands = std::move(mine);
  }
  const bool more = commands->size() > limit;
  if (more) commands->pop_back();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : *commands) {
    auto live = d_.commands.openCommand(c.id);  // in-flight states live in memory
    out.push_back(commandJson(live ? *live : c));
  }
  return json(200, {{"commands", out}, {"more", more}});
}

Result<store::Command> Api::managedCommand(Call& call, const std::string& id) {
  const Error missing = makeError("not_found", "command " + id + " does not exist");
  std::optional<store::Command> command = d_.commands.openCommand(id);
  if (!command) {
    auto stored = d_.store.getCommand(id);
    if (!stored) return stored.error();
    command = *stored;
  }
  if (!command) return missing;
  auto node = d_.store.getNode(command->node_id);
  if (!node) return node.error();
  if (call.principal.platformAdmin() || (*node && nodeManaged(call, **node))) return *command;
  // An org follows the commands about its own apps wherever they run (app.* verbs carry the app key).
  const auto& args = command->args;
  if (args.is_object() && args.contains("app") && args["app"].is_string() &&
      apps::splitAppKey(args["app"].get<std::string>()).org == call.org && !call.org.empty())
    return *command;
  return missing;
}

ApiResponse Api::showCommand(Call& call, const std::string& id) {
  auto command = managedCommand(call, id);
  if (!command) return errorResponse(command.error());
  return json(200, commandJson(*command));
}

ApiResponse Api::cancelCommand(Call& call, const std::string& id) {
  if (auto visible = managedCommand(call, id); !visible) return errorResponse(visible.error());
  auto command = d_.commands.cancel(id);
  if (!command) return errorResponse(command.error());
  return json(200, commandJson(*command));
}

ApiResponse Api::createToken(Call& call) {
  const auto& b = call.body.is_null() ? nlohmann::json::object() : call.body;
  if (!b.is_object()) return errorResponse(invalidField("body", "must be a JSON object"));
  int ttl = kDefaultTokenTtlS;
  if (b.contains("ttl_s")) {
    if (!b["ttl_s"].is_number_integer()) return errorResponse(invalidField("ttl_s", "must be an integer number of seconds"));
    auto v = b["ttl_s"].get<std::int64_t>();
    if (v < 1 || v > kMaxTokenTtlS) {
      return errorResponse(invalidField("ttl_s", "must be between 1 and " + std::to_string(kMaxTokenTtlS)));
    }
    ttl = static_cast<int>(v);
  }
  if (b.contains("description") && !b["description"].is_string()) {
    return errorResponse(invalidField("description", "must be a string"));
  }
  // A platform admin enrols platform nodes (or names an org); an org admin only the org's own.
  std::string org = call.principal.platformAdmin() ? "" : call.org;
  if (b.contains("org") && !b["org"].is_null()) {
    if (!b["org"].is_string()) return errorResponse(invalidField("org", "must be an organisation name"));
    const std::string wanted = b["org"];
    if (!call.principal.platformAdmin() && wanted != call.org)
      return errorResponse(makeError("forbidden", "field 'org': only a platform admin enrols nodes for another org or the platform"));
    if (!wanted.empty()) {
      auto exists = d_.store.identity().getOrg(wanted);
      if (!exists) return errorResponse(exists.error());
      if (!*exists) return errorResponse(makeError("not_found", "no organisation named " + wanted));
    }
    org = wanted;
  }
  std::string nodeId;
  if (b.contains("node_id") && !b["node_id"].is_null()) {
    if (!b["node_id"].is_string()) return errorResponse(invalidField("node_id", "must be a node id"));
    nodeId = b["node_id"];
    auto node = visibleNode(call, nodeId);
    if (!node) return errorResponse(node.error());
    if (!nodeManaged(call, *node))
      return errorResponse(makeError("forbidden", "node " + nodeId + " is a platform node; only a platform admin rejoins it"));
    org = node->org;
    if (node->status == store::NodeStatus::Revoked)
      return errorResponse(makeError("conflict", "node " + nodeId + " is revoked; enrol a new node instead"));
  }
  auto issued = issueJoinToken(d_.store, d_.clock(), ttl, b.value("description", std::string()), nodeId, org);
  if (!issued) return errorResponse(issued.error());
  const auto& token = issued->token;
  const auto& secret = issued->secret;
  return json(201, {{"id", token.id},
                    {"token", secret},
                    {"expires_at", token.expires_at},
                    {"node_id", token.node_id.empty() ? nlohmann::json() : nlohmann::json(token.node_id)},
                    {"org", token.org.empty() ? nlohmann::json() : nlohmann::json(token.org)},
                    {"ca_pin", d_.identity.ca_pin},
                    {"server_url", d_.server_url ? d_.server_url() : std::string()}});
}

}  // namespace berth::server
