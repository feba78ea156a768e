// A real Pebble (the Debian package's ACME test CA) for tests: its API on a TLS
// certificate from a CA the test makes, pebble-challtestsrv as its DNS (every
// name is 127.0.0.1, its other listeners off), http-01 validated on a port the
// test names (where its proxy listens). Loopback and free ports only.
#pragma once

#include <memory>
#include <string>

#include "harness.hpp"
#include "net/http_client.hpp"

namespace berth::itest {

class PebbleServer {
 public:
  // `root`: a directory for its files and logs; `http_port`: where it validates http-01;
  // `tls_port`: where it validates tls-alpn-01 (0: a free port nobody listens on).
  PebbleServer(const std::string& root, int http_port, int validity_s = 0, int tls_port = 0);
  bool ready() const { return ready_; }
  std::string directoryUrl() const;
  const std::string& apiCaFile() const { return api_ca_file_; }  // trust this for the ACME API itself
  // Pebble's root (its issued chains verify to it); fetched from the management port.
  std::string root();
  net::HttpResponse get(int port, const std::string& path);
  std::string logs() const;
  int acmePort() const { return acme_port_; }
  int managementPort() const { return management_port_; }
  const std::string& lastGetError() const { return last_get_error_; }

 private:
  std::string dir_, api_ca_pem_, api_ca_file_, last_get_error_;
  int acme_port_ = 0, management_port_ = 0;
  bool ready_ = false;
  std::unique_ptr<Process> challtestsrv_, pebble_;
};

// An HTTPS GET to 127.0.0.1:port with SNI and Host `host`, verified against
// `root_pem` and `host`, as a browser trusting that root would do; the status,
// 0 when the handshake or the request failed.
int verifiedHttpsGet(int port, const std::string& host, const std::string& root_pem, std::string* body = nullptr);

}  // namespace berth::itest
