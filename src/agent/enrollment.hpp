// Joining a control plane and keeping the client certificate fresh.
//
// enroll(): fetch the server's certificate chain without trusting it, check
// the CA's public key against --ca-pin, then (now verifying TLS against that
// CA) send the one-time join token and a CSR for a freshly generated key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/agent_state.hpp"
#include "common/result.hpp"

namespace berth::agent {

struct EnrollRequest {
  std::string server_url;
  std::string join_token;
  std::string ca_pin;  // "sha256:<hex>"
  std::string hostname;
};

// Errors: "pin_mismatch", "enroll_refused" (with the server's code and message),
// transport errors from the HTTP client.
Result<AgentState> enroll(const EnrollRequest& request);

// Whether the certificate should be renewed now: less than a third of its
// lifetime (30 days by default, so ~10 days) is left.
bool renewalDue(const AgentState& state, std::int64_t now_ms);

// Requests a new certificate over mutual TLS with the current one.
Result<void> renewCertificate(AgentState& state);

// When the certificate has expired at `now_ms` (the server would refuse the
// handshake), the message to log instead of dialing; else nullopt.
std::optional<std::string> expiredCertificateMessage(const AgentState& state, std::int64_t now_ms);

}  // namespace berth::agent
