"""refocus_bench.simulators.render."""
