#include "cli/audit_verify.hpp"

namespace berth::cli {

Result<auth::AuditEntry> auditEntryFromJson(const nlohmann::json& r) {
  if (!r.is_object()) return invalidField("records[]", "must be an object");
  auth::AuditEntry e;
  for (auto [key, into] : {std::pair{"id", &e.id}, std::pair{"at", &e.at}}) {
    auto it = r.find(key);
    if (it == r.end() || !it->is_number_integer()) return invalidField(key, "must be an integer");
    *into = it->get<std::int64_t>();
  }
  for (auto [key, into] :
       {std::pair{"actor", &e.actor}, std::pair{"org", &e.org}, std::pair{"action", &e.action},
        std::pair{"target", &e.target}, std::pair{"request_id", &e.request_id}, std::pair{"source", &e.source},
        std::pair{"outcome", &e.outcome}, std::pair{"detail", &e.detail}, std::pair{"prev_hash", &e.prev_hash},
        std::pair{"hash", &e.hash}}) {
    auto it = r.find(key);
    if (it == r.end() || !it->is_string()) return invalidField(key, "must be a string");
    *into = it->get<std::string>();
  }
  return e;
}

Result<AuditVerifyReport> verifyAuditChain(const std::function<Result<nlohmann::json>(std::int64_t after)>& page,
                                           const std::string& saved_head) {
  auth::AuditChainCheck check;
  check.lookFor(saved_head);
  std::int64_t after = 0;
  for (;;) {
    auto body = page(after);
    if (!body) return body.error();
    if (!body->is_object() || !body->contains("records") || !(*body)["records"].is_array())
      return invalidField("records", "must be an array (is this a berth server?)");
    if (body->value("view", std::string("all")) != "all")
      return makeError("forbidden",
                       "audit verify needs a platform admin: this caller reads only its org's records, "
                       "which are not a whole chain");
    const auto& records = (*body)["records"];
    for (const auto& r : records) {
      auto entry = auditEntryFromJson(r);
      if (!entry) return entry.error();
      if (!check.add(*entry)) break;
      after = entry->id;
    }
    if (!check.ok() || records.empty() || !body->value("more", false)) break;
  }
  AuditVerifyReport report;
  report.ok = check.ok();
  report.broken_id = check.brokenId();
  report.reason = check.reason();
  report.checked = check.checked();
  report.legacy = check.legacy();
  report.head_id = check.headId();
  report.head_hash = check.headHash();
  report.head_found = saved_head.empty() || check.sawWanted();
  return report;
}

}  // namespace berth::cli
