#include "server/audit_log.hpp"

#include <limits>

#include <algorithm>

namespace berth::server {
namespace {

constexpr std::size_t kMaxAuditPage = 10000;
constexpr std::size_t kMaxFilterBytes = 1024;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> decodeFilter(const std::string& field, const std::string& text) {
  if (text.size() > kMaxFilterBytes * 3) return invalidField(field, "is too long");
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return invalidField(field, "has a bad %-escape");
      const int hi = hexValue(text[i + 1]), lo = hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return invalidField(field, "has a bad %-escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  // Filters come back in error messages and logs: no control characters (NUL among them).
  for (unsigned char c : out)
    if (c < 0x20 || c == 0x7f) return invalidField(field, "must not hold control characters");
  return out;
}

Result<std::int64_t> parseId(const std::string& field, const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return invalidField(field, "must be a record id (a number)");
  return std::stoll(text);
}

// A duration with a unit (s, m, h, d; at most 100 years) back from now, or ms since the epoch.
Result<std::int64_t> parseSince(const std::string& text, std::int64_t now_ms) {
  const auto digits = text.find_first_not_of("0123456789");
  const std::string number = text.substr(0, digits);
  const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  if (number.empty() || number.size() > 15)
    return invalidField("since", "must be a duration (90m, 2h, 7d) or ms since the epoch");
  const std::int64_t n = std::stoll(number);
  if (unit.empty()) return n;
  static const std::map<std::string, std::int64_t> kUnitMs = {
      {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  auto it = kUnitMs.find(unit);
  if (it == kUnitMs.end()) return invalidField("since", "must end in s, m, h or d (or be ms since the epoch)");
  constexpr std::int64_t kMaxAgoMs = 100LL * 366 * 86'400'000;
  if (n > kMaxAgoMs / it->second) return invalidField("since", "must be at most 100 years back");
  return std::max<std::int64_t>(0, now_ms - n * it->second);
}

}  // namespace

Result<store::AuditQuery> parseAuditQuery(const std::map<std::string, std::string>& query, std::int64_t now_ms) {
  store::AuditQuery q;
  auto get = [&](const char* key) -> std::string {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  for (auto [key, into] : {std::pair{"org", &q.org}, std::pair{"actor", &q.actor}, std::pair{"target", &q.target}}) {
    auto value = decodeFilter(key, get(key));
    if (!value) return value.error();
    if (value->size() > kMaxFilterBytes) return invalidField(key, "is too long");
    *into = std::move(*value);
  }
  if (auto since = get("since"); !since.empty()) {
    auto at = parseSince(since, now_ms);
    if (!at) return at.error();
    q.since_ms = *at;
  }
  if (!get("after").empty() && !get("before").empty()) return invalidField("after", "cannot go with 'before'");
  if (auto after = get("after"); !after.empty()) {
    auto id = parseId("after", after);
    if (!id) return id.error();
    // after=0 is "from the very first record": ids below 1 (inserted behind the server's back) included.
    q.after_id = *id == 0 ? std::numeric_limits<std::int64_t>::min() : *id;
  }
  if (auto before = get("before"); !before.empty()) {
    auto id = parseId("before", before);
    if (!id) return id.error();
    q.before_id = *id;
  }
  if (auto limit = get("limit"); !limit.empty()) {
    // Out of range is refused, not clamped: a client asking for 0 or 50,000 learns it got something else.
    if (limit.size() > 9 || limit.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(limit) < 1 || std::stoul(limit) > kMaxAuditPage)
      return invalidField("limit", "must be a number from 1 to 10000");
    q.limit = std::stoul(limit);
  }
  return q;
}

auth::AuditEntry toAuditEntry(const store::AuditRecord& r) {
  return auth::AuditEntry{r.id,         r.at,     r.actor,   r.org,    r.action,    r.target,
                          r.request_id, r.source, r.outcome, r.detail, r.prev_hash, r.hash};
}

Result<store::AuditRecord> appendAudit(store::Store& store, store::AuditRecord record) {
  for (std::string* text : {&record.actor, &record.org, &record.action, &record.target, &record.request_id,
                            &record.source, &record.outcome, &record.detail}) {
    *text = auth::auditText(*text);
  }
  auto done = store.transaction([&]() -> Result<void> {
    auto head = store.auditHeadLink();
    if (!head) return head.error();
    record.id = head->id + 1;
    auto entry = toAuditEntry(record);
    auth::sealAuditEntry(entry, head->hash);
    record.prev_hash = entry.prev_hash;
    record.hash = entry.hash;
    return store.appendAudit(record);
  });
  if (!done) return done.error();
  return record;
}

std::string auditOutcome(int status) {
  if (status >= 500) return "failed";
  if (status >= 400) return "refused";
  return "ok";
}

nlohmann::json auditJson(const store::AuditRecord& r) {
  return {{"id", r.id},           {"at", r.at},         {"actor", r.actor},           {"org", r.org},
          {"action", r.action},   {"target", r.target}, {"request_id", r.request_id}, {"source", r.source},
          {"outcome", r.outcome}, {"detail", r.detail}, {"prev_hash", r.prev_hash},   {"hash", r.hash}};
}

}  // namespace berth::server
