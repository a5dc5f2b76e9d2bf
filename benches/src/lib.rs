//! Helpers shared by the criterion benches (corpus generation).
