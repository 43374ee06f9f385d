"""Memory where the field measures it: the adding problem and the copy task, four cells, T up to 1,000.

`train`: the cells, the models and one (task, cell, T) training run, jitted in chunks and resumable;
`sweep`: the sweep over cells and T, its results.json, table, plots and the `rnn-jax memory` command;
`records`: where a run's record and learning curve are kept, and how they are read back;
`spans`: a learning curve's median, best and worst per span of steps, as the docs quote them;
`parts`: one part of a continued run (between two of its stops), read back as the docs report it;
`spikes`: the loss spikes of the learning curves (where, how high, how long until the run came back);
`docs_tables`: table.md's sections copied into docs/memory.md between its markers (and checked).
"""
