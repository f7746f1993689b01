"""Benchmarks of bertpipe (tokenization, training, end to end, accuracy); see BENCHMARKS.md."""
