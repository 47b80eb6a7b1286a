//! Deterministic cluster simulator for Hearsay (work in progress).
