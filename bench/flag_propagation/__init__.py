"""bench/flag_propagation: commit to last replica applied, three app processes."""
