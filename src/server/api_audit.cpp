// GET /api/v1/audit: pages through the audit chain (docs/audit.md). Platform
// admins read every record (and may filter by ?org=); an org's owners and
// admins read only the records of the org they act in, whatever ?org= says.
#include "server/api.hpp"
#include "server/api_internal.hpp"
#include "server/audit_log.hpp"

namespace berth::server {

ApiResponse Api::listAudit(Call& call) {
  auto query = parseAuditQuery(call.query, d_.clock());
  if (!query) return errorResponse(query.error());
  if (!call.principal.platformAdmin()) {
    if (!query->org.empty() && query->org != call.org) {
      return errorResponse(makeError("not_found", "no such org: " + query->org));
    }
    query->org = call.org;
  }
  const std::size_t limit = query->limit;
  query->limit = limit + 1;
  auto records = d_.store.listAudit(*query);
  if (!records) return errorResponse(records.error());
  const bool more = records->size() > limit;
  if (more) records->pop_back();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : *records) out.push_back(auditJson(r));
  // "org": an org's view, whose records do not form a chain (verify needs "all").
  nlohmann::json answer = {{"records", out}, {"more", more}, {"view", call.principal.platformAdmin() ? "all" : "org"}};
  // The cursor for the next page in the same direction.
  if (more && !records->empty()) answer[query->after_id ? "after" : "before"] = records->back().id;
  return json(200, answer);
}

}  // namespace berth::server
