// One HTTP/1.0 request to a proxy's local endpoint (a loopback port or a unix
// socket): how berth talks to Caddy's admin API and asks nginx which set of
// files it has loaded. Blocking; called from the agent's worker threads.
#pragma once

#include <string>

namespace berth::proxy {

struct LocalAnswer {
  int status = 0;  // 0: nothing reachable there, or no HTTP answer
  std::string body;
};

// `address`: "unix//path/to.sock", "127.0.0.1:2019" or "[::1]:2019".
LocalAnswer localHttp(const std::string& address, const std::string& method, const std::string& path,
                      const std::string& host, const std::string& body = "", int timeout_s = 30);

}  // namespace berth::proxy
