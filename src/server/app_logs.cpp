// AppService's side of app logs: listing and tailing the stored lines, their
// age and size retention, and the server-sent-event streams that follow them.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"
#include "server/app_service.hpp"

namespace berth::server {
namespace asio = boost::asio;

Result<nlohmann::json> AppService::logs(const std::string& name, std::int64_t after, std::int64_t since,
                                        std::size_t limit, std::optional<std::size_t> tail) {
  if (auto app = findApp(name); !app) return app.error();
  auto lines = tail ? store_.tailLogs(name, since, *tail) : store_.listLogs(name, after, since, limit);
  if (!lines) return lines.error();
  nlohmann::json out = nlohmann::json::array();
  std::int64_t cursor = after;
  for (const auto& l : *lines) {
    out.push_back({{"seq", l.seq},
                   {"at", l.at},
                   {"stream", l.stream},
                   {"deployment", l.deployment},
                   {"replica", l.replica},
                   {"text", l.text}});
    cursor = l.seq;
  }
  if (tail && lines->empty()) {  // --tail 0 -f: follow from the newest line, not from the start
    if (auto newest = store_.tailLogs(name, 0, 1); newest && !newest->empty()) cursor = newest->back().seq;
  }
  return nlohmann::json{{"lines", out}, {"cursor", cursor}};
}

void AppService::pruneLogs() {
  auto removed = store_.pruneLogs(clock_() - static_cast<std::int64_t>(config_.log_retention_hours) * kHourMs,
                                  static_cast<std::int64_t>(config_.log_max_mib_per_app) << 20);
  if (!removed) log::error("log retention failed", {{"error", removed.error().message}});
  else if (*removed > 0) log::info("old log lines removed", {{"lines", *removed}});
}

AppService::LogStream::LogStream(AppService& service, std::string app, std::int64_t after_seq)
    : service_(service), app_(std::move(app)), cursor_(after_seq), timer_(service.executor_) {}

void AppService::LogStream::wake() { timer_.cancel(); }

asio::awaitable<std::optional<std::string>> AppService::LogStream::next() {
  while (true) {
    auto lines = service_.store_.listLogs(app_, cursor_, 0, 200);
    if (!lines) co_return std::nullopt;
    if (!lines->empty()) {
      std::string out;
      for (const auto& l : *lines) {
        nlohmann::json j = {{"seq", l.seq}, {"at", l.at}, {"stream", l.stream}, {"deployment", l.deployment},
                            {"replica", l.replica}, {"text", l.text}};
        out += "id: " + std::to_string(l.seq) + "\nevent: log\ndata: " + j.dump() + "\n\n";
        cursor_ = l.seq;
      }
      co_return out;
    }
    auto app = service_.store_.getApp(app_);
    if (!app || !*app) co_return std::nullopt;
    boost::system::error_code ec;
    timer_.expires_after(std::chrono::seconds(15));
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return std::string(": keep-alive\n\n");
  }
}

std::shared_ptr<AppService::LogStream> AppService::openLogStream(const std::string& name, std::int64_t after_seq) {
  auto stream = std::make_shared<LogStream>(*this, name, after_seq);
  streams_.emplace(name, stream);
  return stream;
}

}  // namespace berth::server
