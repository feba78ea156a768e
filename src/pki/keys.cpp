#include "pki/keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "common/ids.hpp"
#include "pki/ossl.hpp"

namespace berth::pki {

std::string generatePrivateKeyPem() {
  EvpKeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("EVP_EC_gen failed");
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bioToString(bio.get());
}

Result<std::string> makeCsr(const std::string& key_pem, const std::string& common_name) {
  auto key = loadPrivateKey(key_pem);
  if (!key) return key.error();
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509_REQ_set_pubkey(req.get(), key->get());
  if (X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return makeError("csr_failed", "could not sign the certificate request");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  return bioToString(bio.get());
}

Result<CertificateInfo> inspectCertificate(const std::string& cert_pem) {
  auto cert = loadCertificate(cert_pem);
  if (!cert) return cert.error();
  CertificateInfo info;
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert->get()), NID_commonName, cn, sizeof cn - 1);
  info.common_name = cn;
  info.serial_hex = serialHex(cert->get());
  info.not_before_ms = asn1TimeToMs(X509_get0_notBefore(cert->get()));
  info.not_after_ms = asn1TimeToMs(X509_get0_notAfter(cert->get()));
  info.spki_pin = spkiPin(cert->get());
  info.names = subjectAltNames(cert->get());
  return info;
}

Result<std::string> publicKeyPin(const std::string& cert_pem) {
  auto info = inspectCertificate(cert_pem);
  if (!info) return info.error();
  return info->spki_pin;
}

bool keyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem) {
  auto key = loadPrivateKey(key_pem);
  auto cert = loadCertificate(cert_pem);
  return key && cert && X509_check_private_key(cert->get(), key->get()) == 1;
}

Result<void> verifyServerCertificate(const std::string& cert_pem, const std::string& ca_pem, const std::string& host,
                                     std::int64_t now_ms) {
  auto cert = loadCertificate(cert_pem);
  if (!cert) return cert.error();
  auto ca = loadCertificate(ca_pem);
  if (!ca) return makeError("bad_certificate", "the CA: not a PEM certificate");
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1)
    return makeError("untrusted_certificate", "could not set up the verification");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now_ms / 1000));
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1)
    return makeError("untrusted_certificate", "'" + host + "' is not a host name");
  if (X509_verify_cert(ctx.get()) != 1)
    return makeError("untrusted_certificate", "the certificate does not verify for '" + host +
                                                  "': " + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  return Ok{};
}

}  // namespace berth::pki
