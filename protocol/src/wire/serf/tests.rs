//! Unit tests of the Serf dialect codec.
