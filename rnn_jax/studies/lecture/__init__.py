"""The lecture's demonstrations: the one report (`report`), the parameter count, why tanh, the
vanishing gradients and short vs long memory."""
