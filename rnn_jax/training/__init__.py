"""Training that knows no task: the loop, checkpoints, data parallelism, run folders, curves."""
