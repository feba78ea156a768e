#include "pebble_support.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "proxy_support.hpp"

namespace berth::itest {

PebbleServer::PebbleServer(const std::string& root, int http_port, int validity_s, int tls_port) : dir_(root) {
  std::filesystem::create_directories(dir_);
  auto ca = pki::CertificateAuthority::createNew("pebble API test CA", systemNowMs() - kHourMs, kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, {"127.0.0.1", "localhost"}, systemNowMs() - kHourMs, kDayMs);
  if (!cert) return;
  std::ofstream(dir_ + "/pebble.crt") << cert->cert_pem;
  std::ofstream(dir_ + "/pebble.key") << key;
  api_ca_file_ = dir_ + "/pebble-ca.pem";
  std::ofstream(api_ca_file_) << ca.certPem();
  api_ca_pem_ = ca.certPem();
  const int dns_port = freePort();
  challtestsrv_ = Process::spawn({"/usr/bin/pebble-challtestsrv", "-dns01", "127.0.0.1:" + std::to_string(dns_port),
                                  "-http01", "", "-https01", "", "-tlsalpn01", "", "-management",
                                  "127.0.0.1:" + std::to_string(freePort()), "-defaultIPv4", "127.0.0.1",
                                  "-defaultIPv6", ""},
                                 dir_ + "/challtestsrv.log");
  acme_port_ = freePort();
  management_port_ = freePort();
  nlohmann::json config = {{"listenAddress", "127.0.0.1:" + std::to_string(acme_port_)},
                           {"managementListenAddress", "127.0.0.1:" + std::to_string(management_port_)},
                           {"certificate", dir_ + "/pebble.crt"},
                           {"privateKey", dir_ + "/pebble.key"},
                           {"httpPort", http_port},
                           {"tlsPort", tls_port > 0 ? tls_port : freePort()},
                           {"ocspResponderURL", ""},
                           {"externalAccountBindingRequired", false}};
  if (validity_s > 0) config["certificateValidityPeriod"] = validity_s;
  std::ofstream(dir_ + "/pebble.json") << nlohmann::json{{"pebble", config}}.dump();
  pebble_ = Process::spawn({"/usr/bin/pebble", "-config", dir_ + "/pebble.json", "-dnsserver",
                            "127.0.0.1:" + std::to_string(dns_port)},
                           dir_ + "/pebble.log",
                           {"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"});
  ready_ = eventually([&] { return get(acme_port_, "/dir").status == 200; });
}

std::string PebbleServer::directoryUrl() const { return "https://127.0.0.1:" + std::to_string(acme_port_) + "/dir"; }

std::string PebbleServer::root() { return get(management_port_, "/roots/0").body; }

std::string PebbleServer::logs() const {
  return (pebble_ ? pebble_->log() : "") + (challtestsrv_ ? challtestsrv_->log() : "");
}

net::HttpResponse PebbleServer::get(int port, const std::string& path) {
  auto ctx = net::makeClientContext({api_ca_pem_, "", ""});
  if (!ctx) {
    last_get_error_ = ctx.error().message;
    return {};
  }
  auto url = net::parseUrl("https://127.0.0.1:" + std::to_string(port) + path);
  net::HttpRequest request;
  request.target = url->path;
  auto response = net::httpsRequest(*url, **ctx, request, std::chrono::seconds(5));
  last_get_error_ = response ? "status " + std::to_string(response->status) : response.error().message;
  return response ? *response : net::HttpResponse{};
}

int verifiedHttpsGet(int port, const std::string& host, const std::string& root_pem, std::string* body) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx.add_certificate_authority(asio::buffer(root_pem), ec);
  if (ec) return 0;
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  stream.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  if (ec) return 0;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return 0;
  http::request<http::empty_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  http::write(stream, req, ec);
  if (ec) return 0;
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec && ec != http::error::end_of_stream) return 0;
  if (body) *body = res.body();
  return static_cast<int>(res.result_int());
}

}  // namespace berth::itest
