// Which agent certificates the TLS handshake accepts, by node and serial.
//
// A node has a current serial and, right after a renewal, its previous one.
// The previous certificate keeps working only until the new (current) one is
// presented once; from then on it is retired. Any other serial of a tracked
// node, or a revoked node, is refused; a node without a recorded serial
// (registered outside enrolment, as the fleet benchmark does) passes. Pure bookkeeping: the server persists the
// serials and this mirrors them in memory for the handshake. Thread-safe: the
// TLS handshakes (network thread) check while the API (service thread) sets.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace berth::server {

struct NodeSerials {
  std::string current;
  std::string previous;  // empty once retired
  bool revoked = false;
};

struct CertificateDecision {
  bool allowed = false;
  std::string reason;          // why it was refused (empty when allowed)
  bool retired_previous = false;  // the current certificate was used: persist the retirement
};

class ClientCertificates {
 public:
  void set(const std::string& node_id, NodeSerials serials);
  std::optional<NodeSerials> find(const std::string& node_id) const;
  void revoke(const std::string& node_id);

  // The decision for a verified certificate naming `node_id` with `serial_hex`;
  // retires the previous serial when the current one is presented.
  CertificateDecision check(const std::string& node_id, const std::string& serial_hex);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, NodeSerials> nodes_;  // guarded by mutex_
};

}  // namespace berth::server
