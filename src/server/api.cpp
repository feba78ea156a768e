#include "server/api.hpp"

#include "common/clock.hpp"
#include "common/version.hpp"
#include "common/json.hpp"

#include "apps/app_key.hpp"
#include "apps/validation.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "pki/keys.hpp"
#include "server/api_internal.hpp"
#include "server/audit_log.hpp"
#include "server/http_edge.hpp"
#include "server/openapi.hpp"

namespace berth::server {
// Invalid UTF-8 echoed from a request (a path, a name) becomes U+FFFD
// instead of making dump() throw.
ApiResponse json(int status, const nlohmann::json& body) {
  return ApiResponse{status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json",
                     {}, {}, nullptr};
}

std::size_t limitParam(const std::map<std::string, std::string>& query, std::size_t fallback, std::size_t max) {
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty() || it->second.find_first_not_of("0123456789") != std::string::npos ||
      it->second.size() > 9) {
    return fallback;
  }
  return std::min<std::size_t>(std::max<std::size_t>(std::stoul(it->second), 1), max);
}


namespace {


// The one answer an unauthenticated caller gets for any unusable join token:
// which node used it, or whether it ever existed, is for the server log only.
Error invalidToken() {
  return makeError("token_invalid", "join token is not valid (unknown, already used or expired)");
}

int statusFor(const std::string& code) {
  static const std::map<std::string, int> kStatus = {
      {"invalid_argument", 400}, {"bad_csr", 400},       {"unauthorized", 401}, {"token_unknown", 401},
      {"token_used", 401},       {"token_expired", 401}, {"forbidden", 403},    {"revoked", 403},
      {"quota_exceeded", 403},   {"policy_refused", 403},
      {"token_invalid", 401},    {"rate_limited", 429},  {"payload_too_large", 413},
      {"headers_too_large", 431},
      {"not_found", 404},        {"conflict", 409},      {"domain_in_use", 409},      {"queue_full", 429},    {"over_capacity", 409},
      {"store_unavailable", 503}, {"store_error", 503},
      {"no_node", 409},          {"method_not_allowed", 405}};
  auto it = kStatus.find(code);
  return it == kStatus.end() ? 500 : it->second;
}

// The per-address rate limit's bucket: an IPv6 client's whole /64, as the
// connection caps count it, so rotating addresses inside it buys nothing.
std::string addressBucket(const std::string& text) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(text, ec);
  return ec ? text : clientAddressKey(address);
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::string item;
  for (char c : path + "/") {
    if (c == '/') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

}  // namespace

Result<IssuedJoinToken> issueJoinToken(store::Store& store, std::int64_t now_ms, int ttl_s,
                                       const std::string& description, const std::string& node_id,
                                       const std::string& org) {
  if (auto pruned = store.pruneJoinTokens(now_ms); !pruned) return pruned.error();
  IssuedJoinToken issued;
  issued.secret = "bjt_" + randomHex(24);
  issued.token.id = newId("tok");
  issued.token.secret_hash = sha256Hex(issued.secret);
  issued.token.description = description;
  issued.token.created_at = now_ms;
  issued.token.expires_at = now_ms + static_cast<std::int64_t>(ttl_s) * 1000;
  issued.token.node_id = node_id;
  issued.token.org = org;
  if (auto r = store.insertJoinToken(issued.token); !r) return r.error();
  return issued;
}

ApiResponse errorResponse(const Error& error) {
  auto res = json(statusFor(error.code), {{"error", {{"code", error.code}, {"message", error.message}}}});
  res.error_code = error.code;
  if (error.code == "queue_full" || res.status == 503) res.headers["Retry-After"] = "5";
  if (error.code == "payload_too_large" || error.code == "headers_too_large") res.headers["Connection"] = "close";
  return res;
}

nlohmann::json commandJson(const store::Command& c) {
  return {{"id", c.id},
          {"node_id", c.node_id},
          {"correlation_id", c.correlation_id},
          {"verb", c.verb},
          {"args", c.args},
          {"state", store::commandStateName(c.state)},
          {"created_at", c.created_at},
          {"expires_at", c.expires_at},
          {"dispatched_at", c.dispatched_at},
          {"finished_at", c.finished_at},
          {"attempts", c.attempts},
          {"exit_code", c.exit_code},
          {"result", c.result},
          {"stdout", c.stdout_text},
          {"stderr", c.stderr_text},
          {"error", c.error},
          {"batch_id", c.batch_id.empty() ? nlohmann::json() : nlohmann::json(c.batch_id)}};
}

ApiResponse Api::handle(const ApiRequest& request) {
  ++d_.metrics.http_requests_total;
  if (!isValidUtf8(request.target)) {
    return errorResponse(invalidField("path", "must be valid UTF-8 (percent-encode other bytes)"));
  }
  const auto q = request.target.find('?');
  const std::string path = request.target.substr(0, q);
  if (request.method == "GET" && path == "/healthz") return json(200, {{"status", "ok"}});
  const auto now = d_.clock();
  // Per source address first, so a flood of bad credentials costs no store lookups.
  per_address_.setRate(d_.config.rate_limit_address_per_s, d_.config.rate_limit_address_burst);
  per_key_.setRate(d_.config.rate_limit_key_per_s, d_.config.rate_limit_key_burst);
  if (auto refusal = rateLimited(per_address_, addressBucket(request.remote_address), now, "address")) return *refusal;
  if (request.method == "GET" && path == "/metrics") {
    // Fleet internals (every org's routed hosts among them): a platform admin's or
    // staff's credential with the read scope, or the loopback listener (metrics_listen).
    auto principal = d_.auth.authenticate(request.bearer, request.org);
    if (!principal) return errorResponse(principal.error());
    if (auto refusal = rateLimited(per_key_, principal->key_id.empty() ? "session:" + principal->session_id
                                                                        : "key:" + principal->key_id,
                                   now, "key"))
      return *refusal;
    if (principal->platform_role == auth::PlatformRole::None ||
        !auth::covers(auth::effectiveScope(*principal), auth::KeyScope::Read))
      return errorResponse(makeError("forbidden", "GET /metrics needs a platform admin's or staff's key with scope "
                                                  "read (or the metrics_listen listener)"));
    return metrics();
  }
  auto segments = split(path);
  if (segments.size() < 2 || segments[0] != "api" || segments[1] != "v1") {
    return errorResponse(makeError("not_found", "no such endpoint: " + path));
  }
  Call call{request, std::vector<std::string>(segments.begin() + 2, segments.end()), {}, nlohmann::json(), ""};
  if (q != std::string::npos) {
    std::string query = request.target.substr(q + 1), item;
    for (char c : query + "&") {
      if (c == '&') {
        auto eq = item.find('=');
        if (eq != std::string::npos) call.query[item.substr(0, eq)] = item.substr(eq + 1);
        item.clear();
      } else {
        item += c;
      }
    }
  }
  const auto match = routes_.match(request.method, call.path);
  if (!match.route) {
    if (match.allowed.empty()) return errorResponse(makeError("not_found", "no such endpoint: " + request.method + " " + path));
    std::string allow;
    for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
    auto refusal = errorResponse(makeError("method_not_allowed", path + " answers " + allow + ", not " + request.method));
    refusal.headers["Allow"] = allow;
    return refusal;
  }
  const Scope need = match.route->scope;
  const bool mutating = request.method != "GET";
  RouteParams params = match.params;
  ApiResponse response;
  // A refusal before the handler ran (credentials, scope, app name, body) is
  // audited like any other answer to a mutating call; nothing else changed.
  auto refuse = [&](const Error& error) {
    response = errorResponse(error);
    if (mutating) (void)auditCall(call, path, params, response);
    logRequest(call, path, response);
    return response;
  };
  if (need == Scope::Agent) {
    call.actor = request.client_node_id.empty() ? "enrollment" : "node:" + request.client_node_id;
  } else if (need == Scope::Public) {
    call.actor = "anonymous";
  } else {
    auto principal = d_.auth.authenticate(request.bearer, request.org);
    if (!principal) {
      call.actor = "anonymous";
      return refuse(principal.error());
    }
    call.principal = std::move(*principal);
    if (auto refusal = rateLimited(per_key_, call.principal.key_id.empty() ? "session:" + call.principal.session_id
                                                                           : "key:" + call.principal.key_id,
                                   now, "key"))
      return *refusal;
    call.actor = call.principal.actor();
    call.org = call.principal.org;
    const auto held = auth::effectiveScope(call.principal);
    if (need == Scope::Platform && !call.principal.platformAdmin())
      return refuse(makeError("forbidden", request.method + " " + path + " needs a platform admin"));
    const auto wanted = need == Scope::Read     ? auth::KeyScope::Read
                        : need == Scope::Deploy ? auth::KeyScope::Deploy
                                                : auth::KeyScope::Admin;
    if (need != Scope::Platform && !auth::covers(held, wanted)) {
      return refuse(makeError("forbidden", request.method + " " + path + " needs scope " + scopeName(need) +
                                               "; this request holds " + auth::scopeName(held) + " in " + call.org));
    }
  }
  // App routes name an app of the caller's org: the one place a name becomes
  // its key (apps/app_key.hpp), so no lookup can reach another org's app.
  if (auto it = params.find("name"); it != params.end() && call.path.size() > 0 && call.path[0] == "apps") {
    if (auto r = apps::validateAppName("name", it->second); !r) return refuse(r.error());
    it->second = apps::appKey(call.org, it->second);
  }
  // Bodies are parsed only for callers that passed authentication; a webhook's only once its
  // signature over the raw bytes holds (server/api_source.cpp).
  const bool hook = !call.path.empty() && call.path[0] == "hooks";
  if (!request.body.empty() && !hook) {
    auto body = parseJson(request.body);
    if (!body) return refuse(invalidField("body", "is not valid JSON: " + body.error().message));
    call.body = std::move(*body);
  }
  const auto& handler = match.route->handler;

  if (!mutating) {
    response = handler(call, params);
  } else {
    // A mutating call and its audit record commit together; a refused or
    // failed one (any 4xx or 5xx) is rolled back whole and still audited.
    auto committed = d_.store.transaction([&]() -> Result<void> {
      response = handler(call, params);
      if (response.status >= 400) return makeError("rolled_back", "the request was refused");
      return auditCall(call, path, params, response);
    });
    if (!committed && response.status < 400) response = errorResponse(committed.error());
    if (!committed) (void)auditCall(call, path, params, response);
  }
  logRequest(call, path, response);
  return response;
}

Result<void> Api::auditCall(const Call& call, const std::string& path, const RouteParams& params,
                            const ApiResponse& response) {
  // Anonymous refusals cost an attacker nothing but a connection: past a
  // server-wide budget they are counted, then summed up in one record.
  // A webhook refused for its signature is no better known than an anonymous caller.
  if ((call.actor == "anonymous" || call.actor == "webhook") && response.status >= 400) {
    const auto now = d_.clock();
    anonymous_audit_.setRate(d_.config.audit_anonymous_per_s, d_.config.audit_anonymous_burst);
    if (!anonymous_audit_.allowed("", now)) {
      if (anonymous_unrecorded_++ == 0) anonymous_unrecorded_since_ = now;
      ++d_.metrics.audit_anonymous_unrecorded_total;
      return Ok{};
    }
    anonymous_audit_.charge("", now);
    if (anonymous_unrecorded_ > 0) {
      store::AuditRecord summary;
      summary.at = now;
      summary.actor = "server";
      summary.action = "audit unrecorded";
      summary.target = "anonymous refusals";
      summary.outcome = "ok";
      summary.detail = std::to_string(anonymous_unrecorded_) +
                       " refused requests without a valid credential were not recorded one by one since " +
                       std::to_string(anonymous_unrecorded_since_) + " (over audit_anonymous_per_s)";
      if (auto r = appendAudit(d_.store, std::move(summary)); !r) return r.error();
      anonymous_unrecorded_ = 0;
    }
  }
  store::AuditRecord record;
  record.at = d_.clock();
  record.actor = call.actor;
  record.org = call.org;
  record.action = call.request.method + " " + path;
  record.target = call.audit_target.empty() ? auditTarget(call, path, params) : call.audit_target;
  record.request_id = call.request.request_id;
  record.source = call.request.remote_address;
  record.outcome = auditOutcome(response.status);
  record.detail = std::to_string(response.status) + (response.error_code.empty() ? "" : " " + response.error_code) +
                  (call.audit_detail.empty() ? "" : "; " + call.audit_detail);
  auto appended = appendAudit(d_.store, std::move(record));
  if (!appended) {
    log::error("audit record not written",
               {{"error", appended.error().message}, {"request_id", call.request.request_id}});
    return appended.error();
  }
  return Ok{};
}

// What a call acted on: the app (its key), node, command, key or user the
// route names; else the name a create call gives; else the path. Never a body
// field other than "name" (bodies carry secrets).
std::string Api::auditTarget(const Call& call, const std::string& path, const RouteParams& params) {
  for (const char* key : {"name", "id", "user"}) {
    if (auto it = params.find(key); it != params.end()) return it->second;
  }
  if (!call.org.empty() && call.body.is_object()) {
    if (auto it = call.body.find("name"); it != call.body.end() && it->is_string()) return it->get<std::string>();
  }
  constexpr std::string_view kPrefix = "/api/v1";
  return path.rfind(kPrefix, 0) == 0 ? path.substr(kPrefix.size()) : path;
}

void Api::logRequest(const Call& call, const std::string& path, const ApiResponse& response) {
  if (log::enabled(log::Level::Info))
    log::info("request", {{"method", call.request.method},
                          {"path", path},
                          {"status", response.status},
                          {"request_id", call.request.request_id},
                          {"actor", call.actor}});
}

ApiResponse Api::metrics() {
  d_.commands.publishGauges();
  return ApiResponse{200, d_.metrics.render(), "text/plain; version=0.0.4", {}, {}, nullptr};
}

std::optional<ApiResponse> Api::rateLimited(RateLimiter& limiter, const std::string& key, std::int64_t now,
                                            const char* by) {
  if (limiter.allowed(key, now)) {
    limiter.charge(key, now);
    return std::nullopt;
  }
  ++d_.metrics.http_rate_limited_total[by];
  auto refusal = errorResponse(makeError(
      "rate_limited", std::string("too many requests ") +
                          (std::string(by) == "key" ? "with this API key or session" : "from this address") +
                          "; retry after the Retry-After seconds"));
  refusal.headers["Retry-After"] = std::to_string(limiter.retryAfterSeconds(key, now));
  return refusal;
}

void Api::addRoutes() {
  using P = const RouteParams&;
  auto& r = routes_;
  r.add("POST", "/enroll", Scope::Agent, [this](Call& c, P) { return enroll(c); });
  r.add("POST", "/agent/renew", Scope::Agent, [this](Call& c, P) { return renew(c); });
  // The API's description (src/server/openapi.json): public, as the source it describes.
  r.add("GET", "/openapi.json", Scope::Public, [](Call&, P) {
    return ApiResponse{200, std::string(openApiDocument()), "application/json", {}, {}, nullptr};
  });
  r.add("GET", "/status", Scope::Read, [this](Call& c, P) { return status(c); });
  r.add("POST", "/tokens", Scope::Admin, [this](Call& c, P) { return createToken(c); });
  // Platform admins read every org's records, an org's admins that org's (server/api_audit.cpp).
  r.add("GET", "/audit", Scope::Admin, [this](Call& c, P) { return listAudit(c); });
  r.add("GET", "/nodes", Scope::Read, [this](Call& c, P) { return listNodes(c); });
  r.add("GET", "/nodes/{id}", Scope::Read, [this](Call& c, P p) { return showNode(c, p.at("id")); });
  r.add("POST", "/nodes/{id}/revoke", Scope::Admin, [this](Call& c, P p) { return revokeNode(c, p.at("id")); });
  r.add("GET", "/nodes/{id}/telemetry", Scope::Read, [this](Call& c, P p) { return telemetry(c, p.at("id")); });
  r.add("POST", "/nodes/{id}/commands", Scope::Admin, [this](Call& c, P p) { return submitCommand(c, p.at("id")); });
  r.add("GET", "/nodes/{id}/commands", Scope::Read, [this](Call& c, P p) { return listCommands(c, p.at("id")); });
  r.add("GET", "/commands", Scope::Read, [this](Call& c, P) { return listCommands(c, c.query["node"]); });
  r.add("GET", "/commands/{id}", Scope::Read, [this](Call& c, P p) { return showCommand(c, p.at("id")); });
  r.add("POST", "/commands/batch", Scope::Admin, [this](Call& c, P) { return submitBatch(c); });
  r.add("GET", "/commands/batch/{id}", Scope::Read, [this](Call& c, P p) { return showBatch(c, p.at("id")); });
  r.add("POST", "/commands/{id}/cancel", Scope::Admin,
        [this](Call& c, P p) { return cancelCommand(c, p.at("id")); });
  addAccessRoutes();
  addLimitRoutes();
  addSourceRoutes();

  auto answer = [](const Result<nlohmann::json>& result, int status = 200) {
    return result ? json(status, *result) : errorResponse(result.error());
  };
  auto& apps = d_.apps;
  r.add("GET", "/apps", Scope::Read, [&apps, answer](Call& c, P) { return answer(apps.list(c.org)); });
  r.add("POST", "/apps", Scope::Deploy, [&apps, answer](Call& c, P) {
    auto app = apps.create(c.org, c.body);
    if (!app) return errorResponse(app.error());
    return answer(apps.show(app->name), 201);
  });
  r.add("GET", "/apps/{name}", Scope::Read, [&apps, answer](Call&, P p) { return answer(apps.show(p.at("name"))); });
  r.add("DELETE", "/apps/{name}", Scope::Deploy, [this, &apps](Call& c, P p) {
    auto flag = [&](const char* key) { return c.query[key] == "1" || c.query[key] == "true"; };
    return accepted(apps.remove(p.at("name"), flag("volumes"), flag("force")));
  });
  r.add("POST", "/apps/{name}/deployments", Scope::Deploy, [this](Call& c, P p) { return deploy(c, p.at("name")); });
  r.add("GET", "/apps/{name}/deployments/{number}", Scope::Read, [&apps, answer](Call&, P p) {
    const auto& number = p.at("number");
    if (number.size() > 9 || number.find_first_not_of("0123456789") != std::string::npos)
      return errorResponse(invalidField("deployment", "must be a deployment number"));
    return answer(apps.deployment(p.at("name"), std::stoi(number)));
  });
  for (const char* verb : {"start", "stop", "restart"}) {
    r.add("POST", std::string("/apps/{name}/") + verb, Scope::Deploy, [this, &apps, verb](Call&, P p) {
      return accepted(apps.lifecycle(p.at("name"), std::string("app.") + verb));
    });
  }
  r.add("POST", "/apps/{name}/rollback", Scope::Deploy, [this, &apps](Call& c, P p) {
    int to = 0;
    if (c.body.is_object() && c.body.contains("to")) {
      const auto& t = c.body["to"];
      if (!t.is_number_integer() || t.get<std::int64_t>() < 1 || t.get<std::int64_t>() > 1'000'000'000)
        return errorResponse(invalidField("to", "must be a deployment number"));
      to = t.get<int>();
    }
    return accepted(apps.rollback(p.at("name"), to));
  });
  r.add("POST", "/apps/{name}/scale", Scope::Deploy, [this, &apps](Call& c, P p) {
    if (!c.body.is_object() || !c.body.contains("replicas") || !c.body["replicas"].is_number_integer())
      return errorResponse(invalidField("replicas", "is required and must be an integer"));
    const auto replicas = c.body["replicas"].get<std::int64_t>();
    if (replicas < 0 || replicas > 100) return errorResponse(invalidField("replicas", "must be between 0 and 100"));
    return accepted(apps.scale(p.at("name"), static_cast<int>(replicas)));
  });
  for (const char* method : {"POST", "PUT"}) {
    r.add(method, "/apps/{name}/limits", Scope::Deploy,
          [this, &apps](Call& c, P p) { return accepted(apps.setLimits(p.at("name"), c.body)); });
  }
  r.add("GET", "/apps/{name}/events", Scope::Read, [&apps, answer](Call& c, P p) {
    return answer(apps.events(p.at("name"), limitParam(c.query, 100, 1000)));
  });
  r.add("GET", "/apps/{name}/logs", Scope::Read, [this](Call& c, P p) { return appLogs(c, p.at("name")); });
  r.add("GET", "/apps/{name}/domains", Scope::Read,
        [&apps, answer](Call&, P p) { return answer(apps.domains(p.at("name"))); });
  r.add("POST", "/apps/{name}/domains", Scope::Deploy,
        [&apps, answer](Call& c, P p) { return answer(apps.addDomain(p.at("name"), c.body), 201); });
  r.add("PUT", "/apps/{name}/domains/{domain}/certificate", Scope::Deploy, [&apps, answer](Call& c, P p) {
    return answer(apps.setDomainCertificate(p.at("name"), p.at("domain"), c.body));
  });
  r.add("DELETE", "/apps/{name}/domains/{domain}", Scope::Deploy, [&apps](Call&, P p) {
    auto removed = apps.removeDomain(p.at("name"), p.at("domain"));
    if (!removed) return errorResponse(removed.error());
    return ApiResponse{204, "", "application/json", {}, {}, nullptr};
  });
}

ApiResponse Api::accepted(const Result<AppCall>& call) {
  if (!call) return errorResponse(call.error());
  return json(202, {{"app", apps::splitAppKey(call->app.name).name},
                    {"org", call->app.org},
                    {"verb", call->verb},
                    {"deployment", call->deployment},
                    {"node_id", call->app.node_id},
                    {"command_id", call->command_id}});
}

ApiResponse Api::deploy(Call& call, const std::string& name) {
  // ?create=1: the first deploy of a new app creates it in the same transaction,
  // so a refused spec leaves no empty app behind.
  if (call.query["create"] == "1") {
    auto existing = d_.store.getApp(name);
    if (!existing) return errorResponse(existing.error());
    if (!*existing) {
      nlohmann::json placement = {{"name", apps::splitAppKey(name).name}};
      if (!call.query["node"].empty()) placement["node"] = call.query["node"];
      if (auto created = d_.apps.create(call.org, placement); !created) return errorResponse(created.error());
    }
  }
  return accepted(d_.apps.deploy(name, call.body));
}

ApiResponse Api::appLogs(Call& call, const std::string& name) {
  auto& apps = d_.apps;
  auto logsAnswer = [](const Result<nlohmann::json>& r) { return r ? json(200, *r) : errorResponse(r.error()); };
  std::int64_t after = 0, since = 0;
  // A browser's EventSource reconnects with Last-Event-ID (our ids are the cursor).
  const auto& cursor = call.query["after"].empty() ? call.request.last_event_id : call.query["after"];
  if (!cursor.empty()) {
    if (cursor.size() > 18 || cursor.find_first_not_of("0123456789") != std::string::npos)
      return errorResponse(invalidField("after", "must be a cursor (a number) from an earlier answer"));
    after = std::stoll(cursor);
  }
  const auto& sinceText = call.query["since"];
  if (!sinceText.empty()) {
    auto ago = apps::parseDuration("since", sinceText);
    if (!ago) return errorResponse(ago.error());
    since = d_.clock() - *ago;
  }
  if (call.query["follow"] == "1" || call.query["follow"] == "true") {
    if (auto shown = apps.show(name); !shown) return errorResponse(shown.error());
    ApiResponse res{200, "", "text/event-stream", {{"Cache-Control", "no-cache"}}, {}, nullptr};
    res.stream = apps.openLogStream(name, after);
    return res;
  }
  // ?tail=N: the newest N lines (as docker logs --tail); "all" (or none) pages from the oldest.
  std::optional<std::size_t> tail;
  const auto& tailText = call.query["tail"];
  if (!tailText.empty() && tailText != "all") {
    if (tailText.size() > 9 || tailText.find_first_not_of("0123456789") != std::string::npos)
      return errorResponse(invalidField("tail", "must be a number of lines or \"all\""));
    tail = std::min<std::size_t>(std::stoul(tailText), 5000);
    if (!cursor.empty()) return errorResponse(invalidField("tail", "cannot be combined with after"));
  }
  return logsAnswer(apps.logs(name, after, since, limitParam(call.query, 500, 5000), tail));
}

ApiResponse Api::enroll(Call& call) {
  const auto& b = call.body;
  if (!b.is_object()) return errorResponse(invalidField("body", "must be a JSON object"));
  if (!b.contains("token") || !b["token"].is_string()) return errorResponse(invalidField("token", "is required"));
  if (!b.contains("csr") || !b["csr"].is_string()) return errorResponse(invalidField("csr", "is required (PEM)"));
  if (b.contains("hostname") && !b["hostname"].is_string()) return errorResponse(invalidField("hostname", "must be a string"));
  const auto now = d_.clock();
  const std::string& address = call.request.remote_address;
  if (!wrong_tokens_.allowed(address, now)) {
    ++d_.metrics.enrollments_rate_limited_total;
    auto refusal = errorResponse(makeError("rate_limited", "too many wrong join tokens from this address; retry later"));
    refusal.headers["Retry-After"] = std::to_string(wrong_tokens_.retryAfterSeconds(address, now));
    return refusal;
  }
  // The CSR's shape first: a bad one must not burn the one-time token.
  if (auto shape = pki::checkAgentCsr(b["csr"], {pki::kEnrolmentCommonName}); !shape) {
    return errorResponse(shape.error());
  }
  auto token = d_.store.consumeJoinToken(sha256Hex(b["token"].get<std::string>()), "", now);
  if (!token) {
    if (token.error().code == "store_error") return errorResponse(token.error());
    wrong_tokens_.charge(address, now);
    log::warn("enrolment refused",
              {{"code", token.error().code}, {"remote", address}, {"request_id", call.request.request_id}});
    return errorResponse(invalidToken());
  }
  const bool rejoin = !token->node_id.empty();
  store::Node node;
  if (rejoin) {
    auto existing = findNode(token->node_id);
    if (!existing) {
      log::warn("rejoin refused: the token's node is gone", {{"node_id", token->node_id}, {"token_id", token->id}});
      return errorResponse(invalidToken());
    }
    if (existing->status == store::NodeStatus::Revoked) return errorResponse(makeError("revoked", "node is revoked"));
    node = *existing;
  } else {
    node.id = newId("n");
    node.org = token->org;
    node.status = store::NodeStatus::Unreachable;
    node.created_at = now;
  }
  // Past the checks above signing cannot fail for the request's sake; a failure
  // is a 500 so the transaction (and the token's use) rolls back.
  auto cert = d_.identity.ca.signAgentCsr(b["csr"], node.id, now, d_.config.client_cert_days * kDayMs);
  if (!cert) return errorResponse(makeError("internal", "could not sign the certificate: " + cert.error().message));
  const std::string retired = node.cert_serial + (node.previous_cert_serial.empty() ? "" : "," + node.previous_cert_serial);
  if (b.contains("hostname") && !b["hostname"].get<std::string>().empty()) node.hostname = b["hostname"].get<std::string>();
  node.cert_serial = cert->serial_hex;
  node.previous_cert_serial.clear();  // a rejoin retires every older certificate
  node.cert_not_after = cert->not_after_ms;
  if (auto r = d_.store.upsertNode(node); !r) return errorResponse(r.error());
  call.actor = "enrollment:" + token->id;
  if (rejoin) {
    store::AuditRecord record;
    record.at = now;
    record.actor = call.actor;
    record.org = node.org;
    record.action = "node rejoin";
    record.target = node.id;
    record.request_id = call.request.request_id;
    record.source = call.request.remote_address;
    record.outcome = "ok";
    record.detail = "retired certificate serials " + retired;
    if (auto r = appendAudit(d_.store, std::move(record)); !r) return errorResponse(r.error());
    d_.gateway.disconnect(node.id, "node rejoined with a new certificate");
    log::info("node rejoined", {{"node_id", node.id}, {"token_id", token->id}, {"retired_serials", retired}});
  } else {
    log::info("node enrolled", {{"node_id", node.id}, {"token_id", token->id}});
  }
  d_.certificates.set(node.id, {node.cert_serial, "", false});
  return json(201, {{"node_id", node.id},
                    {"rejoined", rejoin},
                    {"certificate", cert->cert_pem},
                    {"ca", d_.identity.ca.certPem()},
                    {"expires_at", cert->not_after_ms},
                    {"signing_public_key", base64Encode(d_.identity.signing_public_key)}});
}

ApiResponse Api::renew(Call& call) {
  const std::string& nodeId = call.request.client_node_id;
  if (nodeId.empty()) return errorResponse(makeError("unauthorized", "renewal needs the node's client certificate"));
  if (!call.body.is_object() || !call.body.contains("csr") || !call.body["csr"].is_string()) {
    return errorResponse(invalidField("csr", "is required (PEM)"));
  }
  auto node = findNode(nodeId);
  if (!node) return errorResponse(node.error());
  if (node->status == store::NodeStatus::Revoked) return errorResponse(makeError("revoked", "node is revoked"));
  const std::string& presented = call.request.client_cert_serial;
  const bool withCurrent = node->cert_serial.empty() || presented == node->cert_serial;
  const bool withPrevious = !node->previous_cert_serial.empty() && presented == node->previous_cert_serial;
  if (!withCurrent && !withPrevious) {
    log::warn("renewal refused: replaced certificate", {{"node_id", nodeId}, {"serial", presented}});
    return errorResponse(makeError("forbidden", "this certificate was replaced by a renewal; rejoin with `berth token "
                                                "create --node " + nodeId + "`"));
  }
  if (auto shape = pki::checkAgentCsr(call.body["csr"], {nodeId}); !shape) return errorResponse(shape.error());
  auto cert = d_.identity.ca.signAgentCsr(call.body["csr"], nodeId, d_.clock(), d_.config.client_cert_days * kDayMs);
  if (!cert) return errorResponse(cert.error());
  store::Node updated = *node;
  // Renewing with the current certificate makes it the previous one; renewing
  // again with the previous one (the answer was lost) drops the never-used current.
  if (withCurrent) updated.previous_cert_serial = node->cert_serial;
  updated.cert_serial = cert->serial_hex;
  updated.cert_not_after = cert->not_after_ms;
  if (auto r = d_.store.upsertNode(updated); !r) return errorResponse(r.error());
  d_.certificates.set(nodeId, {updated.cert_serial, updated.previous_cert_serial, false});
  log::info("certificate renewed", {{"node_id", nodeId}, {"serial", cert->serial_hex}, {"not_after", cert->not_after_ms}});
  return json(200, {{"certificate", cert->cert_pem}, {"expires_at", cert->not_after_ms}});
}

ApiResponse Api::status(const Call& call) {
  auto nodes = d_.store.listNodes();
  if (!nodes) return errorResponse(nodes.error());
  // An org's caller counts what it may see (platform nodes and its own), never
  // another org's nodes, sessions or commands; the server's settings are the
  // platform's business.
  const bool platform = call.principal.platform_role != auth::PlatformRole::None;
  std::map<std::string, int> counts = {{"online", 0}, {"unreachable", 0}, {"revoked", 0}};
  std::size_t total = 0, sessions = 0, queued = 0, inFlight = 0;
  for (const auto& node : *nodes) {
    if (!nodeVisible(call, node)) continue;
    ++total;
    ++counts[store::nodeStatusName(node.status)];
    if (d_.gateway.online(node.id)) ++sessions;
    queued += d_.commands.queuedCount(node.id);
    inFlight += d_.commands.inFlightCount(node.id);
  }
  d_.commands.publishGauges();
  nlohmann::json out = {{"version", kVersion},
                        {"uptime_s", (d_.clock() - d_.started_at) / 1000},
                        {"nodes",
                         {{"total", total},
                          {"online", counts["online"]},
                          {"unreachable", counts["unreachable"]},
                          {"revoked", counts["revoked"]}}},
                        {"sessions", platform ? d_.gateway.sessionCount() : sessions},
                        {"commands_queued", platform ? d_.metrics.commands_queued : static_cast<std::int64_t>(queued)},
                        {"commands_in_flight", platform ? d_.metrics.commands_in_flight : static_cast<std::int64_t>(inFlight)},
                        {"ca_pin", d_.identity.ca_pin}};
  if (platform) out["config"] = toJson(d_.config);
  return json(200, out);
}

}  // namespace berth::server
