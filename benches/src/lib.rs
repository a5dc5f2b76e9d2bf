//! Helpers shared by the criterion benches (corpus generation).

pub mod tar_corpus;
