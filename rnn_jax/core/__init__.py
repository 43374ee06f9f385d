"""The pure core: cells, initialisers, `lax.scan` unrolling, the fused backward pass, analysis (JAX only)."""
