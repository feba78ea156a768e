#include "common/result.hpp"
