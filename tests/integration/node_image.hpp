// A "node" base image for the source-build tests, assembled from this machine's
// /usr/bin/node and the libraries ldd lists (nothing can be pulled here). It
// has no npm: a build plan using it sets "install": [].
#pragma once

#include <string>

#include "harness.hpp"

namespace berth::itest {

// Imports the image as `reference` ("repo:tag") into `daemon`; "" on success, else what failed.
std::string importNodeImage(DockerDaemon& daemon, const std::string& reference);

}  // namespace berth::itest
