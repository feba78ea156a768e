// Container logs from the Engine API. LogDemuxer is pure: it splits the
// multiplexed stream (8-byte frame headers, stdout/stderr) of a non-TTY
// container into timestamped lines. LogFollower holds one follow=1 request open
// asynchronously on the caller's executor, so following many containers costs
// sockets, not threads; DockerRuntime::followLogs hands it out.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/container_runtime.hpp"

namespace berth::runtime::docker {

using runtime::LogLine;

// RFC 3339 with optional fraction and Z -> unix ms; nullopt when malformed.
std::optional<std::int64_t> parseTimestampMs(std::string_view text);

class LogDemuxer {
 public:
  static constexpr std::size_t kMaxLine = 16 * 1024;  // longer lines are cut
  std::vector<LogLine> feed(std::string_view bytes);

 private:
  void addPayload(int stream, std::string_view payload, std::vector<LogLine>& out);
  std::string header_;  // a frame header split across reads
  std::size_t remaining_ = 0;
  int stream_ = 1;
  std::string partial_[3];  // an unfinished line per stream
};

class LogFollower : public std::enable_shared_from_this<LogFollower> {
 public:
  using OnLines = std::function<void(std::vector<LogLine>)>;
  using OnEnd = std::function<void(const std::string& reason)>;
  // `since_s`: unix seconds (fractions allowed) of the first line wanted.
  LogFollower(boost::asio::any_io_executor executor, std::string socket_path, std::string api_version,
              std::string container_id, double since_s, OnLines on_lines, OnEnd on_end);
  void start();
  void stop();

 private:
  void onConnect(const boost::system::error_code& ec);
  void readMore();
  void finish(const std::string& reason);

  boost::asio::local::stream_protocol::socket socket_;
  std::string socket_path_, api_version_, container_id_;
  double since_s_;
  OnLines on_lines_;
  OnEnd on_end_;
  boost::beast::http::request<boost::beast::http::empty_body> request_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
  std::array<char, 8192> chunk_{};
  LogDemuxer demuxer_;
  bool ended_ = false;
};

}  // namespace berth::runtime::docker
