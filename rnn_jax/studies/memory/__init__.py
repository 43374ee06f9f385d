"""Memory where the field measures it: the adding problem and the copy task, four cells, T up to 1,000.

`train`: the cells, the models and one (task, cell, T) training run, jitted in chunks and resumable;
`sweep`: the sweep over cells and T, its results.json, table, plots and the `rnn-jax memory` command;
`spikes`: the loss spikes of the learning curves (where, how high, how long until the run came back).
"""
