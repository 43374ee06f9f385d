"""The lecture's demonstrations: its one report (`report`), the parameter count (`parameter_count`),
why tanh (`why_tanh`), the vanishing gradients (`vanishing_gradients`), short vs long memory
(`long_memory`)."""
