// Certificate facts and decisions, pure: the CSR an order is finalized with,
// what a PEM chain says (issuer, validity, names), when a certificate is due
// for renewal, how long a failing domain waits, and the checks an uploaded
// certificate must pass. Times are unix milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace berth::acme {

struct CertificateRequest {
  std::string key_pem;  // a new ECDSA P-256 key, PKCS#8 PEM (one per certificate)
  std::string csr_der;  // DER bytes; ACME sends base64url(csr_der)
};

// A CSR with CN = hosts[0] and one subjectAltName DNS entry per host, signed by
// a fresh P-256 key. Fails "invalid_argument" for an empty list or a host with
// characters outside [a-z0-9.*-].
Result<CertificateRequest> makeCertificateRequest(const std::vector<std::string>& hosts);

struct ChainFacts {
  std::string issuer;  // the leaf's issuer CN (or the whole issuer name when it has no CN)
  UnixMs not_before = 0;
  UnixMs not_after = 0;
  std::vector<std::string> names;  // the leaf's DNS subjectAltNames
  std::size_t length = 0;          // certificates in the chain
};
// The leaf is the first certificate. Fails "bad_certificate".
Result<ChainFacts> describeChain(const std::string& chain_pem);

// True when less than a third of the lifetime is left (or the lifetime is not
// positive, or `now` is past not_after).
bool renewalDue(UnixMs not_before, UnixMs not_after, UnixMs now);

// Per-domain backoff after failed issuance: 1 min after the first failure,
// doubling, at most 24 h.
inline constexpr std::int64_t kBackoffFirstMs = 60'000;
inline constexpr std::int64_t kBackoffMaxMs = kDayMs;
std::int64_t backoffDelayMs(int failures);
// How long to wait before the next try: never negative and never more than
// kBackoffMaxMs, whatever a stored next_try or a clock that jumped says.
std::int64_t backoffWaitMs(UnixMs next_try, UnixMs now);

// True when `pattern` (a certificate name, maybe "*.example.com") covers `host`:
// equal ignoring case, or a wildcard that stands for exactly one leftmost label.
bool nameCovers(const std::string& pattern, const std::string& host);

// A certificate and key as stored or uploaded, apart from time: the chain
// parses (leaf first, each certificate issued by the next), the key parses and
// matches the leaf, and a DNS subjectAltName of the leaf covers `host`.
Result<ChainFacts> checkCertificatePair(const std::string& cert_pem, const std::string& key_pem,
                                        const std::string& host);

// An uploaded certificate for `host`: the chain parses (leaf first, each
// certificate issued by the next), the key parses and matches the leaf, a DNS
// subjectAltName of the leaf covers `host`, and `now` is within its validity.
// Each refusal is "bad_certificate" naming the rule. Returns the chain's facts.
Result<ChainFacts> checkUploadedCertificate(const std::string& cert_pem, const std::string& key_pem,
                                            const std::string& host, UnixMs now);

}  // namespace berth::acme
