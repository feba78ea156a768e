// Quotas and container policy per org: members read their own org's, a
// platform admin (or staff, reading) any org's, and only a platform admin
// changes them. The decisions themselves live in server/admission.*.
#include "auth/names.hpp"
#include "server/api.hpp"
#include "server/api_internal.hpp"

namespace berth::server {

void Api::addLimitRoutes() {
  using P = const RouteParams&;
  auto& r = routes_;
  // The org when it exists and the caller may see it; another org's reads as a missing one.
  auto visibleOrg = [this](const Call& c, const std::string& org) -> Result<void> {
    const bool mine = c.org == org;
    const bool platform = c.principal.platform_role != auth::PlatformRole::None;
    if (!mine && !platform) return makeError("not_found", "no org " + org);
    auto found = d_.store.identity().getOrg(org);
    if (!found) return found.error();
    if (!*found) return makeError("not_found", "no org " + org);
    return Ok{};
  };
  auto answer = [](const Result<nlohmann::json>& result) {
    return result ? json(200, *result) : errorResponse(result.error());
  };
  auto& admission = d_.apps.admission();
  r.add("GET", "/orgs/{org}/limits", Scope::Read, [visibleOrg, answer, &admission](Call& c, P p) {
    if (auto v = visibleOrg(c, p.at("org")); !v) return errorResponse(v.error());
    return answer(admission.describe(p.at("org")));
  });
  r.add("PUT", "/orgs/{org}/quota", Scope::Platform, [visibleOrg, answer, &admission](Call& c, P p) {
    if (auto v = visibleOrg(c, p.at("org")); !v) return errorResponse(v.error());
    return answer(admission.setQuotas(p.at("org"), c.body));
  });
  r.add("PUT", "/orgs/{org}/policy", Scope::Platform, [visibleOrg, answer, &admission](Call& c, P p) {
    if (auto v = visibleOrg(c, p.at("org")); !v) return errorResponse(v.error());
    return answer(admission.setPolicy(p.at("org"), c.body));
  });
}

}  // namespace berth::server
