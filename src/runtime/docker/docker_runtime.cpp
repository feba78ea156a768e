#include "runtime/docker/docker_runtime.hpp"
#include "common/json.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <thread>

#include "common/encoding.hpp"
#include "runtime/docker/docker_json.hpp"
#include "runtime/docker/log_stream.hpp"

namespace berth::runtime::docker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// The daemon's own message, e.g. {"message":"No such image: x"}.
std::string daemonMessage(const std::string& body) {
  auto j = parseJsonOrDiscarded(body);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"];
  return body;
}

Error daemonError(const std::string& what, const DockerRuntime::Reply& reply) {
  return makeError(reply.status == 404 ? "not_found" : reply.status == 409 ? "conflict" : "runtime_error",
                   what + ": dockerd answered " + std::to_string(reply.status) + ": " + daemonMessage(reply.body));
}

class FollowerSubscription final : public LogSubscription {
 public:
  explicit FollowerSubscription(std::shared_ptr<LogFollower> follower) : follower_(std::move(follower)) {}
  ~FollowerSubscription() override { follower_->stop(); }
  void stop() override { follower_->stop(); }

 private:
  std::shared_ptr<LogFollower> follower_;  // shared with its pending reads, which keep it alive until they end
};

}  // namespace

std::string urlEncode(const std::string& text) { return percentEncode(text); }

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(const std::string& socket_path) {
  std::unique_ptr<DockerRuntime> runtime(new DockerRuntime(socket_path));
  auto reply = runtime->request("GET", "/version");  // unversioned: works on every daemon
  if (!reply) return reply.error();
  if (reply->status != 200) return daemonError("version", *reply);
  auto version = negotiateVersion(parseJsonOrDiscarded(reply->body), kOurApiVersion);
  if (!version) return version.error();
  runtime->version_ = *version;
  return runtime;
}

std::pair<std::string, std::string> splitReference(const std::string& reference) {
  if (auto at = reference.find('@'); at != std::string::npos) return {reference.substr(0, at), reference.substr(at + 1)};
  const auto slash = reference.rfind('/');
  const auto colon = reference.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    return {reference.substr(0, colon), reference.substr(colon + 1)};
  return {reference, "latest"};
}

Result<DockerRuntime::Reply> DockerRuntime::request(const std::string& method, const std::string& target,
                                                    const std::string& body, const std::string& content_type,
                                                    const std::map<std::string, std::string>& headers, int timeout_s) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(socket_path_), ec);
  if (ec) return makeError("runtime_unavailable", "cannot reach dockerd at " + socket_path_ + ": " + ec.message());
  // Blocking reads with a deadline: a wedged daemon must not wedge the agent.
  timeval tv{timeout_s, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const std::string path = version_.empty() ? target : "/v" + version_ + target;
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  http::write(socket, req, ec);
  if (ec) return makeError("runtime_unavailable", "write to dockerd: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  http::read(socket, buffer, parser, ec);
  if (ec && ec != http::error::end_of_stream)
    return makeError("runtime_unavailable", "read from dockerd (" + method + " " + target + "): " + ec.message());
  return Reply{static_cast<int>(parser.get().result_int()), parser.get().body()};
}

Result<std::optional<std::string>> DockerRuntime::imageId(const std::string& reference) {
  auto image = inspectImage(reference);
  if (!image) return image.error();
  return *image ? std::optional<std::string>((*image)->id) : std::nullopt;
}

Result<std::string> DockerRuntime::create(const ContainerSpec& spec) {
  auto reply = request("POST", "/containers/create?name=" + urlEncode(spec.name), createBody(spec).dump());
  if (!reply) return reply.error();
  if (reply->status == 409) return makeError("conflict", "container name " + spec.name + " is taken");
  if (reply->status != 201) return daemonError("create container", *reply);
  auto j = parseJsonOrDiscarded(reply->body);
  if (!j.is_object() || !j.contains("Id")) return makeError("runtime_error", "create container: no Id in the answer");
  return j["Id"].get<std::string>();
}

Result<void> DockerRuntime::start(const std::string& id) {
  auto reply = request("POST", "/containers/" + id + "/start");
  if (!reply) return reply.error();
  if (reply->status != 204 && reply->status != 304) return daemonError("start container", *reply);  // 304: running
  return Ok{};
}

Result<void> DockerRuntime::stop(const std::string& id, int timeout_s) {
  auto reply = request("POST", "/containers/" + id + "/stop?t=" + std::to_string(timeout_s));
  if (!reply) return reply.error();
  if (reply->status != 204 && reply->status != 304) return daemonError("stop container", *reply);  // 304: stopped
  return Ok{};
}

Result<void> DockerRuntime::remove(const std::string& id, bool force) {
  auto reply = request("DELETE", "/containers/" + id + (force ? "?force=1" : ""));
  if (!reply) return reply.error();
  if (reply->status != 204 && reply->status != 404) return daemonError("remove container", *reply);
  return Ok{};
}

Result<std::optional<ContainerInfo>> DockerRuntime::inspect(const std::string& id) {
  auto reply = request("GET", "/containers/" + id + "/json");
  if (!reply) return reply.error();
  if (reply->status == 404) return std::optional<ContainerInfo>();
  if (reply->status != 200) return daemonError("inspect container", *reply);
  auto info = parseInspect(parseJsonOrDiscarded(reply->body));
  if (!info) return info.error();
  return std::optional<ContainerInfo>(std::move(*info));
}

Result<std::vector<std::string>> DockerRuntime::list(const std::map<std::string, std::string>& labels) {
  auto reply = request("GET", "/containers/json?all=1&filters=" + urlEncode(labelFilter(labels)));
  if (!reply) return reply.error();
  if (reply->status != 200) return daemonError("list containers", *reply);
  auto j = parseJsonOrDiscarded(reply->body);
  std::vector<std::string> ids;
  if (!j.is_array()) return makeError("runtime_error", "list containers: not a JSON array");
  for (const auto& c : j) ids.push_back(c.value("Id", std::string()));
  return ids;
}

Result<std::optional<ImageInfo>> DockerRuntime::inspectImage(const std::string& reference) {
  auto reply = request("GET", "/images/" + reference + "/json");
  if (!reply) return reply.error();
  if (reply->status == 404) return std::optional<ImageInfo>();
  if (reply->status != 200) return daemonError("image inspect", *reply);
  auto info = parseImageInspect(parseJsonOrDiscarded(reply->body));
  if (!info) return info.error();
  return std::optional<ImageInfo>(*info);
}

Result<void> DockerRuntime::removeImage(const std::string& reference) {
  auto reply = request("DELETE", "/images/" + reference);
  if (!reply) return reply.error();
  if (reply->status == 409) return makeError("conflict", "image " + reference + " is in use");
  if (reply->status != 200 && reply->status != 404) return daemonError("remove image", *reply);
  return Ok{};
}

Result<std::vector<ImageInfo>> DockerRuntime::listImages(const std::map<std::string, std::string>& labels) {
  auto reply = request("GET", "/images/json?filters=" + urlEncode(labelFilter(labels)));
  if (!reply) return reply.error();
  if (reply->status != 200) return daemonError("list images", *reply);
  auto j = parseJsonOrDiscarded(reply->body);
  if (!j.is_array()) return makeError("runtime_error", "list images: not a JSON array");
  std::vector<ImageInfo> out;
  for (const auto& entry : j) {
    auto info = parseImageSummary(entry);
    if (!info) return info.error();
    out.push_back(std::move(*info));
  }
  return out;
}

Result<void> DockerRuntime::removeVolume(const std::string& name) {
  auto reply = request("DELETE", "/volumes/" + urlEncode(name));
  if (!reply) return reply.error();
  if (reply->status == 409) return makeError("conflict", "volume " + name + " is in use");
  if (reply->status != 204 && reply->status != 404) return daemonError("remove volume", *reply);
  return Ok{};
}

Result<void> DockerRuntime::ensureNetwork(const std::string& name) {
  auto found = request("GET", "/networks/" + urlEncode(name));
  if (!found) return found.error();
  if (found->status == 200) return Ok{};
  if (found->status != 404) return daemonError("inspect network", *found);
  const nlohmann::json body = {{"Name", name}, {"Driver", "bridge"}, {"CheckDuplicate", true},
                               {"Labels", {{"berth.managed", "1"}}}};
  auto created = request("POST", "/networks/create", body.dump());
  if (!created) return created.error();
  // 409: another caller created it meanwhile, which is what was wanted.
  if (created->status != 201 && created->status != 409) return daemonError("create network", *created);
  return Ok{};
}

Result<std::string> DockerRuntime::networkGateway(const std::string& name) {
  auto found = request("GET", "/networks/" + urlEncode(name));
  if (!found) return found.error();
  if (found->status != 200) return daemonError("inspect network", *found);
  const auto j = parseJsonOrDiscarded(found->body);
  if (j.is_object() && j.contains("IPAM") && j["IPAM"].is_object() && j["IPAM"].contains("Config") &&
      j["IPAM"]["Config"].is_array()) {
    for (const auto& config : j["IPAM"]["Config"]) {
      const std::string gateway = config.is_object() ? config.value("Gateway", std::string()) : "";
      if (!gateway.empty() && gateway.find(':') == std::string::npos) return gateway;
    }
  }
  return makeError("unsupported", "network " + name + " has no IPv4 gateway");
}

Result<void> DockerRuntime::update(const std::string& id, const Resources& resources) {
  auto reply = request("POST", "/containers/" + id + "/update", updateBody(resources).dump());
  if (!reply) return reply.error();
  if (reply->status != 200) return daemonError("update container", *reply);
  return Ok{};
}

Result<int> DockerRuntime::exec(const std::string& id, const std::vector<std::string>& argv, int timeout_ms) {
  nlohmann::json body = {{"AttachStdout", false}, {"AttachStderr", false}, {"Cmd", argv}};
  auto created = request("POST", "/containers/" + id + "/exec", body.dump());
  if (!created) return created.error();
  if (created->status != 201) return daemonError("exec create", *created);
  const std::string execId = parseJsonOrDiscarded(created->body).value("Id", std::string());
  auto started = request("POST", "/exec/" + execId + "/start", R"({"Detach":true})");
  if (!started) return started.error();
  if (started->status != 200) return daemonError("exec start", *started);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto state = request("GET", "/exec/" + execId + "/json");
    if (!state) return state.error();
    auto j = parseJsonOrDiscarded(state->body);
    if (j.is_object() && !j.value("Running", true) && j.contains("ExitCode") && j["ExitCode"].is_number())
      return j["ExitCode"].get<int>();
    if (std::chrono::steady_clock::now() > deadline)
      return makeError("timeout", "command did not finish within " + std::to_string(timeout_ms) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::unique_ptr<LogSubscription> DockerRuntime::followLogs(asio::any_io_executor executor, const std::string& id,
                                                          std::int64_t since_ms, LogLinesHandler on_lines,
                                                          LogEndHandler on_end) {
  auto follower = std::make_shared<LogFollower>(std::move(executor), socket_path_, version_, id,
                                                static_cast<double>(since_ms) / 1000.0, std::move(on_lines),
                                                std::move(on_end));
  follower->start();
  return std::make_unique<FollowerSubscription>(std::move(follower));
}

Result<ContainerStats> DockerRuntime::stats(const std::string& id) {
  auto reply = request("GET", "/containers/" + id + "/stats?stream=0&one-shot=1");
  if (!reply) return reply.error();
  if (reply->status != 200) return daemonError("container stats", *reply);
  return parseStats(parseJsonOrDiscarded(reply->body));
}

}  // namespace berth::runtime::docker
