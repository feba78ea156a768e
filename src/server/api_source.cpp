// Apps built from git (docs/builds.md): the routes of an app's source (its
// credentials write-only), host-key trust, hook secret, build plan and build
// cancel, and the push webhook, which takes no API key: the app's hook secret
// signs it.
#include "apps/app_key.hpp"
#include "auth/roles.hpp"
#include "server/api.hpp"
#include "server/api_internal.hpp"

namespace berth::server {
namespace {

constexpr std::size_t kMaxHookBody = 1 << 20;

}  // namespace

void Api::addSourceRoutes() {
  using P = const RouteParams&;
  auto& r = routes_;
  auto& apps = d_.apps;
  auto answer = [](const Result<nlohmann::json>& result, int status = 200) {
    return result ? json(status, *result) : errorResponse(result.error());
  };
  r.add("GET", "/apps/{name}/source", Scope::Read, [&apps, answer](Call&, P p) { return answer(apps.source(p.at("name"))); });
  r.add("PUT", "/apps/{name}/source", Scope::Deploy,
        [&apps, answer](Call& c, P p) { return answer(apps.putSource(p.at("name"), c.body)); });
  r.add("POST", "/apps/{name}/source/deploy-key", Scope::Deploy, [&apps, answer](Call& c, P p) {
    auto key = apps.setDeployKey(p.at("name"), c.body);
    return answer(key, key && key->value("generated", false) ? 201 : 200);
  });
  r.add("POST", "/apps/{name}/source/trust", Scope::Deploy, [&apps, answer](Call& c, P p) {
    const bool admin = auth::covers(auth::effectiveScope(c.principal), auth::KeyScope::Admin);
    return answer(apps.trustHostKey(p.at("name"), c.body, admin));
  });
  r.add("POST", "/apps/{name}/hooks/secret", Scope::Deploy,
        [&apps, answer](Call&, P p) { return answer(apps.rotateHookSecret(p.at("name")), 201); });
  r.add("GET", "/apps/{name}/plan", Scope::Read, [&apps, answer](Call&, P p) { return answer(apps.plan(p.at("name"))); });
  r.add("POST", "/apps/{name}/build/cancel", Scope::Deploy,
        [this, &apps](Call&, P p) { return accepted(apps.cancelBuild(p.at("name"))); });
  // {name} is an app key as written ("web", "web.acme"); never rewritten into the caller's org.
  r.add("POST", "/hooks/git/{name}", Scope::Public, [this](Call& c, P p) { return pushHook(c, p.at("name")); });
}

ApiResponse Api::pushHook(Call& call, const std::string& key) {
  call.actor = "webhook";
  if (call.request.body.size() > kMaxHookBody)
    return errorResponse(makeError("payload_too_large", "request body: must be at most 1 MiB"));
  std::string org;
  auto outcome = d_.apps.pushHook(key, call.request.hook_headers, call.request.body, org);
  call.org = org;  // the audit record goes to the app's org (when there is such an app)
  if (!outcome) return errorResponse(outcome.error());
  nlohmann::json body = {{"outcome", outcome->outcome}, {"reason", outcome->reason}};
  if (outcome->call) {
    body["deployment"] = outcome->call->deployment;
    body["command_id"] = outcome->call->command_id;
    body["node_id"] = outcome->call->app.node_id;
  }
  auto response = json(202, body);
  response.error_code = outcome->outcome;  // the audit record's detail: "202 deployed", "202 ignored", ...
  return response;
}

}  // namespace berth::server
