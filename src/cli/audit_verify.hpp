// `berth audit verify`: walks the audit chain page by page through
// GET /api/v1/audit and checks it (auth/audit_chain). The fetching is passed
// in, so the walk is tested on literal pages.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "auth/audit_chain.hpp"
#include "common/result.hpp"

namespace berth::cli {

struct AuditVerifyReport {
  bool ok = true;
  std::optional<std::int64_t> broken_id;  // the first broken record
  std::string reason;
  std::int64_t checked = 0;  // chained records checked
  std::int64_t legacy = 0;   // records from before the chain (not covered)
  std::int64_t head_id = 0;
  std::string head_hash;
  bool head_found = true;  // false when a --head was given and no record carries it
};

// A record of GET /api/v1/audit as the chain sees it; "invalid_argument"
// naming the field when the answer lacks it or has the wrong type.
Result<auth::AuditEntry> auditEntryFromJson(const nlohmann::json& record);

// `page(after)` answers GET /api/v1/audit?after=<after>&limit=... ({"records": [...], "more": bool}).
// `saved_head` ("" = none): a hash logged earlier that must be in the chain.
Result<AuditVerifyReport> verifyAuditChain(const std::function<Result<nlohmann::json>(std::int64_t after)>& page,
                                           const std::string& saved_head);

}  // namespace berth::cli
