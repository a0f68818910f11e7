"""refocus_bench.simulators.pairs."""
