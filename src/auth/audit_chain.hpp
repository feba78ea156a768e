// The audit chain (docs/audit.md): the canonical form of one audit record, its
// hash, and the check of a chain of records. Pure; used by the server when it
// appends a record and by `berth audit verify` on the records the API returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::auth {

// One audit record as the chain sees it. `hash` is sha256 (hex) of the
// canonical form, which covers every other field including `prev_hash`.
struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t at = 0;  // ms since the epoch
  std::string actor;
  std::string org;
  std::string action;
  std::string target;
  std::string request_id;
  std::string source;   // the client's address, "" for agent events
  std::string outcome;  // "ok", "refused" (4xx) or "failed" (5xx)
  std::string detail;   // the status and error code, or what an agent event changed
  std::string prev_hash;
  std::string hash;
};

// The prev_hash of the first chained record.
inline constexpr const char* kAuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

// "berth-audit-v1" then, for each field from id to prev_hash in the order of
// AuditEntry, "\n" + its length in bytes (decimal) + ":" + its bytes. Numbers
// are written in decimal.
std::string auditCanonicalForm(const AuditEntry& entry);
// sha256 (lower-case hex) of auditCanonicalForm(entry).
std::string auditHash(const AuditEntry& entry);
// Fills prev_hash and hash of `entry` to follow `previous_hash` ("" = the first record).
void sealAuditEntry(AuditEntry& entry, const std::string& previous_hash);

// Replaces bytes that are not UTF-8 with U+FFFD and caps `text` at `max_bytes`,
// so what is hashed is what the API returns as JSON.
std::string auditText(const std::string& text, std::size_t max_bytes = 1024);

// Checks records in id order, a page at a time. Records written before the
// chain existed (empty hash) may only come before the first chained one.
class AuditChainCheck {
 public:
  // False once a record broke the chain; later records are not looked at.
  bool add(const AuditEntry& entry);
  bool ok() const { return !broken_id_; }
  // The first broken record and why ("" while ok).
  std::optional<std::int64_t> brokenId() const { return broken_id_; }
  const std::string& reason() const { return reason_; }
  std::int64_t checked() const { return checked_; }
  std::int64_t legacy() const { return legacy_; }  // unchained records before the chain
  std::int64_t headId() const { return head_id_; }
  const std::string& headHash() const { return head_hash_; }
  // The head saved earlier to look for while checking (call before add());
  // whether a chained record carried it.
  void lookFor(const std::string& hash) { wanted_ = hash; }
  bool sawWanted() const { return wanted_seen_; }

 private:
  void breakAt(std::int64_t id, std::string reason);

  std::optional<std::int64_t> broken_id_;
  std::string reason_;
  std::int64_t checked_ = 0;
  std::int64_t legacy_ = 0;
  std::int64_t last_id_ = 0;
  std::int64_t head_id_ = 0;
  std::string head_hash_;
  std::string wanted_;
  bool wanted_seen_ = false;
};

}  // namespace berth::auth
