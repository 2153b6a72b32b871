#pragma once

// The one CAF header messages need: caf::meta::type_name for inspect().
#include <caf/meta/type_name.hpp>
