// The umbrella header: everything omstream offers. The JSON codec stays
// opt-in (omstream/codec/json.hpp) so that nlohmann_json is not required.
#pragma once

#include <omstream/core.hpp>
