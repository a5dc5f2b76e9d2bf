//! Helpers shared by the layer-store scenario tests.
#![allow(dead_code)]

pub mod layers;
