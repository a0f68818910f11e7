"""refocus_bench.simulators.lightfield."""
