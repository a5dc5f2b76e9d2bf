//! A content-addressed store of container image layers.
