// TLS contexts for the server, the agent and the CLI. TLS 1.2 is the floor;
// OpenSSL negotiates 1.3 whenever the peer offers it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::net {

namespace ssl = boost::asio::ssl;

// What the handshake learned about a client's leaf certificate.
struct ClientCertificateCheck {
  std::string common_name;
  std::string serial_hex;
  // Empty when the chain verified against the CA; else OpenSSL's reason
  // ("certificate has expired", ...) and the handshake is refused whatever
  // the callback answers.
  std::string chain_error;
};

struct ServerTlsConfig {
  std::string cert_chain_pem;  // server certificate followed by the CA
  std::string key_pem;
  std::string client_ca_pem;  // client certificates must chain to this CA
  // Called once per presented client certificate (the leaf): with an empty
  // chain_error its answer decides (false refuses: revoked node, replaced
  // serial); with a chain_error it is told why the handshake fails, to log it.
  std::function<bool(const ClientCertificateCheck& check)> check_client;
};

// Client certificates are requested but optional (the REST API and enrolment
// use bearer tokens); a certificate that is presented must verify.
Result<std::unique_ptr<ssl::context>> makeServerContext(const ServerTlsConfig& config);

struct ClientTlsConfig {
  std::string ca_pem;    // empty: do not verify the server (only to fetch the CA for pinning)
  std::string cert_pem;  // optional client certificate
  std::string key_pem;
};
Result<std::unique_ptr<ssl::context>> makeClientContext(const ClientTlsConfig& config);

// What a client learned when the server's certificate did not name the host
// it dialled (the chain itself verified).
struct ServerNameCheck {
  bool mismatch = false;
  std::vector<std::string> names_held;  // the leaf's subjectAltName entries
};

// A client stream's verify callback: the chain as usual, then the leaf must
// name `host` (RFC 2818, like asio's host_name_verification); on a mismatch
// `out` records the names the leaf holds, for serverNameMismatch().
std::function<bool(bool, ssl::verify_context&)> verifyServerName(const std::string& host,
                                                                 std::shared_ptr<ServerNameCheck> out);

// The error for a certificate that does not name `host`: which names it holds
// and which server setting adds one. Pure.
Error serverNameMismatch(const std::string& host, const std::vector<std::string>& names_held);

// The peer's leaf certificate (PEM) on an established connection, or empty.
std::string peerCertificatePem(SSL* ssl);

}  // namespace berth::net
