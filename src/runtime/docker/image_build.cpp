// DockerRuntime::build: POST /build with the context tar streamed from its
// file, and the daemon's answer read chunk by chunk as the build runs. The
// classic builder ends a build whose client has gone, so a cancel or a time
// limit is a shutdown of the connection (from a watcher thread: the reads block).
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/file.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/json.hpp"
#include "runtime/docker/docker_runtime.hpp"
#include "runtime/docker/json_messages.hpp"

namespace berth::runtime::docker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string buildTarget(const BuildRequest& r) {
  std::string target = "/build?rm=1&forcerm=1&t=" + urlEncode(r.tag) + "&dockerfile=" + urlEncode(r.dockerfile);
  if (!r.target.empty()) target += "&target=" + urlEncode(r.target);
  if (r.pull_bases) target += "&pull=1";
  if (!r.build_args.empty()) target += "&buildargs=" + urlEncode(nlohmann::json(r.build_args).dump());
  if (!r.labels.empty()) target += "&labels=" + urlEncode(nlohmann::json(r.labels).dump());
  if (r.memory_bytes > 0)
    target += "&memory=" + std::to_string(r.memory_bytes) + "&memswap=" + std::to_string(r.memory_bytes);
  if (r.cpu_millicores > 0)
    target += "&cpuperiod=100000&cpuquota=" + std::to_string(r.cpu_millicores * 100);  // 1000m = one period
  return target;
}

// Shuts the connection down when the cancel flag turns true or the time is up.
class Watchdog {
 public:
  Watchdog(int fd, const std::atomic<bool>* cancel, std::chrono::seconds limit)
      : thread_([this, fd, cancel, deadline = std::chrono::steady_clock::now() + limit] {
          std::unique_lock lock(mutex_);
          while (!done_) {
            if (cancel && cancel->load()) {
              reason_ = "cancelled";
            } else if (std::chrono::steady_clock::now() >= deadline) {
              reason_ = "timeout";
            }
            if (!reason_.empty()) {
              ::shutdown(fd, SHUT_RDWR);
              return;
            }
            wake_.wait_for(lock, std::chrono::milliseconds(100));
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  std::string reason() {
    std::lock_guard lock(mutex_);
    return reason_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::string reason_;
  std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace

Result<std::string> DockerRuntime::build(const BuildRequest& request, const StreamMessageHandler& on_message,
                                         const std::atomic<bool>* cancel) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(socket_path_), ec);
  if (ec) return makeError("runtime_unavailable", "cannot reach dockerd at " + socket_path_ + ": " + ec.message());

  http::request<http::file_body> req{http::verb::post, versioned(buildTarget(request)), 11};
  req.body().open(request.context_path.c_str(), beast::file_mode::scan, ec);
  if (ec) return makeError("build_failed", "the build context " + request.context_path + ": " + ec.message());
  req.set(http::field::host, "docker");
  req.set(http::field::connection, "close");
  req.set(http::field::content_type, "application/x-tar");
  req.prepare_payload();

  Watchdog watchdog(socket.native_handle(), cancel, std::chrono::seconds(request.timeout_s));
  auto ended = [&](const std::string& what, const boost::system::error_code& error) -> Error {
    const auto reason = watchdog.reason();
    if (reason == "cancelled") return makeError("cancelled", "the build was cancelled");
    if (reason == "timeout")
      return makeError("timeout", "the build did not finish within " + std::to_string(request.timeout_s) + " s");
    return makeError("runtime_unavailable", what + ": " + error.message());
  };
  http::write(socket, req, ec);
  // dockerd may refuse the build (a missing Dockerfile) before it has read the
  // whole context, and close: its answer is still there to read.
  const auto write_error = ec;

  JsonMessageSplitter splitter;
  BuildOutput output;
  http::response_parser<http::string_body> parser;
  // A build streams for as long as it runs. (Not boost::none: Beast 1.74 compares a
  // Content-Length against the empty optional and refuses every sized answer.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto on_chunk = [&](std::uint64_t, beast::string_view body, boost::system::error_code&) -> std::size_t {
    for (const auto& message : splitter.feed(std::string_view(body.data(), body.size()))) {
      output.apply(message);
      if (on_message) on_message(message);
    }
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  beast::flat_buffer buffer;
  http::read_header(socket, buffer, parser, ec);
  if (ec) return ended(write_error ? "send the build context to dockerd" : "read dockerd's answer to the build",
                       write_error ? write_error : ec);
  const int status = static_cast<int>(parser.get().result_int());
  while (!parser.is_done()) {
    http::read_some(socket, buffer, parser, ec);
    if (ec == http::error::end_of_stream) break;
    if (ec) return ended("read the build's output", ec);
  }
  if (status != 200) {
    auto j = parseJsonOrDiscarded(parser.get().body());
    const std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                                    ? j["message"].get<std::string>()
                                    : parser.get().body();
    return makeError("build_failed", "dockerd refused the build (" + std::to_string(status) + "): " + message);
  }
  if (status == 200 && !parser.get().body().empty()) on_chunk(0, parser.get().body(), ec);  // not chunked
  if (output.error()) return makeError("build_failed", output.failureReport());
  if (!output.imageId().empty()) return output.imageId();
  // No id in the stream (older daemons print only "Successfully built <id>"): ask for the tag.
  auto id = imageId(request.tag);
  if (!id) return id.error();
  if (!*id) return makeError("build_failed", "the build ended without an image: " + output.failureReport());
  return **id;
}

}  // namespace berth::runtime::docker
