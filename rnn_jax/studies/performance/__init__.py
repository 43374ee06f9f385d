"""Speed: the unroll benchmark against flax and torch (`benchmark`), its parts (`unroll_parts`), the
step's matrix product alone (`gemm_speed`), the Flax layers against flax's own (`layer_speed`),
data-parallel throughput and agreement (`distributed_throughput`, `distributed_compare`)."""
