#include "net/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/host_name_verification.hpp>

#include "pki/ossl.hpp"

namespace berth::net {
namespace {

Result<void> useIdentity(ssl::context& ctx, const std::string& chain_pem, const std::string& key_pem) {
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(chain_pem), ec);
  if (ec) return makeError("tls_config", "certificate chain: " + ec.message());
  ctx.use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) return makeError("tls_config", "private key: " + ec.message());
  return Ok{};
}

Result<void> trustCa(ssl::context& ctx, const std::string& ca_pem) {
  boost::system::error_code ec;
  ctx.add_certificate_authority(boost::asio::buffer(ca_pem), ec);
  if (ec) return makeError("tls_config", "CA certificate: " + ec.message());
  return Ok{};
}

std::string commonName(X509* cert) {
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn - 1);
  return cn;
}

}  // namespace

Result<std::unique_ptr<ssl::context>> makeServerContext(const ServerTlsConfig& config) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
  if (auto r = useIdentity(*ctx, config.cert_chain_pem, config.key_pem); !r) return r.error();
  if (auto r = trustCa(*ctx, config.client_ca_pem); !r) return r.error();
  ctx->set_verify_mode(ssl::verify_peer);
  auto check = config.check_client;
  ctx->set_verify_callback([check](bool preverified, ssl::verify_context& vctx) {
    X509_STORE_CTX* store = vctx.native_handle();
    if (preverified && X509_STORE_CTX_get_error_depth(store) != 0) return true;  // the CA itself
    if (!check) return preverified;
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    ClientCertificateCheck facts;
    if (leaf) {
      facts.common_name = commonName(leaf);
      facts.serial_hex = pki::serialHex(leaf);
    }
    if (!preverified) {
      facts.chain_error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
      check(facts);
      return false;
    }
    return check(facts);
  });
  // Idle sessions give their TLS read/write buffers back (~34 KiB each).
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  // Session tickets would let a revoked client resume without the callback.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  return ctx;
}

Result<std::unique_ptr<ssl::context>> makeClientContext(const ClientTlsConfig& config) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  if (config.ca_pem.empty()) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    if (auto r = trustCa(*ctx, config.ca_pem); !r) return r.error();
    ctx->set_verify_mode(ssl::verify_peer);
  }
  if (!config.cert_pem.empty()) {
    if (auto r = useIdentity(*ctx, config.cert_pem, config.key_pem); !r) return r.error();
  }
  return ctx;
}

std::function<bool(bool, ssl::verify_context&)> verifyServerName(const std::string& host,
                                                                 std::shared_ptr<ServerNameCheck> out) {
  return [check = ssl::host_name_verification(host), out](bool preverified, ssl::verify_context& vctx) mutable {
    if (check(preverified, vctx)) return true;
    X509_STORE_CTX* store = vctx.native_handle();
    // Only a good chain whose leaf names another host is a name mismatch.
    if (preverified && out && X509_STORE_CTX_get_error_depth(store) == 0) {
      if (X509* leaf = X509_STORE_CTX_get_current_cert(store)) {
        out->mismatch = true;
        out->names_held = pki::subjectAltNames(leaf);
      }
    }
    return false;
  };
}

Error serverNameMismatch(const std::string& host, const std::vector<std::string>& names_held) {
  std::string held;
  for (const auto& name : names_held) held += (held.empty() ? "" : ", ") + name;
  return makeError("server_name_mismatch", "the server's certificate does not name '" + host + "': it holds " +
                                               (held.empty() ? std::string("no names") : held) + "; add '" + host +
                                               "' to the server's server_names (or set its advertise_url to https://" +
                                               host + ":PORT) and restart it, or dial one of the names it holds");
}

std::string peerCertificatePem(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  pki::X509Ptr holder(cert);
  return pki::certToPem(cert);
}

}  // namespace berth::net
