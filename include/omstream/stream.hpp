// The umbrella header: everything omstream offers, the shared-memory ring
// and the file-mapped log (Boost.Interprocess) included. The JSON codec stays
// opt-in (omstream/codec/json.hpp) so that nlohmann_json is not required.
#pragma once

#include <omstream/core.hpp>
#include <omstream/storage/mapped_log.hpp>
#include <omstream/storage/shm_ring.hpp>
