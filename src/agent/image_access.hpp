// Which orgs may run an image that berth pulled onto this node with registry
// credentials. Docker keeps one copy of an image per node whoever pulled it, and
// runs it for anyone who names it: without this record, an app of another org
// naming a private image (by tag, digest or id) would run the copy another org's
// credentials brought. An image pulled with credentials is restricted to the
// org that pulled it; another org is granted it only by pulling it itself (the
// registry then decides). Images pulled without credentials, built elsewhere or
// loaded by an operator are not restricted. Kept in `<state>/image_access.json`
// ({"images": {id: [org...]}, "pulling": [{reference, org}]}: image ids, references and org
// names, nothing secret), written atomically. An entry stays
// after its image is removed: an id names exact bytes, and if they come back
// they are as private as before.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::agent {

class ImageAccess {
 public:
  explicit ImageAccess(std::string path);  // "": kept in memory only
  // Reads the file (missing: nothing restricted). A damaged file is an error: starting with
  // nothing restricted would open every private image to every org.
  Result<void> load();
  // Whether the record's file exists (false: a node from before the record, or one that never
  // pulled with credentials since).
  bool kept() const;
  // Writes the record as it is (also when empty), so that kept() holds from now on.
  Result<void> keep();
  bool allows(const std::string& image_id, const std::string& org) const;
  // After `org` pulled `image_id`, or the registry said it may: a pull with credentials that
  // brought new bytes restricts it to `org`; either grants an image restricted to others to `org`.
  Result<void> recordPull(const std::string& image_id, const std::string& org, bool with_credentials,
                          bool brought_new_bytes);
  // A pull with `org`'s credentials of `reference` is under way: noted (and saved) before it
  // starts, so that an agent killed before recordPull restricts what it brought at its next
  // start (AppSupervisor::load) instead of leaving it open.
  Result<void> beginPull(const std::string& reference, const std::string& org);
  Result<void> endPull(const std::string& reference, const std::string& org);
  // Pulls begun and not ended: (reference, org).
  std::vector<std::pair<std::string, std::string>> pullsUnderWay() const;

 private:
  Result<void> saveLocked() const;
  std::string path_;
  mutable std::mutex mutex_;
  std::map<std::string, std::set<std::string>> orgs_by_image_;  // guarded by mutex_
  std::set<std::pair<std::string, std::string>> pulling_;        // guarded by mutex_
};

// Whether the node holds an image `org` may not run: one a pull with another org's credentials
// brought, or another org's source build. Builds of `org` then fetch every base image from its
// registry (BuildRequest::pull_bases): reading a Dockerfile exactly as Docker does is not a
// guarantee berth can give, so no name in it may reach those images.
Result<bool> holdsImagesBarredFrom(runtime::ContainerRuntime& runtime, const ImageAccess& access,
                                   const std::string& org);

// Whether a build of `app` may start from `images` (the Dockerfile's FROM and COPY --from
// images, builder::externalImages), which Docker's classic builder takes from the node's own
// images: refused (code "build_refused") for another app's build, and for an image restricted
// to other orgs unless the registry serves it without credentials (then granted to this org).
// Missing images are fine: dockerd pulls them without credentials, so they are open.
Result<void> checkBuildBases(runtime::ContainerRuntime& runtime, ImageAccess& access, const std::string& app,
                             const std::vector<std::string>& images);

}  // namespace berth::agent
