// A small blocking HTTPS client for the CLI, agent enrolment and tests. Each
// call opens its own connection; calls are independent and thread-compatible.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/result.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"

namespace berth::net {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string peer_certificate_pem;            // the server's leaf certificate
  std::string peer_chain_last_pem;             // the last certificate the server sent (its CA)
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::map<std::string, std::string> headers;  // a content-type here wins over the default application/json
  std::size_t max_response_bytes = 64 * 1024 * 1024;  // a larger body fails "http_failed"
};

// Fails "connect_failed", "tls_failed" or "http_failed" with the reason; any
// HTTP status is a successful Result.
Result<HttpResponse> httpsRequest(const Url& server, ssl::context& tls, const HttpRequest& request,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(15),
                                  bool verify_host_name = true);

}  // namespace berth::net
