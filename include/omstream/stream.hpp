// The umbrella header: everything omstream offers, the shared-memory ring
// and the file-mapped log (Boost.Interprocess) included. The JSON codec stays
// opt-in (omstream/codec/json.hpp) so that nlohmann_json is not required.
#pragma once

#include <omstream/detail/config.hpp>

#if OMSTREAM_CONFIG_UNSUPPORTED
// detail/config.hpp has said why (#error); nothing else, so that it is the only message.
#else
#include <omstream/core.hpp>
#include <omstream/storage/mapped_log.hpp>
#include <omstream/storage/shm_ring.hpp>
#endif
