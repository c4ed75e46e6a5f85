// The core of omstream: stream<Storage, Emitter>, the concepts, windows,
// records, the emitters and the in-memory storage. Cheap to include: no
// Boost.Interprocess (that comes with the shared storages in stream.hpp).
#pragma once

#include <omstream/basic_stream.hpp>
#include <omstream/clock.hpp>
#include <omstream/concepts.hpp>
#include <omstream/diagnostics.hpp>
#include <omstream/emitter/composite.hpp>
#include <omstream/emitter/count.hpp>
#include <omstream/emitter/fixed_time.hpp>
#include <omstream/emitter/relaxed_time.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/options.hpp>
#include <omstream/print.hpp>
#include <omstream/record.hpp>
#include <omstream/storage/memory.hpp>
#include <omstream/window.hpp>
