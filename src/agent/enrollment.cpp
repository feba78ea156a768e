#include "agent/enrollment.hpp"
#include "common/json.hpp"

#include <nlohmann/json.hpp>

#include <ctime>

#include "common/encoding.hpp"
#include "net/http_client.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"

namespace berth::agent {
namespace {

Error refused(const net::HttpResponse& response, const std::string& what) {
  auto body = parseJsonOrDiscarded(response.body);
  std::string detail = response.body;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    detail = body["error"].value("code", std::string()) + ": " + body["error"].value("message", std::string());
  }
  return makeError("enroll_refused", what + " refused (HTTP " + std::to_string(response.status) + "): " + detail);
}

}  // namespace

Result<AgentState> enroll(const EnrollRequest& request) {
  auto url = net::parseUrl(request.server_url);
  if (!url) return url.error();
  if (request.ca_pin.rfind("sha256:", 0) != 0 || request.ca_pin.size() != 7 + 64) {
    return makeError("invalid_argument", "--ca-pin must be sha256:<64 hex digits>");
  }

  // 1. Learn the CA without trusting the connection, and pin it.
  auto insecure = net::makeClientContext({});
  if (!insecure) return insecure.error();
  auto probe = net::httpsRequest(*url, **insecure, {"GET", "/healthz", "", {}}, std::chrono::seconds(15), false);
  if (!probe) return probe.error();
  if (probe->peer_chain_last_pem.empty()) return makeError("pin_mismatch", "the server sent no certificate chain");
  auto pin = pki::publicKeyPin(probe->peer_chain_last_pem);
  if (!pin) return pin.error();
  if (*pin != request.ca_pin) {
    return makeError("pin_mismatch", "the server's CA key is " + *pin + ", not the pinned " + request.ca_pin);
  }
  const std::string caPem = probe->peer_chain_last_pem;

  // 2. Enrol over a connection verified against the pinned CA.
  auto trusted = net::makeClientContext({caPem, "", ""});
  if (!trusted) return trusted.error();
  AgentState state;
  state.key_pem = pki::generatePrivateKeyPem();
  // The server names the node; the CSR asks for no name of its own.
  auto csr = pki::makeCsr(state.key_pem, pki::kEnrolmentCommonName);
  if (!csr) return csr.error();
  nlohmann::json body = {{"token", request.join_token}, {"csr", *csr}, {"hostname", request.hostname}};
  auto response = net::httpsRequest(*url, **trusted, {"POST", "/api/v1/enroll", body.dump(), {}});
  if (!response) return response.error();
  if (response->status != 201) return refused(*response, "enrolment");
  auto reply = parseJsonOrDiscarded(response->body);
  if (reply.is_discarded() || !reply.contains("node_id") || !reply.contains("certificate") ||
      !reply.contains("signing_public_key")) {
    return makeError("enroll_refused", "the server's enrolment reply is incomplete");
  }
  auto signing = base64Decode(reply["signing_public_key"].get<std::string>());
  if (!signing) return makeError("enroll_refused", "signing_public_key is not base64");
  state.node_id = reply["node_id"];
  state.server_url = request.server_url;
  state.ca_pem = caPem;
  state.cert_pem = reply["certificate"];
  state.cert_not_after = reply.value("expires_at", std::int64_t{0});
  state.signing_public_key = *signing;
  return state;
}

bool renewalDue(const AgentState& state, std::int64_t now_ms) {
  auto info = pki::inspectCertificate(state.cert_pem);
  if (!info) return true;
  const std::int64_t lifetime = info->not_after_ms - info->not_before_ms;
  return info->not_after_ms - now_ms < lifetime / 3;
}

Result<void> renewCertificate(AgentState& state) {
  auto url = net::parseUrl(state.server_url);
  if (!url) return url.error();
  auto tls = net::makeClientContext({state.ca_pem, state.cert_pem, state.key_pem});
  if (!tls) return tls.error();
  std::string newKey = pki::generatePrivateKeyPem();
  auto csr = pki::makeCsr(newKey, state.node_id);
  if (!csr) return csr.error();
  auto response =
      net::httpsRequest(*url, **tls, {"POST", "/api/v1/agent/renew", nlohmann::json{{"csr", *csr}}.dump(), {}});
  if (!response) return response.error();
  if (response->status != 200) return refused(*response, "renewal");
  auto reply = parseJsonOrDiscarded(response->body);
  if (reply.is_discarded() || !reply.contains("certificate")) {
    return makeError("enroll_refused", "the server's renewal reply is incomplete");
  }
  state.cert_pem = reply["certificate"];
  state.key_pem = newKey;
  state.cert_not_after = reply.value("expires_at", std::int64_t{0});
  return Ok{};
}

}  // namespace berth::agent

namespace berth::agent {

std::optional<std::string> expiredCertificateMessage(const AgentState& state, std::int64_t now_ms) {
  auto info = pki::inspectCertificate(state.cert_pem);
  const std::int64_t notAfter = info ? info->not_after_ms : state.cert_not_after;
  if (notAfter == 0 || now_ms < notAfter) return std::nullopt;
  const std::time_t seconds = static_cast<std::time_t>(notAfter / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "certificate expired at " + std::string(when) + "; the server refuses it and it cannot be renewed: " +
         "rejoin with `berth token create --node " + state.node_id + "` and `berth agent --join TOKEN`";
}

}  // namespace berth::agent
