// The access routes of the REST API: login and sessions, API keys, orgs,
// users and invitations (docs/access.md). The work is AuthService's; this
// file maps routes to it and keeps failed logins slow per source address.
#include "common/logging.hpp"
#include "server/api.hpp"

namespace berth::server {
namespace {

ApiResponse answerJson(int status, const Result<nlohmann::json>& result) {
  if (!result) return errorResponse(result.error());
  return ApiResponse{status,
                     result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                     "application/json",
                     {},
                     {},
                     nullptr};
}

}  // namespace

void Api::addAccessRoutes() {
  using P = const RouteParams&;
  auto& r = routes_;
  auto& auth = d_.auth;
  r.add("POST", "/login", Scope::Public, [this](Call& c, P) {
    const auto now = d_.clock();
    const std::string& address = c.request.remote_address;
    if (!failed_logins_.allowed(address, now)) {
      auto refusal = errorResponse(makeError("rate_limited", "too many failed logins from this address; retry later"));
      refusal.headers["Retry-After"] = std::to_string(failed_logins_.retryAfterSeconds(address, now));
      return refusal;
    }
    std::string userId;
    auto session = d_.auth.login(c.body, userId);
    // The audit names the account by id, never what was typed as a password.
    c.actor = "login:" + (userId.empty() ? std::string("unknown-user") : userId);
    if (!session) {
      if (session.error().code == "unauthorized") {
        failed_logins_.charge(address, now);
        log::warn("login refused", {{"user_id", userId}, {"remote", address}, {"request_id", c.request.request_id}});
      }
      return errorResponse(session.error());
    }
    return answerJson(200, session);
  });
  r.add("POST", "/invites/accept", Scope::Public, [this, &auth](Call& c, P) {
    const auto now = d_.clock();
    const std::string& address = c.request.remote_address;
    if (!failed_logins_.allowed(address, now)) {
      auto refusal = errorResponse(makeError("rate_limited", "too many failed attempts from this address; retry later"));
      refusal.headers["Retry-After"] = std::to_string(failed_logins_.retryAfterSeconds(address, now));
      return refusal;
    }
    auto accepted = auth.acceptInvite(c.body);
    if (!accepted && accepted.error().code == "unauthorized") failed_logins_.charge(address, now);
    return answerJson(201, accepted);
  });
  r.add("POST", "/logout", Scope::Read, [&auth](Call& c, P) {
    auto done = auth.logout(c.principal);
    if (!done) return errorResponse(done.error());
    return ApiResponse{204, "", "application/json", {}, {}, nullptr};
  });
  r.add("GET", "/whoami", Scope::Read, [&auth](Call& c, P) { return answerJson(200, auth.whoami(c.principal)); });
  r.add("PUT", "/users/me/password", Scope::Read, [this, &auth](Call& c, P) {
    // A wrong current_password is a failed login: without the same slowing, a
    // stolen session would guess the password here at full speed.
    const auto now = d_.clock();
    const std::string& address = c.request.remote_address;
    if (!failed_logins_.allowed(address, now)) {
      auto refusal = errorResponse(makeError("rate_limited", "too many failed attempts from this address; retry later"));
      refusal.headers["Retry-After"] = std::to_string(failed_logins_.retryAfterSeconds(address, now));
      return refusal;
    }
    auto done = auth.setPassword(c.principal, c.body);
    if (!done && done.error().code == "forbidden") failed_logins_.charge(address, now);
    if (!done) return errorResponse(done.error());
    return ApiResponse{204, "", "application/json", {}, {}, nullptr};
  });

  r.add("GET", "/keys", Scope::Read, [&auth](Call& c, P) { return answerJson(200, auth.listKeys(c.principal)); });
  r.add("POST", "/keys", Scope::Deploy,
        [&auth](Call& c, P) { return answerJson(201, auth.createKey(c.principal, c.body)); });
  r.add("POST", "/keys/{id}/revoke", Scope::Deploy,
        [&auth](Call& c, P p) { return answerJson(200, auth.revokeKey(c.principal, p.at("id"))); });
  r.add("POST", "/keys/{id}/rotate", Scope::Deploy,
        [&auth](Call& c, P p) { return answerJson(201, auth.rotateKey(c.principal, p.at("id"), c.body)); });

  r.add("GET", "/orgs", Scope::Read, [&auth](Call& c, P) { return answerJson(200, auth.listOrgs(c.principal)); });
  r.add("POST", "/orgs", Scope::Platform,
        [&auth](Call& c, P) { return answerJson(201, auth.createOrg(c.principal, c.body)); });

  r.add("GET", "/users", Scope::Read, [&auth](Call& c, P) { return answerJson(200, auth.listUsers(c.principal)); });
  r.add("POST", "/users/invite", Scope::Admin,
        [&auth](Call& c, P) { return answerJson(201, auth.invite(c.principal, c.body)); });
  r.add("DELETE", "/users/{user}", Scope::Admin,
        [&auth](Call& c, P p) { return answerJson(200, auth.removeUser(c.principal, p.at("user"))); });
}

}  // namespace berth::server
