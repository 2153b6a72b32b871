#pragma once

#include <caf/type_id.hpp>

#include "messages/batch.hpp"

// Every message type of the pipeline, registered once (forward compatible
// with CAF 0.18+'s mandatory type-ID blocks).
CAF_BEGIN_TYPE_ID_BLOCK(agentmem, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(agentmem, (agentmem::batch))
  CAF_ADD_TYPE_ID(agentmem, (agentmem::batch_ack))
CAF_END_TYPE_ID_BLOCK(agentmem)
