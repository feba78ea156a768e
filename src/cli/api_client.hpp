// The CLI's view of the REST API: where the server is, which key to send, and
// one call that returns the decoded JSON body or a classified error.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"
#include "net/http_client.hpp"

namespace berth::cli {

struct ClientSettings {
  std::string server;  // https://host:port
  std::string api_key;
  std::string ca_file;  // PEM of the server's CA
  std::string context;  // --context: a context file to read instead of the user's
  std::string org;      // --org / BERTH_ORG / the context's "org": sent as X-Berth-Org ("" = none)
  // Resolved only: the context file read (or the user's, to be written by `berth login`).
  std::string context_path;
};

// The user's context file: $XDG_CONFIG_HOME/berth/cli.json (an absolute
// XDG_CONFIG_HOME only), else $HOME/.config/berth/cli.json; empty when neither
// variable is set.
std::string userContextPath(const std::map<std::string, std::string>& environment);

// Flags win over BERTH_SERVER / BERTH_API_KEY / BERTH_CA_FILE, which win over
// the context file: --context, else $BERTH_CLI_CONFIG, else the user's
// (userContextPath) that `berth dev` and `berth server` write. The
// credential: --api-key, else BERTH_API_KEY, else the context's "session"
// (from `berth login`), else its "api_key". Nothing is read
// from the working directory unless named: a directory someone else controls
// must not pick the server your API key goes to.
Result<ClientSettings> resolveClientSettings(const ClientSettings& flags,
                                             const std::map<std::string, std::string>& environment);

struct ApiReply {
  int status = 0;
  nlohmann::json body;
};

class ApiClient {
 public:
  static Result<ApiClient> create(const ClientSettings& settings);
  // Transport failures are errors ("connect_failed", ...); HTTP errors are
  // returned as an error whose code is the API's error code.
  // `headers` are sent as given (e.g. Idempotency-Key).
  Result<ApiReply> call(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr,
                        const std::map<std::string, std::string>& headers = {});

 private:
  ApiClient(net::Url url, std::shared_ptr<net::ssl::context> tls, std::string key, std::string org)
      : url_(std::move(url)), tls_(std::move(tls)), key_(std::move(key)), org_(std::move(org)) {}
  net::Url url_;
  std::shared_ptr<net::ssl::context> tls_;
  std::string key_;
  std::string org_;
};

}  // namespace berth::cli
