// DockerRuntime::pull: POST /images/create, its JSON messages read as they
// arrive so that a pull of a large image shows per-layer progress (issue 11)
// instead of a silence of minutes. The messages go through PullProgress; the
// caller's handler sees the summary each time it changes.
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <limits>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "runtime/docker/docker_runtime.hpp"
#include "runtime/docker/json_messages.hpp"

namespace berth::runtime::docker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr int kPullReadTimeoutS = 900;  // no message for this long: the daemon is wedged

std::string pullAuthHeader(const RegistryCredentials& auth) {
  std::string encoded = base64Encode(
      nlohmann::json{{"username", auth.username}, {"password", auth.password}, {"serveraddress", auth.server}}.dump());
  for (char& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;  // the header wants base64url
  return encoded;
}

std::string refusalMessage(const std::string& body) {
  auto j = parseJsonOrDiscarded(body);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"];
  return body;
}

}  // namespace

Result<void> DockerRuntime::checkRegistryAccess(const std::string& reference,
                                                const std::optional<RegistryCredentials>& auth) {
  // The Engine API's distribution inspect: dockerd fetches the manifest from the registry.
  std::map<std::string, std::string> headers;
  if (auth) headers["X-Registry-Auth"] = pullAuthHeader(*auth);
  auto reply = request("GET", "/distribution/" + reference + "/json", "", "application/json", headers);
  if (!reply) return reply.error();
  if (reply->status == 200) return Ok{};
  return makeError("pull_failed", "pull " + reference + ": " + refusalMessage(reply->body));
}

Result<void> DockerRuntime::pull(const std::string& reference, const std::optional<RegistryCredentials>& auth,
                                 const PullProgressHandler& on_progress) {
  auto failed = [&](const std::string& why) { return makeError("pull_failed", "pull " + reference + ": " + why); };
  auto [name, tag] = splitReference(reference);
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(socket_path_), ec);
  if (ec) return failed("cannot reach dockerd at " + socket_path_ + ": " + ec.message());
  timeval tv{kPullReadTimeoutS, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  http::request<http::empty_body> req{
      http::verb::post, versioned("/images/create?fromImage=" + urlEncode(name) + "&tag=" + urlEncode(tag)), 11};
  req.set(http::field::host, "docker");
  req.set(http::field::connection, "close");
  if (auth) req.set("X-Registry-Auth", pullAuthHeader(*auth));
  req.prepare_payload();
  http::write(socket, req, ec);
  if (ec) return failed("write to dockerd: " + ec.message());

  JsonMessageSplitter splitter;
  PullProgress progress;
  auto apply = [&](std::string_view bytes) {
    for (const auto& message : splitter.feed(bytes)) {
      if (progress.apply(message) && on_progress && !progress.error()) {
        auto summary = progress.toJson();
        summary["summary"] = progress.summary();
        on_progress(summary);
      }
    }
  };
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // as long as the pull runs (not kept: see on_chunk)
  bool chunked = false;
  auto on_chunk = [&](std::uint64_t, beast::string_view body, boost::system::error_code&) -> std::size_t {
    chunked = true;
    apply(std::string_view(body.data(), body.size()));
    return body.size();
  };
  parser.on_chunk_body(on_chunk);  // (Beast keeps a reference: the callback outlives the reads)
  beast::flat_buffer buffer;
  http::read_header(socket, buffer, parser, ec);
  if (ec) return failed("read dockerd's answer: " + ec.message());
  const int status = static_cast<int>(parser.get().result_int());
  while (!parser.is_done()) {
    http::read_some(socket, buffer, parser, ec);
    if (ec == http::error::end_of_stream) break;
    if (ec) return failed("read the pull's progress: " + ec.message());
  }
  if (status != 200) return failed(refusalMessage(parser.get().body()));
  if (!chunked) apply(parser.get().body());
  apply("\n");  // a last message without its newline
  if (progress.error()) return failed(*progress.error());
  return Ok{};
}

}  // namespace berth::runtime::docker
