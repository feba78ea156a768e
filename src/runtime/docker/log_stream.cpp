#include "runtime/docker/log_stream.hpp"

#include <boost/asio/bind_executor.hpp>
#include <cstdio>
#include <ctime>

#include "common/json.hpp"

namespace berth::runtime::docker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::optional<std::int64_t> parseTimestampMs(std::string_view text) {
  int year, month, day, hour, minute, second;
  if (text.size() < 20) return std::nullopt;
  std::string head(text.substr(0, 19));
  if (std::sscanf(head.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &month, &day, &hour, &minute, &second) != 6)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::int64_t ms = static_cast<std::int64_t>(::timegm(&tm)) * 1000;
  std::size_t i = 19;
  if (i < text.size() && text[i] == '.') {
    int digits = 0, fraction = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (digits < 3) fraction = fraction * 10 + (text[i] - '0');
      ++digits;
    }
    while (digits > 0 && digits < 3) fraction *= 10, ++digits;
    ms += fraction;
  }
  if (i >= text.size() || text[i] != 'Z') return std::nullopt;
  return ms;
}

void LogDemuxer::addPayload(int stream, std::string_view payload, std::vector<LogLine>& out) {
  auto& partial = partial_[stream == 2 ? 2 : 1];
  for (char c : payload) {
    if (c != '\n') {
      if (partial.size() < kMaxLine + 64) partial.push_back(c);
      continue;
    }
    LogLine line;
    line.stream = stream == 2 ? "stderr" : "stdout";
    // "<RFC 3339 timestamp> <text>" because the request asks for timestamps.
    const auto space = partial.find(' ');
    auto at = space == std::string::npos ? std::nullopt : parseTimestampMs(std::string_view(partial).substr(0, space));
    if (at) {
      line.at_ms = *at;
      line.text = partial.substr(space + 1);
    } else {
      line.text = partial;
    }
    line.text = truncateUtf8(std::move(line.text), kMaxLine);
    out.push_back(std::move(line));
    partial.clear();
  }
}

std::vector<LogLine> LogDemuxer::feed(std::string_view bytes) {
  std::vector<LogLine> out;
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      const std::size_t need = 8 - header_.size();
      header_.append(bytes.substr(0, need));
      bytes.remove_prefix(std::min(need, bytes.size()));
      if (header_.size() < 8) break;
      const auto* h = reinterpret_cast<const unsigned char*>(header_.data());
      stream_ = h[0];
      remaining_ = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) | (std::size_t{h[6]} << 8) | h[7];
      header_.clear();
      continue;
    }
    const std::size_t take = std::min(remaining_, bytes.size());
    addPayload(stream_, bytes.substr(0, take), out);
    remaining_ -= take;
    bytes.remove_prefix(take);
  }
  return out;
}

LogFollower::LogFollower(asio::any_io_executor executor, std::string socket_path, std::string api_version,
                         std::string container_id, double since_s, OnLines on_lines, OnEnd on_end)
    : socket_(executor),
      socket_path_(std::move(socket_path)),
      api_version_(std::move(api_version)),
      container_id_(std::move(container_id)),
      since_s_(since_s),
      on_lines_(std::move(on_lines)),
      on_end_(std::move(on_end)) {}

void LogFollower::start() {
  socket_.async_connect(asio::local::stream_protocol::endpoint(socket_path_),
                        [self = shared_from_this()](const boost::system::error_code& ec) { self->onConnect(ec); });
}

void LogFollower::stop() {
  ended_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void LogFollower::finish(const std::string& reason) {
  if (ended_) return;
  ended_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (on_end_) on_end_(reason);
}

void LogFollower::onConnect(const boost::system::error_code& ec) {
  if (ended_) return;
  if (ec) return finish("cannot reach dockerd: " + ec.message());
  char since[32];
  std::snprintf(since, sizeof since, "%.3f", since_s_);
  request_ = {http::verb::get,
              "/v" + api_version_ + "/containers/" + container_id_ +
                  "/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=" + since,
              11};
  request_.set(http::field::host, "docker");
  http::async_write(socket_, request_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    if (self->ended_) return;
    if (ec) return self->finish("write to dockerd: " + ec.message());
    self->parser_.body_limit(boost::none);
    http::async_read_header(self->socket_, self->buffer_, self->parser_,
                            [self](const boost::system::error_code& ec, std::size_t) {
                              if (self->ended_) return;
                              if (ec) return self->finish("read from dockerd: " + ec.message());
                              if (self->parser_.get().result_int() != 200)
                                return self->finish("dockerd answered " +
                                                    std::to_string(self->parser_.get().result_int()));
                              self->readMore();
                            });
  });
}

void LogFollower::readMore() {
  if (parser_.is_done()) return finish("log stream ended");
  parser_.get().body().data = chunk_.data();
  parser_.get().body().size = chunk_.size();
  // read_some: hand over what has arrived; a full read would wait for 8 KiB of output.
  http::async_read_some(socket_, buffer_, parser_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
    if (self->ended_) return;
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = self->chunk_.size() - self->parser_.get().body().size;
    if (got > 0) {
      auto lines = self->demuxer_.feed(std::string_view(self->chunk_.data(), got));
      if (!lines.empty()) self->on_lines_(std::move(lines));
    }
    if (ec) return self->finish(ec == http::error::end_of_stream ? "log stream ended" : ec.message());
    self->readMore();
  });
}

}  // namespace berth::runtime::docker
