#include "acme/certificates.hpp"

#include <algorithm>
#include <cctype>

#include "pki/keys.hpp"
#include "pki/ossl.hpp"

namespace berth::acme {
namespace {

bool acmeHostChars(const std::string& host) {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '*';
  });
}

Result<std::vector<pki::X509Ptr>> loadChain(const std::string& pem) {
  std::vector<pki::X509Ptr> chain;
  auto bio = pki::memBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) chain.emplace_back(cert);
  if (chain.empty()) return makeError("bad_certificate", "certificate: must hold at least one PEM certificate");
  return chain;
}

std::string issuerName(X509* cert) {
  X509_NAME* name = X509_get_issuer_name(cert);
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(name, NID_commonName, cn, sizeof cn) > 0) return cn;
  char* line = X509_NAME_oneline(name, nullptr, 0);
  std::string out = line ? line : "";
  OPENSSL_free(line);
  return out;
}

std::string lowerAscii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ChainFacts factsOf(const std::vector<pki::X509Ptr>& chain) {
  X509* leaf = chain.front().get();
  ChainFacts f;
  f.issuer = issuerName(leaf);
  f.not_before = pki::asn1TimeToMs(X509_get0_notBefore(leaf));
  f.not_after = pki::asn1TimeToMs(X509_get0_notAfter(leaf));
  for (auto& name : pki::subjectAltNames(leaf)) {
    if (name.find_first_not_of("0123456789.:abcdefABCDEF") != std::string::npos) f.names.push_back(std::move(name));
  }
  f.length = chain.size();
  return f;
}

}  // namespace

Result<CertificateRequest> makeCertificateRequest(const std::vector<std::string>& hosts) {
  if (hosts.empty()) return invalidField("hosts", "must name at least one host");
  for (const auto& host : hosts) {
    if (!acmeHostChars(host)) return invalidField("hosts", "'" + host + "' must be a lower-case DNS name");
  }
  CertificateRequest out;
  out.key_pem = pki::generatePrivateKeyPem();
  auto key = pki::loadPrivateKey(out.key_pem);
  if (!key) return key.error();
  pki::X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hosts[0].c_str()), -1,
                             -1, 0);
  std::string san;
  for (const auto& host : hosts) san += (san.empty() ? "DNS:" : ",DNS:") + host;
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!ext) {
    sk_X509_EXTENSION_free(exts);
    return makeError("csr_failed", "subjectAltName could not be built");
  }
  sk_X509_EXTENSION_push(exts, ext);
  X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_set_pubkey(req.get(), key->get());
  if (X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) return makeError("csr_failed", "CSR signing failed");
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return makeError("csr_failed", "CSR encoding failed");
  out.csr_der.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

Result<ChainFacts> describeChain(const std::string& chain_pem) {
  auto chain = loadChain(chain_pem);
  if (!chain) return chain.error();
  return factsOf(*chain);
}

bool renewalDue(UnixMs not_before, UnixMs not_after, UnixMs now) {
  const std::int64_t lifetime = not_after - not_before;
  if (lifetime <= 0 || now >= not_after) return true;
  const std::int64_t left = not_after - now;
  return left < (lifetime + 2) / 3;  // left * 3 < lifetime, without the multiplication
}

std::int64_t backoffDelayMs(int failures) {
  if (failures <= 0) return 0;
  std::int64_t delay = kBackoffFirstMs;
  for (int i = 1; i < failures && delay < kBackoffMaxMs; ++i) delay *= 2;
  return std::min(delay, kBackoffMaxMs);
}

std::int64_t backoffWaitMs(UnixMs next_try, UnixMs now) {
  if (next_try <= now) return 0;
  // Unsigned: a stored value far in the future (a clock that jumped back) must not overflow.
  const std::uint64_t wait = static_cast<std::uint64_t>(next_try) - static_cast<std::uint64_t>(now);
  return wait > static_cast<std::uint64_t>(kBackoffMaxMs) ? kBackoffMaxMs : static_cast<std::int64_t>(wait);
}

bool nameCovers(const std::string& pattern, const std::string& host) {
  const std::string p = lowerAscii(pattern);
  const std::string h = lowerAscii(host);
  if (p == h) return !p.empty() && p.find('*') == std::string::npos;
  if (p.size() < 3 || p.rfind("*.", 0) != 0) return false;
  const std::string suffix = p.substr(1);  // ".example.com"
  if (suffix.find('*') != std::string::npos || h.size() <= suffix.size()) return false;
  if (h.compare(h.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  const std::string label = h.substr(0, h.size() - suffix.size());
  return label.find('.') == std::string::npos && label.find('*') == std::string::npos;
}

Result<ChainFacts> checkCertificatePair(const std::string& cert_pem, const std::string& key_pem,
                                        const std::string& host) {
  auto chain = loadChain(cert_pem);
  if (!chain) return chain.error();
  for (std::size_t i = 0; i + 1 < chain->size(); ++i) {
    if (X509_check_issued((*chain)[i + 1].get(), (*chain)[i].get()) != X509_V_OK) {
      return makeError("bad_certificate", "certificate: certificate " + std::to_string(i + 1) +
                                              " of the chain must be issued by the one after it (leaf first)");
    }
  }
  auto key = pki::loadPrivateKey(key_pem);
  if (!key) return makeError("bad_certificate", "key: must be a PEM private key");
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    return makeError("bad_certificate", "key: must match the certificate's public key");
  }
  ChainFacts facts = factsOf(*chain);
  const bool covered =
      std::any_of(facts.names.begin(), facts.names.end(), [&](const std::string& n) { return nameCovers(n, host); });
  if (!covered) {
    std::string held;
    for (const auto& n : facts.names) held += (held.empty() ? "" : ", ") + n;
    return makeError("bad_certificate", "certificate: must name '" + host + "' in its subjectAltName (it holds " +
                                            (held.empty() ? std::string("no DNS names") : held) + ")");
  }
  return facts;
}

Result<ChainFacts> checkUploadedCertificate(const std::string& cert_pem, const std::string& key_pem,
                                            const std::string& host, UnixMs now) {
  auto facts = checkCertificatePair(cert_pem, key_pem, host);
  if (!facts) return facts;
  if (now < facts->not_before) return makeError("bad_certificate", "certificate: is not valid yet");
  if (now >= facts->not_after) return makeError("bad_certificate", "certificate: has expired");
  return facts;
}

}  // namespace berth::acme
