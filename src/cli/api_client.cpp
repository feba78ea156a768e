#include "cli/api_client.hpp"
#include "common/json.hpp"

#include "common/ids.hpp"
#include "pki/sealed_file.hpp"

namespace berth::cli {

std::string userContextPath(const std::map<std::string, std::string>& environment) {
  auto env = [&](const char* name) {
    auto it = environment.find(name);
    return it == environment.end() ? std::string() : it->second;
  };
  const std::string xdg = env("XDG_CONFIG_HOME");
  if (!xdg.empty() && xdg.front() == '/') return xdg + "/berth/cli.json";
  const std::string home = env("HOME");
  if (!home.empty()) return home + "/.config/berth/cli.json";
  return {};
}

Result<ClientSettings> resolveClientSettings(const ClientSettings& flags,
                                             const std::map<std::string, std::string>& environment) {
  ClientSettings out;
  auto env = [&](const char* name) {
    auto it = environment.find(name);
    return it == environment.end() ? std::string() : it->second;
  };
  // Named files must exist; the user's own is optional.
  std::string contextPath = !flags.context.empty() ? flags.context : env("BERTH_CLI_CONFIG");
  if (contextPath.empty()) {
    const std::string user = userContextPath(environment);
    if (!user.empty() && pki::fileExists(user)) contextPath = user;
  } else if (!pki::fileExists(contextPath)) {
    return makeError("usage", "context file " + contextPath + " does not exist");
  }
  out.context_path = contextPath.empty() ? userContextPath(environment) : contextPath;
  if (!contextPath.empty()) {
    auto text = pki::readFile(contextPath);
    if (!text) return text.error();
    auto j = parseJsonOrDiscarded(*text);
    if (j.is_discarded() || !j.is_object())
      return makeError("usage", "context file " + contextPath + " is not a JSON object");
    out.server = j.value("server", std::string());
    out.api_key = j.value("api_key", std::string());
    if (j.contains("session") && j["session"].is_string() && !j["session"].get<std::string>().empty())
      out.api_key = j["session"];
    out.ca_file = j.value("ca_file", std::string());
    if (j.contains("org") && j["org"].is_string()) out.org = j["org"];
  }
  auto pick = [](std::string& target, const std::string& value) {
    if (!value.empty()) target = value;
  };
  pick(out.server, env("BERTH_SERVER"));
  pick(out.api_key, env("BERTH_API_KEY"));
  pick(out.ca_file, env("BERTH_CA_FILE"));
  pick(out.org, env("BERTH_ORG"));
  pick(out.org, flags.org);
  pick(out.server, flags.server);
  pick(out.api_key, flags.api_key);
  pick(out.ca_file, flags.ca_file);
  if (out.server.empty())
    return makeError("usage",
                     "no server: pass --server or --context FILE, set BERTH_SERVER, or start `berth dev` / `berth "
                     "server` as this user (they write " +
                         (userContextPath(environment).empty() ? std::string("~/.config/berth/cli.json")
                                                               : userContextPath(environment)) +
                         ")");
  if (out.ca_file.empty()) return makeError("usage", "no CA certificate: pass --ca-file or set BERTH_CA_FILE");
  return out;
}

Result<ApiClient> ApiClient::create(const ClientSettings& settings) {
  auto url = net::parseUrl(settings.server);
  if (!url) return url.error();
  auto ca = pki::readFile(settings.ca_file);
  if (!ca) return makeError("usage", "cannot read the CA certificate " + settings.ca_file);
  auto tls = net::makeClientContext({*ca, "", ""});
  if (!tls) return tls.error();
  return ApiClient(*url, std::shared_ptr<net::ssl::context>(std::move(*tls)), settings.api_key, settings.org);
}

Result<ApiReply> ApiClient::call(const std::string& method, const std::string& target, const nlohmann::json& body,
                                 const std::map<std::string, std::string>& headers) {
  net::HttpRequest request{method, target, body.is_null() ? std::string() : body.dump(), headers};
  if (!key_.empty()) request.headers["Authorization"] = "Bearer " + key_;
  if (!org_.empty()) request.headers["X-Berth-Org"] = org_;
  request.headers["X-Request-Id"] = newId("cli");
  auto response = net::httpsRequest(url_, *tls_, request);
  if (!response) return response.error();
  ApiReply reply{response->status, parseJsonOrDiscarded(response->body)};
  if (reply.body.is_discarded()) reply.body = response->body;
  if (response->status >= 400) {
    std::string code = "http_" + std::to_string(response->status), message = response->body;
    if (reply.body.is_object() && reply.body.contains("error") && reply.body["error"].is_object()) {
      code = reply.body["error"].value("code", code);
      message = reply.body["error"].value("message", message);
    }
    return makeError(code, message);
  }
  return reply;
}

}  // namespace berth::cli
