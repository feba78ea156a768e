#include "auth/audit_chain.hpp"

#include <algorithm>

#include "common/ids.hpp"
#include "common/json.hpp"

namespace berth::auth {
namespace {

void field(std::string& out, const std::string& value) {
  out += '\n';
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

bool isLowerHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string auditCanonicalForm(const AuditEntry& e) {
  std::string out = "berth-audit-v1";
  field(out, std::to_string(e.id));
  field(out, std::to_string(e.at));
  field(out, e.actor);
  field(out, e.org);
  field(out, e.action);
  field(out, e.target);
  field(out, e.request_id);
  field(out, e.source);
  field(out, e.outcome);
  field(out, e.detail);
  field(out, e.prev_hash);
  return out;
}

std::string auditHash(const AuditEntry& entry) { return sha256Hex(auditCanonicalForm(entry)); }

void sealAuditEntry(AuditEntry& entry, const std::string& previous_hash) {
  entry.prev_hash = previous_hash.empty() ? kAuditGenesis : previous_hash;
  entry.hash = auditHash(entry);
}

std::string auditText(const std::string& text, std::size_t max_bytes) {
  // Almost every field is short ASCII: kept as it is.
  if (text.size() <= max_bytes &&
      std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return text;
  // Through JSON and back: invalid bytes become U+FFFD exactly as the API's
  // answer shows them, so a verifier hashes what it is given.
  auto clean = parseJsonOrDiscarded(dumpJson(nlohmann::json(text)));
  std::string out = clean.is_string() ? clean.get<std::string>() : std::string();
  return truncateUtf8(std::move(out), max_bytes);
}

void AuditChainCheck::breakAt(std::int64_t id, std::string reason) {
  broken_id_ = id;
  reason_ = std::move(reason);
}

bool AuditChainCheck::add(const AuditEntry& e) {
  if (broken_id_) return false;
  if (e.id < 1) {
    breakAt(e.id, "record " + std::to_string(e.id) + " has an id below 1, which the server never gives (it was inserted)");
    return false;
  }
  if (e.id <= last_id_) {
    breakAt(e.id, "record " + std::to_string(e.id) + " comes after record " + std::to_string(last_id_));
    return false;
  }
  last_id_ = e.id;
  if (e.hash.empty() && e.prev_hash.empty()) {
    if (!head_hash_.empty()) {
      breakAt(e.id, "record " + std::to_string(e.id) + " carries no hash after the chain began (its hash was removed)");
      return false;
    }
    ++legacy_;
    return true;
  }
  const std::string expectedPrev = head_hash_.empty() ? kAuditGenesis : head_hash_;
  if (e.prev_hash != expectedPrev) {
    breakAt(e.id,
            "record " + std::to_string(e.id) + " does not follow " +
                (head_hash_.empty() ? std::string("the start of the chain") : "record " + std::to_string(head_id_)) +
                " (a record before it was removed, added or changed)");
    return false;
  }
  if (!isLowerHex64(e.hash) || auditHash(e) != e.hash) {
    breakAt(e.id, "record " + std::to_string(e.id) + " does not match its hash (it was changed)");
    return false;
  }
  ++checked_;
  head_id_ = e.id;
  head_hash_ = e.hash;
  if (!wanted_.empty() && e.hash == wanted_) wanted_seen_ = true;
  return true;
}

}  // namespace berth::auth
