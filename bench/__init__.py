"""Benchmarks (loopback only, bounded in time). See docs/performance.md."""
