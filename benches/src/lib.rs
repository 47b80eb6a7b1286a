//! Criterion benchmarks for Hearsay (work in progress).
