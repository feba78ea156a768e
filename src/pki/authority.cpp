#include "pki/authority.hpp"

#include <openssl/x509v3.h>
#include <sodium.h>

#include <stdexcept>

#include "pki/keys.hpp"
#include "pki/ossl.hpp"

namespace berth::pki {
namespace {

// Backdate by five minutes so a peer whose clock is slightly behind accepts it.
constexpr std::int64_t kBackdateMs = 5 * 60 * 1000;

void setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

void setValidity(X509* cert, std::int64_t now_ms, std::int64_t validity_ms) {
  ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>((now_ms - kBackdateMs) / 1000));
  ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>((now_ms + validity_ms) / 1000));
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("bad X509 extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void setCommonName(X509_NAME* name, const std::string& cn) {
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("berth"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
}

// A version-3 certificate for `subject_cn` and `public_key` with a random
// serial, issued by `issuer` (nullptr: self-issued); extensions and the
// signature are the caller's.
X509Ptr newCertificate(const std::string& subject_cn, EVP_PKEY* public_key, X509* issuer, std::int64_t now_ms,
                       std::int64_t validity_ms) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  setRandomSerial(cert.get());
  setValidity(cert.get(), now_ms, validity_ms);
  setCommonName(X509_get_subject_name(cert.get()), subject_cn);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get()));
  X509_set_pubkey(cert.get(), public_key);
  return cert;
}

bool looksLikeIp(const std::string& name) {
  return name.find_first_not_of("0123456789.") == std::string::npos || name.find(':') != std::string::npos;
}

Error badCsr(const std::string& rule) { return makeError("bad_csr", "field 'csr': " + rule); }

}  // namespace

Result<void> checkAgentCsr(const std::string& csr_pem, const std::vector<std::string>& allowed_cns) {
  auto bio = memBio(csr_pem);
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return badCsr("not a PEM certificate request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key || X509_REQ_verify(req.get(), key) != 1) return badCsr("the request's signature does not verify");
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  std::string cn;
  if (X509_NAME_entry_count(subject) > 0) {
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, -1) < 0 ||
        X509_NAME_get_index_by_NID(subject, NID_commonName, X509_NAME_get_index_by_NID(subject, NID_commonName, -1)) >=
            0)
      return badCsr("the subject must hold exactly one CN");
    char text[256] = {0};
    X509_NAME_get_text_by_NID(subject, NID_commonName, text, sizeof text - 1);
    cn = text;
  }
  bool known = false;
  for (const auto& allowed : allowed_cns) known |= cn == allowed;
  if (!known) {
    std::string list;
    for (const auto& allowed : allowed_cns) list += (list.empty() ? "'" : " or '") + allowed + "'";
    return badCsr("subject CN '" + cn + "' must be " + list + " (the server names the node)");
  }
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  std::string refusal;
  for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts) && refusal.empty(); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_alt_name) {
      refusal = "must not ask for subjectAltName entries";
    } else if (nid == NID_basic_constraints) {
      auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext));
      if (!bc) refusal = "basicConstraints does not parse";
      else if (bc->ca) refusal = "must not ask for CA:TRUE";
      BASIC_CONSTRAINTS_free(bc);
    } else if (nid == NID_key_usage) {
      auto* usage = static_cast<ASN1_BIT_STRING*>(X509V3_EXT_d2i(ext));
      if (!usage) refusal = "keyUsage does not parse";
      else if (ASN1_BIT_STRING_get_bit(usage, 5) || ASN1_BIT_STRING_get_bit(usage, 6))
        refusal = "keyUsage must not include keyCertSign or cRLSign";
      ASN1_BIT_STRING_free(usage);
    }
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (!refusal.empty()) return badCsr(refusal);
  return Ok{};
}

CertificateAuthority CertificateAuthority::createNew(const std::string& common_name, std::int64_t now_ms,
                                                     std::int64_t validity_ms,
                                                     const std::vector<std::string>& permitted_dns) {
  std::string key_pem = generatePrivateKeyPem();
  auto key = loadPrivateKey(key_pem);
  X509Ptr cert = newCertificate(common_name, key->get(), nullptr, now_ms, validity_ms);
  addExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  addExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (!permitted_dns.empty()) {
    std::string constraints = "critical";
    for (const auto& name : permitted_dns) constraints += ",permitted;DNS:" + name;
    addExtension(cert.get(), cert.get(), NID_name_constraints, constraints);
  }
  X509_sign(cert.get(), key->get(), EVP_sha256());
  return CertificateAuthority(certToPem(cert.get()), std::move(key_pem));
}

Result<CertificateAuthority> CertificateAuthority::fromPem(std::string cert_pem, std::string key_pem) {
  if (auto cert = loadCertificate(cert_pem); !cert) return cert.error();
  if (auto key = loadPrivateKey(key_pem); !key) return key.error();
  return CertificateAuthority(std::move(cert_pem), std::move(key_pem));
}

Result<IssuedCertificate> CertificateAuthority::signAgentCsr(const std::string& csr_pem, const std::string& node_id,
                                                             std::int64_t now_ms, std::int64_t validity_ms) const {
  auto bio = memBio(csr_pem);
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return makeError("bad_csr", "field 'csr': not a PEM certificate request");
  EVP_PKEY* reqKey = X509_REQ_get0_pubkey(req.get());
  if (!reqKey || X509_REQ_verify(req.get(), reqKey) != 1) {
    return makeError("bad_csr", "field 'csr': the request's signature does not verify");
  }
  auto caCert = loadCertificate(cert_pem_);
  auto caKey = loadPrivateKey(key_pem_);
  X509Ptr cert = newCertificate(node_id, reqKey, caCert->get(), now_ms, validity_ms);
  addExtension(cert.get(), caCert->get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), caCert->get(), NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), caCert->get(), NID_ext_key_usage, "clientAuth");
  X509_sign(cert.get(), caKey->get(), EVP_sha256());
  return IssuedCertificate{certToPem(cert.get()), serialHex(cert.get()), now_ms + validity_ms};
}

Result<IssuedCertificate> CertificateAuthority::issueServerCertificate(const std::string& key_pem,
                                                                       const std::vector<std::string>& names,
                                                                       std::int64_t now_ms,
                                                                       std::int64_t validity_ms) const {
  auto key = loadPrivateKey(key_pem);
  if (!key) return key.error();
  auto caCert = loadCertificate(cert_pem_);
  auto caKey = loadPrivateKey(key_pem_);
  X509Ptr cert =
      newCertificate(names.empty() ? "berth-server" : names.front(), key->get(), caCert->get(), now_ms, validity_ms);
  std::string san;
  for (const auto& name : names) {
    if (!san.empty()) san += ",";
    san += (looksLikeIp(name) ? "IP:" : "DNS:") + name;
  }
  addExtension(cert.get(), caCert->get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), caCert->get(), NID_ext_key_usage, "serverAuth");
  if (!san.empty()) addExtension(cert.get(), caCert->get(), NID_subject_alt_name, san);
  X509_sign(cert.get(), caKey->get(), EVP_sha256());
  return IssuedCertificate{certToPem(cert.get()), serialHex(cert.get()), now_ms + validity_ms};
}

}  // namespace berth::pki
