// The REST API under /api/v1 plus /healthz and /metrics. Transport-free: the
// HTTP listener turns requests into ApiRequest and writes ApiResponse back.
// Every mutating call is audited. Endpoints live in one route table (method,
// pattern, scope, handler). Runs on the server's service thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>

#include "common/clock.hpp"
#include "auth/principal.hpp"
#include "server/app_service.hpp"
#include "server/auth_service.hpp"
#include "server/client_certificates.hpp"
#include "server/command_service.hpp"
#include "server/gateway.hpp"
#include "server/identity.hpp"
#include "server/metrics.hpp"
#include "server/rate_limiter.hpp"
#include "server/route_table.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

struct ApiRequest {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::string bearer;  // Authorization: Bearer <secret>, or empty
  std::string request_id;
  std::string client_node_id;  // CN of a verified client certificate, or empty
  std::string client_cert_serial;  // its serial (hex), or empty
  std::string remote_address;      // the client's IP address
  std::string last_event_id;   // Last-Event-ID: a reconnecting EventSource resumes after it
  std::string org;             // X-Berth-Org: the org a session acts in ("" = its own)
  std::string idempotency_key;  // Idempotency-Key: a retried fleet-wide command names the same batch
  // For /api/v1/hooks/ only: the webhook headers (X-Hub-Signature-256, X-Gitlab-Token, the
  // delivery id and event), names lower-cased.
  std::map<std::string, std::string> hook_headers;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string error_code;  // set by errorResponse(), for the audit record
  // Set for a server-sent events response: the listener writes the head, then
  // the stream's chunks until it ends or the client goes.
  std::shared_ptr<AppService::LogStream> stream;
};

struct ApiDependencies {
  store::Store& store;
  CommandService& commands;
  Gateway& gateway;
  AppService& apps;
  AuthService& auth;
  Metrics& metrics;
  const ServerConfig& config;
  const ServerIdentity& identity;
  Clock clock;
  std::int64_t started_at;
  ClientCertificates& certificates;  // consulted by the TLS handshake; kept in step with the store
  std::function<std::string()> server_url;  // the advertised URL (advertise_url), for join lines
};

class Api {
 public:
  explicit Api(ApiDependencies deps) : d_(deps) { addRoutes(); }
  ApiResponse handle(const ApiRequest& request);
  // The Prometheus text, for the loopback metrics listener (no credential).
  ApiResponse metrics();

 private:
  struct Call;

 public:
  using Handler = std::function<ApiResponse(Call&, const RouteParams&)>;
  const RouteTable<Handler>& routes() const { return routes_; }

 private:
  struct Call {
    const ApiRequest& request;
    std::vector<std::string> path;  // segments after /api/v1
    std::map<std::string, std::string> query;
    nlohmann::json body;
    // Who calls: "key:<id>", "session:<user>", "node:<id>", "enrollment:<token id>", "login:<user id>".
    std::string actor;
    // The org every org resource of this call is looked up in ("" for agent and public routes),
    // and the caller behind a key or session (quotas, audit and rate limits use both).
    std::string org;
    auth::Principal principal;
    // Set by a handler whose audit record names something other than the route's
    // target (a fleet-wide command: its selector and node count), and what to add to its detail.
    std::string audit_target;
    std::string audit_detail;
  };

  void addRoutes();
  // nullopt when `key` has a token (one is taken), else the 429 with Retry-After, counted by `by`.
  std::optional<ApiResponse> rateLimited(RateLimiter& limiter, const std::string& key, std::int64_t now,
                                         const char* by);
  // Users, orgs, keys, invitations, login (server/api_access.cpp).
  void addAccessRoutes();
  // Org quotas and container policy (server/api_limits.cpp).
  void addLimitRoutes();
  // Apps from git: source credentials, host keys, hook secret, plan, build cancel and the push
  // webhook (server/api_source.cpp).
  void addSourceRoutes();
  ApiResponse pushHook(Call& call, const std::string& app);
  // Whether the caller may see / manage `node`: platform nodes are seen by all
  // and managed by platform admins; an org's nodes by that org only.
  static bool nodeVisible(const Call& call, const store::Node& node);
  static bool nodeManaged(const Call& call, const store::Node& node);
  // The node when the caller may see it, else not_found with the words of a missing one.
  Result<store::Node> visibleNode(const Call& call, const std::string& id);
  ApiResponse enroll(Call& call);
  ApiResponse renew(Call& call);
  ApiResponse status(const Call& call);
  ApiResponse listNodes(Call& call);
  ApiResponse showNode(Call& call, const std::string& id);
  ApiResponse revokeNode(Call& call, const std::string& id);
  ApiResponse telemetry(Call& call, const std::string& id);
  ApiResponse submitCommand(Call& call, const std::string& node_id);
  ApiResponse listCommands(Call& call, const std::string& node_id);
  // The command when the caller manages its node or it is about one of the
  // caller's apps, else not_found.
  Result<store::Command> managedCommand(Call& call, const std::string& id);
  ApiResponse showCommand(Call& call, const std::string& id);
  ApiResponse cancelCommand(Call& call, const std::string& id);
  // Fleet-wide commands (server/api_batches.cpp).
  ApiResponse submitBatch(Call& call);
  ApiResponse showBatch(Call& call, const std::string& id);
  // The batch with every node's entry (in-flight states from the queue) and the totals.
  ApiResponse batchResponse(int status, const store::CommandBatch& batch);
  ApiResponse createToken(Call& call);
  ApiResponse listAudit(Call& call);
  // One audit record for a mutating call, in the caller's transaction (if any).
  Result<void> auditCall(const Call& call, const std::string& path, const RouteParams& params,
                         const ApiResponse& response);
  static std::string auditTarget(const Call& call, const std::string& path, const RouteParams& params);
  static void logRequest(const Call& call, const std::string& path, const ApiResponse& response);
  ApiResponse deploy(Call& call, const std::string& name);
  ApiResponse appLogs(Call& call, const std::string& name);
  ApiResponse accepted(const Result<AppCall>& call);
  nlohmann::json nodeJson(const store::Node& node);
  // The node, or a not_found error naming it.
  Result<store::Node> findNode(const std::string& id);

  ApiDependencies d_;
  RouteTable<Handler> routes_;
  // Wrong join tokens per source address: 5 a second, bursts of 10.
  RateLimiter wrong_tokens_{5.0, 10.0};
  // Failed logins (and invitation acceptances) per source address: bursts of 5, then one every 5 s.
  RateLimiter failed_logins_{0.2, 5.0};
  // Every REST request per API key or session, and per source address (settings rate_limit_*).
  RateLimiter per_key_{50.0, 100.0};
  RateLimiter per_address_{200.0, 400.0};
  // Audit records of anonymous refusals, for the whole server (settings audit_anonymous_*).
  RateLimiter anonymous_audit_{5.0, 200.0};
  std::uint64_t anonymous_unrecorded_ = 0;  // since the last record that counted them
  std::int64_t anonymous_unrecorded_since_ = 0;
};

nlohmann::json commandJson(const store::Command& command);

struct IssuedJoinToken {
  store::JoinToken token;
  std::string secret;  // shown once; only its hash is stored
};
// A one-time join token; `node_id` set makes it a rejoin token for that
// existing node; `org` makes the node that org's ("" = a platform node).
// Prunes expired tokens first.
Result<IssuedJoinToken> issueJoinToken(store::Store& store, std::int64_t now_ms, int ttl_s,
                                       const std::string& description, const std::string& node_id = "",
                                       const std::string& org = "");
ApiResponse errorResponse(const Error& error);

}  // namespace berth::server
