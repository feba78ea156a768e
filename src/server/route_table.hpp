// The REST API's route table: method, path pattern ("/apps/{name}/logs"),
// the scope a caller needs, and the handler. Matching is pure (segments in,
// route and parameters out), so it is unit-tested on its own; the teams
// work walks routes() to check the OpenAPI document and enforce scopes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace berth::server {

// Who may call a route. Agent routes take a client certificate or a join
// token instead of an API key; Public ones (login, accepting an invitation)
// no credential; Read, Deploy and Admin a key or session whose effective
// scope (auth::effectiveScope: the key's scope capped by the org role) covers
// it; Platform a platform admin.
enum class Scope { Agent, Public, Read, Deploy, Admin, Platform };

inline const char* scopeName(Scope scope) {
  switch (scope) {
    case Scope::Agent:
      return "agent";
    case Scope::Read:
      return "read";
    case Scope::Deploy:
      return "deploy";
    case Scope::Admin:
      return "admin";
    case Scope::Public:
      return "public";
    case Scope::Platform:
      return "platform";
  }
  return "admin";
}

using RouteParams = std::map<std::string, std::string>;

template <typename Handler>
class RouteTable {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    Scope scope;
    Handler handler;
    std::vector<std::string> segments;  // "{x}" matches any one non-empty segment as parameter x
  };

  struct Match {
    const Route* route = nullptr;  // nullptr: no route for this method and path
    RouteParams params;
    // Methods the path answers to when `route` is null: empty means 404, else 405.
    std::vector<std::string> allowed;
  };

  void add(std::string method, std::string pattern, Scope scope, Handler handler) {
    std::vector<std::string> segments;
    std::string item;
    for (char c : pattern + "/") {
      if (c != '/') {
        item += c;
      } else if (!item.empty()) {
        segments.push_back(std::move(item));
        item.clear();
      }
    }
    routes_.push_back({std::move(method), std::move(pattern), scope, std::move(handler), std::move(segments)});
  }

  // Literal segments beat parameters when both would match ("/commands/cancel" vs "/commands/{id}").
  Match match(const std::string& method, const std::vector<std::string>& path) const {
    Match best;
    int bestLiterals = -1;
    for (const auto& route : routes_) {
      RouteParams params;
      int literals = 0;
      if (!matches(route, path, params, literals)) continue;
      if (route.method != method) {
        best.allowed.push_back(route.method);
        continue;
      }
      if (literals > bestLiterals) {
        best.route = &route;
        best.params = std::move(params);
        bestLiterals = literals;
      }
    }
    if (best.route) best.allowed.clear();
    return best;
  }

  const std::vector<Route>& routes() const { return routes_; }

 private:
  static bool matches(const Route& route, const std::vector<std::string>& path, RouteParams& params, int& literals) {
    if (route.segments.size() != path.size()) return false;
    for (std::size_t i = 0; i < path.size(); ++i) {
      const auto& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        if (path[i].empty()) return false;
        params[want.substr(1, want.size() - 2)] = path[i];
      } else if (want == path[i]) {
        ++literals;
      } else {
        return false;
      }
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace berth::server
