// The images a Dockerfile takes from outside itself: every FROM that names no
// earlier stage and is not `scratch`, and every COPY/ADD --from= naming neither a
// stage nor a stage index. Docker's classic builder takes these from the node's
// own images before it asks a registry, so the agent checks them against who may
// run what on the node (agent/image_access) before and after a build.
// Pure: line continuations, comments, the `escape` parser directive, and
// ${VAR} / $VAR / ${VAR:-default} in FROM from the ARGs declared before the first
// FROM (build arguments given override their defaults), as Docker reads them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::builder {

std::vector<std::string> externalImages(std::string_view dockerfile,
                                        const std::map<std::string, std::string>& build_args);

}  // namespace berth::builder
